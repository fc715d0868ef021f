"""One self-contained HTML report: opens offline, loads nothing, runs no script.

Everything is inline (CSS in ``<style>``, charts as ``<svg>``); a Content-Security-Policy
``default-src 'none'`` makes the browser refuse any request the page might still try.
Every piece of post text, brand name and term is HTML-escaped, so a post reading
``<script>`` shows as text.

>>> with PostStore("brands.duckdb", read_only=True) as store:  # doctest: +SKIP
...     write_report(store, "report.html", period="day")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Set
from datetime import datetime
from html import escape
from itertools import groupby
from pathlib import Path
from string import Template

from .. import __version__
from ..labels import LABELS
from .aggregates import PERIODS, examples, summary, trends
from .alert_drivers import alert_drivers
from .alerts import AlertConfig, find_alerts
from .drivers import MAX_POSTS_PER_ALERT, alert_words, influential_words
from .svg import COLOURS, net_chart, period_label, share_bars
from .terms import top_terms

# CSS is all braces, so the colours go in as $placeholders (string.Template), not with str.format.
CSS = Template("""
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #dde2e7;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}.muted{color:#66717d}
.card{background:#fff;border:1px solid #e1e5ea;border-radius:8px;padding:14px 16px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:4px 8px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.negative{color:$negative}.positive{color:$positive}.neutral{color:#56616d}
.post{border-left:4px solid #ccc;padding:4px 10px;margin:6px 0;background:#fafbfc;
  white-space:pre-wrap;overflow-wrap:anywhere}
.post-negative{border-color:$negative}.post-positive{border-color:$positive}.post-neutral{border-color:$neutral}
.post small{display:block;color:#66717d}svg text{font:12px system-ui,sans-serif;fill:#1d2733}
svg .tick{fill:#56616d;font-size:11px}svg .inbar{fill:#fff;font-weight:600}.alert{color:$negative;font-weight:600}
.post mark{background:#fde68a;border-radius:3px;padding:0 2px}
.driver{background:#fde2e2;border-radius:3px;padding:0 3px}
""").substitute(COLOURS)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"


def _num(value, fmt: str = "{:.3f}") -> str:
    return "" if value is None else escape(fmt.format(value))


def _table(headers: list[str], rows: list[list[str]], numeric: Set[int] = frozenset()) -> str:
    """``rows`` hold already-escaped HTML cells."""
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i in numeric else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary_section(rows: list[dict]) -> str:
    labelled = any(r["labelled"] for r in rows)
    headers = ["brand", "posts", "scored", "errors", "negative", "neutral", "positive", "net [95% CI]", "period"]
    headers += ["agreement with human labels"] if labelled else []
    cells = []
    for r in rows:
        span = f"{r['first']:%Y-%m-%d} – {r['last']:%Y-%m-%d}" if r["first"] else ""
        net = f"{r['net']:+.3f} [{r['net_lo']:+.3f}, {r['net_hi']:+.3f}]" if r["net"] is not None else ""
        line = [
            escape(r["brand"]),
            str(r["posts"]),
            str(r["scored"]),
            str(r["errors"]),
            *(_num(r[label], "{:.1%}") for label in LABELS),
            escape(net),
            escape(span),
        ]
        if labelled:
            line.append(escape(f"{r['accuracy']:.1%} of {r['labelled']}") if r["accuracy"] is not None else "")
        cells.append(line)
    return _table(headers, cells, numeric={1, 2, 3, 4, 5, 6})


def _alerts_table(alerts: list, period: str, drivers: dict | None = None, repeats: dict | None = None) -> str:
    if not alerts:
        return '<p class="muted">No alerts: no period moved significantly against its baseline.</p>'
    rows = [
        [
            escape(a.brand),
            escape(period_label(a.period, period)),
            escape(a.metric.replace("_", " ")),
            _num(a.value, "{:+.3f}"),
            _num(a.baseline, "{:+.3f}"),
            f'<span class="alert">{_num(a.change, "{:+.3f}")}</span>',
            _num(a.z, "{:+.2f}"),
            _num(a.p_adjusted, "{:.2g}"),
            str(a.n),
            str(a.n_baseline),
        ]
        for a in alerts
    ]
    headers = ["brand", "period", "metric", "value", "baseline", "change", "z", "adj. p", "n", "n baseline"]
    if drivers is not None:
        headers.append("driven by")
        for row, a in zip(rows, alerts, strict=True):
            words = drivers.get((a.brand, a.period), [])
            row.append(", ".join(f'<span class="driver">{escape(w)}</span>' for w, _ in words) or "–")
    if repeats is not None:  # the period's most repeated text (retweets and copies: alert_drivers.py)
        headers.append("most repeated text")
        for row, a in zip(rows, alerts, strict=True):
            top = repeats.get((a.brand, a.period))
            row.append(
                f'<span class="repeated">{top["posts"]} posts ({top["retweets"]} retweets), {top["share"]:.0%} of the '
                f"period: “{escape(top['text'])}”</span>"
                if top
                else "–"
            )
    return _table(headers, rows, numeric={3, 4, 5, 6, 7, 8, 9})


def _terms_block(terms: list[dict]) -> str:
    blocks = []
    for side in ("negative", "positive"):
        rows = [
            [escape(t["term"]), _num(t["zeta"], "{:.2f}"), str(t["count"])] for t in terms if t["sentiment"] == side
        ]
        body = (
            _table(["term", "z", "count"], rows, numeric={1, 2})
            if rows
            else '<p class="muted">No distinctive terms (z > 1.96).</p>'
        )
        blocks.append(f'<div><h3 class="{side}">Most {side}</h3>{body}</div>')
    return f'<div class="cols">{"".join(blocks)}</div>'


def _highlighted(text: str, words: list) -> str:
    """``text`` escaped, with ``words`` (explain.Word, in text order) in <mark>."""
    out, pos = [], 0
    for word in words:
        out.append(f"{escape(text[pos : word.start])}<mark>{escape(text[word.start : word.end])}</mark>")
        pos = word.end
    return "".join(out) + escape(text[pos:])


def _examples_block(rows: list[dict], words: dict) -> str:
    if not rows:
        return ""
    out = []
    for row in rows:
        when = f"{row['created_at']:%Y-%m-%d %H:%M}" if row["created_at"] else "no date"
        text = _highlighted(row["text"] or "", words.get(row["post_id"], []))
        out.append(
            f'<div class="post post-{escape(row["sentiment"])}">{text}'
            f"<small>{escape(row['sentiment'])} {row['confidence']:.2f} · {escape(when)} · "
            f"id {escape(str(row['post_id']))}</small></div>"
        )
    note = '<p class="muted">Marked: the words that pushed each post hardest toward its verdict.</p>' if words else ""
    return "<h3>Example posts (most confident)</h3>" + note + "".join(out)


MAX_CHART_PERIODS = 400  # per brand chart; more bars than pixels help no one


def render_report(
    store,
    *,
    period: str = "day",
    brand: str | None = None,
    config: AlertConfig = AlertConfig(),
    max_brands: int = 20,
    k_terms: int = 10,
    k_examples: int = 2,
    title: str = "Brand sentiment",
    analyzer=None,
) -> str:
    """The report as one HTML string (the ``max_brands`` brands with most posts get a section). With
    the ``analyzer`` that scored the store, example posts mark their most influential words and
    each alert lists the words that drove it (:mod:`.drivers`)."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; choose one of {list(PERIODS)}")
    overview = summary(store, brand)
    shown = [r["brand"] for r in overview[:max_brands]]
    series = {b: list(g) for b, g in groupby(trends(store, period, brand, dense=True), key=lambda s: s.brand)}
    alerts = find_alerts([s for b in sorted(series) for s in series[b]], config)
    # A stray old timestamp would stretch a chart over years of empty periods: chart the latest ones.
    clipped = {b for b, s in series.items() if len(s) > MAX_CHART_PERIODS}
    series = {b: s[-MAX_CHART_PERIODS:] for b, s in series.items()}
    terms = top_terms(store, brand, k=k_terms)
    samples = examples(store, brand, k=k_examples)
    words, drivers = {}, None
    if analyzer is not None and "text" in analyzer.modalities:
        words = {row["post_id"]: influential_words(analyzer, row["text"], row["sentiment"]) for row in samples}
        drivers = {(a.brand, a.period): alert_words(analyzer, store, a, period) for a in alerts}
    repeats = {
        (a.brand, a.period): next(
            iter(alert_drivers(store, a.brand, a.period, period, window=config.window, k_texts=1)["repeated"]), None
        )
        for a in alerts
    }
    models = sorted({m for r in overview for m in (r["model"] or "").split()})
    total = sum(r["posts"] for r in overview)
    per_mention = store.rows_sql() != "posts"  # brand mentions: a post naming two brands counts for each
    counted = "brand mentions (each post that names a brand, once per brand it names)" if per_mention else "posts"
    sections = []
    for name in shown:
        brand_alerts = [a for a in alerts if a.brand == name]
        note = (
            f'<p class="muted">The chart shows the latest {MAX_CHART_PERIODS} {escape(period)}s; this brand '
            f"has posts from earlier.</p>"
            if name in clipped
            else ""
        )
        sections.append(
            f'<section class="card"><h2>{escape(name)}</h2>'
            f"<h3>Net sentiment per {escape(period)} (positive share − negative share; band: 95% CI; bars: volume)</h3>"
            f"{net_chart(series.get(name, []), {a.period for a in brand_alerts}, period=period)}{note}"
            f"<h3>Alerts</h3>{_alerts_table(brand_alerts, period, drivers, repeats)}"
            f"{_terms_block([t for t in terms if t['brand'] == name])}"
            f"{_examples_block([e for e in samples if e['brand'] == name], words)}</section>"
        )
    hidden = len(overview) - len(shown)
    why_note = (
        "<p>Marked words and \"driven by\": the model's explanations of the post texts (a word's weight is "
        "how much deleting it lowers the probability of the verdict); an alert's words add up the weights "
        f"toward negative over the period's {MAX_POSTS_PER_ALERT} most negative posts.</p>"
        if drivers is not None
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="muted">{total} {counted} · {len(overview)} brand(s) · model {escape(", ".join(models) or "none")} ·
generated {datetime.now():%Y-%m-%d %H:%M} by sentiment-fusion {escape(__version__)}</p>
<h2>Overview</h2><div class="card">{_summary_section(overview)}{share_bars(overview[:max_brands])}</div>
<h2>Alerts</h2><div class="card">{_alerts_table(alerts, period, drivers, repeats)}</div>
{"".join(sections)}
{
        f'<p class="muted">{hidden} smaller brand(s) not shown here; `sentiment-fusion insights trends --brand NAME` '
        f"prints any one of them.</p>"
        if hidden > 0
        else ""
    }
<h2>Methods</h2><div class="card muted">
<p>Counts are of predicted classes. Shares: Wilson score 95% intervals. Net sentiment = positive share −
negative share; its 95% interval uses the variance of a difference of two multinomial proportions from one
sample, (p₊ + p₋ − (p₊ − p₋)²)/n, on add-one smoothed shares.</p>
<p>Alerts: each {escape(period)} with ≥ {config.min_volume} posts against the pooled previous {config.window}
{escape(period)}s: one-sided two-proportion z-test of the negative share (up) and z-test of the difference in net
sentiment (down), corrected across all brands, periods and both metrics ({escape(config.correction)},
α = {config.alpha}).</p>
<p>Terms: weighted log-odds ratios with an informative Dirichlet prior (Monroe, Colaresi &amp; Quinn 2008) of a
brand's negative (positive) posts against its other posts, prior = all posts; ranked by z-score;
z &gt; 1.96 shown.</p>{why_note}</div>
</main></body></html>
"""


def check_report_path(path: str | Path, keep: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any work, a report path that would overwrite ``keep`` (the store, the
    inputs) or is not an ``.html`` file, or whose folder cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the report is an HTML file: name it *.html, got {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the report a file name")
    target = path.resolve()
    for other in map(Path, keep):
        if other.resolve() == target or (path.exists() and other.exists() and os.path.samefile(other, path)):
            raise ValueError(f"the report path {path} is also the store or an input; choose another file")
    nearest = next(p for p in (target.parent, *target.parents) if p.exists())  # the folder, or where to create it
    if not nearest.is_dir():
        raise ValueError(f"cannot write the report {path}: {nearest} is a file, not a folder")
    if not os.access(nearest, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionError(f"cannot write the report {path}: {nearest} is not writable")
    return path


def write_report(store, path: str | Path, **options) -> Path:
    """Render and write the report; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(store, **options), encoding="utf-8")
    return path
