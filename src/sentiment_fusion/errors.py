"""The library's exceptions. The API maps them to 4xx responses in one place (``api/errors.py``).

Every error subclasses ValueError (bad input) or RuntimeError-free plain
``SentimentFusionError`` so callers can catch the family or the specific case. Each carries a
stable machine-readable ``code`` (the API answers with it): a class default, or a more precise
one given where the error is raised, e.g. ``InvalidInputError("...", code="empty_text")``.
"""

from __future__ import annotations


class SentimentFusionError(Exception):
    """Base of every error this library raises on purpose."""

    code = "error"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class InvalidInputError(SentimentFusionError, ValueError):
    """The caller's input cannot be used (wrong type, empty, too long, ...).

    Codes of a post's input (``sentiment_fusion.posts.check_post``): ``missing_input``,
    ``empty_text``, ``invalid_text``, ``text_too_long``, ``text_not_supported``,
    ``image_not_supported``; targets (``sentiment_fusion.posts.check_targets``): ``invalid_targets``,
    ``too_many_targets``, ``target_too_long``, ``targets_need_text``, ``targets_not_supported``;
    images: ``invalid_image``, ``image_too_large``.
    """

    code = "invalid_input"


class ImageError(InvalidInputError):
    """Image bytes that cannot be decoded safely: not an image, truncated, unsupported."""

    code = "invalid_image"


class ImageTooLargeError(ImageError):
    """Image over the byte or pixel limit (decompression bombs land here, before decoding)."""

    code = "image_too_large"


class DataFormatError(SentimentFusionError, ValueError):
    """A data file that does not follow its format; the message names the file and line."""

    code = "invalid_data"


class BundleError(SentimentFusionError):
    """A model bundle that is missing, incomplete or corrupted; the message names the file."""

    code = "model_unavailable"
