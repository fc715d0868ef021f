"""A store limited to a time window: what ``insights ... --since/--until`` and the monitor's reads query.

:class:`View` offers what the insights functions call (``query(sql, params)`` and ``rows_sql()``)
on one DuckDB connection or cursor, each ``FROM posts`` (and the per-brand rows) reading only the
posts with ``since <= created_at < until``. The aggregates, alerts, terms and examples then run
unchanged on the window, so the API and the CLI print the same tables for it.
"""

from __future__ import annotations

import re
from datetime import datetime

from .store import MENTION_ROWS

_FROM_POSTS = re.compile(r"\bFROM posts\b")


class View:
    """What the insights functions query (``store.query(sql, params)``), on one cursor, optionally
    limited to posts with ``since <= created_at < until`` (each ``FROM posts`` reads them only)."""

    def __init__(self, cursor, since: datetime | None = None, until: datetime | None = None) -> None:
        self.cursor = cursor
        conditions = []
        # The bounds were parsed into datetimes here: their ISO text is safe to inline.
        if since is not None:
            conditions.append(f"created_at >= TIMESTAMP '{since.isoformat(sep=' ')}'")
        if until is not None:
            conditions.append(f"created_at < TIMESTAMP '{until.isoformat(sep=' ')}'")
        self.where = " AND ".join(conditions) or None
        self.source = f"FROM (SELECT * FROM posts WHERE {self.where}) AS posts" if conditions else None

    def rows_sql(self) -> str:
        """The per-brand rows as a FROM item (``PostStore.rows_sql``: the brand mentions once the
        store records brands, else the posts), limited to the window."""
        base = "posts"
        tables = {r[0] for r in self.cursor.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if (
            "mentions" in tables
            and self.cursor.execute("SELECT 1 FROM store_meta WHERE key = 'mention_config'").fetchall()
        ):
            base = MENTION_ROWS
        if self.where is None:
            return base
        return f"(SELECT * FROM {base} WHERE {self.where}) AS posts"

    def query(self, sql: str, params=None) -> list[dict]:
        if self.source is not None:
            sql = _FROM_POSTS.sub(self.source, sql)
        result = self.cursor.execute(sql, params or [])
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
