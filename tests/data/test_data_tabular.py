"""jsonl / csv readers (plain and gzipped) and their error messages."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from sentiment_fusion.data import read_dataset
from sentiment_fusion.data.tabular import read_csv, read_jsonl
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.labels import Sentiment

ROWS = [
    {"id": "a1", "text": "love it", "label": "Positive", "brand": "acme"},
    {"text": "meh", "image": "img/x.png", "label": "neutral"},
    {"image": "img/x.png", "label": "NEGATIVE"},
    {"text": "unlabelled post", "label": ""},
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "img" / "x.png")
    return tmp_path


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def csv_text(rows: list[dict]) -> str:
    header = ["id", "text", "image", "label", "brand"]
    lines = [",".join(header)] + [",".join(str(r.get(k, "")) for k in header) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def check_rows(ds, folder: Path, first_line: int) -> None:
    assert [e.label for e in ds] == [Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE, None]
    assert [e.id for e in ds] == ["a1"] + [f"line:{first_line + i}" for i in (1, 2, 3)]
    assert ds[0].text == "love it" and ds[0].image is None and ds[0].meta == {"brand": "acme"}
    assert ds[1].image == folder / "img" / "x.png"
    assert ds[2].text is None and isinstance(ds[2].image, Path)
    assert ds.classes == tuple(Sentiment) and ds.split is None


@pytest.mark.parametrize("gz", [False, True])
def test_jsonl(folder: Path, gz: bool) -> None:
    data = jsonl_bytes(ROWS)
    path = folder / ("posts.jsonl.gz" if gz else "posts.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    ds = read_dataset(str(path))  # a bare path: the kind comes from the suffix
    assert ds.name == "jsonl"
    check_rows(ds, folder, first_line=1)
    assert ds.labels.tolist() == [2, 1, 0, -1]


@pytest.mark.parametrize("gz", [False, True])
def test_csv(folder: Path, gz: bool) -> None:
    data = csv_text(ROWS).encode("utf-8-sig")  # with a BOM, as Excel writes it
    path = folder / ("posts.csv.gz" if gz else "posts.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    ds = read_dataset(f"csv:{path}")
    assert ds.name == "csv"
    check_rows(ds, folder, first_line=2)  # line 1 is the header


def test_csv_multiline_quoted_field(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text('text,label\n"two\nlines",positive\nnext,negative\n')
    ds = read_csv(path)
    assert [e.text for e in ds] == ["two\nlines", "next"]


def test_mvsa_multiple_style_jsonl_keeps_per_modality_labels(tmp_path: Path) -> None:
    row = {"id": "2499", "text": "t", "label": "positive", "text_label": "positive", "image_label": "neutral"}
    path = tmp_path / "dev.jsonl"
    path.write_bytes(jsonl_bytes([row]))
    ex = read_dataset(f"jsonl:{path}")[0]
    assert ex.id == "2499" and ex.meta == {"text_label": "positive", "image_label": "neutral"}


def test_limit_and_blank_lines_counted(tmp_path: Path, caplog) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"text": "a"}\n\n{"text": "b"}\n{"text": "c"}\n')
    with caplog.at_level(logging.INFO, logger="sentiment_fusion.data.tabular"):
        ds = read_jsonl(path)
    assert [e.id for e in ds] == ["line:1", "line:3", "line:4"]
    assert "skipped 1 blank" in caplog.text
    assert len(read_jsonl(path, limit=1)) == 1


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b'{"text": "ok"}\n{"text": "x", "label": "great"}\n', r"p\.jsonl:2: bad label 'great'"),
        (b'{"text": "ok"}\n{"text": \n', r"p\.jsonl:2: invalid JSON"),
        (b'{"text": "ok"}\n["a list"]\n', r"p\.jsonl:2: expected a JSON object"),
        (b'{"text": "ok"}\n{"label": "positive"}\n', r"p\.jsonl:2: row has neither"),
        (b'{"text": "ok", "image": "no.png"}\n', r"p\.jsonl:1: image 'no\.png' not found"),
        (b'{"text": "caf\xe9"}\n', r"p\.jsonl:1: cannot decode as utf-8.*encoding"),
        (b'{"text": 3}\n', r"p\.jsonl:1: 'text' must be a string"),
        (b"", r"p\.jsonl: no examples"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=pattern):
        read_jsonl(path)


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"text,label\nok,positive\nbad,5\n", r"p\.csv:3: bad label '5'"),
        (b"text,label\nok,positive\ncaf\xe9,neutral\n", r"p\.csv:3: cannot decode.*Windows-1252"),
        (b"body,label\nok,positive\n", r"p\.csv:1: the header needs a 'text' or 'image'"),
        (b"text,label\nok,positive,extra\n", r"p\.csv:2: 3 fields but the header has 2"),
        (b"text,label\n,positive\n", r"p\.csv:2: row has neither"),
        (b"", r"p\.csv: empty file"),
        (b"text,label,text\nok,positive,other\n", r"p\.csv:1: the header repeats the column\(s\) \['text'\]"),
        (b'text,label\n"never closed,positive\nok,negative\n', r"p\.csv:\d+: malformed CSV"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=pattern):
        read_csv(path)


def test_csv_other_encoding_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("text,label\ncaf\xe9 \u2019,neutral\n".encode("cp1252"))
    assert read_csv(path, encoding="cp1252")[0].text == "caf\xe9 \u2019"


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    data = gzip.compress(jsonl_bytes([{"text": f"post {i}"} for i in range(2000)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.jsonl\.gz: truncated or corrupt"):
        read_jsonl(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.jsonl"):
        read_dataset(f"jsonl:{tmp_path / 'absent.jsonl'}")
    with pytest.raises(FileNotFoundError, match=r"absent\.csv"):
        read_dataset(str(tmp_path / "absent.csv"))
