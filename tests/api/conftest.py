"""Fixtures of the API tests (the tiny bundles and analyzers come from tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest

from helpers.browser import DevTools


@pytest.fixture(scope="session")
def image_analyzer(tiny_analyzer):
    """The tiny text model plus a toy image model (bright pictures positive, dark ones negative)."""
    from helpers.api import ImageAwareAnalyzer

    return ImageAwareAnalyzer(tiny_analyzer)


@pytest.fixture
def browser(chromium, tmp_path):
    tools = DevTools(chromium, tmp_path / "profile")
    try:
        yield tools
    finally:
        tools.close()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
