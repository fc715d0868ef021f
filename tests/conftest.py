"""Fixtures for every test folder: tiny real bundles (built once per session), the shipped
default bundle, and the headless browser. Plain helpers are in ``tests/helpers/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.browser import require_chromium
from helpers.paths import DEFAULT_BUNDLE


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A text-only BiLSTM bundle with a real tokenizer and ONNX graph (random weights)."""
    pytest.importorskip("torch", reason="building the tiny test bundle needs torch ([train] extra)")
    from sentiment_fusion.testing import make_tiny_text_bundle

    return make_tiny_text_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture(scope="session")
def tiny_analyzer(tiny_bundle):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(tiny_bundle, threads=1)


@pytest.fixture(scope="session")
def multimodal_bundle(tmp_path_factory) -> Path:
    """The tiny text bundle plus tiny random image and fusion graphs: every graph the runtime runs."""
    pytest.importorskip("torch", reason="building the tiny test bundle needs torch ([train] extra)")
    from helpers.bundles import make_tiny_multimodal_bundle

    return make_tiny_multimodal_bundle(tmp_path_factory.mktemp("bundles") / "tiny-multimodal")


@pytest.fixture(scope="session")
def multimodal_analyzer(multimodal_bundle):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(multimodal_bundle, threads=1)


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    if not (DEFAULT_BUNDLE / "manifest.json").is_file():
        pytest.skip(f"the shipped default bundle is absent: {DEFAULT_BUNDLE}")
    return DEFAULT_BUNDLE


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary: skips without one, fails without one in CI (``CI=true``)."""
    return require_chromium()
