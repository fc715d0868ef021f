"""Alerts that explain themselves (issue 15 point 7) on the real Apple tweets scored by the shipped
model's post tone: the Dec 9 alert names the one retweet that drives it (the original and its 150
retweets, a quarter of the day's posts), in the CLI, the report and the monitor's API; trends
carry unique-text counts beside volume.

Post tone, because that is where the Dec 9 alert is: scored toward Apple (the bundle's targeted
component, brand mentions), the #DieIn retweet reads neutral toward Apple and the day raises no
alert at all (``test_toward_apple_dec_9_raises_no_alert``), which is issue 12's point. The tone
store is made with the shipped bundle less its target component."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import httpx
import pytest

from helpers.api import ThreadServer
from helpers.paths import shared_data

pytestmark = [pytest.mark.slow, pytest.mark.data]
DIE_IN = "Protesters stage #DieIn protests in @Apple store in NYC"


@pytest.fixture(scope="module")
def tone_bundle(default_bundle, tmp_path_factory):
    """The shipped bundle without its target component: posts scored by their tone."""
    bundle = tmp_path_factory.mktemp("tone") / "bundle"
    shutil.copytree(default_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["components"].pop("target", None)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def _analyze(bundle, folder):
    from sentiment_fusion.insights import ColumnSpec, analyze

    tweets = shared_data("apple_tweets", "Apple-Twitter-Sentiment-DFE.csv")
    db = folder / "apple.duckdb"
    spec = ColumnSpec(id="_unit_id", text="text", time="date", brand="apple")
    analyze([tweets], spec, db, model=bundle, progress=False)
    return db


@pytest.fixture(scope="module")
def apple_store(tone_bundle, tmp_path_factory):
    return _analyze(tone_bundle, tmp_path_factory.mktemp("apple"))


def _cli(db, *args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", "insights", *args, "--db", str(db), "--csv"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return list(csv.DictReader(io.StringIO(out)))


def test_the_dec_9_alert_names_the_retweet_that_drives_it(apple_store, tmp_path):
    alerts = [r for r in _cli(apple_store, "alerts") if r["period"].startswith("2014-12-09")]
    assert {r["metric"] for r in alerts} == {"negative_share", "net_sentiment"}
    for row in alerts:
        assert row["top_text"].startswith(DIE_IN)
        assert (int(row["top_text_posts"]), int(row["top_text_retweets"])) == (151, 150)  # the original + 150 RTs
        assert float(row["top_text_share"]) == pytest.approx(151 / int(row["n"]))
        assert int(row["unique_texts"]) < int(row["n"])
        assert {"#diein", "protesters"} <= set(row["words"].split())
    # trends: unique texts beside volume; Dec 9 is the day with the most copies
    trends = {r["period"][:10]: r for r in _cli(apple_store, "trends")}
    assert int(trends["2014-12-09"]["n"]) - int(trends["2014-12-09"]["unique_texts"]) == 230
    # the report says it too
    from sentiment_fusion.insights.report import write_report
    from sentiment_fusion.insights.store import PostStore

    with PostStore(apple_store, read_only=True) as store:
        html = write_report(store, tmp_path / "report.html").read_text()
    assert "151 posts (150 retweets), 24% of the period" in html and "Protesters stage #DieIn" in html


def test_the_monitor_pushes_and_shows_the_same_drivers(apple_store, tone_bundle):
    from sentiment_fusion.api.config import Settings
    from sentiment_fusion.api.main import create_app
    from sentiment_fusion.runtime import Analyzer

    app = create_app(Settings(monitor_db=apple_store), analyzer=Analyzer.load(tone_bundle, threads=1))
    with ThreadServer(app) as server:
        alerts = httpx.get(server.url + "/v1/monitor/alerts", timeout=60).json()["alerts"]
        rows = httpx.get(server.url + "/v1/insights/alerts", timeout=60).json()["rows"]
    dec9 = [a for a in alerts if a["period"].startswith("2014-12-09")]
    assert dec9 and all(
        a["repeated_texts"][0]["posts"] == 151 and a["repeated_texts"][0]["retweets"] == 150 for a in dec9
    )
    assert all(a["repeated_texts"][0]["text"].startswith(DIE_IN) for a in dec9)  # the original, not an RT copy
    assert [r["top_text_posts"] for r in rows if r["period"].startswith("2014-12-09")] == [151, 151]


def test_toward_apple_dec_9_raises_no_alert(default_bundle, tmp_path):
    """The same tweets scored toward Apple (brand mentions through the targeted component): the
    #DieIn retweet is not about Apple, so Dec 9 is no longer an alert."""
    db = _analyze(default_bundle, tmp_path)
    assert not [r for r in _cli(db, "alerts") if r["period"].startswith("2014-12-09")]
    trends = {r["period"][:10]: r for r in _cli(db, "trends")}
    assert int(trends["2014-12-09"]["n"]) > 600  # the day is there, read as mentions of Apple
