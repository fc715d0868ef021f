"""Inline SVG charts for the report: plain strings, no JavaScript, every label escaped.

Inline ``<svg>`` in HTML5 needs no namespace attribute, so the report holds no URL at all.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime
from html import escape

from ..labels import LABELS
from .aggregates import PeriodStats

COLOURS = {
    "negative": "#d1495b",
    "neutral": "#9aa5b1",
    "positive": "#2e9e6a",
    "net": "#1f5fa8",
    "band": "#1f5fa8",
    "volume": "#d9dee4",
    "alert": "#d1495b",
    "axis": "#56616d",
    "grid": "#eceff2",
}


def period_label(t: datetime, period: str = "day") -> str:
    """A period's start as people read it: with the hour for hourly periods (midnight too)."""
    return t.strftime("%Y-%m-%d %H:00") if period == "hour" else t.strftime("%Y-%m-%d")


def net_chart(
    series: list[PeriodStats],
    alerts: Set[datetime] = frozenset(),
    *,
    period: str = "day",
    width: int = 960,
    height: int = 300,
) -> str:
    """Net sentiment per period (line) with its 95% interval (band); volume (bars) in a strip below.

    Periods without posts break the line; periods in ``alerts`` get a red ring.
    """
    if not series:
        return '<p class="muted">No dated posts for this brand.</p>'
    left, right, top, bottom = 48, 84, 14, 36
    plot_w = width - left - right
    net_h = (height - top - bottom) * 0.72  # the net panel; the volume strip takes the rest below a gap
    vol_top, vol_h = top + net_h + 14, (height - top - bottom) * 0.28 - 14
    lows, highs = zip(*(s.net_interval for s in series if s.n), strict=True)
    y_lo = max(-1.0, min(0.0, *lows) - 0.05)
    y_hi = min(1.0, max(0.0, *highs) + 0.05)
    v_max = max(s.n for s in series) or 1
    step = plot_w / len(series)

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    def y(v: float) -> float:
        return top + net_h * (y_hi - v) / (y_hi - y_lo)

    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="net sentiment over time">']
    for tick in _ticks(y_lo, y_hi):  # grid and left axis; the zero line dashed
        style = f'stroke="{COLOURS["axis"]}" stroke-dasharray="4 3"' if tick == 0 else f'stroke="{COLOURS["grid"]}"'
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" {style}/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">{tick:+.1f}</text>')
    for i, s in enumerate(series):  # volume strip, labelled on the right
        h = vol_h * s.n / v_max
        parts.append(
            f'<rect x="{x(i) - step * 0.35:.1f}" y="{vol_top + vol_h - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{COLOURS["volume"]}"><title>{escape(period_label(s.period, period))}: '
            f"{s.n} posts</title></rect>"
        )
    parts.append(
        f'<text x="{width - right + 6}" y="{vol_top + vol_h:.1f}" class="tick">0</text>'
        f'<text x="{width - right + 6}" y="{vol_top + 8:.1f}" class="tick">{v_max} posts</text>'
        f'<text x="{width - right + 6}" y="{y(0) + 4:.1f}" class="tick">net</text>'
    )
    for run in _runs(series):  # CI band and line, one piece per run of non-empty periods
        upper = " ".join(f"{x(i):.1f},{y(series[i].net_interval[1]):.1f}" for i in run)
        lower = " ".join(f"{x(i):.1f},{y(series[i].net_interval[0]):.1f}" for i in reversed(run))
        parts.append(f'<polygon points="{upper} {lower}" fill="{COLOURS["band"]}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{x(i):.1f},{y(series[i].net):.1f}" for i in run)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{COLOURS["net"]}" stroke-width="2"/>')
    for i, s in enumerate(series):
        if not s.n:
            continue
        lo, hi = s.net_interval
        tip = escape(f"{period_label(s.period, period)}: net {s.net:+.3f} [{lo:+.3f}, {hi:+.3f}], n={s.n}")
        ring = (
            f'<circle cx="{x(i):.1f}" cy="{y(s.net):.1f}" r="7" fill="none" stroke="{COLOURS["alert"]}" '
            f'stroke-width="2"/>'
            if s.period in alerts
            else ""
        )
        parts.append(
            f'{ring}<circle cx="{x(i):.1f}" cy="{y(s.net):.1f}" r="3" fill="{COLOURS["net"]}">'
            f"<title>{tip}</title></circle>"
        )
    every = max(1, len(series) // 8)
    for i in range(0, len(series), every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{vol_top + vol_h + 16:.1f}" text-anchor="middle" class="tick">'
            f"{escape(period_label(series[i].period, period))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def share_bars(rows: list[dict], *, width: int = 960, bar_h: int = 22) -> str:
    """100% stacked bars of negative / neutral / positive shares, one per brand."""
    rows = [r for r in rows if r.get("scored")]
    if not rows:
        return '<p class="muted">No scored posts.</p>'
    label_w, gap = 160, 8
    plot_w = width - label_w - 10
    height = len(rows) * (bar_h + gap) + 24
    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="sentiment shares per brand">']
    for j, row in enumerate(rows):
        y = j * (bar_h + gap)
        name = row["brand"] if len(row["brand"]) <= 22 else row["brand"][:21] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{escape(name)}</text>')
        x = float(label_w)
        for label in LABELS:
            w = plot_w * (row[label] or 0.0)
            tip = escape(f"{row['brand']}: {label} {100 * (row[label] or 0):.1f}% of {row['scored']} posts")
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLOURS[label]}">'
                f"<title>{tip}</title></rect>"
            )
            if w > 36:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + bar_h * 0.7:.1f}" text-anchor="middle" '
                    f'class="inbar">{100 * row[label]:.0f}%</text>'
                )
            x += w
    legend_y = height - 8
    for k, label in enumerate(LABELS):
        lx = label_w + k * 110
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="12" fill="{COLOURS[label]}"/>'
            f'<text x="{lx + 16}" y="{legend_y}">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _runs(series: list[PeriodStats]) -> list[list[int]]:
    runs: list[list[int]] = [[]]
    for i, s in enumerate(series):
        if s.n:
            runs[-1].append(i)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _ticks(lo: float, hi: float) -> list[float]:
    step = 0.1 if hi - lo <= 0.6 else 0.25 if hi - lo <= 1.2 else 0.5
    first = step * -(-lo // step)
    ticks, t = [], first
    while t <= hi + 1e-9:
        ticks.append(round(t, 6) + 0.0)
        t += step
    return ticks
