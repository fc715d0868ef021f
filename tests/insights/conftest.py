"""Fixtures of the insights tests: a tiny bundle with a targeted component (brand mentions)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_target_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny text bundle plus a ``target`` component: its own BiLSTM graph reading each text with
    the target between markers (random answers toward targets; the exact targeted code path)."""
    from sentiment_fusion.component import file_entry

    dest = tmp_path_factory.mktemp("bundles") / "tiny-target"
    shutil.copytree(tiny_bundle, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    target = copy.deepcopy(manifest["components"]["text"])
    shutil.copyfile(dest / target["files"]["graph"]["path"], dest / "target.onnx")
    target["files"] = {
        "graph": file_entry(dest, "target.onnx"),
        "tokenizer": file_entry(dest, target["files"]["tokenizer"]["path"]),
    }
    target["preprocessing"]["encoding"]["target"] = "markers"
    manifest["components"]["target"] = target
    manifest["name"] = "tiny-target"
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return dest
