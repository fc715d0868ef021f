"""Fixtures of the API tests (the tiny bundles and analyzers come from tests/conftest.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def image_analyzer(tiny_analyzer):
    """The tiny text model plus a toy image model (bright pictures positive, dark ones negative)."""
    from helpers.api import ImageAwareAnalyzer

    return ImageAwareAnalyzer(tiny_analyzer)
