"""The fusion cross-validation harness (training/fusion_cv.py) on tiny synthetic and tiny MVSA data."""

from __future__ import annotations

from dataclasses import replace

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
    ensemble_scores,
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


def test_kept_members_rebuild_the_ensemble_and_pool_across_image_features():
    """keep_members: each fold's held-out pairs and every member's probabilities, whose mean is
    the fold's answer; ensemble_scores pools them with a run on other image features."""
    pool = synthetic_pool()
    settings = {"folds": 2, "inner_folds": 2, "training": {**FAST, "epochs": 2}, "keep_members": True}
    run = cross_validate(pool, Variant("ens", members=2), **settings)
    held_out = np.concatenate([f["held_out"] for f in run["per_fold"]])
    assert sorted(held_out) == list(range(len(pool)))
    assert all(f["member_probabilities"].shape == (2, len(f["held_out"]), 3) for f in run["per_fold"])
    rebuilt = ensemble_scores(pool.labels, [run], [2])
    assert [f["accuracy"] for f in rebuilt["per_fold"]] == [f["accuracy"] for f in run["per_fold"]]
    noise = np.random.default_rng(5).normal(size=pool.image_features.shape).astype(np.float32)
    noise = replace(pool, image_features=noise)
    other = cross_validate(noise, Variant("one", members=1), **settings)
    assert other["accuracy"]["mean"] < run["accuracy"]["mean"]  # the label lives in the image features
    mixed = ensemble_scores(pool.labels, [run, other], [1, 1])
    assert len(mixed["per_fold"]) == 2 and 0 <= mixed["accuracy"]["mean"] <= 1


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


def test_another_image_encoder_replaces_the_bundle_image_features(tmp_path, multimodal_bundle):
    """build_pool(image_encoder=GRAPH): that graph's features (its own preprocessing, from its
    metadata) are the image features, text-only posts get image columns of its width, and the
    spatial variants, which need the bundle's encoder, are refused."""
    import json

    import onnx

    from sentiment_fusion.data import read_dataset
    from sentiment_fusion.image.encoder import METADATA_KEY, ImageEncoder
    from sentiment_fusion.image.preprocess import ImagePreprocessor
    from sentiment_fusion.testing import make_tiny_mvsa
    from sentiment_fusion.training.export import export_onnx

    class ChannelMeans(torch.nn.Module):  # pixels [B, 224, 224, 3] -> features [B, 5]
        def forward(self, pixels):
            means = pixels.mean(dim=(1, 2))
            return torch.cat([means, means[:, :2] * 2], dim=1)

    example = (torch.randn(2, 224, 224, 3),)
    graph = export_onnx(ChannelMeans(), example, tmp_path / "other.onnx", ["pixels"], ["features"])
    model = onnx.load(str(graph))
    config = ImagePreprocessor(mean=(100.0,) * 3, std=(50.0,) * 3).to_config()
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps({"preprocessing": config})})
    onnx.save(model, str(graph))
    mvsa = make_tiny_mvsa(tmp_path / "mvsa", n=30)
    specs = [f"mvsa:{mvsa}:train", f"mvsa:{mvsa}:dev"]
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"post {i}", "label": "positive"}) + "\n" for i in range(3)))
    plain = build_pool(multimodal_bundle, specs, tmp_path / "cache", text_only=[f"jsonl:{texts}"])
    other = build_pool(multimodal_bundle, specs, tmp_path / "cache", text_only=[f"jsonl:{texts}"], image_encoder=graph)
    images = [e.image for s in specs for e in read_dataset(s).examples if e.image is not None and e.label is not None]
    assert other.image_features.shape == (len(plain), 5) and plain.image_features.shape[1] == 8
    assert np.allclose(other.image_features, ImageEncoder(graph).encode(images), atol=1e-6)
    assert np.array_equal(other.text_features, plain.text_features) and np.array_equal(other.labels, plain.labels)
    assert other.extra["image_features"].shape == (3, 5) and not other.extra["image_features"].any()
    with pytest.raises(ValueError, match="not with image_encoder"):
        build_pool(multimodal_bundle, specs, tmp_path / "cache", flip=True, image_encoder=graph)


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


