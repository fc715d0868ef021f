"""The browser tests' rule (tests/helpers/browser.py): without chromium they skip on a
developer's machine and fail in CI, so the web page's only end-to-end proof cannot go missing."""

from __future__ import annotations

import sys

import pytest

from helpers.browser import in_ci, require_chromium


def nowhere(_name: str) -> None:
    return None


def test_missing_chromium_fails_in_ci():
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_chromium(env={"CI": "true"}, which=nowhere, fallbacks=())


def test_missing_chromium_skips_outside_ci():
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium(env={}, which=nowhere, fallbacks=())


def test_found_on_path_or_at_a_fallback(tmp_path):
    assert require_chromium(env={"CI": "true"}, which=lambda _: sys.executable, fallbacks=()) == sys.executable
    binary = tmp_path / "chromium"
    binary.write_bytes(b"")
    assert require_chromium(
        env={"CI": "true"}, which=nowhere, fallbacks=(str(tmp_path / "absent"), str(binary))
    ) == str(binary)


@pytest.mark.parametrize(
    "value, expected", [("true", True), ("1", True), ("True", True), ("", False), ("false", False), ("0", False)]
)
def test_ci_flag(value, expected):
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False
