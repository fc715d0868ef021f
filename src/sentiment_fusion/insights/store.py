"""The DuckDB file that holds every post and its score: table ``posts``, one row per post.

Why this is safe to kill at any moment:
- ingesting a run's inputs is ONE transaction (all rows or none), an upsert keyed by the
  ``post_id`` PRIMARY KEY, so re-reading the same files never duplicates a post (a post id
  repeated within one run keeps its last row; the repeats are counted and reported);
- an upsert sets only the columns the run read: a re-run without ``--time-col`` keeps the
  stored times instead of erasing them;
- scores are written in transactions of a few hundred posts each (an UPDATE of rows that
  already exist), so a kill loses at most the chunk being scored, never a committed one;
- what to score is recomputed from the file on every run: posts whose ``model_version`` is
  not this bundle's. A post whose text or image changed since it was scored is reset.
Rows that cannot be scored keep ``sentiment`` null and say why in ``error``; they count
as done for that model version (re-running would fail the same way).

DuckDB allows one writing process per file: ``analyze`` holds it while it runs, the
``insights`` commands open it read-only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from ..errors import SentimentFusionError

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# created_at and scored_at hold UTC without a zone (see timestamps.py for why).
POSTS_DDL = """
CREATE TABLE IF NOT EXISTS posts (
    post_id       VARCHAR PRIMARY KEY,
    brand         VARCHAR NOT NULL,
    created_at    TIMESTAMP,
    text          VARCHAR,
    image         VARCHAR,
    human_label   VARCHAR,
    sentiment     VARCHAR,
    p_negative    DOUBLE,
    p_neutral     DOUBLE,
    p_positive    DOUBLE,
    model_version VARCHAR,
    scored_at     TIMESTAMP,
    error         VARCHAR
);
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""
INPUT_COLUMNS = ("post_id", "brand", "created_at", "text", "image", "human_label")
SCORE_COLUMNS = ("sentiment", "p_negative", "p_neutral", "p_positive", "model_version", "scored_at", "error")
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def _upsert_sql(columns: tuple[str, ...]) -> str:
    """Insert new posts; update stored ones only in ``columns`` and only when one changed.

    A re-run over unchanged files rewrites nothing; a changed text or image also clears
    the old score.
    """
    update = [c for c in columns if c != "post_id"]
    same_input = " AND ".join(f"posts.{c} IS NOT DISTINCT FROM excluded.{c}" for c in ("text", "image") if c in update)
    return f"""
INSERT INTO posts ({", ".join(INPUT_COLUMNS)})
SELECT {", ".join(INPUT_COLUMNS)} FROM _incoming
QUALIFY row_number() OVER (PARTITION BY post_id ORDER BY _ord DESC) = 1
ON CONFLICT (post_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in update)},
    {", ".join(f"{c} = CASE WHEN {same_input} THEN posts.{c} END" for c in SCORE_COLUMNS)}
WHERE {" OR ".join(f"posts.{c} IS DISTINCT FROM excluded.{c}" for c in update)}
"""


_WRITE_SCORES = """
UPDATE posts SET sentiment = r.sentiment, p_negative = r.p_negative, p_neutral = r.p_neutral,
    p_positive = r.p_positive, error = r.error, model_version = $version, scored_at = $scored_at
FROM _scores AS r WHERE posts.post_id = r.post_id
"""


