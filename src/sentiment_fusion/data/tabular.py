"""JSON Lines and CSV files (optionally gzipped): one example per row.

Columns: ``text``; optional ``image`` (a path relative to the file's folder, or absolute;
it must exist); optional ``label`` in negative/neutral/positive, any case (empty or
missing means unlabelled); optional ``target`` (the label is then the sentiment toward it);
optional ``id`` (else ``"line:N"``, the 1-based line number).
Every other field is kept in ``Example.meta``, so MVSA-Multiple's jsonl keeps its
``text_label``/``image_label``.

>>> ds = read_jsonl("../shared/data/mvsa_multiple/dev.jsonl")  # doctest: +SKIP
>>> len(ds), ds[0].meta  # doctest: +SKIP
(1700, {'text_label': 'positive', 'image_label': 'positive'})
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from ..hashing import sha256_file
from ..labels import LABELS, Sentiment
from ._files import check_header, guarded_lines, open_binary
from .dataset import Dataset
from .example import Example

logger = logging.getLogger(__name__)

CLASSES = tuple(Sentiment)


def read_jsonl(path: str | Path, *, limit: int | None = None) -> Dataset:
    """Read a ``.jsonl`` or ``.jsonl.gz`` file; blank lines are skipped (and counted)."""
    file = _check_file(path, "jsonl")
    examples: list[Example] = []
    blank = 0
    with open_binary(file) as fh:
        for lineno, raw in enumerate(guarded_lines(fh, file), start=1):
            if limit is not None and len(examples) >= limit:
                break
            if not raw.strip():
                blank += 1
                continue
            line = _decode(raw, file, lineno, "utf-8-sig" if lineno == 1 else "utf-8")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{file}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(row, dict):
                raise DataFormatError(f"{file}:{lineno}: expected a JSON object, got {type(row).__name__}")
            examples.append(_example(row, file, lineno))
    if blank:
        logger.info("jsonl: skipped %d blank lines in %s", blank, file)
    return _dataset("jsonl", file, examples, limit)


def read_csv(path: str | Path, *, limit: int | None = None, encoding: str = "utf-8-sig") -> Dataset:
    """Read a ``.csv`` or ``.csv.gz`` file with a header row.

    ``encoding`` defaults to UTF-8 (a BOM is allowed); undecodable bytes are an error naming
    the line, never silently replaced, since mojibake would quietly change what a model learns.
    Ids default to ``"line:N"`` where N is the physical line the row ends on.
    """
    file = _check_file(path, "csv")
    examples: list[Example] = []
    with open_binary(file) as fh:
        reader = csv.DictReader(_text_lines(guarded_lines(fh, file), file, encoding), strict=True)
        try:
            header = reader.fieldnames
            if not header:
                raise DataFormatError(f"{file}: empty file (expected a header row)")
            check_header(file, header)
            if not {"text", "image"} & set(header):
                raise DataFormatError(f"{file}:1: the header needs a 'text' or 'image' column; found {header}")
            for row in reader:
                if limit is not None and len(examples) >= limit:
                    break
                lineno = reader.line_num
                if None in row:
                    raise DataFormatError(
                        f"{file}:{lineno}: {len(header) + len(row[None])} fields but the header has {len(header)}"
                    )
                # Missing trailing fields come back as None: treat them as empty.
                examples.append(
                    _example({k: v for k, v in row.items() if v is not None}, file, lineno, empty_is_missing=True)
                )
        except csv.Error as exc:
            raise DataFormatError(f"{file}:{max(1, reader.line_num)}: malformed CSV ({exc})") from exc
    return _dataset("csv", file, examples, limit)


def _check_file(path: str | Path, kind: str) -> Path:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise FileNotFoundError(f"{kind} data not found: {path}")
    return file


def _decode(raw: bytes, file: Path, lineno: int, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _encoding_error(file, lineno, encoding, exc) from exc


def _text_lines(lines: Iterator[bytes], file: Path, encoding: str) -> Iterator[str]:
    """Decode line by line, so an encoding error can name its physical line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for lineno, raw in enumerate(lines, start=1):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise _encoding_error(file, lineno, encoding, exc) from exc


def _encoding_error(file: Path, lineno: int, encoding: str, exc: UnicodeDecodeError) -> DataFormatError:
    return DataFormatError(
        f"{file}:{lineno}: cannot decode as {encoding} ({exc.reason} at byte {exc.start} of "
        f"the line); the file is probably in another encoding (e.g. Windows-1252/latin-1): "
        f"re-save it as UTF-8"
    )


def _example(row: dict[str, Any], file: Path, lineno: int, empty_is_missing: bool = False) -> Example:
    """One row -> Example; ``row`` is consumed (what is left becomes meta)."""
    where = f"{file}:{lineno}"
    row = dict(row)
    raw_id = row.pop("id", None)
    text = _optional_str(row.pop("text", None), "text", where)
    image_ref = _optional_str(row.pop("image", None), "image", where)
    raw_label = row.pop("label", None)
    target = _optional_str(row.pop("target", None), "target", where)
    if not text and not image_ref:
        raise DataFormatError(f"{where}: row has neither 'text' nor 'image'")
    image = _resolve_image(image_ref, file, where) if image_ref else None
    label = _parse_label(raw_label, where)
    item_id = f"line:{lineno}" if raw_id is None or raw_id == "" else str(raw_id)
    if empty_is_missing:  # CSV cannot tell empty from absent
        row = {k: v for k, v in row.items() if v != ""}
    return Example(id=item_id, text=text or None, image=image, label=label, meta=row, target=target or None)


def _optional_str(value: Any, field: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataFormatError(f"{where}: '{field}' must be a string, got {value!r}")
    return value


def _resolve_image(ref: str, file: Path, where: str) -> Path:
    image = Path(ref).expanduser()
    if not image.is_absolute():
        image = file.parent / image
    if not image.is_file():
        raise DataFormatError(
            f"{where}: image {ref!r} not found (looked for {image}; relative image paths "
            f"are relative to the folder of {file.name})"
        )
    return image


def _parse_label(value: Any, where: str) -> Sentiment | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return Sentiment.parse(value)
        except ValueError:
            pass
    raise DataFormatError(
        f"{where}: bad label {value!r}; expected one of {', '.join(LABELS)} (any case), or empty for unlabelled"
    )


def _dataset(kind: str, file: Path, examples: list[Example], limit: int | None) -> Dataset:
    if not examples and limit != 0:
        raise DataFormatError(f"{file}: no examples (empty file?)")
    logger.info("%s: %d rows from %s", kind, len(examples), file)
    return Dataset(kind, None, file, examples, CLASSES, sha256_file(file))
