"""Bundles with a ``target`` component for the tests of targets everywhere (runtime, CLI, HTTP, page).

:func:`target_bundle_path` is the shipped default bundle when it has a target component (the
trained targeted model), else a copy of it whose ``target`` component is its own text graph read
with the target as a second segment: a real graph and tokenizer on the real targeted code path
(meaningless sentiments toward targets, exact plumbing). Tests of the model's answers themselves
use :func:`require_trained_target`, which skips until the default bundle ships one.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from helpers.paths import DEFAULT_BUNDLE


def default_has_target() -> bool:
    manifest = DEFAULT_BUNDLE / "manifest.json"
    return manifest.is_file() and "target" in json.loads(manifest.read_text())["components"]


def require_trained_target() -> Path:
    if not default_has_target():
        pytest.skip("the default bundle has no trained target component yet")
    return DEFAULT_BUNDLE


def plumbing_target_bundle(dest: Path, source: Path = DEFAULT_BUNDLE, mode: str = "segment", name: str = "") -> Path:
    """A copy of ``source`` plus a ``target`` component: its own text graph reading each text with
    the target shown as ``mode`` (``markers`` for a tokenizer without [CLS]/[SEP], such as the tiny
    BiLSTM bundle's): random answers toward targets, the exact targeted code path."""
    from sentiment_fusion.component import file_entry

    shutil.copytree(source, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    text = copy.deepcopy(manifest["components"]["text"])
    shutil.copyfile(dest / text["files"]["graph"]["path"], dest / "target_plumbing.onnx")
    text["files"] = {
        "graph": file_entry(dest, "target_plumbing.onnx"),
        "tokenizer": file_entry(dest, text["files"]["tokenizer"]["path"]),
    }
    text["preprocessing"]["encoding"]["target"] = mode
    text["metrics"] = []
    manifest["components"]["target"] = text
    manifest["name"] = name or f"{manifest['name']}-target-plumbing"
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return dest


def target_bundle_path(tmp_path_factory) -> Path:
    if not (DEFAULT_BUNDLE / "manifest.json").is_file():
        pytest.skip(f"the shipped default bundle is absent: {DEFAULT_BUNDLE}")
    if default_has_target():
        return DEFAULT_BUNDLE
    return plumbing_target_bundle(tmp_path_factory.mktemp("bundles") / "target-plumbing")
