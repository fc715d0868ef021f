"""The analyze store: idempotent, resumable after a real SIGKILL, errors recorded per post."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")
import pyarrow as pa

from helpers.processes import sigkill_at_progress
from sentiment_fusion.errors import ImageError
from sentiment_fusion.insights.pipeline import analyze
from sentiment_fusion.insights.readers import POST_SCHEMA, ColumnSpec
from sentiment_fusion.insights.scoring import score_table
from sentiment_fusion.insights.store import PostStore
from sentiment_fusion.labels import Sentiment
from sentiment_fusion.runtime import Prediction

WORDS = "love hate great terrible phone battery screen service day sad happy slow fast meeting noon".split()


def write_posts(path: Path, n: int, *, extra: list[dict] = ()) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["id", "text", "date"])
        writer.writeheader()
        for i in range(n):
            text = " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 9))
            writer.writerow({"id": f"p{i:06d}", "text": text, "date": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"})
        writer.writerows(extra)
    return path


SPEC = ColumnSpec(id="id", text="text", time="date", brand="acme")


def table(db: Path) -> list[tuple]:
    with PostStore(db, read_only=True) as store:
        return store.con.execute(
            "SELECT post_id, sentiment, p_negative, p_neutral, p_positive, model_version, "
            "scored_at, error FROM posts ORDER BY post_id"
        ).fetchall()


def test_rerun_scores_nothing_and_duplicates_nothing(tmp_path, tiny_bundle):
    data = write_posts(tmp_path / "posts.csv", 300, extra=[{"id": "p000001", "text": "duplicate id: last wins"}])
    db = tmp_path / "s.duckdb"
    first = analyze([data], SPEC, db, model=tiny_bundle, progress=False, commit_rows=64)
    assert (first.rows_read, first.repeated_ids, first.pending, first.scored, first.errors) == (301, 1, 300, 300, 0)
    before = table(db)
    assert len(before) == 300 and all(r[1] in {"negative", "neutral", "positive"} for r in before)
    assert all(abs(r[2] + r[3] + r[4] - 1) < 1e-6 and r[5] == "tiny@0.0.1" for r in before)
    second = analyze([data, data], SPEC, db, model=tiny_bundle, progress=False)
    assert (second.repeated_ids, second.pending, second.scored) == (302, 0, 0)  # 602 rows, 300 ids
    assert table(db) == before  # not even scored_at changed
    with PostStore(db, read_only=True) as store:
        assert store.query("SELECT text FROM posts WHERE post_id = 'p000001'") == [{"text": "duplicate id: last wins"}]


def test_changed_text_is_rescored_and_new_model_version_rescores_all(tmp_path, tiny_bundle):
    data = write_posts(tmp_path / "posts.csv", 50)
    db = tmp_path / "s.duckdb"
    analyze([data], SPEC, db, model=tiny_bundle, progress=False)
    write_posts(data, 50, extra=[{"id": "p000003", "text": "now completely different"}, {"id": "new", "text": "hello"}])
    again = analyze([data], SPEC, db, model=tiny_bundle, progress=False)
    assert again.pending == 2 and again.totals == {"posts": 51, "scored": 51, "errors": 0, "pending": 0}
    from sentiment_fusion.testing import make_tiny_text_bundle

    other = make_tiny_text_bundle(tmp_path / "tiny2", name="tiny-b")
    assert analyze([data], SPEC, db, model=other, progress=False).pending == 51


def test_rerun_without_optional_columns_keeps_what_is_stored(tmp_path, tiny_bundle):
    data = tmp_path / "posts.csv"
    data.write_text("id,text,date,gold\n1,great phone,2024-03-01T10:00:00Z,positive\n2,awful,2024-03-02,negative\n")
    db = tmp_path / "s.duckdb"
    full = ColumnSpec(id="id", text="text", time="date", label="gold", brand="acme")
    analyze([data], full, db, model=tiny_bundle, progress=False)
    with PostStore(db, read_only=True) as store:
        before = store.query("SELECT * FROM posts ORDER BY post_id")
    assert [r["human_label"] for r in before] == ["positive", "negative"] and before[0]["created_at"] is not None
    again = analyze([data], ColumnSpec(id="id", text="text"), db, model=tiny_bundle, progress=False)
    assert again.pending == 0
    with PostStore(db, read_only=True) as store:
        assert store.query("SELECT * FROM posts ORDER BY post_id") == before  # times and labels not erased
    with PostStore(db, read_only=True) as store:  # no --brand or --brand-col this time: brands kept too
        assert {r["brand"] for r in store.query("SELECT brand FROM posts")} == {"acme"}
    data.write_text("id,text\n1,great phone\n2,now it is fine\n")
    assert (
        analyze([data], ColumnSpec(id="id", text="text", brand="acme"), db, model=tiny_bundle, progress=False).pending
        == 1
    )
    with PostStore(db, read_only=True) as store:
        after = store.query("SELECT post_id, text, created_at, human_label FROM posts ORDER BY post_id")
    assert after[1] == {
        "post_id": "2",
        "text": "now it is fine",
        "created_at": before[1]["created_at"],
        "human_label": "negative",
    }


@pytest.mark.parametrize("content", [b"id,text\n1,a\n", b'{"id": 1}\n'])
def test_a_file_that_is_not_a_store_is_refused_and_kept(tmp_path, tiny_bundle, content):
    from sentiment_fusion.insights.store import StoreError

    data = write_posts(tmp_path / "posts.csv", 5)
    for name in ("other.csv", "other.json"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(StoreError, match="not a DuckDB file"):
            analyze([data], SPEC, tmp_path / name, model=tiny_bundle, progress=False)
        with pytest.raises(StoreError, match="not a DuckDB file"):
            PostStore(tmp_path / name, read_only=True)
        assert (tmp_path / name).read_bytes() == content
    import duckdb

    def tables(path) -> list[str]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return sorted(
                name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            )
        finally:
            con.close()

    for name, ddl, message in [
        (
            "foreign-posts.duckdb",
            "CREATE TABLE posts (post_id VARCHAR, mood VARCHAR)",
            r"its posts table lacks \['brand'",
        ),
        ("customers.duckdb", "CREATE TABLE customers (id INTEGER)", r"no posts table; it holds \['customers'\]"),
    ]:
        con = duckdb.connect(str(tmp_path / name))
        con.execute(ddl)
        con.close()
        before = tables(tmp_path / name)
        for read_only in (True, False):
            with pytest.raises(StoreError, match=message):
                PostStore(tmp_path / name, read_only=read_only)
        assert tables(tmp_path / name) == before  # nothing was added to someone else's database


def test_unreadable_inputs_leave_no_new_store_behind(tmp_path, tiny_bundle):
    from sentiment_fusion.errors import DataFormatError

    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,fine\n2,un, quoted\n")
    db = tmp_path / "new" / "s.duckdb"
    with pytest.raises(DataFormatError, match=r"bad\.csv:3: 3 fields"):
        analyze([bad], ColumnSpec(id="id", text="text"), db, model=tiny_bundle, progress=False)
    assert not db.exists()
    with pytest.raises(FileNotFoundError):
        analyze([tmp_path / "nope.csv"], SPEC, db, model=tiny_bundle, progress=False)
    assert not db.exists()
    good = write_posts(tmp_path / "posts.csv", 5)
    analyze([good], SPEC, db, model=tiny_bundle, progress=False)
    with pytest.raises(DataFormatError):  # an existing store is kept, unchanged
        analyze([bad], ColumnSpec(id="id", text="text"), db, model=tiny_bundle, progress=False)
    with PostStore(db, read_only=True) as store:
        assert store.counts()["posts"] == 5


def test_bad_rows_are_recorded_with_their_reason(tmp_path, tiny_bundle):
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(
        '{"id": "ok", "text": "great phone"}\n{"id": "empty", "text": ""}\n'
        '{"id": "blank", "text": "   "}\n{"id": "none", "text": null}\n'
        '{"id": "image-only", "text": "", "pic": "x.jpg"}\n',
        encoding="utf-8",
    )
    db = tmp_path / "s.duckdb"
    result = analyze([jsonl], ColumnSpec(id="id", text="text", image="pic"), db, model=tiny_bundle, progress=False)
    assert (result.scored, result.errors) == (1, 4)
    with PostStore(db, read_only=True) as store:
        got = {r["post_id"]: r for r in store.query("SELECT post_id, sentiment, error, model_version FROM posts")}
    assert got["ok"]["sentiment"] and got["ok"]["error"] is None
    for key in ("empty", "blank", "none"):
        assert got[key]["sentiment"] is None and got[key]["error"] == "empty text and no image"
    assert got["image-only"]["error"] == "empty text, and model tiny has no image component"
    assert all(r["model_version"] == "tiny@0.0.1" for r in got.values())  # done: not retried on every run
    assert (
        analyze([jsonl], ColumnSpec(id="id", text="text", image="pic"), db, model=tiny_bundle, progress=False).pending
        == 0
    )


class ImageStub:
    """An Analyzer stand-in with an image component that rejects files named bad* (per post, as
    ``Analyzer.predict_batch(..., on_error="return")`` does)."""

    name, version, image = "stub", "1", object()

    def __init__(self) -> None:
        self.calls = 0

    def predict_batch(self, texts, images, on_error="raise"):
        assert on_error == "return"
        self.calls += 1
        good = Prediction(Sentiment.POSITIVE, {"negative": 0.1, "neutral": 0.2, "positive": 0.7})
        return [
            ImageError("cannot decode image") if image is not None and Path(image).name.startswith("bad") else good
            for image in images
        ]


def test_one_undecodable_image_fails_only_its_post(tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(b"x"), bad.write_bytes(b"x")
    images = [str(good)] * 64
    images[37] = str(bad)
    images[5] = str(tmp_path / "missing.jpg")
    batch = pa.table({"post_id": [str(i) for i in range(64)], "text": ["t"] * 64, "image": images})
    stub = ImageStub()
    result = score_table(stub, batch).to_pylist()
    assert result[37]["error"] == "cannot decode image" and result[37]["sentiment"] is None
    assert result[5]["error"].startswith("image file not found: ")
    assert all(
        r["sentiment"] == "positive" and r["p_positive"] == 0.7 for i, r in enumerate(result) if i not in (5, 37)
    )
    assert stub.calls == 1  # one model call: no re-runs to find the bad post


def test_ingest_is_one_transaction(tmp_path):
    def tables():
        yield pa.table(
            {
                "post_id": ["a"],
                "brand": ["b"],
                "created_at": [None],
                "text": ["x"],
                "image": [None],
                "human_label": [None],
            },
            schema=POST_SCHEMA,
        )
        raise OSError("disk went away mid-read")

    with PostStore(tmp_path / "s.duckdb") as store:
        with pytest.raises(OSError, match="disk went away"):
            store.ingest(tables())
        assert store.counts()["posts"] == 0


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path, tiny_bundle):
    n, commit = 6000, 8
    data = write_posts(tmp_path / "posts.csv", n)
    db = tmp_path / "s.duckdb"
    command = [
        sys.executable,
        "-m",
        "sentiment_fusion.insights.cli",
        "analyze",
        str(data),
        "--id-col",
        "id",
        "--text-col",
        "text",
        "--time-col",
        "date",
        "--db",
        str(db),
        "--model",
        str(tiny_bundle),
        "--commit-rows",
        str(commit),
        "--batch-size",
        str(commit),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sigkill_at_progress(proc, 200)
    assert proc.returncode == -signal.SIGKILL

    killed = table(db)
    assert len(killed) == n  # the ingest transaction had committed
    done = [r for r in killed if r[1] is not None]
    assert 200 <= len(done) < n, "the kill did not land mid-run"
    assert len(done) % commit == 0  # whole transactions only: no half-written batch

    rerun = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"scored {n - len(done)} posts" in rerun.stdout
    final = table(db)
    assert len(final) == n == len({r[0] for r in final})
    assert all(r[1] is not None and r[7] is None for r in final)
    assert {r[0]: r for r in final if r[0] in {d[0] for d in done}} == {d[0]: d for d in done}  # kept as they were
