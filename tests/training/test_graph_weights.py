"""A MiniLM's weights read back out of its ONNX graph: exact from fp32, within int8's step from int8,
and the shipped bundle's text model rebuilt in torch answers as its int8 graph does."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra")
pytest.importorskip("onnx", reason="reading graphs needs the [train] extra")

from helpers.paths import shared_data  # noqa: E402
from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.export import export_text_model  # noqa: E402
from sentiment_fusion.training.graph_weights import NOT_IN_GRAPH, graph_weights, load_graph_weights  # noqa: E402
from sentiment_fusion.training.quantize import quantize_text_graph  # noqa: E402
from sentiment_fusion.training.starting_point import starting_point  # noqa: E402

pytestmark = pytest.mark.slow  # a MiniLM export (and quantization) each


@pytest.fixture(scope="module")
def minilm():
    from sentiment_fusion.text.transformer import MiniLMClassifier, MiniLMConfig

    torch.manual_seed(0)
    return MiniLMClassifier(MiniLMConfig()).eval()


@pytest.fixture(scope="module")
def fp32_graph(minilm, tmp_path_factory):
    return export_text_model(minilm, tmp_path_factory.mktemp("graph") / "text_fp32.onnx")


def test_an_fp32_graph_gives_back_every_weight_exactly(minilm, fp32_graph):
    found = graph_weights(fp32_graph)
    state = {k: v.numpy() for k, v in minilm.state_dict().items() if not k.startswith(NOT_IN_GRAPH)}
    assert set(found) == set(state)
    assert all(np.array_equal(found[k], state[k]) for k in state), [
        k for k in state if not np.array_equal(found[k], state[k])
    ]


def test_an_int8_graph_gives_back_its_weights_within_half_a_step(minilm, fp32_graph, tmp_path):
    rng = np.random.default_rng(0)
    feeds = [
        {"input_ids": rng.integers(1000, 5000, (4, 9)), "attention_mask": np.ones((4, 9), np.int64)} for _ in range(2)
    ]
    int8 = tmp_path / "text_int8.onnx"
    quantize_text_graph(fp32_graph, int8, iter(feeds))
    rebuilt = load_graph_weights(minilm, int8)
    for name, original in minilm.state_dict().items():
        back = rebuilt[name]
        # int8 with a scale per output row (linear) or table row (embeddings); a fresh export's classifier
        # is a Gemm, which stays fp32 (the shipped graph's is a per-row MatMulInteger)
        if original.dim() == 2 and not name.startswith((*NOT_IN_GRAPH, "classifier.")):
            step = original.abs().amax(1, keepdim=True) / 127
            assert ((back - original).abs() <= step / 2 + 1e-6).all(), name
            assert not torch.equal(back, original), f"{name} was not quantized?"
        else:  # biases, layer norms, the classifier (and the pooler the graph lacks) stay as they were
            assert torch.equal(back, original), name


def test_a_graph_of_another_model_is_refused_naming_what_is_missing(tiny_bundle, minilm):
    with pytest.raises(ValueError, match="does not hold a MiniLMClassifier's weights: missing"):
        load_graph_weights(minilm, tiny_bundle / "text.onnx")


def test_a_bilstm_bundle_without_its_weights_file_still_says_so(tiny_bundle):
    with pytest.raises(FileNotFoundError, match="holds ONNX graphs only"):
        starting_point(tiny_bundle)


def test_the_shipped_text_model_rebuilt_from_its_graph_answers_as_the_graph(default_bundle):
    """``--init-from models/default`` starts from the shipped model: its runs/ are gone, so the weights
    come from ``text.onnx``. They are the graph's exactly; int8 activations move some close calls
    (all 2,000 TweetEval val tweets: 97.85% same label, macro-recall 0.7392 in torch vs 0.7387)."""
    start = starting_point(default_bundle)
    assert start.kind == "minilm" and start.provenance["graph"].endswith("text.onnx")
    model = start.model().eval()
    tweets = [e.text for e in read_dataset(f"tweeteval:{shared_data('tweeteval', 'sentiment')}:val", limit=400)]
    onnx_logits, _ = Analyzer.load(default_bundle, threads=1).text.run(tweets)
    ids = start.encoder.token_ids(tweets)
    torch_logits = np.zeros_like(onnx_logits)
    with torch.no_grad():
        for begin in range(0, len(ids), 50):
            input_ids, mask = start.encoder.pad(ids[begin : begin + 50])
            torch_logits[begin : begin + 50] = model(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
    agreement = (torch_logits.argmax(1) == onnx_logits.argmax(1)).mean()
    assert agreement >= 0.96, agreement
    assert np.abs(torch_logits - onnx_logits).mean() < 0.15
