"""Monitor mode (``serve --db``): the service's one handle on the insights store.

DuckDB lets one process write a file, and inside it one connection is enough: every write
(ingested posts, the alert outbox, webhook delivery states) runs in ONE writer thread, in
order, each a single transaction; reads run on cursors of the same database (one per reader
thread) and see only committed data. ``serve`` therefore refuses ``--db`` with
``--workers`` > 1 (each worker would be a process of its own, and all but one would fail to
open the file).

Ingest keeps the store's rules (``insights/store.py``): one row per ``post_id``; a re-sent post
that has not changed is not written again (``unchanged``), a changed one is re-scored and
updated (``updated``). A post whose commit was acknowledged is in the file (DuckDB's
write-ahead log), so a ``kill -9`` loses only batches not yet answered, and re-sending them
completes the set without duplicates.

Alerts: after each ingest the writer recomputes the alerts of ``insights alerts`` (same
statistics, the settings' period, window, minimum volume and alpha) inside the same
transaction; an alert it has never seen is recorded in ``monitor_alerts`` with a delivery row
per configured webhook (``monitor_deliveries``), so a restart neither loses nor repeats one.
Alerts already in the store when the monitor first opens it are recorded as seen, not pushed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..insights.window import View
from .config import Settings

if TYPE_CHECKING:
    from .webhooks import WebhookDispatcher

log = logging.getLogger(__name__)
T = TypeVar("T")

MONITOR_DDL = """
CREATE TABLE IF NOT EXISTS monitor_alerts (
    alert_id    VARCHAR PRIMARY KEY,
    brand       VARCHAR NOT NULL,
    period_kind VARCHAR NOT NULL,
    period      TIMESTAMP NOT NULL,
    metric      VARCHAR NOT NULL,
    payload     VARCHAR,
    pushed      BOOLEAN NOT NULL,
    seen_at     TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS monitor_deliveries (
    alert_id     VARCHAR NOT NULL,
    url          VARCHAR NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    gave_up      BOOLEAN NOT NULL DEFAULT false,
    last_error   VARCHAR,
    PRIMARY KEY (alert_id, url)
);
"""
ROW_COLUMNS = (
    "post_id",
    "brand",
    "created_at",
    "text",
    "image",
    "sentiment",
    "p_negative",
    "p_neutral",
    "p_positive",
    "model_version",
    "scored_at",
)
_UPSERT = f"""
INSERT INTO posts ({", ".join(ROW_COLUMNS)}) SELECT {", ".join(ROW_COLUMNS)} FROM _monitor_in
ON CONFLICT (post_id) DO UPDATE SET
    brand = excluded.brand,
    created_at = COALESCE(excluded.created_at, posts.created_at),
    text = excluded.text,
    image = excluded.image,
    sentiment = excluded.sentiment,
    p_negative = excluded.p_negative,
    p_neutral = excluded.p_neutral,
    p_positive = excluded.p_positive,
    model_version = excluded.model_version,
    scored_at = excluded.scored_at,
    error = NULL
"""


def utc_now() -> datetime:
    from ..insights.store import utc_now as now

    return now()


def plain(value: Any) -> Any:
    """A store value as JSON carries it: times as ISO 8601 (as ``insights --csv``), no NaN."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain_rows(rows: list[dict]) -> list[dict]:
    return [{k: plain(v) for k, v in row.items()} for row in rows]


def alert_id(brand: str, period_kind: str, period: datetime, metric: str) -> str:
    return f"{brand}|{period_kind}|{period.isoformat()}|{metric}"


class MonitorStore:
    """The store of one monitor process: a writer thread, reader threads, a change counter."""

    def __init__(self, path: str | Path, settings: Settings) -> None:
        from ..insights.alerts import AlertConfig
        from ..insights.store import PostStore

        self.path = Path(path)
        self.settings = settings
        self.alert_config = AlertConfig(
            window=settings.alert_window, min_volume=settings.alert_min_volume, alpha=settings.alert_alpha
        )
        self.store = PostStore(self.path)  # creates or checks the schema; a StoreError says why it cannot
        self.con = self.store.con
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sf-store-writer")
        self._readers = ThreadPoolExecutor(settings.monitor_read_threads, thread_name_prefix="sf-store-read")
        self._local = threading.local()
        self._cursors: list = []
        self._cursor_lock = threading.Lock()
        self.boot = uuid.uuid4().hex[:8]
        self.changes = 0
        self.loop = asyncio.get_running_loop()
        self.dispatcher: WebhookDispatcher | None = None  # set by the app when webhooks are configured
        self.con.execute(MONITOR_DDL)
        # Brand mentions as analyze makes them: the --brands file (recorded in the store), else the
        # store's recorded brands; none: posts only.
        self.brands_given = settings.monitor_brands is not None
        self.mention_config = self.store.mention_config()
        if settings.monitor_brands is not None:
            from ..insights.brands import MentionConfig

            given = MentionConfig.from_file(settings.monitor_brands)
            if self.mention_config != given:
                self.store.set_mention_config(given)
            self.mention_config = given
        self._record_alerts(self.con, push=False)  # what is already there is not news
        self.con.execute("CHECKPOINT")

    # --- threads
    async def write(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(con, *args)`` in the writer thread (the only one that writes)."""
        loop = asyncio.get_running_loop()
        # Shielded: a request cancelled at its deadline must not leave a half-known commit behind.
        return await asyncio.shield(loop.run_in_executor(self._writer, fn, self.con, *args))

    async def read(self, fn: Callable[[View], T], since: datetime | None = None, until: datetime | None = None) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(View(self._cursor(), since, until)))

    def _cursor(self):
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self.con.cursor()
            self._local.cursor = cursor
            with self._cursor_lock:
                self._cursors.append(cursor)
        return cursor

    def close(self) -> None:
        self._readers.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True)
        for cursor in self._cursors:
            cursor.close()
        self.store.close()

    @property
    def version(self) -> str:
        """Changes with every commit that stored or updated posts (the dashboard polls it)."""
        return f"{self.boot}-{self.changes}"

    # --- ingest (writer thread)
    @staticmethod
    def existing(store, ids: list[str]) -> dict[str, dict]:
        """Stored rows of these post ids (``store``: anything with ``query``, e.g. a :class:`View`)."""
        rows = store.query(
            """SELECT post_id, brand, created_at, text, image, sentiment, p_negative, p_neutral, p_positive,
                      model_version FROM posts WHERE post_id IN (SELECT unnest(?))""",
            [ids],
        )
        return {row["post_id"]: row for row in rows}

    def commit(self, con, rows: list[dict], analyzer=None) -> tuple[dict[str, str], dict[str, list[dict]]]:
        """One transaction: upsert scored ``rows`` (:data:`ROW_COLUMNS`), score their brand mentions
        (``analyzer``'s targeted model, as ``analyze`` does) and record new alerts. Returns post id ->
        ``stored`` (new) | ``updated`` | ``unchanged``, and post id -> its mention rows."""
        import pyarrow as pa

        if not rows:
            return {}, {}
        with self.store.transaction():
            before = self.existing(View(con), [r["post_id"] for r in rows])
            status: dict[str, str] = {}
            write = []
            new_alerts = 0
            for row in rows:
                old = before.get(row["post_id"])
                if old is None:
                    status[row["post_id"]] = "stored"
                    write.append(row)
                elif same_post(old, row):
                    status[row["post_id"]] = "unchanged"
                else:
                    status[row["post_id"]] = "updated"
                    write.append(row)
            if write:
                table = pa.table({c: [r[c] for r in write] for c in ROW_COLUMNS}, schema=_arrow_schema())
                con.register("_monitor_in", table)
                try:
                    con.execute(_UPSERT)
                finally:
                    con.unregister("_monitor_in")
                self._score_mentions([r["post_id"] for r in write], rows[0]["model_version"], analyzer)
                new_alerts = self._record_alerts(con, push=True)
            mentions = self._mentions([r["post_id"] for r in rows])
        if write:
            self.changes += 1
            if new_alerts and self.dispatcher is not None:  # committed: the dispatcher's reads see them
                self.loop.call_soon_threadsafe(self.dispatcher.wake)
        return status, mentions

    def mentions_scored(self, analyzer) -> bool:
        """Whether ingest scores brand mentions with this model (a --brands file needs a targeted
        model: checked by the route; brands only recorded in the store are skipped without one)."""
        return self.mention_config is not None and getattr(analyzer, "target", None) is not None

    def _score_mentions(self, ids: list[str], version: str, analyzer) -> None:
        config = self.mention_config
        if analyzer is None or config is None or getattr(analyzer, "target", None) is None:
            return
        from ..insights.mentions import score_mentions

        stale = self.store.pending_mentions(config, version, post_ids=ids)
        if stale.num_rows:
            stale_ids = stale.column("post_id").to_pylist()
            found, _ = score_mentions(
                analyzer, stale, config, self.store.stored_mentions(stale_ids), scored_at=utc_now()
            )
            self.store.write_mentions(stale_ids, found, config, version)

    def _mentions(self, ids: list[str]) -> dict[str, list[dict]]:
        return self.mentions_of(View(self.con), ids)

    def mentions_of(self, store, ids: list[str]) -> dict[str, list[dict]]:
        """Post id -> its stored mention rows, by brand (none without brands)."""
        if self.mention_config is None or not ids:
            return {}
        out: dict[str, list[dict]] = {}
        for row in store.query(
            """SELECT post_id, brand, spans, sentiment, p_negative, p_neutral, p_positive FROM mentions
               WHERE post_id IN (SELECT unnest(?)) ORDER BY post_id, brand""",
            [ids],
        ):
            out.setdefault(row["post_id"], []).append(row)
        return out

    # --- alerts (writer thread, inside the caller's transaction)
    def current_alerts(self, store) -> list:
        from ..insights.aggregates import trends
        from ..insights.alerts import find_alerts

        stats = trends(store, self.settings.monitor_period, dense=True, unique_texts=False)
        return find_alerts(stats, self.alert_config)

    def _record_alerts(self, con, *, push: bool) -> int:
        """Alerts not seen before go into ``monitor_alerts`` (with their webhook deliveries when
        ``push``); returns how many were new."""
        from ..insights.alert_drivers import alert_drivers

        view = View(con)
        kind = self.settings.monitor_period
        alerts = self.current_alerts(view)
        if not alerts:
            return 0
        ids = [alert_id(a.brand, kind, a.period, a.metric) for a in alerts]
        known = {
            r["alert_id"]
            for r in view.query("SELECT alert_id FROM monitor_alerts WHERE alert_id IN (SELECT unnest(?))", [ids])
        }
        now = utc_now()
        new = 0
        for alert, key in zip(alerts, ids, strict=True):
            if key in known:
                continue
            new += 1
            payload = None
            if push:
                drivers = alert_drivers(view, alert.brand, alert.period, kind, window=self.alert_config.window)
                payload = json.dumps(alert_payload(alert, key, kind, drivers), default=plain)
            con.execute(
                "INSERT INTO monitor_alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [key, alert.brand, kind, alert.period, alert.metric, payload, push, now],
            )
            if push:
                for url in self.settings.webhook_urls:
                    con.execute(
                        "INSERT INTO monitor_deliveries (alert_id, url, next_at) VALUES (?, ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        [key, url, now],
                    )
            log.info("alert %s (%s)", key, "pushed" if push else "already in the store")
        return new


def alert_payload(alert, key: str, period_kind: str, drivers: dict) -> dict:
    """The JSON a webhook receives for one alert."""
    return {
        "alert_id": key,
        "brand": alert.brand,
        "period_kind": period_kind,
        "period": alert.period.isoformat(),
        "metric": alert.metric,
        "value": alert.value,
        "baseline": alert.baseline,
        "change": alert.change,
        "z": alert.z,
        "p": alert.p,
        "p_adjusted": alert.p_adjusted,
        "n": alert.n,
        "n_baseline": alert.n_baseline,
        "words": drivers["words"],
        "repeated_texts": drivers["repeated"],
        "unique_texts": drivers["unique_texts"],
        "examples": drivers["examples"],
        "dashboard": f"/dashboard#brand={_quote(alert.brand)}&period={alert.period.isoformat()}",
    }


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def same_post(old: dict, new: dict) -> bool:
    """A re-sent post that changes nothing stored (a missing created_at keeps the stored one)."""
    return (
        old["brand"] == new["brand"]
        and old["text"] == new["text"]
        and old["image"] == new["image"]
        and (new["created_at"] is None or old["created_at"] == new["created_at"])
        and old["model_version"] == new["model_version"]
        and old["sentiment"] is not None
    )


def _arrow_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("post_id", pa.string()),
            ("brand", pa.string()),
            ("created_at", pa.timestamp("us")),
            ("text", pa.string()),
            ("image", pa.string()),
            ("sentiment", pa.string()),
            ("p_negative", pa.float64()),
            ("p_neutral", pa.float64()),
            ("p_positive", pa.float64()),
            ("model_version", pa.string()),
            ("scored_at", pa.timestamp("us")),
        ]
    )


def image_key(value: str, data: bytes) -> str:
    """What the store's ``image`` column keeps for an ingested image: its URL, or the digest of
    inline bytes (so a re-sent post with the same picture is ``unchanged``)."""
    if re.match(r"^https?://", value.strip(), re.IGNORECASE):
        return value.strip()
    return "sha256:" + hashlib.sha256(data).hexdigest()
