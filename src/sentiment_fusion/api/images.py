"""Where a JSON ``image`` string comes from: inline data, a server-side file, or a URL.

- ``data:image/png;base64,...`` or bare base64 (whitespace allowed) -> the bytes;
- a path, ONLY when ``image_root`` is set, and only to a regular file inside it: the path is
  resolved (``..`` and symlinks followed) and must stay inside the root, and the final file is
  opened with ``O_NOFOLLOW`` so a symlink swapped in after the check is refused too;
- ``http(s)://...``, ONLY when URL fetching is enabled (see :mod:`.fetch`).

A value that is valid base64 is read as base64, except that a short one naming an existing
file under ``image_root`` is that file; anything else is a path when ``image_root`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import stat
from pathlib import Path

from .config import Settings
from .errors import APIError
from .fetch import UrlFetcher

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.IGNORECASE)
_MAX_PATH_CHARS = 1024
_WHITESPACE = re.compile(r"\s+")


def _too_large(size: int, limit: int, what: str) -> APIError:
    return APIError(413, "image_too_large", f"{what} is {size} bytes; the image limit is {limit}")


class ImageSources:
    def __init__(self, settings: Settings, fetcher: UrlFetcher | None = None) -> None:
        self.max_bytes = settings.max_image_bytes
        self.root = settings.image_root
        self.fetcher = fetcher

    async def read(self, value: str) -> bytes:
        """The encoded image bytes that ``value`` stands for (not decoded yet)."""
        value = value.strip()
        if not value:
            raise APIError(422, "invalid_image", "image is an empty string; leave it out or send null")
        if value[:5].lower() == "data:":
            return self._data_url(value)
        if _SCHEME.match(value):
            if self.fetcher is None:
                raise APIError(
                    422,
                    "url_fetch_disabled",
                    "image URLs are not fetched by this server; "
                    "send the image as base64 or upload it to /v1/predict/upload",
                )
            return await self.fetcher.fetch(value)
        data = self._base64(value)
        if self.root is not None and len(value) <= _MAX_PATH_CHARS and (data is None or self._names_file(value)):
            return await asyncio.get_running_loop().run_in_executor(None, self._read_path, value)
        if data is None:
            raise APIError(
                422,
                "invalid_base64",
                "image is not valid base64 nor a data: URL"
                + ("" if self.root else " (server-side paths are not enabled)"),
            )
        return data

    def _data_url(self, value: str) -> bytes:
        match = _DATA_URL.match(value)
        if not match:
            raise APIError(422, "invalid_data_url", "a data: URL must look like data:image/png;base64,<data>")
        mime = match["mime"].strip().lower()
        if mime and not mime.startswith("image/"):
            raise APIError(422, "invalid_image", f"the data: URL holds {mime!r}, not an image")
        if "base64" not in match["params"].lower().split(";"):
            raise APIError(422, "invalid_data_url", "only base64 data: URLs are accepted (data:image/...;base64,...)")
        data = self._base64(value[match.end() :])
        if data is None:
            raise APIError(422, "invalid_base64", "the data: URL's payload is not valid base64")
        return data

    def _base64(self, text: str) -> bytes | None:
        """Decoded bytes, or None when ``text`` is not base64. Size is checked before decoding.

        The common case (no line breaks) is decoded as is: no per-character Python loop runs
        over a multi-megabyte string on the event loop.
        """
        if len(text) * 3 // 4 > self.max_bytes + 2:
            text = _WHITESPACE.sub("", text)
            if len(text) * 3 // 4 > self.max_bytes + 2:
                raise _too_large(len(text) * 3 // 4, self.max_bytes, "the base64 image")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            compact = _WHITESPACE.sub("", text)  # base64 wrapped over lines
            if compact == text:
                return None
            try:
                data = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                return None
        if len(data) > self.max_bytes:
            raise _too_large(len(data), self.max_bytes, "the image")
        return data

    def _names_file(self, value: str) -> bool:
        if self.root is None:
            return False
        try:
            return (self.root / value).is_file()
        except (OSError, ValueError):
            return False

    def _read_path(self, value: str) -> bytes:
        assert self.root is not None
        if "\x00" in value:
            raise APIError(422, "invalid_path", "the image path contains a NUL character")
        # realpath follows '..' and every symlink that exists; containment is checked BEFORE
        # existence so the answer never tells whether a file outside the root exists.
        resolved = Path(os.path.realpath(self.root / value))
        if resolved != self.root and self.root not in resolved.parents:
            raise APIError(403, "path_outside_root", f"image path {value!r} points outside the image folder")
        try:
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise APIError(422, "image_not_found", f"no image file {value!r} in the image folder") from None
        except OSError as exc:  # ELOOP: a symlink appeared after the check; EACCES; ...
            raise APIError(403, "path_forbidden", f"image path {value!r} cannot be opened ({exc.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise APIError(422, "invalid_path", f"image path {value!r} is not a regular file")
            if info.st_size > self.max_bytes:
                raise _too_large(info.st_size, self.max_bytes, f"image file {value!r}")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(self.max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > self.max_bytes:
            raise _too_large(len(data), self.max_bytes, f"image file {value!r}")
        return data