def tiny_quantized_encoder(path):
    """pixels [B, 224, 224, 3] -> 32x32 block means [B, 3, 7, 7] -> uint8 (scale 0.01, zero point 100)
    -> dequantized -> global average pool -> features [B, 3]: the shape of the real MobileNetV2 tail."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["nchw"], ["blocks"], kernel_shape=[32, 32], strides=[32, 32]),
        helper.make_node("QuantizeLinear", ["blocks", "scale", "zero"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["map"]),
        helper.make_node("AveragePool", ["map"], ["pooled"], kernel_shape=[7, 7]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_quantized_encoder",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 224, 224, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(np.float32(0.01), "scale"), numpy_helper.from_array(np.uint8(100), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_region_features_are_the_encoder_map_before_pooling(tmp_path):
    from sentiment_fusion.image.encoder import ImageEncoder
    from sentiment_fusion.image.preprocess import ImagePreprocessor
    from sentiment_fusion.training.image_regions import dequantize, region_features

    encoder = ImageEncoder(tiny_quantized_encoder(tmp_path / "enc.onnx"), ImagePreprocessor(), threads=1)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(5)]
    regions = region_features(encoder, images, batch_size=2, progress=False)
    assert regions["regions"].shape == (5, 49, 3) and regions["regions"].dtype == np.uint8
    assert float(regions["scale"]) == pytest.approx(0.01) and int(regions["zero_point"]) == 100

    pixels = encoder.prepare(images)  # float [B, 224, 224, 3]
    blocks = pixels.reshape(5, 7, 32, 7, 32, 3).mean((2, 4)).reshape(5, 49, 3)  # row-major regions
    expected = np.clip(np.rint(blocks / 0.01) + 100, 0, 255)
    assert np.abs(regions["regions"].astype(int) - expected).max() <= 1  # float rounding at a half step
    maps = dequantize(regions, np.array([4, 0]))
    np.testing.assert_allclose(maps.mean(1), encoder.encode([images[4], images[0]]), atol=1e-5)


def test_region_features_refuse_a_graph_without_a_quantized_pooled_map(tmp_path):
    from sentiment_fusion.image.encoder import ImageEncoder
    from sentiment_fusion.image.preprocess import ImagePreprocessor
    from sentiment_fusion.testing import make_tiny_image_encoder
    from sentiment_fusion.training.image_regions import region_features

    encoder = ImageEncoder(make_tiny_image_encoder(tmp_path / "enc.onnx"), ImagePreprocessor(), threads=1)
    with pytest.raises(ValueError, match="no average pool"):
        region_features(encoder, [np.zeros((224, 224, 3), np.uint8)], progress=False)


def region_pool(n: int = 180, seed: int = 0) -> Pool:
    """Pairs whose label is carried by the one image region that the text points to: the pooled
    feature averages it away, attention from the text can find it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    where = rng.integers(0, 4, n)  # which region holds the label
    text = np.eye(4, dtype=np.float32)[where] * 3 + rng.normal(size=(n, 4)).astype(np.float32) * 0.1
    maps = rng.integers(90, 110, (n, 4, 3))
    maps[np.arange(n), where] = 100 + 60 * np.eye(3, dtype=int)[y]
    pool = synthetic_pool(n, seed)
    pool.labels, pool.aux = y, np.stack([y, y], 1)
    pool.text_features = text
    pool.image_features = rng.normal(size=(n, 6)).astype(np.float32)
    pool.regions = {"regions": maps.astype(np.uint8), "scale": np.float32(0.05), "zero_point": np.uint8(100)}
    return pool


