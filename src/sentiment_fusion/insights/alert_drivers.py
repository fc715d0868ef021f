"""What drives an alert: the words of its period (log-odds) and the texts repeated in it.

An alert says a brand's period moved against its baseline (:mod:`.alerts`); these say why, from
the store alone (no model passes, unlike :mod:`.drivers`):

- **words**: the weighted log-odds with an informative Dirichlet prior of :mod:`.terms` (Monroe,
  Colaresi & Quinn 2008), focal = the period's negative posts of the brand, contrast = the brand's
  posts of the trailing window (the alert's baseline), prior = both; words with z > ``min_z``;
- **repeated texts**: posts of the period grouped on their normalized text (:mod:`.copies`: a
  leading ``RT @user:``, links and @mentions dropped, case and spacing folded), so retweets and
  copy-paste campaigns count as one text; each with its posts, how many are retweets, and its
  share of the period's posts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from .aggregates import PERIODS
from .copies import copy_key_sql, retweet_sql
from .terms import log_odds, tokenize


def _period_rows(store, brand: str, period_kind: str, start: datetime, end: datetime) -> list[dict]:
    source = store.rows_sql() if hasattr(store, "rows_sql") else "posts"  # per mention where the store has them
    return store.query(
        f"""SELECT post_id, text, sentiment, p_negative, created_at, {copy_key_sql()} AS copy_key,
                   {retweet_sql()} AS retweet, CAST(date_trunc('{period_kind}', created_at) AS TIMESTAMP) AS period
            FROM {source} WHERE brand = ? AND sentiment IS NOT NULL AND created_at >= ? AND created_at < ?""",
        [brand, start, end],
    )


def negative_examples(rows: list[dict], k: int = 3) -> list[dict]:
    """The ``k`` most confidently negative posts of ``rows``, one per normalized text."""
    seen: set[str] = set()
    out = []
    for row in sorted(rows, key=lambda r: (-(r["p_negative"] or 0.0), r["post_id"])):
        key = row["copy_key"]
        if row["sentiment"] != "negative" or key in seen:
            continue
        seen.add(key)
        out.append({k: row[k] for k in ("post_id", "created_at", "text", "p_negative")})
        if len(out) == k:
            break
    return out


def repeated_texts(rows: list[dict], *, k: int = 3, min_posts: int = 2) -> list[dict]:
    """The ``k`` most repeated normalized texts of ``rows`` (each in ``min_posts`` posts or more):
    ``posts`` with that text, how many of them are ``retweets``, their ``share`` of ``rows``."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["copy_key"]:
            groups.setdefault(row["copy_key"], []).append(row)
    n = len(rows)
    top = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:k]
    out = []
    for key, members in top:
        if len(members) < min_posts:
            break
        sentiments = Counter(m["sentiment"] for m in members)
        original = [m for m in members if not m["retweet"]]
        out.append(
            {
                "text": min((m["text"] for m in original or members), key=len),
                "normalized": key,
                "posts": len(members),
                "retweets": sum(1 for m in members if m["retweet"]),
                "share": len(members) / n if n else 0.0,
                "sentiment": sentiments.most_common(1)[0][0],
                "example_id": min(m["post_id"] for m in members),
            }
        )
    return out


def alert_drivers(
    store,
    brand: str,
    period: datetime,
    period_kind: str = "day",
    *,
    window: int = 7,
    k_words: int = 5,
    k_texts: int = 3,
    k_examples: int = 3,
    min_count: int = 3,
    min_z: float = 1.96,
) -> dict:
    """``{"words": [{"term", "zeta", "count"}], "repeated": [...], "unique_texts": n, "examples": [...]}``
    of one brand's period (``period`` = its start, as :class:`.alerts.Alert` has it)."""
    step = PERIODS[period_kind]
    rows = _period_rows(store, brand, period_kind, period - window * step, period + step)
    current = [r for r in rows if r["period"] == period]
    baseline = [r for r in rows if r["period"] != period]
    focal: Counter = Counter()
    for row in current:
        if row["sentiment"] == "negative":
            focal.update(tokenize(row["text"]))
    contrast: Counter = Counter()
    for row in baseline:
        contrast.update(tokenize(row["text"]))
    prior = focal + contrast
    words = [
        {"term": t.term, "zeta": t.zeta, "count": t.count}
        for t in log_odds(focal, contrast, prior, min_count=min_count)
        if t.zeta > min_z and t.count > 0
    ][:k_words]
    return {
        "words": words,
        "repeated": repeated_texts(current, k=k_texts),
        "unique_texts": len({r["copy_key"] for r in current if r["copy_key"]}),
        "examples": negative_examples(current, k_examples),
    }
