"""The fusion cross-validation harness (training/fusion_cv.py) on tiny synthetic and tiny MVSA data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentiment_fusion.training.fusion_cv import (
    IGNORE,
    AuxFusionHead,
    Pool,
    Variant,
    build_pool,
    cross_validate,
    flipped_image_features,
    stratified_folds,
)
from sentiment_fusion.training.heads import FusionConfig
from sentiment_fusion.training.trainer import TrainData, Trainer, TrainingArguments

FAST = {"epochs": 3, "learning_rate": 3e-3}


def synthetic_pool(n: int = 150, seed: int = 0, shuffle_labels: bool = False) -> Pool:
    """Pairs whose image features carry the label (text features are noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 6)).astype(np.float32) * 3
    image = centres[y] + rng.normal(size=(n, 6)).astype(np.float32)
    labels = rng.permutation(y) if shuffle_labels else y
    return Pool(
        text_logits=rng.normal(size=(n, 3)).astype(np.float32),
        text_features=rng.normal(size=(n, 4)).astype(np.float32),
        image_features=image,
        labels=labels,
        aux=np.stack([labels, labels], 1),
        is_dev=np.arange(n) >= n - 30,
    )


def test_stratified_folds_keep_each_class_share_and_follow_the_seed():
    labels = np.array([0] * 50 + [1] * 31 + [2] * 19)
    fold = stratified_folds(labels, 5, seed=3)
    for c in range(3):
        counts = np.bincount(fold[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert sorted(np.bincount(fold)) == [20] * 5
    assert np.array_equal(fold, stratified_folds(labels, 5, seed=3))
    assert not np.array_equal(fold, stratified_folds(labels, 5, seed=4))
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(labels, 1, seed=0)


@pytest.mark.slow
def test_cross_validation_learns_a_learnable_pool_and_reports_every_fold():
    result = cross_validate(synthetic_pool(), Variant("recipe"), folds=3, inner_folds=3, training=FAST)
    assert result["n"] == 150 and len(result["per_fold"]) == 3
    assert sum(f["n"] for f in result["per_fold"]) == 150  # every pair held out exactly once
    assert result["accuracy"]["mean"] > 0.85
    assert result["accuracy"]["sd"] >= 0
    assert result["dev_recipe"]["n"] == result["dev_held_out"]["n"] == 30
    assert result["dev_held_out"]["accuracy"] > 0.8


@pytest.mark.slow
def test_held_out_labels_never_reach_training():
    # labels unrelated to the features: a harness that trained or selected on the held-out
    # fold would score far above chance here
    result = cross_validate(
        synthetic_pool(n=240, seed=1, shuffle_labels=True),
        Variant("recipe"),
        folds=3,
        inner_folds=3,
        training=FAST,
        dev=False,
    )
    assert result["accuracy"]["mean"] < 0.5
    assert "dev_recipe" not in result


@pytest.mark.slow
def test_ensemble_smoothing_and_auxiliary_variants_run():
    pool = synthetic_pool()
    for variant in (Variant("ens", members=2), Variant("smooth", label_smoothing=0.1), Variant("aux", aux_weight=0.5)):
        result = cross_validate(pool, variant, folds=2, inner_folds=2, training={**FAST, "epochs": 2})
        assert result["accuracy"]["mean"] > 0.7, variant
        assert ("dev_recipe" in result) == (variant.members == 1)


def test_bad_variants_are_refused():
    with pytest.raises(ValueError, match="flip=True"):
        cross_validate(synthetic_pool(), Variant("flip", flip=True), folds=2)
    with pytest.raises(ValueError, match="inner folds"):
        cross_validate(synthetic_pool(), Variant("ens", members=4), folds=2, inner_folds=3)
    with pytest.raises(ValueError, match="bad variant"):
        Variant("x", members=0)


def test_the_trainer_adds_the_auxiliary_loss():
    config = FusionConfig(text_dim=4, image_dim=6, hidden_dim=8)
    rng = np.random.default_rng(0)
    n = 64
    items = [
        (rng.normal(size=4), rng.normal(size=6), rng.normal(size=3), rng.normal(size=3), np.ones(2)) for _ in range(n)
    ]
    aux = rng.integers(0, 3, (n, 2))
    aux[:5] = IGNORE

    def collate(rows):
        batch = {
            name: torch.tensor(np.stack([r[i] for r in rows]), dtype=torch.float32)
            for i, name in enumerate(AuxFusionHead.INPUTS)
        }
        batch["aux_targets"] = torch.tensor(np.stack([aux[int(r[-1])] for r in rows]))
        return batch

    rows = [(*item, i) for i, item in enumerate(items)]
    torch.manual_seed(0)
    model = AuxFusionHead(config, weight=1.0)
    before = model.aux_out.weight.detach().clone()
    args = TrainingArguments(output_dir="/tmp/unused", epochs=1, batch_size=16, progress=False, resume=False)
    Trainer(model, args, TrainData(rows, rng.integers(0, 3, n)), None, collate).train()
    assert not torch.equal(before, model.aux_out.weight)  # only the auxiliary loss reaches aux_out
    model.eval()
    out = model(*(torch.zeros(2, d) for d in (4, 6, 3, 3)), torch.ones(2, 2))
    assert out.shape == (2, 3) and model.auxiliary_loss() is None  # inference: post logits only


def test_flipped_features_encode_the_mirrored_crop(tmp_path):
    class ColumnEncoder:  # features = the pixels of the leftmost column
        dim = 6

        def prepare(self, images):
            return np.stack([np.asarray(i, np.uint8) for i in images])

        def encode_pixels(self, batch):
            return batch[:, :2, 0, :].reshape(len(batch), -1).astype(np.float32)

    images = [np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) + k for k in range(3)]
    flipped = flipped_image_features(ColumnEncoder(), images, tmp_path, ["tiny"])
    assert np.array_equal(flipped, np.stack([i[:2, -1, :].reshape(-1) for i in images]).astype(np.float32))


def test_pool_from_a_bundle_and_mvsa_files(tmp_path, multimodal_bundle):
    from sentiment_fusion.testing import make_tiny_mvsa

    mvsa = make_tiny_mvsa(tmp_path / "mvsa", n=30)
    dev = f"mvsa:{mvsa}:dev"
    pool = build_pool(multimodal_bundle, [f"mvsa:{mvsa}:train", dev], tmp_path / "cache", dev_spec=dev, flip=True)
    assert len(pool) == 26 and pool.is_dev.sum() == 26 - 18  # 18 train + 8 dev; the 4 test ids have no label
    assert pool.flipped_features.shape == pool.image_features.shape
    assert set(np.unique(pool.aux)) <= {0, 1, 2} and len(pool.extra_labels) == 0
    again = build_pool(multimodal_bundle, [f"mvsa:{mvsa}:train", dev], tmp_path / "cache", dev_spec=dev, flip=True)
    assert np.array_equal(again.text_features, pool.text_features)


def test_plain_log_probs_reach_the_mlp_as_they_are():
    """FusionConfig(gelu_on_log_probs=False): only the projections pass the first GELU, so a
    confident unimodal answer (log-probabilities far below 0) is not flattened to about 0."""
    from sentiment_fusion.training.heads import FusionHead

    rng = np.random.default_rng(0)
    text_logits = torch.tensor([[8.0, 0.0, -8.0]])
    inputs = (
        torch.from_numpy(rng.normal(size=(1, 4)).astype(np.float32)),
        torch.from_numpy(rng.normal(size=(1, 6)).astype(np.float32)),
        text_logits,
        torch.zeros(1, 3),
        torch.ones(1, 2),
    )
    hidden = 5
    for gelu_on_log_probs in (True, False):
        head = FusionHead(FusionConfig(4, 6, hidden_dim=hidden, gelu_on_log_probs=gelu_on_log_probs)).eval()
        mlp_input = head.joint(*inputs)
        if gelu_on_log_probs:
            mlp_input = head.mlp[0](mlp_input)  # the shipped heads' first GELU
        log_probs = mlp_input[0, 2 * hidden : 2 * hidden + 3]
        expected = torch.log_softmax(text_logits, -1)[0]
        if gelu_on_log_probs:
            assert log_probs.abs().max() < 0.2  # -16 became about -0.0
        else:
            torch.testing.assert_close(log_probs, expected)
            assert isinstance(head.mlp[0], torch.nn.Dropout) and (mlp_input[0, : 2 * hidden] >= -0.17).all()
