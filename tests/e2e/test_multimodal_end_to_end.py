"""Image head + fusion trained through the CLI on a tiny MVSA-format folder, then used
through the runtime: every modality combination, batch vs single, bundle rules."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sentiment_fusion.bundle import read_manifest
from sentiment_fusion.runtime import Analyzer
from sentiment_fusion.testing import make_tiny_image_encoder, make_tiny_mvsa, make_tiny_text_bundle

pytestmark = pytest.mark.slow  # trains an image head and a fusion head through the CLI


def cli(*args):
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def full_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("mm")
    mvsa = make_tiny_mvsa(root / "mvsa")
    text = make_tiny_text_bundle(root / "text")
    encoder = make_tiny_image_encoder(root / "encoder.onnx")
    cli(
        "train",
        "image",
        "--train",
        f"mvsa:{mvsa}:train",
        "--val",
        f"mvsa:{mvsa}:dev",
        "--encoder",
        encoder,
        "--out",
        root / "image",
        "--work",
        root / "work-image",
        "--epochs",
        "3",
        "--quiet",
    )
    cli(
        "train",
        "fusion",
        "--text-model",
        text,
        "--image-model",
        root / "image",
        "--train",
        f"mvsa:{mvsa}:train",
        "--val",
        f"mvsa:{mvsa}:dev",
        "--out",
        root / "full",
        "--work",
        root / "work-fusion",
        "--epochs",
        "2",
        "--quiet",
        "--report",
        f"mvsa:{mvsa}:dev@both",
        "--report",
        f"mvsa:{mvsa}:dev@image",
    )
    return root / "full", mvsa


def test_bundle_has_all_components_with_rules(full_bundle):
    bundle, _ = full_bundle
    manifest = read_manifest(bundle)
    assert set(manifest["components"]) == {"text", "image", "fusion"}
    for name, spec in manifest["components"].items():
        assert spec["files"] and all(len(f["sha256"]) == 64 for f in spec["files"].values()), name
        assert spec["temperature"] > 0, name
    for name in ("image", "fusion"):  # trained here, so measured on validation (the tiny text bundle is untrained)
        assert manifest["components"][name]["metrics"][0]["split"] == "validation"
    assert manifest["components"]["image"]["preprocessing"]["image"]["size"] == 224
    assert [e["modality"] for e in manifest["evaluations"]] == ["both", "image"]
    assert (bundle / "README.md").read_text().count("| bundle |") == 2


def test_every_modality_combination(full_bundle):
    bundle, mvsa = full_bundle
    analyzer = Analyzer.load(bundle)
    image = mvsa / "data" / "1.jpg"
    both = analyzer.predict(text="love it", image=image)
    assert both.source == "fusion" and set(both.modalities) == {"text", "image"}
    assert analyzer.predict(image=image).source == "image"
    assert analyzer.predict(image=Image.open(image)).sentiment == analyzer.predict(image=image.read_bytes()).sentiment
    assert analyzer.predict(text="love it").source == "text"
    for p in (both, analyzer.predict(image=image)):
        assert abs(sum(p.scores.values()) - 1) < 1e-6


def test_batch_matches_single_with_mixed_modalities(full_bundle):
    bundle, mvsa = full_bundle
    analyzer = Analyzer.load(bundle)
    texts = ["love it", None, "terrible", "noon meeting"]
    images = [mvsa / "data" / "2.jpg", mvsa / "data" / "3.jpg", None, (mvsa / "data" / "4.jpg").read_bytes()]
    batch = analyzer.predict_batch(texts, images)
    for t, i, p in zip(texts, images, batch, strict=True):
        single = analyzer.predict(text=t, image=i)
        assert single.source == p.source
        assert np.allclose(list(single.scores.values()), list(p.scores.values()), atol=1e-5)


def test_evaluate_image_and_both_through_the_cli(full_bundle):
    bundle, mvsa = full_bundle
    for modality in ("image", "both", "text"):
        metrics = json.loads(
            cli("evaluate", "--model", bundle, "--data", f"mvsa:{mvsa}:dev", "--modality", modality, "--json")
            .strip()
            .splitlines()[-1]
        )
        assert metrics["modality"] == modality and metrics["n"] == 6  # dev ids 15-20 of make_tiny_mvsa


def test_bad_image_is_a_clear_error(full_bundle):
    from sentiment_fusion.errors import ImageError

    bundle, _ = full_bundle
    analyzer = Analyzer.load(bundle)
    with pytest.raises(ImageError):
        analyzer.predict(text="x", image=b"not an image at all")
