"""Fixtures of the insights tests: a tiny bundle with a targeted component (brand mentions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.target_bundles import plumbing_target_bundle


@pytest.fixture(scope="session")
def tiny_target_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny text bundle plus a ``target`` component: its own BiLSTM graph reading each text with
    the target between markers (random answers toward targets; the exact targeted code path)."""
    return plumbing_target_bundle(
        tmp_path_factory.mktemp("bundles") / "tiny-target", tiny_bundle, "markers", "tiny-target"
    )
