"""Rules every shipped bundle under models/ follows, checked on the real files."""

import pytest

from helpers.paths import MODELS
from sentiment_fusion.bundle import read_manifest
from sentiment_fusion.labels import LABELS
from sentiment_fusion.runtime import Analyzer

BUNDLES = sorted(p for p in MODELS.glob("*") if (p / "manifest.json").is_file())


def test_the_default_bundle_ships():
    assert (MODELS / "default" / "manifest.json").is_file()


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_bundle_rules(bundle):
    manifest = read_manifest(bundle)  # verifies every file's sha256
    assert manifest["labels"] == list(LABELS)
    assert manifest["created_at"] and manifest["library_versions"]["onnxruntime"]
    card = (bundle / "README.md").read_text()
    assert card.startswith(f"# {manifest['name']}") and "## Metrics" in card and "## Data and citations" in card
    for name, spec in manifest["components"].items():
        assert spec["files"] and all(len(f["sha256"]) == 64 for f in spec["files"].values()), name
        assert spec["temperature"] > 0, name
        assert spec["metrics"] and all({"data", "split", "n", "accuracy"} <= set(m) for m in spec["metrics"]), name
        assert spec["training"]["data"], name
        if name == "text":
            assert {"normalizer", "encoding"} <= set(spec["preprocessing"])
        if name == "image":
            assert spec["preprocessing"]["image"]["size"] == 224
    for evaluation in manifest["evaluations"]:
        assert evaluation["n"] > 0 and evaluation["split"], evaluation["data"]
    total = sum(f.stat().st_size for f in bundle.iterdir())
    assert total < 40 * 2**20, f"{bundle.name} is {total / 2**20:.1f} MB"


def test_default_bundle_answers_offline_with_every_modality():
    analyzer = Analyzer.load()  # no path: the shipped default
    assert analyzer.name == "default" and analyzer.modalities == ("text", "image")
    text = analyzer.predict(text="I absolutely love this, best day ever!")
    assert text.sentiment.label == "positive" and text.source == "text"
    assert analyzer.predict(text="This is the worst service, I am furious").sentiment.label == "negative"
    assert abs(sum(text.scores.values()) - 1) < 1e-6
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(buffer, "JPEG")
    image = analyzer.predict(image=buffer.getvalue())
    both = analyzer.predict(text="love it", image=buffer.getvalue())
    assert image.source == "image" and both.source == "fusion" and set(both.modalities) == {"text", "image"}
