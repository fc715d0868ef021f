"""The MiniLM text model: what training builds and what the runtime rebuilds from a bundle agree.

- tokenizer/normalizer parity: the encoder the recipe trains with and the one the runtime
  rebuilds from the shipped bundle's manifest give the same token ids, on real tweets and on
  the inputs that stress normalization (emoji, URLs, mentions, hashtags, HTML, long reviews);
- ONNX vs PyTorch: the exported graph agrees with the module on real tweets;
- the shipped model's behaviour on emoji-only, non-English and empty input.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.paths import SHARED_DATA

torch = pytest.importorskip("torch", reason="the MiniLM module needs the [train] extra")

from sentiment_fusion.calibration import softmax  # noqa: E402
from sentiment_fusion.errors import InvalidInputError  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402

EDGE_CASES = [
    "😍😍😍",
    "😡",
    "@bob LOVED it!!!! 😍 #BestDayEver http://t.co/x <br />",
    "sooooo goooood :) <3",
    "¡Qué día tan bonito! 今日は最悪だ",
    "family 👨\u200d👩\u200d👧 day",
    "meh \x00 😡",
    "Great film.<br /><br />" + "The plot drags in the middle, but the cast is superb. " * 60 + "A must see.",
]


def real_tweets(n: int) -> list[str]:
    """TweetEval val tweets when ../shared/data is here (else the edge cases carry the tests)."""
    file = SHARED_DATA / "tweeteval" / "sentiment" / "val_text.txt"
    return file.read_text(encoding="utf-8").split("\n")[:n] if file.is_file() else []


@pytest.fixture(scope="module")
def shipped():
    return Analyzer.load()  # the default bundle: MiniLM int8


def test_training_and_runtime_encoders_give_the_same_ids(shipped):
    from sentiment_fusion.training.text_recipe import TextTrainConfig, _encoder

    assert shipped.text.kind == "minilm"
    max_length = shipped.manifest["components"]["text"]["preprocessing"]["encoding"]["max_length"]
    training = _encoder(TextTrainConfig(kind="minilm", train=["unused"], max_length=max_length), [])
    texts = EDGE_CASES + real_tweets(500)
    assert training.to_config() == shipped.text.encoder.to_config()
    assert training.token_ids(texts) == shipped.text.encoder.token_ids(texts)
    assert len(training.token_ids([EDGE_CASES[-1]])[0]) == max_length  # the long review is cut to the budget


@pytest.mark.slow
def test_exported_graph_agrees_with_pytorch_on_real_tweets(shipped, tmp_path):
    from sentiment_fusion.text.transformer import MiniLMClassifier, MiniLMConfig
    from sentiment_fusion.training.export import export_text_model, onnx_agreement

    torch.manual_seed(0)
    model = MiniLMClassifier(MiniLMConfig()).eval()
    with torch.no_grad():  # a spread-out head, so that argmax is not decided by rounding between near-equal logits
        model.classifier.weight.mul_(20)
    texts = real_tweets(200) + EDGE_CASES
    ids, mask = shipped.text.encoder.pad(shipped.text.encoder.token_ids(texts))
    graph = export_text_model(model, tmp_path / "minilm.onnx")
    result = onnx_agreement(model, graph, {"input_ids": ids, "attention_mask": mask})
    assert result["n"] == len(texts) and result["argmax_agreement"] >= 0.99
    assert result["max_abs_diff"] < 1e-3
    import onnxruntime as ort

    logits = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(
        ["logits"], {"input_ids": ids, "attention_mask": mask}
    )[0]
    with torch.no_grad():
        reference = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.abs(softmax(logits) - softmax(reference)).max() < 1e-4  # probabilities, not just labels


def test_shipped_model_on_emoji_only_non_english_and_empty_text(shipped):
    assert shipped.predict(text="😍😍😍").sentiment.label == "positive"  # emoji become their names
    assert shipped.predict(text="😡😡").sentiment.label == "negative"
    for text in ("¡Qué día tan bonito!", "Das ist furchtbar schlecht", "今日は最悪だ"):
        scores = shipped.predict(text=text).scores
        assert abs(sum(scores.values()) - 1) < 1e-6
        assert max(scores.values()) < 0.9  # an English model makes no confident claim about other languages
    for blank in ("", "   ", "\u200b\u200b"):
        with pytest.raises(InvalidInputError, match="text is empty"):
            shipped.predict(text=blank)
