"""Weights files rebuild their model from themselves, so ``--init-from`` needs no flags matched by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra")

from sentiment_fusion.calibration import softmax  # noqa: E402
from sentiment_fusion.labels import LABELS  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.text.encoding import TextEncoder  # noqa: E402
from sentiment_fusion.text.lstm import BiLSTMClassifier, BiLSTMConfig  # noqa: E402
from sentiment_fusion.training.checkpoints import load_model, read_weights, save_weights  # noqa: E402
from sentiment_fusion.training.heads import FusionConfig, FusionHead, HeadConfig, ImageHead  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402
from sentiment_fusion.training.text_recipe import TextTrainConfig, train_text_model  # noqa: E402

WORDS = {"positive": "love great happy", "negative": "hate awful sad", "neutral": "meeting noon tuesday"}
PROBES = ["I love this", "awful and sad", "the meeting is at noon", "words never seen"]


def posts(path, extra_word: str, n: int = 30):
    """A small labelled JSONL file; ``extra_word`` makes its vocabulary differ from another file's."""
    rows = [
        {"text": f"{WORDS[label]} {extra_word}{i}", "label": label} for i, label in enumerate(list(WORDS) * (n // 3))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"jsonl:{path}"


def train(tmp_path, name, spec, **config):
    quick = {"max_steps": 2, "batch_size": 8, "progress": False, **config.pop("training", {})}
    config = TextTrainConfig(train=[spec], quantize=False, training=quick, **{"kind": "bilstm", **config})
    component = train_text_model(config, tmp_path / name, tmp_path / f"{name}-work")
    publish_bundle(tmp_path / name, name=name, version="0.0.1", components={"text": component})
    return tmp_path / name, component


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("first")
    torch.manual_seed(0)
    bundle, component = train(
        tmp_path,
        "first",
        posts(tmp_path / "a.jsonl", "alpha"),
        embed_dim=8,
        hidden_dim=8,
        min_frequency=1,
        max_length=24,
    )
    return bundle, component, tmp_path / "first-work"


@pytest.mark.parametrize(
    "model",
    [
        BiLSTMClassifier(BiLSTMConfig(vocab_size=50, embed_dim=6, hidden_dim=5)),
        ImageHead(HeadConfig(in_dim=7, hidden_dim=4)),
        FusionHead(FusionConfig(text_dim=6, image_dim=5, hidden_dim=4)),
    ],
    ids=["bilstm", "image_head", "fusion_head"],
)
def test_a_weights_file_rebuilds_its_model_in_one_call(model, tmp_path):
    save_weights(model, tmp_path / "w.pt")
    rebuilt = load_model(tmp_path / "w.pt")
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[key], value)


def test_a_run_keeps_architecture_and_tokenizer_beside_its_weights(first):
    bundle, component, work = first
    for name in ("best.pt", "last.pt"):
        saved = read_weights(work / name)
        assert saved["architecture"] == {"kind": "bilstm", "config": component.architecture}
        assert saved["text_encoder"]["preprocessing"] == component.preprocessing
        assert json.loads(saved["text_encoder"]["tokenizer"]) == json.loads((bundle / "tokenizer.json").read_text())
    checkpoint = component.training["checkpoint"]
    assert checkpoint["path"] == str(work / "best.pt") and len(checkpoint["sha256"]) == 64


@pytest.mark.parametrize("source", ["last.pt", "bundle"])
def test_init_from_needs_no_matching_flags(first, tmp_path, source):
    bundle, component, work = first
    init_from = str(work / "last.pt") if source == "last.pt" else str(bundle)
    # Other data (another vocabulary would be built from it), default sizes, no kind: all come from init_from.
    # One step at a negligible learning rate: the continued model is the earlier one.
    continued, new = train(
        tmp_path,
        "continued",
        posts(tmp_path / "b.jsonl", "beta"),
        kind=None,
        init_from=init_from,
        training={"max_steps": 1, "learning_rate": 1e-12},
    )
    assert new.kind == "bilstm" and new.architecture == component.architecture
    assert new.preprocessing == component.preprocessing  # max_length 24 too, not the kind's default
    assert (continued / "tokenizer.json").read_text() == (bundle / "tokenizer.json").read_text()
    assert new.training["init_from"]["path"] == init_from
    weights = work / "last.pt" if source == "last.pt" else Path(component.training["checkpoint"]["path"])
    if source == "bundle":  # the bundle's graph came from best.pt (last.pt may be a later step)
        assert new.training["init_from"]["weights"] == str(weights)
    # The continued bundle answers as the weights it started from (rebuilt alone, through their own encoder).
    saved = read_weights(weights)
    encoder = TextEncoder.from_config(saved["text_encoder"]["tokenizer"], saved["text_encoder"]["preprocessing"])
    ids, mask = encoder.encode(PROBES)
    with torch.no_grad():
        logits = load_model(weights)(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    got = np.array([[p.scores[k] for k in LABELS] for p in Analyzer.load(continued).predict_batch(PROBES)])
    np.testing.assert_allclose(got, softmax(logits, new.temperature), atol=1e-4)


def test_init_from_refuses_another_kind_and_misfit_bare_weights(first, tmp_path):
    _, _, work = first
    spec = posts(tmp_path / "c.jsonl", "gamma")
    with pytest.raises(ValueError, match="holds a bilstm model, not minilm"):
        train(tmp_path, "other-kind", spec, kind="minilm", init_from=str(work / "last.pt"))
    bare = tmp_path / "bare.pt"  # an older run's file: weights only, the model comes from the flags
    torch.save(BiLSTMClassifier(BiLSTMConfig(vocab_size=500, embed_dim=8, hidden_dim=8)).state_dict(), bare)
    with pytest.raises(ValueError, match="does not fit this model"):
        train(tmp_path, "misfit", spec, init_from=str(bare), embed_dim=8, hidden_dim=8, min_frequency=1)
    with pytest.raises(ValueError, match="give the model kind"):
        train(tmp_path, "no-kind", spec, kind=None, init_from=str(bare))
    with pytest.raises(FileNotFoundError, match="not found"):
        train(tmp_path, "missing", spec, init_from=str(tmp_path / "nope.pt"))


def test_averaged_weights_are_the_mean_and_refuse_models_that_differ(first):
    from dataclasses import replace

    from sentiment_fusion.training.starting_point import averaged, starting_point

    _, _, work = first
    a, b = starting_point(work / "last.pt"), starting_point(work / "last.pt")
    b.state_dict = {k: v * 3 for k, v in a.state_dict.items()}
    a.state_dict["steps"] = b.state_dict["steps"] = torch.tensor([7])  # an integer buffer, the same in both
    mean = averaged([a, b])
    for key, value in a.state_dict.items():
        torch.testing.assert_close(mean.state_dict[key], value if key == "steps" else value * 2)  # (x + 3x) / 2
    assert mean.architecture == a.architecture and mean.encoder is a.encoder
    assert mean.provenance["average"] == [a.provenance, b.provenance]

    with pytest.raises(ValueError, match="at least two"):
        averaged([a])
    b.state_dict["steps"] = torch.tensor([8])
    with pytest.raises(ValueError, match="differ in steps, which cannot be averaged"):
        averaged([a, b])
    other = starting_point(work / "last.pt")
    other.architecture = {**a.architecture, "config": {**a.architecture["config"], "hidden_dim": 99}}
    with pytest.raises(ValueError, match="holds another model"):
        averaged([a, other])
    other = starting_point(work / "last.pt")
    other.encoder = replace(other.encoder, config=replace(other.encoder.config, max_length=99))
    with pytest.raises(ValueError, match="reads text another way"):
        averaged([a, other])
    other = starting_point(work / "last.pt")
    other.state_dict = {k: v for k, v in a.state_dict.items() if k != "classifier.weight"}
    with pytest.raises(ValueError, match="other weights"):
        averaged([a, other])
