"""Posts from CSV, JSON Lines and Parquet files or folders -> Arrow tables for the store.

Every input becomes the same columns (:data:`POST_SCHEMA`): ``post_id`` (always a
string), ``brand``, ``created_at`` (naive UTC), ``text``, ``image`` (an absolute path:
relative paths are resolved against the folder of the file that names them) and
``human_label`` (negative|neutral|positive or null).

Text files may be UTF-8 (with or without a BOM) or legacy Windows-1252, decided line by
line: a line that is not valid UTF-8 is read as Windows-1252 (counted and reported), so
one stray byte never turns the rest of a UTF-8 file into mojibake. A CSV's delimiter is
whichever of ``, ; TAB |`` splits its header line into the most fields; a row with more
or fewer fields than the header, or a quote that never closes, is an error naming the
line (guessing would store a post's text cut short or merged with the next post).

A column named in the :class:`ColumnSpec` must exist in every file (in at least one row
of a JSON Lines file), so a misspelt flag fails instead of storing nulls.

>>> spec = ColumnSpec(id="_unit_id", text="text", time="date")
>>> tables = read_posts(["../shared/data/apple_tweets"], spec)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..data._files import check_header, decode_with_fallback, guarded_lines, open_binary
from ..errors import DataFormatError
from ..labels import LABELS
from .timestamps import TimestampParser

log = logging.getLogger(__name__)

POST_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("brand", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("text", pa.string()),
        ("image", pa.string()),
        ("human_label", pa.string()),
    ]
)
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES
CHUNK_ROWS = 50_000  # rows per Arrow table handed to the store
_LABEL_ALIASES = {"neg": "negative", "neu": "neutral", "pos": "positive", "-1": "negative", "+1": "positive"}
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON may escape half a UTF-16 pair; Arrow and DuckDB need UTF-8


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"1=negative,3=neutral,5=positive,0="`` -> ``{"1": "negative", ..., "0": ""}``.

    An empty LABEL marks a value as deliberately unlabelled (CrowdFlower's ``not_relevant``):
    stored as null without a warning.
    """
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        raw, sep, label = item.partition("=")
        label = label.strip().lower()
        if not sep or (label and label not in LABELS):
            raise ValueError(f"label map entry {item!r} must look like VALUE=LABEL with LABEL in {LABELS} (or empty)")
        mapping[raw.strip().lower()] = label
    return mapping


@dataclass(frozen=True)
class ColumnSpec:
    """Which input columns hold what. Only ``id`` and ``text`` are required."""

    id: str
    text: str
    image: str | None = None
    time: str | None = None
    brand_col: str | None = None
    brand: str | None = None  # every post's brand when brand_col is None; neither: "all" for new posts
    # (a re-run that names no brand keeps the stored ones)
    label: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)  # raw human label -> LABELS name ("" = ignore)

    def __post_init__(self) -> None:
        if not self.id or not self.text:
            raise ValueError("the id and text columns must be named (--id-col, --text-col)")
        bad = {k: v for k, v in self.label_map.items() if v and v not in LABELS}
        if bad:
            raise ValueError(f"label map values must be in {LABELS} (or empty), got {bad}")

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.id, self.text, self.image, self.time, self.brand_col, self.label) if c]

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """The :data:`POST_SCHEMA` columns these inputs set; a re-run leaves the others as stored."""
        optional = {
            "brand": self.brand_col or self.brand,
            "created_at": self.time,
            "image": self.image,
            "human_label": self.label,
        }
        return tuple(c for c in POST_SCHEMA.names if optional.get(c, True))


@dataclass
class ReadStats:
    """What the readers had to leave out or could not interpret (reported, never silent)."""

    files: int = 0
    rows: int = 0
    missing_id: int = 0
    bad_time: int = 0
    legacy_lines: int = 0  # lines read as Windows-1252 because they are not UTF-8
    empty_files: int = 0
    unknown_labels: dict[str, int] = field(default_factory=dict)


