"""Readers for analyze: encodings, date formats, folders, Parquet, image paths, labels."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="insights needs the [insights] extra (pyarrow, duckdb)")

from sentiment_fusion.errors import DataFormatError  # noqa: E402
from sentiment_fusion.insights.readers import (  # noqa: E402
    ColumnSpec, ReadStats, detect_encoding, find_files, parse_label_map, read_posts)
from sentiment_fusion.insights.timestamps import parse_timestamp  # noqa: E402

APPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "apple_tweets" / "Apple-Twitter-Sentiment-DFE.csv"
SPEC = ColumnSpec(id="id", text="text", time="date")


def rows(inputs, spec=SPEC, stats=None) -> list[dict]:
    return [r for table in read_posts(inputs, spec, stats) for r in table.to_pylist()]


@pytest.mark.parametrize("value, expected", [
    ("Mon Dec 01 19:30:03 +0000 2014", datetime(2014, 12, 1, 19, 30, 3)),
    ("Mon Dec 01 19:30:03 -0500 2014", datetime(2014, 12, 2, 0, 30, 3)),
    ("2014-12-01T19:30:03Z", datetime(2014, 12, 1, 19, 30, 3)),
    ("2014-12-01T21:30:03.250+02:00", datetime(2014, 12, 1, 19, 30, 3, 250000)),
    ("2014-12-01 19:30:03", datetime(2014, 12, 1, 19, 30, 3)),
    ("2014-12-01", datetime(2014, 12, 1)),
    ("12/01/2014 19:30", datetime(2014, 12, 1, 19, 30)),
    ("12/01/2014 07:30 PM", datetime(2014, 12, 1, 19, 30)),
    ("01.12.2014 19:30", datetime(2014, 12, 1, 19, 30)),
    ("Mon, 01 Dec 2014 19:30:03 +0000", datetime(2014, 12, 1, 19, 30, 3)),
    ("1417462203", datetime(2014, 12, 1, 19, 30, 3)),
    ("1417462203000", datetime(2014, 12, 1, 19, 30, 3)),
    (1417462203, datetime(2014, 12, 1, 19, 30, 3)),
    ("", None),
    ("not a date", None),
])
def test_timestamp_formats_become_naive_utc(value, expected):
    assert parse_timestamp(value) == expected


def test_cp1252_csv_is_detected_and_decoded(tmp_path):
    file = tmp_path / "legacy.csv"
    file.write_bytes("id,text,date\n1,\u201cgreat\u201d phone \u2026 \u20ac5,2014-12-01\n".encode("cp1252"))
    assert detect_encoding(file) == "cp1252"
    (row,) = rows([file])
    assert row["text"] == "\u201cgreat\u201d phone \u2026 \u20ac5"
    assert row["created_at"] == datetime(2014, 12, 1)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_csv_with_or_without_bom(tmp_path, bom):
    file = tmp_path / "posts.csv"
    file.write_bytes(bom + "id,text\n7,caf\u00e9 \U0001F600\n".encode())
    (row,) = rows([file], ColumnSpec(id="id", text="text"))
    assert row == {"post_id": "7", "brand": "all", "created_at": None, "text": "caf\u00e9 \U0001F600",
                   "image": None, "human_label": None}


def test_utf8_file_with_one_bad_byte_late_falls_back_to_cp1252(tmp_path):
    file = tmp_path / "mixed.csv"
    file.write_bytes(b"id,text\n" + b"".join(b"%d,fine\n" % i for i in range(5000)) + b"9999,caf\xe9\n")
    assert detect_encoding(file) == "cp1252"
    assert rows([file], ColumnSpec(id="id", text="text"))[-1]["text"] == "caf\u00e9"


def test_semicolon_csv_multiline_fields_brand_and_labels(tmp_path):
    file = tmp_path / "export.csv"
    file.write_text('id;body;who;gold\n1;"two\nlines";Apple;5\n2;meh;Google;not_relevant\n3;bad;;1\n', encoding="utf-8")
    spec = ColumnSpec(id="id", text="body", brand_col="who", label="gold",
                      label_map=parse_label_map("1=negative,3=neutral,5=positive"))
    stats = ReadStats()
    got = rows([file], spec, stats)
    assert [(r["post_id"], r["brand"], r["text"], r["human_label"]) for r in got] == [
        ("1", "Apple", "two\nlines", "positive"), ("2", "Google", "meh", None), ("3", "(none)", "bad", "negative")]
    assert stats.unknown_labels == {"not_relevant": 1}
    assert parse_label_map("not_relevant=") == {"not_relevant": ""}
    with pytest.raises(ValueError, match="VALUE=LABEL"):
        parse_label_map("1=bad")


def test_folder_is_read_recursively_by_extension_with_relative_images(tmp_path):
    (tmp_path / "a" / "img").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a" / "posts.jsonl").write_text(
        json.dumps({"id": 1, "text": "hi", "date": "2014-12-01T10:00:00Z", "pic": "img/1.jpg"}) + "\n\n"
        + json.dumps({"id": 2, "text": "yo"}) + "\n", encoding="utf-8")
    pa_parquet = pytest.importorskip("pyarrow.parquet")
    pa_parquet.write_table(pa.table({"id": [3, 4], "text": ["p", "q"], "date": [datetime(2014, 12, 2), None],
                                     "pic": [None, "/abs/x.png"]}), tmp_path / "b.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden" / "c.csv").write_text("id,text\n9,hidden\n")
    assert [p.name for p in find_files([tmp_path])] == ["posts.jsonl", "b.parquet"]
    got = {r["post_id"]: r for r in rows([tmp_path], ColumnSpec(id="id", text="text", time="date", image="pic"))}
    assert sorted(got) == ["1", "2", "3", "4"]
    assert got["1"]["image"] == str((tmp_path / "a" / "img" / "1.jpg").resolve())
    assert got["1"]["created_at"] == datetime(2014, 12, 1, 10)
    assert got["2"]["image"] is None and got["2"]["created_at"] is None
    assert got["3"]["created_at"] == datetime(2014, 12, 2) and got["4"]["image"] == "/abs/x.png"


def test_missing_column_and_missing_ids(tmp_path):
    file = tmp_path / "p.csv"
    file.write_text("id,message\n1,x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"no column\(s\) \['text'\]"):
        rows([file], ColumnSpec(id="id", text="text"))
    file.write_text("id,text\n,x\n2,y\n", encoding="utf-8")
    stats = ReadStats()
    assert [r["post_id"] for r in rows([file], ColumnSpec(id="id", text="text"), stats)] == ["2"]
    assert stats.missing_id == 1
    with pytest.raises(FileNotFoundError):
        find_files([tmp_path / "nope.csv"])
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"id": 1, "body": "x"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"no row has the key\(s\) \['text'\]"):
        rows([jsonl], ColumnSpec(id="id", text="text"))


@pytest.mark.data
def test_real_apple_tweets_file():
    if not APPLE.is_file():
        pytest.skip(f"{APPLE} not present (../shared/data)")
    spec = ColumnSpec(id="_unit_id", text="text", time="date", label="sentiment",
                      label_map=parse_label_map("1=negative,3=neutral,5=positive,0=,not_relevant="))
    stats = ReadStats()
    got = rows([APPLE], spec, stats)
    assert len(got) == 3886 and len({r["post_id"] for r in got}) == 3886
    assert stats.bad_time == 0 and not stats.unknown_labels
    assert min(r["created_at"] for r in got) == datetime(2014, 12, 1, 19, 30, 3)
    assert {r["human_label"] for r in got} == {"negative", "neutral", "positive", None}
