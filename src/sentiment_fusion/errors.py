"""The library's exceptions. The API maps them to 4xx responses in one place.

Every error subclasses ValueError (bad input) or RuntimeError-free plain
``SentimentFusionError`` so callers can catch the family or the specific case.
"""
from __future__ import annotations


class SentimentFusionError(Exception):
    """Base of every error this library raises on purpose."""


class InvalidInputError(SentimentFusionError, ValueError):
    """The caller's input cannot be used (wrong type, empty, too long, ...)."""


class ImageError(InvalidInputError):
    """Image bytes that cannot be decoded safely: not an image, truncated, unsupported."""


class ImageTooLargeError(ImageError):
    """Image over the byte or pixel limit (decompression bombs land here, before decoding)."""


class DataFormatError(SentimentFusionError, ValueError):
    """A data file that does not follow its format; the message names the file and line."""


class BundleError(SentimentFusionError):
    """A model bundle that is missing, incomplete or corrupted; the message names the file."""
