"""What drives an alert: the words of its period (log-odds) and the texts repeated in it.

An alert says a brand's period moved against its baseline (:mod:`.alerts`); these say why, from
the store alone (no model passes, unlike :mod:`.drivers`):

- **words**: the weighted log-odds with an informative Dirichlet prior of :mod:`.terms` (Monroe,
  Colaresi & Quinn 2008), focal = the period's negative posts of the brand, contrast = the brand's
  posts of the trailing window (the alert's baseline), prior = both; words with z > ``min_z``;
- **repeated texts**: posts of the period grouped on their normalized text (a leading
  ``RT @user:``, links and @mentions dropped, case and spacing folded), so retweets and copy-paste
  campaigns count as one text; each with its copies and its share of the period's posts.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from .aggregates import PERIODS
from .terms import log_odds, tokenize

_RT = re.compile(r"^\s*rt\s+@\w+\s*:?\s*", re.IGNORECASE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")


def normalize_copy(text: str | None) -> str:
    """The text two copies of one post share.

    >>> normalize_copy("RT @Apple: Love the new  #iPhone http://t.co/abc")
    'love the new #iphone'
    >>> normalize_copy("love the new #iPhone http://t.co/xyz") == normalize_copy("RT @a: Love the new #iPhone")
    True
    """
    if not text:
        return ""
    text = _RT.sub("", text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    return _SPACE.sub(" ", text).strip(" .,:;!?-").lower()


def _period_rows(store, brand: str, period_kind: str, start: datetime, end: datetime) -> list[dict]:
    source = store.rows_sql() if hasattr(store, "rows_sql") else "posts"  # per mention where the store has them
    return store.query(
        f"""SELECT post_id, text, sentiment, p_negative, created_at,
                   CAST(date_trunc('{period_kind}', created_at) AS TIMESTAMP) AS period
            FROM {source} WHERE brand = ? AND sentiment IS NOT NULL AND created_at >= ? AND created_at < ?""",
        [brand, start, end],
    )


def negative_examples(rows: list[dict], k: int = 3) -> list[dict]:
    """The ``k`` most confidently negative posts of ``rows``, one per normalized text."""
    seen: set[str] = set()
    out = []
    for row in sorted(rows, key=lambda r: (-(r["p_negative"] or 0.0), r["post_id"])):
        key = normalize_copy(row["text"])
        if row["sentiment"] != "negative" or key in seen:
            continue
        seen.add(key)
        out.append({k: row[k] for k in ("post_id", "created_at", "text", "p_negative")})
        if len(out) == k:
            break
    return out


def repeated_texts(rows: list[dict], *, k: int = 3, min_copies: int = 2) -> list[dict]:
    """The ``k`` most repeated normalized texts of ``rows`` (at least ``min_copies`` each)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        key = normalize_copy(row["text"])
        if key:
            groups.setdefault(key, []).append(row)
    n = len(rows)
    top = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:k]
    out = []
    for key, members in top:
        if len(members) < min_copies:
            break
        sentiments = Counter(m["sentiment"] for m in members)
        out.append(
            {
                "text": min((m["text"] for m in members), key=len),
                "normalized": key,
                "copies": len(members),
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
        "unique_texts": len({normalize_copy(r["text"]) for r in current}),
        "examples": negative_examples(current, k_examples),
    }
