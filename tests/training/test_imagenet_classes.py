"""ImageNet class log-probabilities from the pooled MobileNetV2 features (training/imagenet_classes.py)
and the cross-validation variant that feeds them to the image head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.paths import DEFAULT_BUNDLE, shared_data
from sentiment_fusion.training import fusion_cv
from sentiment_fusion.training.fusion_cv import Pool, Variant, cross_validate
from sentiment_fusion.training.heads import ImageHead
from sentiment_fusion.training.imagenet_classes import (
    TFLITE,
    ImageNetClassifier,
    _dequantize,
    compare_with_tflite,
)


def test_log_probs_are_the_log_softmax_of_the_affine_logits():
    rng = np.random.default_rng(0)
    classifier = ImageNetClassifier(weight=rng.normal(size=(5, 4)), bias=rng.normal(size=5), labels=tuple("abcde"))
    features = rng.normal(size=(3, 4)) * 3
    logits = features @ classifier.weight.T + classifier.bias
    log_probs = classifier.log_probs(features)
    assert log_probs.dtype == np.float32 and log_probs.shape == (3, 5)
    np.testing.assert_allclose(np.exp(log_probs).sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(log_probs - log_probs[:, :1], logits - logits[:, :1], rtol=1e-5, atol=1e-4)
    top = classifier.top(features, 2)
    assert [name for name, _ in top[0]] == [classifier.labels[c] for c in np.argsort(-logits[0])[:2]]
    with pytest.raises(ValueError, match=r"features \[N, 4\]"):
        classifier.log_probs(np.zeros((2, 3)))


def test_dequantize_per_tensor_and_per_channel():
    values = np.array([[0, 128], [255, 1]], np.uint8)
    per_tensor = {"quantization_parameters": {"scales": np.array([0.5]), "zero_points": np.array([128])}}
    np.testing.assert_array_equal(_dequantize(values, per_tensor), [[-64, 0], [63.5, -63.5]])
    per_row = {
        "quantization_parameters": {
            "scales": np.array([1.0, 2.0]),
            "zero_points": np.array([0, 1]),
            "quantized_dimension": 0,
        }
    }
    np.testing.assert_array_equal(_dequantize(values, per_row), [[0, 128], [508, 0]])


def _pool(n: int = 150, seed: int = 0) -> Pool:
    """Pairs whose label only the class features carry (text and pooled image features are noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 5)).astype(np.float32) * 3
    return Pool(
        text_logits=rng.normal(size=(n, 3)).astype(np.float32),
        text_features=rng.normal(size=(n, 4)).astype(np.float32),
        image_features=rng.normal(size=(n, 6)).astype(np.float32),
        labels=y,
        aux=np.stack([y, y], 1),
        is_dev=np.zeros(n, bool),
        image_extras={"classes": centres[y] + rng.normal(size=(n, 5)).astype(np.float32)},
    )


def test_an_image_extra_variant_needs_its_features_for_every_pair():
    pool = _pool()
    with pytest.raises(ValueError, match=r"image_extras\['release2'\]"):
        cross_validate(pool, Variant("release2", image_extra="release2"), folds=2)
    pool.image_extras["classes"] = pool.image_extras["classes"][:10]
    with pytest.raises(ValueError, match="one row per pair"):
        cross_validate(pool, Variant("classes", image_extra="classes"), folds=2)


@pytest.mark.slow
def test_the_image_head_gets_and_learns_from_the_class_features(monkeypatch):
    heads: list[ImageHead] = []

    class RecordedImageHead(ImageHead):
        def __init__(self, config):
            super().__init__(config)
            heads.append(self)

    monkeypatch.setattr(fusion_cv, "ImageHead", RecordedImageHead)
    pool = _pool()
    fast = {"epochs": 3, "learning_rate": 3e-3}
    cross_validate(pool, Variant("classes", image_extra="classes"), folds=2, inner_folds=2, training=fast, dev=False)
    assert [head.config.in_dim for head in heads] == [6 + 5, 6 + 5]  # one per fold
    inputs = torch.from_numpy(np.concatenate([pool.image_features, pool.image_extras["classes"]], 1))
    for head in heads:  # trained (on half the pairs each): the class features carry the label
        head.eval()
        with torch.no_grad():
            assert (head(inputs).argmax(1).numpy() == pool.labels).mean() > 0.7  # chance: 1/3
    heads.clear()
    cross_validate(pool, Variant("recipe"), folds=2, inner_folds=2, training=fast, dev=False)
    assert [head.config.in_dim for head in heads] == [6, 6]  # the recipe never sees them


@pytest.mark.slow
def test_the_numpy_classifier_matches_the_tflite_interpreter_on_real_images():
    pytest.importorskip("ai_edge_litert", reason="the TFLite interpreter (the bench extra) is not installed")
    from sentiment_fusion.bundle import read_manifest
    from sentiment_fusion.runtime import ImageModel

    tflite = shared_data(*TFLITE.parts)
    mvsa = shared_data("mvsa_single")
    ids = (mvsa / "splits" / "train.txt").read_text().split()[:4]
    images = [mvsa / "data" / f"{i}.jpg" for i in ids]
    encoder = ImageModel(DEFAULT_BUNDLE, read_manifest(DEFAULT_BUNDLE)["components"]["image"], threads=1).encoder
    classifier = ImageNetClassifier.from_tflite(tflite)
    assert classifier.weight.shape == (1001, encoder.dim) and len(classifier.labels) == 1001
    result = compare_with_tflite(classifier, encoder, tflite, images)
    assert result["max_abs_pool_diff"] < 1e-5  # the bundle's encoder is TFLite's AvgPool
    # TFLite requantizes its logits to uint8: ours are within half a step of them
    assert result["max_abs_logit_diff"] <= result["tflite_logit_step"] / 2 + 1e-4
    assert result["top1_agreement"] == 1.0
    assert result["max_abs_prob_diff"] < 0.05
