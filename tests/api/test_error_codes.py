"""The library's error codes become HTTP answers in one place (``api/errors.describe``)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the API needs the [serve] extra")

from sentiment_fusion.api.errors import describe
from sentiment_fusion.api.server import SettingsError
from sentiment_fusion.errors import (
    BundleError,
    DataFormatError,
    ImageError,
    ImageTooLargeError,
    InvalidInputError,
)


@pytest.mark.parametrize(
    "error, status, code",
    [
        (InvalidInputError("give a text, an image or both", code="missing_input"), 422, "missing_input"),
        (InvalidInputError("text is empty", code="empty_text"), 422, "empty_text"),
        (InvalidInputError("no image component", code="image_not_supported"), 422, "image_not_supported"),
        (InvalidInputError("bad"), 422, "invalid_input"),
        (ImageError("cannot decode"), 422, "invalid_image"),
        (ImageTooLargeError("over the limit"), 413, "image_too_large"),
        (DataFormatError("line 3"), 422, "invalid_data"),
        (SettingsError("--port"), 422, "invalid_settings"),
    ],
)
def test_library_errors_keep_their_code_and_message(error, status, code):
    answer = describe(error)
    assert (answer.status_code, answer.code, answer.message) == (status, code, str(error))


def test_an_unusable_model_is_503():
    answer = describe(BundleError("models/x/manifest.json is missing"))
    assert (answer.status_code, answer.code) == (503, "model_unavailable")
    assert answer.message == "the model cannot be used: models/x/manifest.json is missing"


def test_a_bug_is_not_described():
    assert describe(RuntimeError("bug")) is None  # the middleware answers 500 and logs it
