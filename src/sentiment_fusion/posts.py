"""What makes a post scorable: the one check shared by the Analyzer and the HTTP API.

Each failure is an :class:`~sentiment_fusion.errors.InvalidInputError` with a stable ``code``
(the API answers with it; ``api/errors.py`` maps codes to HTTP statuses). Images are checked
where they are decoded (``ImageError`` / ``ImageTooLargeError``).
"""

from __future__ import annotations

from collections.abc import Container

from .errors import InvalidInputError
from .text.normalize import is_blank
from .text.targets import target_words

MAX_TEXT_CHARS = 20_000  # the library's limit: far above any post, a guard against pathological inputs
MAX_TARGETS = 32  # targets per post: brands, products, people named in one post
MAX_TARGET_CHARS = 100  # a name, a handle, an aspect: a few words


def check_post(
    text: str | None, has_image: bool, *, modalities: Container[str], model: str, max_text_chars: int = MAX_TEXT_CHARS
) -> None:
    """Raise the first reason the post (``text`` or None, an image or not) cannot be scored
    by a model named ``model`` with these ``modalities``; return None when it can."""
    if text is None and not has_image:
        raise InvalidInputError("give a text, an image or both", code="missing_input")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}", code="invalid_text")
        if len(text) > max_text_chars:
            raise InvalidInputError(
                f"text has {len(text)} characters; the limit is {max_text_chars}", code="text_too_long"
            )
        if is_blank(text):
            raise InvalidInputError(
                "text is empty (nothing but spaces or invisible characters); "
                "leave it out (or send null) to score the image alone",
                code="empty_text",
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates such as "\ud800" (JSON escapes, bad decoding)
            raise InvalidInputError(
                f"text is not valid Unicode at character {exc.start} (a lone surrogate escape)", code="invalid_text"
            ) from None
        if "text" not in modalities:
            raise InvalidInputError(
                f"this model ({model}) has no text component; send an image", code="text_not_supported"
            )
    if has_image and "image" not in modalities:
        raise InvalidInputError(f"this model ({model}) has no image component; send text", code="image_not_supported")


def check_targets(
    targets: object,
    text: str | None,
    *,
    has_target_model: bool,
    model: str,
    max_targets: int = MAX_TARGETS,
    max_target_chars: int = MAX_TARGET_CHARS,
) -> list[str] | None:
    """The post's targets as a list of strings (None when none were given), or raise the first
    reason they cannot be scored: the sentiment toward a target is read from the post's text."""
    if targets is None:
        return None
    if isinstance(targets, str) or not isinstance(targets, (list, tuple)):
        raise InvalidInputError(
            f"targets must be a list of strings, got {type(targets).__name__}", code="invalid_targets"
        )
    if len(targets) > max_targets:
        raise InvalidInputError(f"{len(targets)} targets; the limit is {max_targets} per post", code="too_many_targets")
    for target in targets:
        if not isinstance(target, str):
            raise InvalidInputError(
                f"each target must be a string, got {type(target).__name__}", code="invalid_targets"
            )
        if len(target) > max_target_chars:
            raise InvalidInputError(
                f"target {target[:40]!r}... has {len(target)} characters; the limit is {max_target_chars}",
                code="target_too_long",
            )
        if not target_words(target):
            raise InvalidInputError(f"target {target!r} names nothing", code="invalid_targets")
    if targets and text is None:
        raise InvalidInputError(
            "targets need the post's text (the sentiment toward a target is read from it)", code="targets_need_text"
        )
    if targets and not has_target_model:
        raise InvalidInputError(
            f"this model ({model}) has no targeted text component; leave targets out", code="targets_not_supported"
        )
    return list(targets)


def chunks_by_images(items: list, has_image: list[bool], images_per_chunk: int) -> list[list]:
    """``items`` in order, cut so that no chunk holds more than ``images_per_chunk`` items with an
    image (text-only items never start a new chunk): bounds the decoded pictures held at once."""
    chunks: list[list] = [[]]
    n_images = 0
    for item, image in zip(items, has_image, strict=True):
        if image:
            if n_images == images_per_chunk:
                chunks.append([])
                n_images = 0
            n_images += 1
        chunks[-1].append(item)
    return chunks
