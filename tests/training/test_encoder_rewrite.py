"""rewrite_image_encoder: a rewritten encoder replaces the bundle's only when its features are the same to the bit."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="editing graphs needs the onnx package ([train] extra)")
pytest.importorskip("torch", reason="the tiny bundle is built with torch ([train] extra)")

from onnx import numpy_helper  # noqa: E402

from helpers.bundles import make_tiny_multimodal_bundle  # noqa: E402
from sentiment_fusion.bundle import read_manifest  # noqa: E402
from sentiment_fusion.training.encoder_rewrite import rewrite_image_encoder  # noqa: E402


@pytest.fixture
def bundle(tmp_path):
    return make_tiny_multimodal_bundle(tmp_path / "bundle")


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40 + i, 30, 3), dtype=np.uint8) for i in range(4)]


def test_a_rewrite_that_keeps_the_features_replaces_the_encoder(bundle, images):
    before = read_manifest(bundle)["components"]["image"]["files"]["encoder"]

    def rename(model, preprocessor):
        model.graph.name = "renamed"
        return {"pixels": "float32[batch, 224, 224, 3]"}

    path = rewrite_image_encoder(bundle, rename, images, "renamed")
    after = read_manifest(bundle)["components"]["image"]  # hashes checked on read
    assert onnx.load(str(path)).graph.name == "renamed"
    assert after["files"]["encoder"]["sha256"] != before["sha256"]
    assert after["inputs"] == {"pixels": "float32[batch, 224, 224, 3]"}
    assert not list(bundle.glob("*_renamed.onnx"))


def test_a_rewrite_that_changes_the_features_leaves_the_bundle_as_it_was(bundle, images):
    manifest = (bundle / "manifest.json").read_text()
    graph = (bundle / "image_encoder.onnx").read_bytes()

    def perturb(model, preprocessor):
        init = max(model.graph.initializer, key=lambda i: numpy_helper.to_array(i).size)
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.01, init.name))

    with pytest.raises(SystemExit, match="features differ"):
        rewrite_image_encoder(bundle, perturb, images, "perturbed")
    assert (bundle / "manifest.json").read_text() == manifest
    assert (bundle / "image_encoder.onnx").read_bytes() == graph
    assert not list(bundle.glob("*_perturbed.onnx"))
