"""Alerts: a brand's period whose sentiment moved significantly against its trailing baseline.

For each brand and period t with at least ``min_volume`` posts, the baseline is the pooled
counts of the ``window`` periods before t (calendar periods; empty ones count as empty),
also needing ``min_volume`` posts. Two one-sided tests, each asking "worse than usual?":

- negative share: two-proportion z-test with the pooled share under H0,
  z = (p_t - p_b) / sqrt(p (1 - p) (1/n_t + 1/n_b));  alert side: z > 0.
- net sentiment N = p+ - p-: a difference of two independent samples' N; under H0 both
  share the pooled multinomial shares, so Var = v (1/n_t + 1/n_b) with
  v = p+ + p- - (p+ - p-)^2 (see ``aggregates.net_variance``);  alert side: z < 0.

p-values come from the normal tail. All tests (brands x periods x the two metrics) are
then corrected together: Benjamini-Hochberg (false discovery rate ``alpha``, the default),
Bonferroni (family-wise error rate), or none. An alert is a test whose adjusted p <= alpha.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import groupby

from .aggregates import PeriodStats, net_variance

CORRECTIONS = ("bh", "bonferroni", "none")
METRICS = ("negative_share", "net_sentiment")


@dataclass(frozen=True)
class AlertConfig:
    window: int = 7  # trailing periods pooled into the baseline
    min_volume: int = 30  # posts needed in the period and in the baseline
    alpha: float = 0.05
    correction: str = "bh"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1 period, got {self.window}")
        if self.min_volume < 1:
            raise ValueError(f"min_volume must be >= 1, got {self.min_volume}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"unknown correction {self.correction!r}; choose one of {CORRECTIONS}")


@dataclass(frozen=True)
class Alert:
    brand: str
    period: datetime
    metric: str  # negative_share | net_sentiment
    value: float  # this period's
    baseline: float  # the trailing window's
    change: float  # value - baseline (positive = more negative / negative = less net)
    z: float
    p: float  # one-sided
    p_adjusted: float
    n: int
    n_baseline: int

    def to_row(self) -> dict:
        return asdict(self)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def negative_share_test(n_neg_t: int, n_t: int, n_neg_b: int, n_b: int) -> tuple[float, float] | None:
    """(z, one-sided p for "share went up"); None when the pooled share is 0 or 1."""
    pooled = (n_neg_t + n_neg_b) / (n_t + n_b)
    var = pooled * (1 - pooled) * (1 / n_t + 1 / n_b)
    if var <= 0:
        return None
    z = (n_neg_t / n_t - n_neg_b / n_b) / math.sqrt(var)
    return z, normal_sf(z)


def net_sentiment_test(
    pos_t: int, neg_t: int, n_t: int, pos_b: int, neg_b: int, n_b: int
) -> tuple[float, float] | None:
    """(z, one-sided p for "net went down"); None when there is no variance (all neutral)."""
    n = n_t + n_b
    var = net_variance((pos_t + pos_b) / n, (neg_t + neg_b) / n, 1.0) * (1 / n_t + 1 / n_b)
    if var <= 0:
        return None
    z = ((pos_t - neg_t) / n_t - (pos_b - neg_b) / n_b) / math.sqrt(var)
    return z, normal_sf(-z)


def adjust(pvalues: list[float], method: str) -> list[float]:
    """Multiple-testing adjusted p-values (Benjamini-Hochberg step-up, Bonferroni, none)."""
    m = len(pvalues)
    if method == "none" or m == 0:
        return list(pvalues)
    if method == "bonferroni":
        return [min(1.0, p * m) for p in pvalues]
    order = sorted(range(m), key=pvalues.__getitem__)
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down: q_(i) = min_{j>=i} p_(j) m / j
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = running
    return adjusted


def find_alerts(stats: list[PeriodStats], config: AlertConfig = AlertConfig()) -> list[Alert]:
    """Alerts over dense per-brand series (``aggregates.trends(..., dense=True)``), newest first."""
    candidates: list[dict] = []
    for brand, group in groupby(stats, key=lambda s: s.brand):
        series = list(group)
        for t in range(config.window, len(series)):
            cur = series[t]
            window = series[t - config.window : t]
            n_b = sum(s.n for s in window)
            if cur.n < config.min_volume or n_b < config.min_volume:
                continue
            neg_b, pos_b = sum(s.n_negative for s in window), sum(s.n_positive for s in window)
            tests = {
                "negative_share": (
                    negative_share_test(cur.n_negative, cur.n, neg_b, n_b),
                    cur.n_negative / cur.n,
                    neg_b / n_b,
                ),
                "net_sentiment": (
                    net_sentiment_test(cur.n_positive, cur.n_negative, cur.n, pos_b, neg_b, n_b),
                    cur.net,
                    (pos_b - neg_b) / n_b,
                ),
            }
            for metric, (result, value, baseline) in tests.items():
                if result is not None:
                    candidates.append(
                        {
                            "brand": brand,
                            "period": cur.period,
                            "metric": metric,
                            "value": value,
                            "baseline": baseline,
                            "change": value - baseline,
                            "z": result[0],
                            "p": result[1],
                            "n": cur.n,
                            "n_baseline": n_b,
                        }
                    )
    adjusted = adjust([c["p"] for c in candidates], config.correction)
    alerts = [Alert(**c, p_adjusted=q) for c, q in zip(candidates, adjusted, strict=True) if q <= config.alpha]
    return sorted(alerts, key=lambda a: (a.period, a.brand, a.metric), reverse=True)
