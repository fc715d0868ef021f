"""The bundle component record: one typed shape for bundle, runtime, recipes and test helpers."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from sentiment_fusion.bundle import read_manifest
from sentiment_fusion.component import Component
from sentiment_fusion.runtime import Analyzer


def test_a_manifest_component_round_trips(multimodal_bundle):
    for name, spec in read_manifest(multimodal_bundle)["components"].items():
        component = Component.from_dict(spec)
        assert component.to_dict() == spec, name
    text = Component.from_dict(read_manifest(multimodal_bundle)["components"]["text"])
    assert text.kind == "bilstm" and set(text.files) == {"graph", "tokenizer"} and text.temperature == 1.0


def test_unknown_keys_are_kept_and_bad_records_refused():
    record = {"kind": "k", "files": {}, "temperature": 2, "metrics": [], "onnx_agreement": {"n": 3}}
    component = Component.from_dict(record)
    assert component.extra == {"onnx_agreement": {"n": 3}} and component.to_dict() == record
    with pytest.raises(ValueError, match="has no 'files'"):
        Component.from_dict({"kind": "k"})
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got inf"):
        Component.from_dict({"kind": "k", "files": {}, "temperature": float("inf")})


def test_decode_limits_are_not_model_metadata(multimodal_bundle, tmp_path):
    # New bundles do not record them ...
    image = read_manifest(multimodal_bundle)["components"]["image"]["preprocessing"]["image"]
    assert image["size"] == 224 and "max_bytes" not in image and "max_pixels" not in image
    # ... and an older bundle that did still loads, its limits left to the deployment.
    old = shutil.copytree(multimodal_bundle, tmp_path / "old")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["components"]["image"]["preprocessing"]["image"].update(max_bytes=100, max_pixels=64)
    (old / "manifest.json").write_text(json.dumps(manifest))
    analyzer = Analyzer.load(old)
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 200, 20)).save(buffer, "PNG")  # over the old bundle's 100 bytes and 64 pixels
    assert len(buffer.getvalue()) > 100
    assert analyzer.predict(image=buffer.getvalue()).source == "image"
