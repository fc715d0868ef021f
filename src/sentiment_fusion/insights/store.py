"""The DuckDB file that holds every post and its score: table ``posts``, one row per post, and
table ``mentions``, one row per brand a post mentions, scored toward that brand (``mentions.py``).

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

Mentions follow the same rules (see ``mentions.py``): which brands a post is scored toward is
the stored :class:`~.brands.MentionConfig` (``store_meta``, and the ``brands`` table for people
reading the file); each post's ``mention_sync.sync_key`` records the text, brand, config and
model version its mentions were last made from, so a run re-matches only posts whose key is
stale and re-scores only mentions whose text or target changed. A store made before mentions
existed (schema 1) gains the new tables, empty, the first time ``analyze`` opens it.

DuckDB allows one writing process per file: ``analyze`` holds it while it runs, the
``insights`` commands open it read-only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ..errors import SentimentFusionError

if TYPE_CHECKING:
    from .brands import MentionConfig

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"  # 2: mentions, mention_sync, brands (1: posts only; upgraded in place)
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
CREATE TABLE IF NOT EXISTS mentions (
    post_id       VARCHAR NOT NULL,
    brand         VARCHAR NOT NULL,
    spans         INTEGER[][],
    sentiment     VARCHAR,
    p_negative    DOUBLE,
    p_neutral     DOUBLE,
    p_positive    DOUBLE,
    model_version VARCHAR,
    scored_at     TIMESTAMP,
    target        VARCHAR,
    input_key     VARCHAR,
    PRIMARY KEY (post_id, brand)
);
CREATE TABLE IF NOT EXISTS mention_sync (post_id VARCHAR PRIMARY KEY, sync_key VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS brands (brand VARCHAR PRIMARY KEY, aliases VARCHAR[] NOT NULL);
"""
# What a post's mentions were made from: its text and brand, the mention config, the model version.
SYNC_KEY = "md5(concat_ws('|', md5(coalesce(posts.text, '')), coalesce(posts.brand, ''), $fingerprint, $version))"
MENTION_COLUMNS = (
    "post_id", "brand", "spans", "sentiment", "p_negative", "p_neutral", "p_positive",
    "model_version", "scored_at", "target", "input_key",
)  # fmt: skip
# Insights read per-brand rows: a store with a mention config reads mentions (with their post's
# time, text and human label), any other store its posts.
MENTION_ROWS = """(SELECT m.post_id, m.brand, p.created_at, p.text, p.image, p.human_label, m.sentiment,
    m.p_negative, m.p_neutral, m.p_positive, m.model_version, m.scored_at, CAST(NULL AS VARCHAR) AS error
    FROM mentions AS m JOIN posts AS p USING (post_id)) AS brand_rows"""
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
        self._in_transaction = False
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
            self.con.execute("INSERT OR REPLACE INTO store_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (all or nothing); inside another one, part of it."""
        if self._in_transaction:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False

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
        with self.transaction():
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
        return total, repeated

    def pending(self, model_version: str, post_ids: list[str] | None = None) -> pa.Table:
        """Posts not yet scored by ``model_version``: ``post_id, text, image`` in id order (only
        ``post_ids`` when given)."""
        only = "AND post_id IN (SELECT unnest($ids))" if post_ids is not None else ""
        relation = self.con.sql(
            f"SELECT post_id, text, image FROM posts WHERE model_version IS DISTINCT FROM $v {only} ORDER BY post_id",
            params={"v": model_version, **({"ids": post_ids} if post_ids is not None else {})},
        )
        return _arrow(relation)

    def write_scores(self, scores: pa.Table, model_version: str, scored_at: datetime | None = None) -> None:
        """One transaction: the rows of ``scores`` (``scoring.RESULT_SCHEMA``) become scored."""
        with self.transaction():
            self.con.register("_scores", scores)
            self.con.execute(_WRITE_SCORES, {"version": model_version, "scored_at": scored_at or utc_now()})
            self.con.unregister("_scores")

    def counts(self, model_version: str | None = None) -> dict[str, int]:
        """posts / scored / errors / pending (pending relative to ``model_version`` when given)."""
        posts, scored, errors, pending = self._one_row(
            """SELECT count(*), count(sentiment), count(error),
                      count(*) FILTER (WHERE model_version IS DISTINCT FROM $v)
               FROM posts""",
            {"v": model_version},
        )
        return {"posts": posts, "scored": scored, "errors": errors, "pending": pending if model_version else 0}

    # --- mentions -------------------------------------------------------------------------

    def has_table(self, name: str) -> bool:
        (n,) = self._one_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
        )
        return bool(n)

    def mention_config(self) -> MentionConfig | None:
        """The brands this store's posts are scored toward; None before any run made mentions."""
        from .brands import MentionConfig

        rows = self.con.execute("SELECT value FROM store_meta WHERE key = 'mention_config'").fetchall()
        return MentionConfig.from_json(rows[0][0]) if rows else None

    def set_mention_config(self, config: MentionConfig) -> None:
        """Record ``config`` (one transaction); posts matched under another one become pending."""
        with self.transaction():
            self.con.execute("INSERT OR REPLACE INTO store_meta VALUES ('mention_config', ?)", [config.to_json()])
            self.con.execute("DELETE FROM brands")
            if config.brands:
                self.con.executemany(
                    "INSERT INTO brands VALUES (?, ?)", [[name, list(a)] for name, a in sorted(config.brands.items())]
                )

    def rows_sql(self) -> str:
        """The per-brand rows the insights read (a FROM item with the ``posts`` columns): mentions
        once the store has a mention config, else posts (stores made without brands, or before)."""
        has_config = self.has_table("mentions") and bool(
            self.con.execute("SELECT 1 FROM store_meta WHERE key = 'mention_config'").fetchall()
        )
        return MENTION_ROWS if has_config else "posts"

    def pending_mentions(
        self, config: MentionConfig, model_version: str, post_ids: list[str] | None = None
    ) -> pa.Table:
        """Posts whose mentions were not made from their current text and brand with ``config``
        and ``model_version``: ``post_id, text, brand`` in id order (only ``post_ids`` when given)."""
        only = "AND posts.post_id IN (SELECT unnest($ids))" if post_ids is not None else ""
        relation = self.con.sql(
            f"""SELECT posts.post_id, posts.text, posts.brand FROM posts
                LEFT JOIN mention_sync AS s ON s.post_id = posts.post_id
                WHERE s.sync_key IS DISTINCT FROM {SYNC_KEY} {only} ORDER BY posts.post_id""",
            params={
                "fingerprint": config.fingerprint,
                "version": model_version,
                **({"ids": post_ids} if post_ids is not None else {}),
            },
        )
        return _arrow(relation)

    def stored_mentions(self, post_ids: list[str]) -> list[dict]:
        """The mention rows of ``post_ids``."""
        return self.query(
            f"SELECT {', '.join(MENTION_COLUMNS)} FROM mentions WHERE post_id IN (SELECT unnest(?))", [post_ids]
        )

    def write_mentions(self, post_ids: list[str], rows: pa.Table, config: MentionConfig, model_version: str) -> None:
        """``rows`` (:data:`MENTION_COLUMNS`) become the mentions of ``post_ids``: their other mention
        rows are deleted and their sync keys set, in one transaction."""
        update = [c for c in MENTION_COLUMNS if c not in ("post_id", "brand")]
        with self.transaction():
            self.con.register("_mentions", rows)
            self.con.execute(
                """DELETE FROM mentions WHERE post_id IN (SELECT unnest($ids)) AND NOT EXISTS
                   (SELECT 1 FROM _mentions AS m WHERE m.post_id = mentions.post_id AND m.brand = mentions.brand)""",
                {"ids": post_ids},
            )
            self.con.execute(
                f"""INSERT INTO mentions ({", ".join(MENTION_COLUMNS)})
                    SELECT {", ".join(MENTION_COLUMNS)} FROM _mentions
                    ON CONFLICT (post_id, brand) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in update)}
                    WHERE {" OR ".join(f"mentions.{c} IS DISTINCT FROM excluded.{c}" for c in update)}"""
            )
            self.con.unregister("_mentions")
            self.con.execute(
                f"""INSERT OR REPLACE INTO mention_sync
                    SELECT post_id, {SYNC_KEY} FROM posts WHERE post_id IN (SELECT unnest($ids))""",
                {"ids": post_ids, "fingerprint": config.fingerprint, "version": model_version},
            )

    def mention_counts(self) -> dict[str, int]:
        """mentions (rows) / posts that mention a brand / posts that mention none (unmatched)."""
        if not self.has_table("mentions"):
            return {"mentions": 0, "matched": 0, "unmatched": 0}
        mentions, matched, posts = self._one_row(
            "SELECT (SELECT count(*) FROM mentions), (SELECT count(DISTINCT post_id) FROM mentions), "
            "(SELECT count(*) FROM posts)"
        )
        return {"mentions": mentions, "matched": matched, "unmatched": posts - matched}

    def _one_row(self, sql: str, params=None) -> tuple:
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None, sql  # an aggregate without GROUP BY always returns one row
        return row

    def query(self, sql: str, params=None) -> list[dict]:
        """Run SQL and return rows as dicts (for the aggregate modules)."""
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _arrow(relation) -> pa.Table:
    # duckdb 2 names it to_arrow_table; 1.x returns a Table from .arrow().
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


def _refuse_other_files(path: Path) -> None:
    """DuckDB would open a CSV or JSON path as a throwaway in-memory view: refuse it."""
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            if fh.read(12)[8:] != DUCKDB_MAGIC:
                raise StoreError(f"{path} exists and is not a DuckDB file; give --db a new or existing .duckdb path")
