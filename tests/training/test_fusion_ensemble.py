"""The fusion ensemble exported as one graph (training/fusion_ensemble.py): what the graph computes,
batch invariance, the manifest contract through the real runtime, and training on a small pool."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from sentiment_fusion.bundle import MANIFEST, read_manifest
from sentiment_fusion.calibration import softmax
from sentiment_fusion.component import Component
from sentiment_fusion.fusion_inputs import INPUTS
from sentiment_fusion.sessions import onnx_session
from sentiment_fusion.training.fusion_ensemble import (
    FusionEnsemble,
    ensemble_component,
    graph_agreement,
    pool_inputs,
    train_ensemble,
)
from sentiment_fusion.training.heads import FusionConfig, FusionHead, HeadConfig, ImageHead

TEMPERATURES = (0.7, 1.0, 1.6, 2.3)


def random_ensemble(text_dim: int = 6, image_dim: int = 5, seed: int = 0) -> FusionEnsemble:
    """Four untrained members with distinct weights, image normalization and temperatures."""
    torch.manual_seed(seed)
    image_heads, fusion_heads = [], []
    for _ in TEMPERATURES:
        head = ImageHead(HeadConfig(in_dim=image_dim, hidden_dim=4))
        head.set_normalization(torch.randn(20, image_dim) * 2 + 1)
        image_heads.append(head)
        fusion_heads.append(FusionHead(FusionConfig(text_dim=text_dim, image_dim=image_dim, hidden_dim=8)))
    ensemble = FusionEnsemble(image_heads, fusion_heads, TEMPERATURES)
    return ensemble.eval()


def random_inputs(n: int, text_dim: int = 6, image_dim: int = 5, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    present = np.ones((n, 2), np.float32)
    present[::4, 1] = 0  # some posts without an image, some without text (the graph takes any mask)
    present[1::4, 0] = 0
    inputs = {
        "text_features": rng.normal(size=(n, text_dim)),
        "image_features": rng.normal(size=(n, image_dim)) * 3,
        "text_logits": rng.normal(size=(n, 3)) * 2,
        "image_logits": rng.normal(size=(n, 3)) * 2,
        "present": present,
    }
    inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
    for modality, col in (("text", 0), ("image", 1)):  # an absent modality's inputs are zeros, as at runtime
        for name in (f"{modality}_features", f"{modality}_logits"):
            inputs[name][present[:, col] == 0] = 0
    return inputs


def members_mean(ensemble: FusionEnsemble, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The reference, member by member: each fusion head over its own image head's logits,
    softmax at its own temperature (float64), then the mean."""
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    probs = []
    with torch.no_grad():
        for image_head, fusion_head, t in zip(
            ensemble.image_heads, ensemble.fusion_heads, ensemble.temperatures, strict=True
        ):
            own_image_logits = image_head(tensors["image_features"])
            logits = fusion_head(
                tensors["text_features"],
                tensors["image_features"],
                tensors["text_logits"],
                own_image_logits,
                tensors["present"],
            )
            probs.append(softmax(logits.numpy(), t))
    return np.mean(probs, axis=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    ensemble = random_ensemble()
    path = ensemble.export_onnx(tmp_path_factory.mktemp("ensemble") / "fusion.onnx")
    return ensemble, path


def test_graph_output_read_at_temperature_one_is_the_mean_of_the_members_calibrated_probabilities(exported):
    ensemble, path = exported
    inputs = random_inputs(40)
    session = onnx_session(path)
    (logits,) = session.run(["logits"], inputs)
    reference = members_mean(ensemble, inputs)
    assert logits.shape == (40, 3)
    np.testing.assert_allclose(softmax(logits, 1.0), reference, atol=1e-6)
    np.testing.assert_allclose(np.exp(logits).sum(1), 1.0, atol=1e-5)  # log-probabilities already
    # the members disagree, so the mean is not any one member's answer
    single = members_mean(
        FusionEnsemble(ensemble.image_heads[:1], ensemble.fusion_heads[:1], TEMPERATURES[:1]).eval(), inputs
    )
    assert np.abs(single - reference).max() > 1e-2
    agreement = graph_agreement(path, inputs, reference)
    assert agreement["max_abs_diff"] < 1e-6 and agreement["argmax_agreement"] == 1.0


def test_graph_keeps_the_recipe_contract_and_does_not_read_image_logits(exported):
    _, path = exported
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == list(INPUTS)
    assert [o.name for o in session.get_outputs()] == ["logits"]
    inputs = random_inputs(12)
    (before,) = session.run(["logits"], inputs)
    (after,) = session.run(["logits"], {**inputs, "image_logits": inputs["image_logits"] * -5 + 3})
    np.testing.assert_array_equal(before, after)


def test_batch_invariance_a_post_alone_and_inside_a_batch_of_33(exported):
    _, path = exported
    session = onnx_session(path)
    inputs = random_inputs(33, seed=7)
    (batch,) = session.run(["logits"], inputs)
    for i in (0, 5, 17, 32):
        (alone,) = session.run(["logits"], {k: v[i : i + 1] for k, v in inputs.items()})
        np.testing.assert_allclose(softmax(alone, 1.0)[0], softmax(batch, 1.0)[i], atol=1e-5)


def test_a_tiny_probability_stays_finite():
    ensemble = random_ensemble()
    with torch.no_grad():
        for head in ensemble.fusion_heads:
            head.mlp[-1].bias.copy_(torch.tensor([200.0, 0.0, -200.0]))  # softmax underflows to 0
        out = ensemble(*(torch.from_numpy(v) for v in random_inputs(3).values()))
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(softmax(out.numpy(), 1.0)[:, 0], 1.0, atol=1e-6)


def test_mismatched_members_are_refused():
    ensemble = random_ensemble()
    with pytest.raises(ValueError, match="as many"):
        FusionEnsemble(ensemble.image_heads, ensemble.fusion_heads[:2], TEMPERATURES)
    with pytest.raises(ValueError, match="at least one"):
        FusionEnsemble([], [], [])


def test_manifest_record_through_the_runtime_answers_the_members_mean(multimodal_bundle, tmp_path):
    """A copy of the tiny multimodal bundle with the ensemble as its fusion component: the runtime
    (softmax of the graph at the record's temperature) gives the members' mean for text+image
    posts, the same inside a batch, and the unimodal models for one-modality posts."""
    from sentiment_fusion.runtime import Analyzer

    bundle = tmp_path / "bundle"
    shutil.copytree(multimodal_bundle, bundle)
    plain = Analyzer.load(bundle, threads=1)
    text_dim = plain.text.run(["hello"])[1].shape[1]
    ensemble = random_ensemble(text_dim=text_dim, image_dim=8, seed=3)
    ensemble.export_onnx(bundle / "fusion.onnx")
    record = ensemble_component(bundle, ensemble).to_dict()
    assert record["temperature"] == 1.0
    assert list(record["inputs"]) == list(INPUTS) and record["outputs"] == {"logits": "float32[batch, 3]"}
    assert record["architecture"]["members"] == 4
    assert record["architecture"]["member_temperatures"] == list(TEMPERATURES)
    assert Component.from_dict(record).to_dict() == record
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["components"]["fusion"] = record
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    read_manifest(bundle)  # sha256 and size of the new graph check out

    analyzer = Analyzer.load(bundle, threads=1)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + 9 * i, 50, 3), dtype=np.uint8) for i in range(6)]
    texts = ["great day", "awful service", "meh", "love it", "the worst", "fine I guess"]
    text_logits, text_features = analyzer.text.run(texts)
    image_logits, image_features = analyzer.image.run(images)
    inputs = {
        "text_features": text_features,
        "image_features": image_features,
        "text_logits": text_logits,
        "image_logits": image_logits,
        "present": np.ones((6, 2), np.float32),
    }
    expected = members_mean(ensemble, {k: v.astype(np.float32) for k, v in inputs.items()})
    batch = analyzer.predict_batch([*texts, "text only", None], [*images, None, images[0]])
    for i in range(6):
        assert batch[i].source == "fusion"
        got = np.array([batch[i].scores[name] for name in ("negative", "neutral", "positive")])
        np.testing.assert_allclose(got, expected[i], atol=1e-5)
        alone = analyzer.predict(texts[i], images[i]).scores
        assert max(abs(alone[c] - batch[i].scores[c]) for c in alone) < 1e-5
    assert batch[6].source == "text" and batch[7].source == "image"


@pytest.mark.slow
def test_training_an_ensemble_on_a_small_pool_exports_what_the_members_computed(tmp_path):
    from test_fusion_cv import FAST, synthetic_pool

    pool = synthetic_pool(n=120, seed=2)
    run = train_ensemble(pool, members=3, inner_folds=4, seed=5, work=tmp_path / "work", training=FAST)
    # members select on disjoint inner folds and train on the rest
    assert sorted(np.unique(run.inner)) == [0, 1, 2, 3]
    assert len(run.members) == 3 and all(
        m.select_scores["n"] == int((run.inner == k).sum()) for k, m in enumerate(run.members)
    )
    assert run.probabilities.shape == (120, 3)
    path = run.ensemble.export_onnx(tmp_path / "fusion.onnx")
    agreement = graph_agreement(path, pool_inputs(pool), run.probabilities)
    assert agreement["max_abs_diff"] < 5e-3 and agreement["argmax_agreement"] >= 0.99  # int8-stored weights
    assert (run.probabilities.argmax(1) == pool.labels).mean() > 0.85  # the image features carry the label
    with pytest.raises(ValueError, match="inner folds"):
        train_ensemble(pool, members=5, inner_folds=4)
