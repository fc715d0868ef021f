"""Headless Chromium for the tests that render the web page and the report.

Outside CI a missing browser skips those tests; in CI (``CI`` set to a true value, as ``.ci/run``
does) it fails them, so the only proof that the page works cannot vanish into a skip.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

INSTALL_HINT = "apt-get install -y chromium"
FALLBACK_PATHS = ("/usr/bin/chromium",)  # Debian's package, when /usr/bin is not on PATH


def in_ci(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def find_chromium(which: Callable[[str], str | None] = shutil.which,
                  fallbacks: Sequence[str] = FALLBACK_PATHS) -> str | None:
    for candidate in (which("chromium"), *fallbacks):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def require_chromium(env: Mapping[str, str] = os.environ, which: Callable[[str], str | None] = shutil.which,
                     fallbacks: Sequence[str] = FALLBACK_PATHS) -> str:
    """The chromium binary; without one, fail in CI and skip elsewhere."""
    found = find_chromium(which, fallbacks)
    if found is not None:
        return found
    message = f"headless Chromium is not installed ({INSTALL_HINT})"
    if in_ci(env):
        pytest.fail(f"{message}; CI must run the browser tests (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{message}; CI installs it and fails without it")
