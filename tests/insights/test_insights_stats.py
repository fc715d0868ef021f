"""Aggregates and their intervals, alerts, and log-odds terms on small known inputs."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")
import pyarrow as pa

from sentiment_fusion.insights import aggregates
from sentiment_fusion.insights.aggregates import PeriodStats, net_interval, net_variance, wilson_interval
from sentiment_fusion.insights.alerts import AlertConfig, adjust, find_alerts, negative_share_test, net_sentiment_test
from sentiment_fusion.insights.readers import POST_SCHEMA
from sentiment_fusion.insights.store import PostStore
from sentiment_fusion.insights.terms import log_odds, tokenize, top_terms

DAY = datetime(2024, 3, 1)
PROBS = {"negative": (0.8, 0.1, 0.1), "neutral": (0.1, 0.8, 0.1), "positive": (0.1, 0.1, 0.8)}


def make_store(path, posts) -> PostStore:
    """posts: (post_id, brand, created_at, sentiment, text[, human_label, confidence])."""
    store = PostStore(path)
    fields = ("post_id", "brand", "created_at", "sentiment", "text", "human_label", "conf")
    rows = [dict(zip(fields, p, strict=False)) for p in posts]  # the last two fields are optional
    store.ingest([pa.table({k: [r.get(k) for r in rows] for k in POST_SCHEMA.names}, schema=POST_SCHEMA)])
    scores = {"post_id": [], "sentiment": [], "p_negative": [], "p_neutral": [], "p_positive": [], "error": []}
    for r in rows:
        probs = list(PROBS[r["sentiment"]])
        if r.get("conf"):
            probs = [r["conf"] if label == r["sentiment"] else (1 - r["conf"]) / 2 for label in PROBS]
        for key, value in zip(("p_negative", "p_neutral", "p_positive"), probs, strict=True):
            scores[key].append(value)
        scores["post_id"].append(r["post_id"]), scores["sentiment"].append(r["sentiment"]), scores["error"].append(None)
    store.write_scores(pa.table(scores), "test@1")
    return store


def test_wilson_interval_known_values():
    assert [round(x, 4) for x in wilson_interval(2, 10)] == [0.0567, 0.5098]
    assert [round(x, 4) for x in wilson_interval(0, 10)] == [0.0, 0.2775]
    assert [round(x, 4) for x in wilson_interval(10, 10)] == [0.7225, 1.0]
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_net_interval_known_value_and_variance_formula():
    # add-one: p+ = 61/103, p- = 21/103; Var = (p+ + p- - (p+ - p-)^2) / 103
    assert [round(x, 4) for x in net_interval(60, 20, 100)] == [0.2332, 0.5435]
    rng = np.random.default_rng(0)
    draws = rng.multinomial(50, [0.3, 0.5, 0.2], size=200_000) / 50
    empirical = np.var(draws[:, 2] - draws[:, 0])
    assert net_variance(0.2, 0.3, 50) == pytest.approx(empirical, rel=0.02)
    assert net_interval(0, 0, 20)[0] < 0 < net_interval(0, 0, 20)[1]  # all neutral: not a zero-width interval


def test_net_interval_coverage_is_near_95_percent():
    rng = np.random.default_rng(1)
    for n, p in ((40, (0.3, 0.5, 0.2)), (200, (0.1, 0.3, 0.6))):
        truth = p[2] - p[0]
        counts = rng.multinomial(n, p, size=4000)
        hits = sum(lo <= truth <= hi for lo, hi in (net_interval(c[2], c[0], n) for c in counts))
        assert 0.93 <= hits / 4000 <= 0.975


def test_trends_summary_and_examples_from_a_store(tmp_path):
    posts = [
        ("a1", "A", DAY, "positive", "good"),
        ("a2", "A", DAY, "positive", "nice"),
        ("a3", "A", DAY + timedelta(hours=5), "positive", "great", "positive", 0.95),
        ("a4", "A", DAY, "negative", "bad", "positive"),
        ("a5", "A", DAY + timedelta(days=2), "neutral", "ok"),
        ("a6", "A", DAY + timedelta(days=2), "neutral", "so so", "neutral"),
        ("a7", "A", None, "negative", "no time"),
        ("b1", "B", DAY, "negative", "awful"),
    ]
    with make_store(tmp_path / "s.duckdb", posts) as store:
        stats = aggregates.trends(store, "day")
        assert [(s.brand, s.period, s.n, s.n_negative, s.n_neutral, s.n_positive) for s in stats] == [
            ("A", DAY, 4, 1, 0, 3),
            ("A", DAY + timedelta(days=2), 2, 0, 2, 0),
            ("B", DAY, 1, 1, 0, 0),
        ]
        first = stats[0]
        assert first.net == 0.5 and first.share("positive") == 0.75
        assert first.net_interval == net_interval(3, 1, 4) and first.share_interval("negative") == wilson_interval(1, 4)
        dense = aggregates.trends(store, "day", "A", dense=True)
        assert [(s.period.day, s.n) for s in dense] == [(1, 4), (2, 0), (3, 2)]
        assert [s.n for s in aggregates.trends(store, "hour", "A")] == [3, 1, 2]
        assert [s.n for s in aggregates.trends(store, "week")] == [6, 1]
        human = aggregates.trends(store, "day", "A", column="human_label", labelled_only=True)
        assert [(s.n, s.n_positive, s.n_neutral) for s in human] == [(2, 2, 0), (1, 0, 1)]
        summary = {r["brand"]: r for r in aggregates.summary(store)}
        a = summary["A"]
        assert (a["posts"], a["scored"], a["errors"], a["labelled"]) == (7, 7, 0, 3)
        assert a["negative"] == pytest.approx(2 / 7) and a["net"] == pytest.approx(1 / 7)
        assert a["accuracy"] == pytest.approx(2 / 3)
        top = aggregates.examples(store, "A", k=1)
        assert [(e["sentiment"], e["post_id"]) for e in top] == [
            ("negative", "a4"),
            ("neutral", "a5"),
            ("positive", "a3"),
        ]
        assert aggregates.brands(store) == ["A", "B"]
        with pytest.raises(ValueError, match="unknown period"):
            aggregates.trends(store, "month")


def test_two_proportion_and_net_tests_known_values():
    z, p = negative_share_test(30, 100, 20, 100)
    assert z == pytest.approx(1.63299, abs=1e-4) and p == pytest.approx(0.05125, abs=1e-4)
    z, p = net_sentiment_test(20, 30, 100, 30, 20, 100)  # net -0.1 vs +0.1
    pooled_var = (0.25 + 0.25 - 0.0) * (2 / 100)
    assert z == pytest.approx(-0.2 / math.sqrt(pooled_var)) and p < 0.05
    assert negative_share_test(0, 50, 0, 300) is None


def test_benjamini_hochberg_and_bonferroni():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust(p, "none") == p


def series(rng, brand: str, days: int, n: int, probs, shift: dict[int, tuple] | None = None) -> list[PeriodStats]:
    shift = shift or {}
    out = []
    for d in range(days):
        neg, neu, pos = rng.multinomial(n, shift.get(d, probs))
        out.append(PeriodStats(brand, DAY + timedelta(days=d), n, int(neg), int(neu), int(pos)))
    return out


def test_alert_fires_on_a_shift_and_only_there():
    rng = np.random.default_rng(7)
    stats = series(rng, "acme", 30, 200, (0.2, 0.5, 0.3), shift={24: (0.45, 0.4, 0.15)})
    stats += series(rng, "other", 30, 200, (0.2, 0.5, 0.3))
    shifted = {
        ("acme", DAY + timedelta(days=24), "negative_share"),
        ("acme", DAY + timedelta(days=24), "net_sentiment"),
    }
    # Bonferroni bounds the chance of ANY false alarm: exactly the shifted day fires.
    alerts = find_alerts(stats, AlertConfig(window=7, min_volume=30, correction="bonferroni"))
    assert {(a.brand, a.period, a.metric) for a in alerts} == shifted
    # BH (the default) bounds the false share among alerts; the shift is still the strongest.
    bh = sorted(find_alerts(stats, AlertConfig(window=7, min_volume=30)), key=lambda a: a.p)
    assert {(a.brand, a.period, a.metric) for a in bh[:2]} == shifted and len(bh) <= 3
    share = next(a for a in alerts if a.metric == "negative_share")
    assert share.change > 0.15 and share.z > 4 and share.n_baseline == 7 * 200


def test_no_alerts_on_noise_and_none_below_min_volume():
    rng = np.random.default_rng(11)
    runs_with_alerts = 0
    for _ in range(40):
        stats = series(rng, "a", 40, 150, (0.25, 0.45, 0.3)) + series(rng, "b", 40, 60, (0.1, 0.6, 0.3))
        runs_with_alerts += bool(find_alerts(stats))
    assert runs_with_alerts <= 5  # BH at 5% under the global null: about 2 of 40 expected
    quiet = series(rng, "small", 20, 10, (0.2, 0.5, 0.3), shift={15: (0.9, 0.1, 0.0)})
    assert find_alerts(quiet, AlertConfig(min_volume=30)) == []
    assert find_alerts(quiet, AlertConfig(min_volume=5))  # with enough volume allowed, the jump is caught
    with pytest.raises(ValueError, match="correction"):
        AlertConfig(correction="holm")


def test_log_odds_hand_computed_value_and_symmetry():
    focal, contrast = Counter(a=3, b=1), Counter(a=1, b=3)
    terms = {t.term: t for t in log_odds(focal, contrast, focal + contrast, min_count=1)}
    # delta_a = log(7/5) - log(5/7); var = 1/7 + 1/5
    assert terms["a"].delta == pytest.approx(2 * math.log(1.4))
    assert terms["a"].zeta == pytest.approx(2 * math.log(1.4) / math.sqrt(1 / 7 + 1 / 5))
    assert terms["b"].zeta == pytest.approx(-terms["a"].zeta)
    assert log_odds(focal, contrast, focal + contrast, min_count=5) == []


def test_tokenize_drops_mentions_links_stopwords_and_keeps_hashtags():
    assert tokenize("RT @Apple: my #iPhone6 battery is DEAD!!! http://t.co/abc &amp; $AAPL 2014") == [
        "#iphone6",
        "battery",
        "dead",
        "$aapl",
    ]
    assert tokenize(None) == [] and tokenize("") == []


def test_top_terms_find_the_words_of_negative_and_positive_posts(tmp_path):
    posts = []
    for i in range(12):
        posts.append((f"n{i}", "acme", DAY, "negative", f"the screen cracked, broken #fail day {i}"))
        posts.append((f"p{i}", "acme", DAY, "positive", f"love the camera, beautiful photos day {i}"))
        posts.append((f"u{i}", "acme", DAY, "neutral", f"camera and screen specs listed day {i}"))
        posts.append((f"o{i}", "other", DAY, "negative", f"@acme is slow today {i}"))
    with make_store(tmp_path / "s.duckdb", posts) as store:
        rows = top_terms(store, "acme", k=3)
    negative = [r["term"] for r in rows if r["sentiment"] == "negative"]
    positive = [r["term"] for r in rows if r["sentiment"] == "positive"]
    assert set(negative) == {"cracked", "broken", "#fail"}  # not "screen", which neutral posts share
    assert set(positive) == {"love", "beautiful", "photos"}
    assert all(r["brand"] == "acme" and r["zeta"] > 0 for r in rows)
