"""Volume, sentiment shares and net sentiment per brand and period, with 95% intervals.

Counts are of each post's predicted class (the argmax of its calibrated probabilities),
so shares read as "x% of posts were negative". Intervals (z = 1.96 for 95%):

- a share k/n: the Wilson score interval (Wilson 1927); it stays inside [0, 1] and keeps
  close to nominal coverage for small n and shares near 0 or 1, where the Wald one fails.
- net sentiment N = p+ - p- (in [-1, 1]): p+ and p- are two cells of ONE multinomial
  sample, so Var(p+ - p-) = (p+ + p- - (p+ - p-)^2) / n (the covariance -p+ p-/n is
  included). Estimated on add-one smoothed shares p~k = (xk + 1)/(n + 3), centred at
  p~+ - p~- with n + 3 in the denominator: the multinomial analogue of the Agresti-Caffo
  adjustment, so a period whose posts are all neutral (or all positive) still gets an
  interval of honest width instead of zero. Clipped to [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..labels import LABELS
from .copies import unique_texts_sql

Z95 = 1.959963984540054
PERIODS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n; (0, 1) when n = 0.

    >>> [round(x, 4) for x in wilson_interval(2, 10)]
    [0.0567, 0.5098]
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def net_variance(p_pos: float, p_neg: float, n: float) -> float:
    """Var of p+ - p- estimated from one multinomial sample of size n."""
    return (p_pos + p_neg - (p_pos - p_neg) ** 2) / n


def net_interval(n_pos: int, n_neg: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Interval of net sentiment (add-one smoothed multinomial Wald; see the module doc).

    >>> [round(x, 4) for x in net_interval(60, 20, 100)]
    [0.2332, 0.5435]
    """
    m = n + 3
    p_pos, p_neg = (n_pos + 1) / m, (n_neg + 1) / m
    centre = p_pos - p_neg
    half = z * math.sqrt(net_variance(p_pos, p_neg, m))
    return max(-1.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PeriodStats:
    """One brand in one period (``period`` is the period's start, UTC)."""

    brand: str
    period: datetime
    n: int
    n_negative: int
    n_neutral: int
    n_positive: int
    n_unique: int = 0  # distinct normalized texts (retweets and copies count once; copies.py)

    def share(self, label: str) -> float:
        return getattr(self, f"n_{label}") / self.n if self.n else 0.0

    def share_interval(self, label: str) -> tuple[float, float]:
        return wilson_interval(getattr(self, f"n_{label}"), self.n)

    @property
    def net(self) -> float:
        return (self.n_positive - self.n_negative) / self.n if self.n else 0.0

    @property
    def net_interval(self) -> tuple[float, float]:
        return net_interval(self.n_positive, self.n_negative, self.n)

    def to_row(self) -> dict:
        """A flat dict for tables/CSV: counts, shares with Wilson bounds, net with bounds."""
        row = {"brand": self.brand, "period": self.period, "n": self.n, "unique_texts": self.n_unique}
        for label in LABELS:
            lo, hi = self.share_interval(label)
            row.update({f"{label}": self.share(label), f"{label}_lo": lo, f"{label}_hi": hi})
        lo, hi = self.net_interval
        row.update({"net": self.net, "net_lo": lo, "net_hi": hi})
        return row


def _filters(brand: str | None, column: str, labelled_only: bool) -> tuple[str, list]:
    where, params = [f"{column} IS NOT NULL"], []
    if labelled_only:
        where.append("human_label IS NOT NULL AND sentiment IS NOT NULL")
    if brand is not None:
        where.append("brand = ?")
        params.append(brand)
    return " AND ".join(where), params


def trends(
    store,
    period: str = "day",
    brand: str | None = None,
    *,
    column: str = "sentiment",
    labelled_only: bool = False,
    dense: bool = False,
    unique_texts: bool = True,
) -> list[PeriodStats]:
    """Per brand and period counts, oldest first within each brand.

    ``column="human_label"`` counts the human labels instead of the predictions (for
    measuring); ``labelled_only`` keeps posts that have both. ``dense`` adds empty
    periods (n = 0) between a brand's first and last, as the alert baselines need.
    ``unique_texts=False`` skips counting distinct texts (``n_unique`` 0; cheaper, for alerts alone).
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; choose one of {list(PERIODS)}")
    if column not in ("sentiment", "human_label"):
        raise ValueError(f"column must be 'sentiment' or 'human_label', got {column!r}")
    where, params = _filters(brand, column, labelled_only)
    rows = store.query(
        f"""
        SELECT brand, CAST(date_trunc('{period}', created_at) AS TIMESTAMP) AS period, count(*) AS n,
               {unique_texts_sql() if unique_texts else "0"} AS n_unique,
               {", ".join(f"count(*) FILTER (WHERE {column} = '{label}') AS n_{label}" for label in LABELS)}
        FROM {store.rows_sql()} WHERE {where} AND created_at IS NOT NULL
        GROUP BY ALL ORDER BY brand, period""",
        params,
    )
    stats = [PeriodStats(**row) for row in rows]
    return _densify(stats, PERIODS[period]) if dense else stats


def _densify(stats: list[PeriodStats], step: timedelta) -> list[PeriodStats]:
    out: list[PeriodStats] = []
    for s in stats:
        if out and out[-1].brand == s.brand:
            t = out[-1].period + step
            while t < s.period:
                out.append(PeriodStats(s.brand, t, 0, 0, 0, 0))
                t += step
        out.append(s)
    return out


def summary(store, brand: str | None = None) -> list[dict]:
    """Per brand: posts, scored, errors, time span, shares, net sentiment with its interval,
    and the agreement of predictions with human labels where there are any."""
    where, params = ("WHERE brand = ?", [brand]) if brand is not None else ("", [])
    rows = store.query(
        f"""
        SELECT brand, count(*) AS posts, count(sentiment) AS scored, count(error) AS errors,
               min(created_at) AS first, max(created_at) AS last,
               {", ".join(f"count(*) FILTER (WHERE sentiment = '{label}') AS n_{label}" for label in LABELS)},
               count(*) FILTER (WHERE human_label IS NOT NULL AND sentiment IS NOT NULL) AS labelled,
               count(*) FILTER (WHERE human_label = sentiment) AS agree,
               string_agg(DISTINCT model_version, ' ') AS model_versions
        FROM {store.rows_sql()} {where} GROUP BY brand ORDER BY posts DESC, brand""",
        params,
    )
    out = []
    for row in rows:
        n = row["scored"]
        lo, hi = net_interval(row["n_positive"], row["n_negative"], n)
        out.append(
            {
                "brand": row["brand"],
                "posts": row["posts"],
                "scored": n,
                "errors": row["errors"],
                "first": row["first"],
                "last": row["last"],
                **{label: row[f"n_{label}"] / n if n else None for label in LABELS},
                "net": (row["n_positive"] - row["n_negative"]) / n if n else None,
                "net_lo": lo if n else None,
                "net_hi": hi if n else None,
                "labelled": row["labelled"],
                "accuracy": row["agree"] / row["labelled"] if row["labelled"] else None,
                "model": row["model_versions"],
            }
        )
    return out


def examples(store, brand: str | None = None, k: int = 3) -> list[dict]:
    """The ``k`` most confident posts of each brand and predicted sentiment."""
    where, params = ("AND brand = ?", [brand]) if brand is not None else ("", [])
    confidence = "CASE sentiment " + " ".join(f"WHEN '{label}' THEN p_{label}" for label in LABELS) + " END"
    return store.query(
        f"""
        SELECT brand, sentiment, {confidence} AS confidence, post_id, created_at, text
        FROM {store.rows_sql()} WHERE sentiment IS NOT NULL {where}
        QUALIFY row_number() OVER (PARTITION BY brand, sentiment ORDER BY {confidence} DESC, post_id) <= ?
        ORDER BY brand, sentiment, confidence DESC""",
        [*params, k],
    )


def brands(store) -> list[str]:
    return [row["brand"] for row in store.query(f"SELECT DISTINCT brand FROM {store.rows_sql()} ORDER BY brand")]