def test_region_attention_starts_as_the_mean_and_skips_posts_without_an_image():
    from sentiment_fusion.training.fusion_cv import RegionFusionHead

    head = RegionFusionHead(FusionConfig(4, 6, hidden_dim=8), region_dim=3).eval()
    torch.nn.init.zeros_(head.query[1].weight)
    torch.nn.init.zeros_(head.query[1].bias)  # a zero query: every region weighs the same
    regions = torch.randn(2, 5, 3)
    torch.testing.assert_close(head.attend(torch.randn(2, 4), regions), regions.mean(1))

    captured = {}
    head.image_proj.register_forward_hook(lambda module, args, out: captured.update(image=args[0]))
    present = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    head(torch.randn(2, 4), torch.zeros(2, 6), torch.zeros(2, 3), torch.zeros(2, 3), present, regions)
    assert captured["image"].shape == (2, 6 + 3)
    torch.testing.assert_close(captured["image"][0, 6:], regions[0].mean(0))
    assert (captured["image"][1] == 0).all()


@pytest.mark.slow
def test_the_regions_variant_learns_what_only_the_regions_carry():
    pool = region_pool()
    training = {**FAST, "epochs": 12}
    regions = cross_validate(pool, Variant("regions", regions=True), folds=2, inner_folds=3, training=training)
    recipe = cross_validate(pool, Variant("recipe"), folds=2, inner_folds=3, training=training, dev=False)
    assert recipe["accuracy"]["mean"] < 0.55  # the pooled feature is noise here
    assert regions["accuracy"]["mean"] > recipe["accuracy"]["mean"] + 0.2
    with pytest.raises(ValueError, match="regions=True"):
        cross_validate(synthetic_pool(), Variant("regions", regions=True), folds=2)


@pytest.mark.slow
def test_cross_fit_trains_the_fusion_head_on_out_of_fold_image_logits(monkeypatch, tmp_path):
    from sentiment_fusion.training import fusion_cv
    from sentiment_fusion.training.fusion_cv import train_member

    heads, fusion_rows = [], {}
    real_image_head, real_train = fusion_cv._image_head, fusion_cv._train

    def image_head(image, y, fit_idx, select_idx, work, training, hidden):
        out = real_image_head(image, y, fit_idx, select_idx, work, training, hidden)
        heads.append((fit_idx, out[1]))
        return out

    def train(model, defaults, work, train_data, select, collate, **overrides):
        if isinstance(model, fusion_cv.FusionHead):  # the rows the fusion head trains on
            fusion_rows.update(collate(list(range(len(train_data.items)))))
        return real_train(model, defaults, work, train_data, select, collate, **overrides)

    monkeypatch.setattr(fusion_cv, "_image_head", image_head)
    monkeypatch.setattr(fusion_cv, "_train", train)
    pool = synthetic_pool(n=90)
    train_idx, select_idx = np.arange(60), np.arange(60, 75)
    variant = Variant("cf", cross_fit=3)
    member = train_member(pool, variant, train_idx, select_idx, np.arange(75, 90), tmp_path, training=FAST)

    assert len(heads) == 4 and np.array_equal(heads[0][0], train_idx)  # the member's head, then one per part
    logits = fusion_rows["image_logits"][: len(train_idx)].numpy()  # the pairs with both modalities come first
    held_out = []
    for fit_idx, trainer in heads[1:]:
        held = np.setdiff1d(train_idx, fit_idx)
        assert 15 <= len(held) <= 25 and not np.isin(held, fit_idx).any()
        expected = trainer.predict_logits(TrainData(list(pool.image_features[held]), pool.labels[held]))
        np.testing.assert_allclose(logits[held], expected, rtol=1e-6)
        held_out.extend(held)
    assert sorted(held_out) == list(train_idx)  # every training pair is held out once
    assert member.image_head is heads[0][1].model  # the member keeps the head trained on every pair