def find_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files named directly plus every readable file under named folders (recursive, sorted)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and _suffix(p) and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise DataFormatError(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
            files.extend(found)
        elif path.is_file():
            if not _suffix(path):
                raise DataFormatError(f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise FileNotFoundError(f"input not found: {item}")
    return files


def read_posts(inputs: Iterable[str | Path], spec: ColumnSpec, stats: ReadStats | None = None) -> Iterator[pa.Table]:
    """Yield :data:`POST_SCHEMA` tables (at most :data:`CHUNK_ROWS` rows each)."""
    stats = stats if stats is not None else ReadStats()
    for file in find_files(inputs):
        stats.files += 1
        kind = _suffix(file)
        if kind in JSONL_SUFFIXES:
            rows = _jsonl_rows(file, spec, stats)
        elif kind in CSV_SUFFIXES:
            rows = _csv_rows(file, spec, stats)
        else:
            rows = _parquet_rows(file, spec)
        yield from _to_tables(rows, file, spec, stats)
    if stats.missing_id:
        log.warning("skipped %d rows without a post id", stats.missing_id)
    if stats.bad_time:
        log.warning(
            "%d posts have a time that could not be parsed; they are scored but left out of trends", stats.bad_time
        )
    if stats.unknown_labels:
        log.warning("human labels not understood (stored as null; see --label-map): %s", stats.unknown_labels)


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _lines(file: Path, stats: ReadStats) -> Iterator[str]:
    """The file's lines as text: UTF-8 (a BOM is dropped), else Windows-1252 for that line alone."""
    legacy, first = 0, 0
    with open_binary(file) as fh:
        for lineno, raw in enumerate(guarded_lines(fh, file), start=1):
            text, encoding = decode_with_fallback(raw)
            if encoding != "utf-8":
                legacy, first = legacy + 1, first or lineno
            yield text
    if legacy:
        stats.legacy_lines += legacy
        log.warning(
            "%s: %d line(s) are not UTF-8 (the first is line %d); read them as Windows-1252", file, legacy, first
        )


def _csv_rows(file: Path, spec: ColumnSpec, stats: ReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    lines = _lines(file, stats)
    header = next(lines, None)
    if header is None:  # an empty file: no header to check, no posts
        return
    delimiter = "\t" if ".tsv" in file.name.lower() else max(",;\t|", key=header.count)
    csv.field_size_limit(1 << 24)
    reader = csv.reader(_chain(header, lines), delimiter=delimiter, strict=True)
    start = 1
    try:
        names = next(reader)
        check_header(file, names)
        _check_columns(file, set(names), spec)
        while True:
            start = reader.line_num + 1
            values = next(reader, None)
            if values is None:
                return
            if not values:  # a blank line
                continue
            if len(values) != len(names):
                raise DataFormatError(
                    f"{file}:{start}: {len(values)} fields but the header has {len(names)} "
                    f"(a field with a delimiter or line break in it must be quoted)"
                )
            yield start, dict(zip(names, values, strict=True))
    except csv.Error as exc:
        hint = "; a quote that never closes?" if "end of data" in str(exc) else ""
        raise DataFormatError(f"{file}:{start}: malformed CSV ({exc}{hint})") from exc


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _jsonl_rows(file: Path, spec: ColumnSpec, stats: ReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    seen: set[str] = set()  # keys, to catch a misspelt column once the file is read
    for lineno, line in enumerate(_lines(file, stats), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{file}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise DataFormatError(f"{file}:{lineno}: expected a JSON object, got {type(row).__name__}")
        seen.update(row)
        yield lineno, row
    if seen:  # raised before the ingest transaction commits
        _check_columns(file, seen, spec, what="no row has the key(s)")


def _parquet_rows(file: Path, spec: ColumnSpec) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataFormatError(f"{file}: not a readable Parquet file ({exc})") from exc
    names = set(parquet.schema_arrow.names)
    _check_columns(file, names, spec)
    lineno = 0
    for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=list(dict.fromkeys(spec.columns))):
        for row in batch.to_pylist():
            lineno += 1
            yield lineno, row


def _check_columns(file: Path, names: set[str], spec: ColumnSpec, what: str = "no column(s)") -> None:
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise DataFormatError(f"{file}: {what} {missing}; it has {sorted(names)}")


def _to_tables(
    rows: Iterator[tuple[int, dict[str, Any]]], file: Path, spec: ColumnSpec, stats: ReadStats
) -> Iterator[pa.Table]:
    parse_time = TimestampParser()
    columns: dict[str, list] = {name: [] for name in POST_SCHEMA.names}
    rows_before = stats.rows
    for lineno, row in rows:
        stats.rows += 1
        post_id = _text(row.get(spec.id))
        if post_id is None:
            stats.missing_id += 1
            continue
        text = row.get(spec.text)
        if text is not None and (isinstance(text, bool) or not isinstance(text, (str, int, float))):
            raise DataFormatError(f"{file}:{lineno}: the text must be a string, got {type(text).__name__}")
        columns["post_id"].append(post_id)
        columns["brand"].append((_text(row.get(spec.brand_col)) or "(none)") if spec.brand_col else spec.brand or "all")
        columns["created_at"].append(parse_time(row.get(spec.time)) if spec.time else None)
        columns["text"].append(_valid_unicode(text) if isinstance(text, str) else _text(text))
        columns["image"].append(_image_path(row.get(spec.image), file) if spec.image else None)
        columns["human_label"].append(_human_label(row.get(spec.label), spec, stats) if spec.label else None)
        if len(columns["post_id"]) >= CHUNK_ROWS:
            yield pa.table(columns, schema=POST_SCHEMA)
            columns = {name: [] for name in POST_SCHEMA.names}
    stats.bad_time += parse_time.failures
    if stats.rows == rows_before:
        stats.empty_files += 1
        log.warning("%s: no posts in this file", file)
    if columns["post_id"]:
        yield pa.table(columns, schema=POST_SCHEMA)


def _valid_unicode(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id column read as float by some writer: 12.0 -> "12"
    text = _valid_unicode(str(value).strip())
    return text or None


def _image_path(value: Any, file: Path) -> str | None:
    ref = _text(value)
    if ref is None:
        return None
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (file.parent / path).resolve())


def _human_label(value: Any, spec: ColumnSpec, stats: ReadStats) -> str | None:
    raw = _text(value)
    if raw is None:
        return None
    key = raw.lower()
    if key in spec.label_map:
        return spec.label_map[key] or None
    label = key if key in LABELS else _LABEL_ALIASES.get(key)
    if label is None:
        stats.unknown_labels[raw] = stats.unknown_labels.get(raw, 0) + 1
    return label
