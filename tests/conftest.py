"""Shared fixtures: where the real data lives, and tiny real bundles."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_BUNDLE = ROOT / "models" / "default"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (tests that need ../shared/data skip)")
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A text-only BiLSTM bundle with a real tokenizer and ONNX graph (random weights)."""
    from sentiment_fusion.testing import make_tiny_text_bundle

    return make_tiny_text_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    if not (DEFAULT_BUNDLE / "manifest.json").is_file():
        pytest.skip(f"the shipped default bundle is absent: {DEFAULT_BUNDLE}")
    return DEFAULT_BUNDLE
