"""ImageEncoder on a tiny ONNX graph built here, and on the converted MobileNetV2 when present.

The real-graph tests need ``artifacts/mobilenet_v2_*.onnx`` (``scripts/convert_mobilenet.py``,
which needs a TensorFlow venv) and ../shared/data; they skip, saying which, when either is
absent. TensorFlow itself is never imported here: the TFLite reference top-1 indices are in
``tests/image/assets/mobilenet_reference.json`` (``scripts/check_mobilenet_fidelity.py --reference-out``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.paths import REPO
from sentiment_fusion.errors import BundleError, ImageError
from sentiment_fusion.image import ImageEncoder, ImagePreprocessor

ROOT = REPO
ARTIFACTS = ROOT / "artifacts"
REFERENCE = Path(__file__).parent / "assets" / "mobilenet_reference.json"
MVSA = ROOT.parent / "shared" / "data" / "mvsa_single" / "data"
DIM = 1280


DEFAULT_PRE = ImagePreprocessor()


def tiny_graph(path: Path, preprocessor: ImagePreprocessor | None = DEFAULT_PRE, dim: int = DIM) -> Path:
    pytest.importorskip("onnx", reason="building the tiny test graph needs the onnx package ([train] extra)")
    from sentiment_fusion.testing import make_tiny_image_encoder

    return make_tiny_image_encoder(path, dim=dim, preprocessor=preprocessor)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> ImageEncoder:
    return ImageEncoder(tiny_graph(tmp_path_factory.mktemp("enc") / "tiny.onnx"), threads=1, batch_size=2)


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (4, 4 + i, 3), dtype=np.uint8) for i in range(n)]


# --------------------------------------------------------------------------- tiny graph
def test_encode_shape_dtype_and_batching(tiny):
    imgs = images(5)
    out = tiny.encode(imgs)  # batch_size=2: three runs
    assert out.shape == (5, DIM) and out.dtype == np.float32
    singles = np.concatenate([tiny.encode([img]) for img in imgs])
    np.testing.assert_allclose(out, singles, rtol=1e-6, atol=1e-6)
    assert tiny.encode([]).shape == (0, DIM)
    assert tiny.dim == DIM


def test_preprocessor_comes_from_graph_metadata(tiny):
    assert tiny.preprocessor == ImagePreprocessor()
    assert "dim=1280" in repr(tiny)


def test_encode_pixels_matches_encode_and_checks_input(tiny):
    imgs = images(3)
    np.testing.assert_array_equal(tiny.encode_pixels(tiny.preprocessor(imgs)), tiny.encode(imgs))
    with pytest.raises(ValueError, match="float32 batch"):
        tiny.encode_pixels(np.zeros((1, 224, 224, 3), np.float64))
    with pytest.raises(ValueError, match="float32 batch"):
        tiny.encode_pixels(np.zeros((1, 3, 224, 224), np.float32))


def test_extract_features_from_paths(tiny, tmp_path):
    from PIL import Image

    paths = []
    for i, img in enumerate(images(4)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    feats = tiny.extract_features(paths, batch_size=3, progress=True)
    np.testing.assert_allclose(feats, tiny.encode(images(4)), rtol=1e-6, atol=1e-6)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=r"bad\.jpg"):
        tiny.extract_features([*paths, tmp_path / "bad.jpg"], progress=False)


def test_single_image_is_a_type_error(tiny):
    with pytest.raises(TypeError, match="list"):
        tiny.encode(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TypeError, match="list"):
        tiny.extract_features("a.jpg")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(BundleError, match=r"absent\.onnx"):
        ImageEncoder(tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(BundleError, match=r"junk\.onnx"):
        ImageEncoder(junk)
    bare = tiny_graph(tmp_path / "bare.onnx", preprocessor=None)
    with pytest.raises(BundleError, match="no preprocessing"):
        ImageEncoder(bare)
    assert ImageEncoder(bare, ImagePreprocessor()).dim == DIM  # a bundle passes its own
    with pytest.raises(BundleError, match="NCHW"):
        ImageEncoder(bare, ImagePreprocessor(layout="NCHW"))


# --------------------------------------------------------------------------- converted MobileNetV2
# Committed copies, so the fidelity proof also runs on a clean clone: the int8 classifier (3.6 MB)
# beside the reference file, and the int8 features graph as the default bundle's image encoder.
COMMITTED = {
    "mobilenet_v2_imagenet_int8.onnx": Path(__file__).parent / "assets" / "mobilenet_v2_imagenet_int8.onnx",
    "mobilenet_v2_features_int8.onnx": ROOT / "models" / "default" / "image_encoder.onnx",
}


def _graph(name: str) -> Path:
    for path in (ARTIFACTS / name, COMMITTED.get(name)):
        if path is not None and path.is_file():
            return path
    pytest.skip(f"{ARTIFACTS / name} is absent: run scripts/convert_mobilenet.py (needs a TensorFlow venv) to make it")


def _mvsa(names: list[str]) -> list[Path]:
    if not MVSA.is_dir():
        pytest.skip(f"real data not available: {MVSA} is absent (tests that need ../shared/data skip)")
    return [MVSA / n for n in names]


@pytest.mark.data
@pytest.mark.parametrize("name, min_agree", [("mobilenet_v2_imagenet_int8.onnx", 8), ("mobilenet_v2_imagenet.onnx", 7)])
def test_converted_classifier_matches_tflite_reference(name, min_agree):
    """int8 (the TFLite model's own quantization) must agree on all 8; the float graph agrees with
    TFLite on 95.5% of 200 images, so one miss in 8 is tolerated."""
    ort = pytest.importorskip("onnxruntime")
    ref = json.loads(REFERENCE.read_text())
    paths = _mvsa(ref["images"])
    pre = ImagePreprocessor.from_config(ref["preprocessing"])
    sess = ort.InferenceSession(str(_graph(name)), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"pixels": pre(paths)})
    assert logits.shape == (8, 1001)
    agree = sum(int(t) in r["tied"] for t, r in zip(logits.argmax(1), ref["reference"], strict=True))
    assert agree >= min_agree, (agree, logits.argmax(1).tolist(), [r["top1"] for r in ref["reference"]])
    assert all(int(t) in r["top5"] for t, r in zip(logits.argmax(1), ref["reference"], strict=True))


@pytest.mark.data
@pytest.mark.parametrize(
    "name, atol", [("mobilenet_v2_features_int8.onnx", 1e-6), ("mobilenet_v2_features.onnx", 1e-4)]
)
def test_converted_features_shape_and_batch_agreement(name, atol):
    paths = _mvsa(["1.jpg", "2.jpg", "3.jpg"])
    enc = ImageEncoder(_graph(name), threads=1)
    batch = enc.encode(paths)
    assert batch.shape == (3, 1280) and batch.dtype == np.float32
    assert np.isfinite(batch).all() and (batch >= 0).all()  # pooled ReLU6 activations
    single = np.concatenate([enc.encode([p]) for p in paths])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=atol)


@pytest.mark.data
def test_a_single_image_on_every_core_gets_the_same_features():
    """One image runs on a session with one intra-op thread per core (the rest on one thread
    each, side by side): the shipped int8 encoder gives the same features to the bit."""
    paths = _mvsa([f"{i}.jpg" for i in range(1, 9)])
    wide = ImageEncoder(COMMITTED["mobilenet_v2_features_int8.onnx"], threads=2)
    assert wide.wide_session is not wide.session
    narrow = ImageEncoder(COMMITTED["mobilenet_v2_features_int8.onnx"], threads=1)
    singles = np.concatenate([wide.encode([p]) for p in paths])
    np.testing.assert_array_equal(singles, narrow.encode(paths))
    np.testing.assert_array_equal(wide.encode(paths), narrow.encode(paths))
