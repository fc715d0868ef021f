"""Readers for analyze: encodings, date formats, folders, Parquet, image paths, labels."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from helpers.paths import SHARED_DATA

pa = pytest.importorskip("pyarrow", reason="insights needs the [insights] extra (pyarrow, duckdb)")

from sentiment_fusion.errors import DataFormatError  # noqa: E402
from sentiment_fusion.insights.readers import ColumnSpec, ReadStats, find_files, parse_label_map, read_posts  # noqa: E402
from sentiment_fusion.insights.timestamps import parse_timestamp  # noqa: E402

APPLE = SHARED_DATA / "apple_tweets" / "Apple-Twitter-Sentiment-DFE.csv"
SPEC = ColumnSpec(id="id", text="text", time="date")


def rows(inputs, spec=SPEC, stats=None) -> list[dict]:
    return [r for table in read_posts(inputs, spec, stats) for r in table.to_pylist()]


@pytest.mark.parametrize(
    "value, expected",
    [
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
        (1417462203000.0, datetime(2014, 12, 1, 19, 30, 3)),
        (5, None),
        (2014, None),
        (-5, None),
        ("", None),
        ("not a date", None),
    ],
)
def test_timestamp_formats_become_naive_utc(value, expected):
    assert parse_timestamp(value) == expected


def test_cp1252_csv_is_detected_and_decoded(tmp_path):
    file = tmp_path / "legacy.csv"
    file.write_bytes("id,text,date\n1,\u201cgreat\u201d phone \u2026 \u20ac5,2014-12-01\n".encode("cp1252"))
    stats = ReadStats()
    (row,) = rows([file], stats=stats)
    assert row["text"] == "\u201cgreat\u201d phone \u2026 \u20ac5"
    assert row["created_at"] == datetime(2014, 12, 1)
    assert stats.legacy_lines == 1


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_csv_with_or_without_bom(tmp_path, bom):
    file = tmp_path / "posts.csv"
    file.write_bytes(bom + "id,text\n7,caf\u00e9 \U0001f600\n".encode())
    (row,) = rows([file], ColumnSpec(id="id", text="text"))
    assert row == {
        "post_id": "7",
        "brand": "all",
        "created_at": None,
        "text": "caf\u00e9 \U0001f600",
        "image": None,
        "human_label": None,
    }


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_one_legacy_line_falls_back_alone_and_is_reported(tmp_path, suffix, caplog):
    """A stray Windows-1252 line must not turn the UTF-8 posts around it into mojibake."""
    utf8 = "caf\u00e9 \U0001f600 \u201cok\u201d"
    lines = [("1", utf8.encode()), ("2", b"caf\xe9 \x93quoted\x94"), ("3", utf8.encode())]
    file = tmp_path / f"mixed{suffix}"
    if suffix == ".csv":
        file.write_bytes(b"id,text\n" + b"".join(i.encode() + b"," + t + b"\n" for i, t in lines))
    else:
        file.write_bytes(b"".join(b'{"id": %s, "text": "%s"}\n' % (i.encode(), t) for i, t in lines))
    stats = ReadStats()
    got = [r["text"] for r in rows([file], ColumnSpec(id="id", text="text"), stats)]
    assert got == [utf8, "caf\u00e9 \u201cquoted\u201d", utf8]
    assert stats.legacy_lines == 1
    assert f"{file}: 1 line(s) are not UTF-8 (the first is line {3 if suffix == '.csv' else 2})" in caplog.text


def test_semicolon_csv_multiline_fields_brand_and_labels(tmp_path):
    file = tmp_path / "export.csv"
    file.write_text('id;body;who;gold\n1;"two\nlines";Apple;5\n2;meh;Google;not_relevant\n3;bad;;1\n', encoding="utf-8")
    spec = ColumnSpec(
        id="id",
        text="body",
        brand_col="who",
        label="gold",
        label_map=parse_label_map("1=negative,3=neutral,5=positive"),
    )
    stats = ReadStats()
    got = rows([file], spec, stats)
    assert [(r["post_id"], r["brand"], r["text"], r["human_label"]) for r in got] == [
        ("1", "Apple", "two\nlines", "positive"),
        ("2", "Google", "meh", None),
        ("3", "(none)", "bad", "negative"),
    ]
    assert stats.unknown_labels == {"not_relevant": 1}
    assert parse_label_map("not_relevant=") == {"not_relevant": ""}
    with pytest.raises(ValueError, match="VALUE=LABEL"):
        parse_label_map("1=bad")


def test_folder_is_read_recursively_by_extension_with_relative_images(tmp_path):
    (tmp_path / "a" / "img").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a" / "posts.jsonl").write_text(
        json.dumps({"id": 1, "text": "hi", "date": "2014-12-01T10:00:00Z", "pic": "img/1.jpg"})
        + "\n\n"
        + json.dumps({"id": 2, "text": "yo"})
        + "\n",
        encoding="utf-8",
    )
    pa_parquet = pytest.importorskip("pyarrow.parquet")
    pa_parquet.write_table(
        pa.table(
            {"id": [3, 4], "text": ["p", "q"], "date": [datetime(2014, 12, 2), None], "pic": [None, "/abs/x.png"]}
        ),
        tmp_path / "b.parquet",
    )
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


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,text\n1,hello, world\n2,fine\n", r"p.csv:2: 3 fields but the header has 2"),
        ("id,text\n1,fine\n2\n", r"p.csv:3: 1 fields but the header has 2"),
        ('id,text\n1,"never closed\n2,fine\n', r"p.csv:2: malformed CSV .*quote that never closes"),
        ("id,text,id\n1,a,2\n", r"p.csv:1: the header repeats the column\(s\) \['id'\]"),
        ("foo,bar\n", r"no column\(s\) \['id', 'text'\]"),  # checked even without rows
        ('"id,text\n1,2\n', r"p.csv:1: malformed CSV"),  # a header that never ends
        ("id,text\r1,hi\r2,yo\r", r"p.csv:1: malformed CSV \(new-line character"),  # old Mac line ends
    ],
)
def test_malformed_csv_names_the_line_instead_of_guessing(tmp_path, content, message):
    file = tmp_path / "p.csv"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        rows([file], ColumnSpec(id="id", text="text"))


def test_empty_inputs_are_reported(tmp_path, caplog):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("id,text\n")
    (tmp_path / "blank.jsonl").write_text("\n")
    stats = ReadStats()
    assert rows([tmp_path], ColumnSpec(id="id", text="text"), stats) == []
    assert stats.files == 3 and stats.empty_files == 3
    assert caplog.text.count("no posts in this file") == 3


def test_jsonl_values_that_are_not_text(tmp_path):
    file = tmp_path / "p.jsonl"
    file.write_text('{"id": 1, "text": "half a pair \\ud800 here", "when": "x"}\n{"id": 2, "text": 42}\n')
    got = rows([file], ColumnSpec(id="id", text="text"))
    assert [r["text"] for r in got] == ["half a pair \ufffd here", "42"]
    with pytest.raises(DataFormatError, match=r"no row has the key\(s\) \['date'\]"):  # a misspelt optional column
        rows([file], ColumnSpec(id="id", text="text", time="date"))
    file.write_text('{"id": 1, "text": ["great", "phone"]}\n')
    with pytest.raises(DataFormatError, match=r"p.jsonl:1: the text must be a string, got list"):
        rows([file], ColumnSpec(id="id", text="text"))


def test_corrupt_gzip_and_parquet_name_the_file(tmp_path):
    import gzip

    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(b"id,text\n" + b"1,fine\n" * 1000)[:60])
    with pytest.raises(DataFormatError, match=r"t.csv.gz: truncated or corrupt file"):
        rows([tmp_path / "t.csv.gz"], ColumnSpec(id="id", text="text"))
    (tmp_path / "f.parquet").write_text("id,text\n1,a\n")
    with pytest.raises(DataFormatError, match=r"f.parquet: not a readable Parquet file"):
        rows([tmp_path / "f.parquet"], ColumnSpec(id="id", text="text"))


@pytest.mark.data
def test_real_apple_tweets_file():
    if not APPLE.is_file():
        pytest.skip(f"{APPLE} not present (../shared/data)")
    spec = ColumnSpec(
        id="_unit_id",
        text="text",
        time="date",
        label="sentiment",
        label_map=parse_label_map("1=negative,3=neutral,5=positive,0=,not_relevant="),
    )
    stats = ReadStats()
    got = rows([APPLE], spec, stats)
    assert len(got) == 3886 and len({r["post_id"] for r in got}) == 3886
    assert stats.bad_time == 0 and not stats.unknown_labels
    assert min(r["created_at"] for r in got) == datetime(2014, 12, 1, 19, 30, 3)
    assert {r["human_label"] for r in got} == {"negative", "neutral", "positive", None}
