"""The report's example posts mark their most influential words and each alert lists the words
that drove it (real default bundle, a brand whose last day turns negative)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from html import unescape

import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")

from sentiment_fusion.insights.cli import main

pytestmark = pytest.mark.slow  # analyzes and explains posts with the real default bundle

CALM = [
    "the new phone arrived today",
    "love the camera on this phone",
    "phone update installed this morning",
    "great screen and a fast phone",
    "picked up the phone at the store",
]
BAD = [
    "this terrible outage ruined my whole day",
    "phone outage again, terrible support",
    "worst outage ever, terrible",
    "the outage is a disaster, awful phone",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory, default_bundle):
    folder = tmp_path_factory.mktemp("explained-report")
    rows = [
        {"id": f"c{day}-{i}", "text": CALM[i % len(CALM)] + f" #{i}", "ts": f"2024-05-{day:02d}T{i % 24:02d}:00:00Z"}
        for day in range(1, 9)
        for i in range(40)
    ]
    rows += [
        {"id": f"b{i}", "text": BAD[i % len(BAD)] + f" #{i}", "ts": f"2024-05-09T{i % 24:02d}:30:00Z"}
        for i in range(40)
    ]
    data = folder / "posts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = folder / "report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(
                [
                    "analyze",
                    str(data),
                    "--id-col",
                    "id",
                    "--text-col",
                    "text",
                    "--time-col",
                    "ts",
                    "--brand",
                    "acme",
                    "--db",
                    str(folder / "s.duckdb"),
                    "--report",
                    str(out),
                    "--model",
                    str(default_bundle),
                    "--quiet",
                ]
            )
            == 0
        )
    return out.read_text(encoding="utf-8")


def test_alerts_list_the_words_that_drove_them(report):
    assert ">driven by</th>" in report
    alert_rows = [row for row in re.findall(r"<tr>(.*?)</tr>", report, re.S) if "2024-05-09" in row and "driver" in row]
    assert alert_rows, "the negative last day should raise an alert"
    drivers = [unescape(d) for d in re.findall(r'<span class="driver">(.*?)</span>', alert_rows[0])]
    assert drivers[0] in {"terrible", "outage", "worst", "disaster", "awful", "ruined"}, drivers
    assert "terrible" in drivers


def test_example_posts_mark_their_most_influential_words(report):
    negative = re.findall(r'<div class="post post-negative">(.*?)<small>', report, re.S)
    assert negative
    for post in negative:
        marked = re.findall(r"<mark>(.*?)</mark>", post)
        assert 1 <= len(marked) <= 3 and all(word in re.sub(r"</?mark>", "", post) for word in marked)
        assert set(marked) & {"terrible", "worst", "awful", "disaster", "outage", "ruined"}
    assert "Marked words" in report  # the methods say how
