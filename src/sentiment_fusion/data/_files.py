"""Small file helpers shared by the readers: hashing, line splitting, decoding.

Kept private: the readers' public face is :func:`sentiment_fusion.data.read_dataset`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import DataFormatError

# Tried in order for legacy text files. cp1252 before latin-1 because tweets of that era
# were mostly Windows-1252 (curly quotes, ellipsis live at 0x80-0x9F, which latin-1 maps to
# invisible control characters); latin-1 last because it never fails, so it is the floor.
FALLBACK_ENCODINGS: tuple[str, ...] = ("cp1252", "latin-1")


class FilesHasher:
    """sha256 over several files in the order they are added.

    Each file contributes its name (relative to the data set root), its length and its
    bytes, so a renamed file (IMDB labels live in folder names) or a byte moved from one
    file to the next changes the fingerprint, which plain concatenation would miss.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._digest = hashlib.sha256()

    def add(self, path: Path, data: bytes | None = None) -> bytes:
        """Hash ``path`` (reading it unless ``data`` is given) and return its bytes."""
        if data is None:
            data = path.read_bytes()
        try:
            name = path.relative_to(self._root).as_posix()
        except ValueError:  # outside the root (e.g. a split file elsewhere): full path
            name = path.as_posix()
        self._digest.update(f"{name}\0{len(data)}\0".encode())
        self._digest.update(data)
        return data

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def split_lines(data: bytes) -> list[bytes]:
    """Split on ``\\n`` only, dropping the empty piece after a final newline.

    Bytes rather than text mode because universal newlines would also split on a stray
    ``\\r`` inside a tweet and shift every later line against its label file.
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def decode_line(raw: bytes, file: Path, lineno: int, encoding: str = "utf-8") -> str:
    """Decode one line or raise :class:`DataFormatError` naming the file and line."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{file}:{lineno}: not valid {encoding} ({exc.reason} at byte {exc.start} of the "
            f"line); the file is probably in another encoding (e.g. Windows-1252/latin-1): "
            f"re-save it as UTF-8"
        ) from exc
    if lineno == 1:
        text = text.removeprefix("\ufeff")  # a UTF-8 BOM written by some editors
    return text


def decode_with_fallback(data: bytes) -> tuple[str, str]:
    """Decode ``data`` as UTF-8, else the first fallback encoding that works.

    Returns ``(text, encoding)`` so the caller can count fallbacks in its log.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    for encoding in FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def require_file(path: Path, what: str) -> Path:
    """Raise a FileNotFoundError that says what the file was for."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def open_binary(file: Path) -> io.BufferedIOBase:
    """The file's bytes, gunzipped when its name ends in ``.gz``."""
    return gzip.open(file, "rb") if file.name.lower().endswith(".gz") else open(file, "rb")


def guarded_lines(lines: Iterable[bytes], file: Path) -> Iterator[bytes]:
    """Yield lines, turning gzip/IO failures mid-file into a DataFormatError naming it."""
    it = iter(lines)
    while True:
        try:
            raw = next(it)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(f"{file}: truncated or corrupt file ({type(exc).__name__}: {exc})") from exc
        yield raw


def check_header(file: Path, names: Sequence[str]) -> None:
    """A CSV header that names a column twice would let one silently shadow the other."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataFormatError(f"{file}:1: the header repeats the column(s) {repeated}")
