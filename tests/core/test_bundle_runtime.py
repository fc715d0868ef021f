import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import sentiment_fusion
from sentiment_fusion.bundle import read_manifest
from sentiment_fusion.errors import BundleError, InvalidInputError
from sentiment_fusion.labels import LABELS, Sentiment
from sentiment_fusion.runtime import Analyzer

TEXTS = ["I love this, great day!", "This is terrible and sad.", "The meeting is at noon.", "unknown words only"]


def copy_bundle(src, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(src, dst)
    return dst


def test_manifest_rules(tiny_bundle):
    manifest = read_manifest(tiny_bundle)
    assert manifest["labels"] == list(LABELS)
    text = manifest["components"]["text"]
    assert set(text["files"]) == {"graph", "tokenizer"}
    assert all(len(f["sha256"]) == 64 for f in text["files"].values())
    assert text["preprocessing"]["normalizer"]["mentions"] == "@user"
    assert "created_at" in manifest and "library_versions" in manifest
    assert (tiny_bundle / "README.md").read_text().startswith("# tiny")


def test_predictions_are_distributions_and_batch_matches_single(tiny_bundle):
    analyzer = Analyzer.load(tiny_bundle)
    batch = analyzer.predict_batch(TEXTS)
    for text, p in zip(TEXTS, batch, strict=True):
        single = analyzer.predict(text=text)
        assert set(p.scores) == set(LABELS) and sum(p.scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert single.sentiment == p.sentiment
        assert np.allclose(list(single.scores.values()), list(p.scores.values()), atol=1e-5)
        assert p.source == "text" and set(p.modalities) == {"text"}
        assert p.to_dict()["sentiment"] in {"Negative", "Neutral", "Positive"}


def test_load_via_the_package_and_env(tiny_bundle, monkeypatch):
    monkeypatch.setenv("SENTIMENT_FUSION_MODEL", str(tiny_bundle))
    analyzer = sentiment_fusion.load()
    assert analyzer.name == "tiny" and analyzer.modalities == ("text",)
    assert isinstance(analyzer.predict(text="hello").sentiment, Sentiment)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give a text, an image or both"),
        ({"text": "   "}, "text is empty"),
        ({"text": "\u200b\u200e\x00"}, "text is empty"),
        ({"text": 3}, "text must be a string"),
        ({"text": "x" * 20001}, "limit"),
        ({"text": "bad \ud800 surrogate"}, "not valid Unicode"),
        ({"image": b"\x89PNG"}, "no image component"),
    ],
)
def test_bad_input_is_a_clear_error(tiny_bundle, kwargs, message):
    analyzer = Analyzer.load(tiny_bundle)
    with pytest.raises(InvalidInputError, match=message):
        analyzer.predict(**kwargs)


def test_batch_errors_name_the_post(tiny_bundle):
    analyzer = Analyzer.load(tiny_bundle)
    with pytest.raises(InvalidInputError, match="post 1: text is empty"):
        analyzer.predict_batch(["fine", ""])
    with pytest.raises(InvalidInputError, match="2 texts but 1 images"):
        analyzer.predict_batch(["a", "b"], [None])
    from PIL import Image

    for one_image in (Image.new("RGB", (4, 4)), np.zeros((4, 4, 3), np.uint8), bytearray(b"x"), Path("a.png")):
        with pytest.raises(InvalidInputError, match="takes sequences"):
            analyzer.predict_batch(images=one_image)
    with pytest.raises(InvalidInputError, match="no image component"):  # a generator is a sequence too
        analyzer.predict_batch(images=(b for b in [b"x", b"y"]))
    assert len(analyzer.predict_batch(texts=(t for t in ["good", "bad"]))) == 2
    with pytest.raises(InvalidInputError, match="batch_size must be a whole number >= 1"):
        Analyzer.load(tiny_bundle, batch_size=0)


def test_corrupted_file_is_named(tiny_bundle, tmp_path):
    bundle = copy_bundle(tiny_bundle, tmp_path)
    with open(bundle / "text.onnx", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(BundleError, match=r"text\.onnx is corrupted"):
        Analyzer.load(bundle)


def test_missing_file_is_named(tiny_bundle, tmp_path):
    bundle = copy_bundle(tiny_bundle, tmp_path)
    (bundle / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"tokenizer\.json is missing"):
        Analyzer.load(bundle)


def test_not_a_bundle_and_newer_format(tiny_bundle, tmp_path):
    with pytest.raises(BundleError, match="not found"):
        Analyzer.load(tmp_path / "nowhere")
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        Analyzer.load(tmp_path)
    bundle = copy_bundle(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="bundle format v99; this sentiment-fusion reads v1: upgrade"):
        Analyzer.load(bundle)


def _tampered(manifest: dict, change: str) -> dict:
    text = manifest["components"]["text"]
    if change == "temperature nan":
        text["temperature"] = float("nan")
    elif change == "temperature 0":
        text["temperature"] = 0
    elif change == "temperature -1":
        text["temperature"] = -1.0
    elif change == "temperature null":
        text["temperature"] = None
    elif change == "components list":
        manifest["components"] = ["text"]
    elif change == "component null":
        manifest["components"]["text"] = None
    elif change == "file entry string":
        text["files"]["graph"] = "text.onnx"
    elif change == "path outside":
        text["files"]["graph"]["path"] = "../text.onnx"
    elif change == "format_version string":
        manifest["format_version"] = "1"
    elif change == "no preprocessing":
        del text["preprocessing"]
    elif change == "max_length string":
        text["preprocessing"]["encoding"]["max_length"] = "256"
    return manifest


@pytest.mark.parametrize(
    "change, message",
    [
        ("temperature nan", "temperature must be a finite number > 0, got nan"),
        ("temperature 0", "temperature must be a finite number > 0, got 0"),
        ("temperature -1", "temperature must be a finite number > 0"),
        ("temperature null", "temperature must be a finite number > 0, got None"),
        ("components list", "'components' must name at least one"),
        ("component null", "text component must be an object"),
        ("file entry string", "'graph' file needs a 'path' and a 'sha256'"),
        ("path outside", "must be a path inside the bundle"),
        ("format_version string", "format_version must be a whole number"),
        ("no preprocessing", r"the text component cannot be built from its settings \(KeyError: 'preprocessing'\)"),
        ("max_length string", "the text component cannot be built from its settings"),
    ],
)
def test_malformed_manifests_are_named_not_used(tiny_bundle, tmp_path, change, message):
    bundle = copy_bundle(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps(_tampered(manifest, change)))
    with pytest.raises(BundleError, match=message):
        Analyzer.load(bundle)


def test_import_has_no_side_effects():
    import subprocess
    import sys

    code = (
        "import sys, sentiment_fusion; "
        "heavy = [m for m in ('onnxruntime', 'torch', 'tokenizers', 'PIL') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