class StoreError(SentimentFusionError, RuntimeError):
    """The store file cannot be opened (most often: another process is writing it)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class PostStore:
    """A DuckDB file of posts. Use as a context manager; ``read_only`` for queries.

    >>> with PostStore("brands.duckdb") as store:  # doctest: +SKIP
    ...     store.ingest(table); pending = store.pending("tiny@0.0.1")
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise FileNotFoundError(
                f"no store at {self.path}; run `sentiment-fusion analyze ... --db {self.path}` first"
            )
        _refuse_other_files(self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:  # most often: another process is writing it
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            self._check_schema(read_only)
        except StoreError:
            self.con.close()
            raise
        if not read_only:
            self.con.execute(POSTS_DDL)
            self.con.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def _check_schema(self, read_only: bool) -> None:
        """Before writing anything: a new file, or a store; never some other DuckDB database."""
        tables = {
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if "posts" not in tables:
            if tables or read_only:
                raise StoreError(
                    f"{self.path} is a DuckDB file but not an analyze store (no posts table"
                    + (f"; it holds {sorted(tables)})" if tables else ")")
                )
            return
        missing = set(INPUT_COLUMNS + SCORE_COLUMNS) - {
            name
            for (name,) in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'posts'"
            ).fetchall()
        }
        if missing:
            raise StoreError(
                f"{self.path} is a DuckDB file but not an analyze store (its posts table lacks {sorted(missing)})"
            )

    def __enter__(self) -> PostStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def ingest(self, tables, columns: tuple[str, ...] = INPUT_COLUMNS) -> tuple[int, int]:
        """Upsert input tables (``readers.POST_SCHEMA``) in one transaction.

        New posts are inserted whole; stored posts are updated only in ``columns`` (the ones
        the inputs set; always ``post_id`` and ``text``). Returns (rows read, rows whose post id an earlier
        row of this run had).
        """
        if not {"post_id", "text"} <= set(columns) <= set(INPUT_COLUMNS):  # every input has an id and a text
            raise ValueError(f"columns must include post_id and text and come from {INPUT_COLUMNS}, got {columns}")
        upsert = _upsert_sql(tuple(columns))
        total = 0
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _run_ids (post_id VARCHAR)")
            for table in tables:
                incoming = table.select(list(INPUT_COLUMNS)).append_column(
                    "_ord", pa.array(range(table.num_rows), pa.int64())
                )
                self.con.register("_incoming", incoming)
                self.con.execute(upsert)
                self.con.execute("INSERT INTO _run_ids SELECT post_id FROM _incoming")
                self.con.unregister("_incoming")
                total += table.num_rows
            (repeated,) = self._one_row("SELECT count(*) - count(DISTINCT post_id) FROM _run_ids")
            self.con.execute("DROP TABLE _run_ids")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return total, repeated

    def pending(self, model_version: str) -> pa.Table:
        """Posts not yet scored by ``model_version``: ``post_id, text, image`` in id order."""
        relation = self.con.sql(
            "SELECT post_id, text, image FROM posts WHERE model_version IS DISTINCT FROM ? ORDER BY post_id",
            params=[model_version],
        )
        # duckdb 2 names it to_arrow_table; 1.x returns a Table from .arrow().
        return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()

    def write_scores(self, scores: pa.Table, model_version: str, scored_at: datetime | None = None) -> None:
        """One transaction: the rows of ``scores`` (``scoring.RESULT_SCHEMA``) become scored."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.register("_scores", scores)
            self.con.execute(_WRITE_SCORES, {"version": model_version, "scored_at": scored_at or utc_now()})
            self.con.unregister("_scores")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def counts(self, model_version: str | None = None) -> dict[str, int]:
        """posts / scored / errors / pending (pending relative to ``model_version`` when given)."""
        posts, scored, errors, pending = self._one_row(
            """SELECT count(*), count(sentiment), count(error),
                      count(*) FILTER (WHERE model_version IS DISTINCT FROM $v)
               FROM posts""",
            {"v": model_version},
        )
        return {"posts": posts, "scored": scored, "errors": errors, "pending": pending if model_version else 0}

    def _one_row(self, sql: str, params=None) -> tuple:
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None, sql  # an aggregate without GROUP BY always returns one row
        return row

    def query(self, sql: str, params=None) -> list[dict]:
        """Run SQL and return rows as dicts (for the aggregate modules)."""
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _refuse_other_files(path: Path) -> None:
    """DuckDB would open a CSV or JSON path as a throwaway in-memory view: refuse it."""
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            if fh.read(12)[8:] != DUCKDB_MAGIC:
                raise StoreError(f"{path} exists and is not a DuckDB file; give --db a new or existing .duckdb path")
