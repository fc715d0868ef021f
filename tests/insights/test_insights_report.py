"""The analyze/insights commands end to end, and the HTML report rendered in headless Chromium."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="insights needs the [insights] extra (duckdb, pyarrow)")

from sentiment_fusion.insights.cli import main

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)> "quoted" & done'
WORDS = "love hate great terrible phone battery screen service day sad happy slow fast".split()


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory, tiny_bundle):
    """Two brands over 20 days, one hostile post, scored by the CLI with --report."""
    folder = tmp_path_factory.mktemp("report")
    rows = [{"id": "xss", "text": XSS, "brand": "<b>Evil</b> & Co", "ts": "2024-03-05T10:00:00Z", "gold": "negative"}]
    for i in range(800):
        rows.append(
            {
                "id": f"p{i}",
                "text": " ".join(WORDS[(i * 5 + j) % len(WORDS)] for j in range(2 + i % 6)),
                "brand": "acme" if i % 3 else "globex",
                "ts": f"2024-03-{1 + i % 20:02d}T{i % 24:02d}:15:00Z",
                "gold": ("negative", "neutral", "positive")[i % 3],
            }
        )
    rows.append({"id": "empty", "text": "", "brand": "acme", "ts": "2024-03-02T00:00:00Z", "gold": ""})
    data = folder / "posts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db, report = folder / "s.duckdb", folder / "report.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "analyze",
                str(data),
                "--id-col",
                "id",
                "--text-col",
                "text",
                "--time-col",
                "ts",
                "--brand-col",
                "brand",
                "--label-col",
                "gold",
                "--db",
                str(db),
                "--report",
                str(report),
                "--model",
                str(tiny_bundle),
                "--quiet",
            ]
        )
    assert code == 0
    return db, report, printed.getvalue()


def test_analyze_prints_throughput_and_totals(analyzed, capsys):
    db, _, printed = analyzed
    assert re.search(
        r"scored 801 posts \(1 could not be scored\) with tiny@0.0.1 \[local\] in [\d.]+s: \d+ posts/s", printed
    )
    assert f"{db}: 802 posts, 801 scored, 1 errors, 0 pending" in printed and "report: " in printed
    main(["insights", "summary", "--db", str(db), "--csv"])
    summary = {r["brand"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(summary) == {"acme", "globex", "<b>Evil</b> & Co"}
    assert int(summary["acme"]["posts"]) == 534 and int(summary["acme"]["errors"]) == 1
    assert sum(int(r["scored"]) for r in summary.values()) == 801
    assert summary["globex"]["accuracy"] != ""


@pytest.mark.parametrize("view", ["summary", "trends", "alerts", "terms", "examples"])
def test_every_insights_view_prints_a_table_and_csv(analyzed, capsys, view):
    db, _, _ = analyzed
    assert main(["insights", view, "--db", str(db), "--brand", "acme"]) == 0
    table = capsys.readouterr().out
    assert main(["insights", view, "--db", str(db), "--brand", "acme", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    if view == "alerts" and not rows:
        assert "(no rows)" in table  # noise from an untrained model need not alert
        return
    assert rows and all(r["brand"] == "acme" for r in rows)
    header = table.splitlines()[0].split()
    assert header[0] == "brand" and set(header) <= set(rows[0])
    if view == "trends":
        assert len(rows) == 20 and {"net_lo", "net_hi", "negative_lo"} <= set(rows[0])


def test_tables_show_hours_for_a_whole_column_and_options_are_checked(analyzed, capsys):
    from datetime import datetime

    from sentiment_fusion.insights.tables import format_rows

    rows = [{"period": datetime(2024, 3, 1, 0), "n": 3}, {"period": datetime(2024, 3, 1, 1), "n": 4}]
    assert [line.split("  ")[0] for line in format_rows(rows).splitlines()[2:]] == [
        "2024-03-01 00:00",
        "2024-03-01 01:00",
    ]
    assert "2024-03-01 " not in format_rows([{"period": datetime(2024, 3, 1)}])  # daily: dates only
    db, _, _ = analyzed
    for bad in (["terms", "--min-z", "nan"], ["summary", "--period", "hour"]):  # nan; --period only where used
        with pytest.raises(SystemExit) as exit_info:
            main(["insights", *bad, "--db", str(db)])
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_insights_on_a_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["insights", "summary", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "run `sentiment-fusion analyze" in capsys.readouterr().err


def test_report_path_is_checked_before_scoring(tmp_path, tiny_bundle, capsys):
    data = tmp_path / "posts.csv"
    data.write_text("id,text\n1,great phone\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    args = [
        "analyze",
        str(data),
        "--id-col",
        "id",
        "--text-col",
        "text",
        "--db",
        str(db),
        "--model",
        str(tiny_bundle),
        "--quiet",
        "--report",
    ]
    for report, message in [
        (db, "name it *.html"),
        (data, "name it *.html"),
        (tmp_path, "name it *.html"),
        (tmp_path / "r.txt", "name it *.html"),
    ]:
        assert main([*args, str(report)]) == 2
        assert message in capsys.readouterr().err
    clash = tmp_path / "posts.html"
    assert (
        main(
            [
                "analyze",
                str(data),
                "--id-col",
                "id",
                "--text-col",
                "text",
                "--db",
                str(clash),
                "--model",
                str(tiny_bundle),
                "--report",
                str(clash),
            ]
        )
        == 2
    )
    assert "also the store or an input" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "linked.html").hardlink_to(data)
    for report, message in [
        (tmp_path / "file.txt" / "r.html", "is a file, not a folder"),
        (tmp_path / "linked.html", "also the store or an input"),
    ]:
        assert main([*args, str(report)]) == 2
        assert message in capsys.readouterr().err
    assert not db.exists() and not clash.exists()  # nothing was scored or written
    assert data.read_text(encoding="utf-8") == "id,text\n1,great phone\n"


def test_a_closed_pipe_or_ctrl_c_ends_quietly(analyzed):
    db, _, _ = analyzed
    # Far more than a pipe buffer holds, so the writer really meets the closed pipe.
    script = (
        "import sys; from sentiment_fusion.commands import run_command\n"
        "class Args:\n    func = staticmethod(lambda args: [print('row', i) for i in range(10**6)] and 0)\n"
        "sys.exit(run_command(Args()))"
    )
    done = subprocess.run(
        ["bash", "-c", f'{sys.executable} -c "{script}" | head -1; echo "${{PIPESTATUS[0]}}"'],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.splitlines() == ["row 0", "141"] and done.stderr == ""
    command = f"sentiment-fusion insights examples --db {db} -k 50 | head -1"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.startswith("brand") and done.stderr == ""

    from sentiment_fusion.commands import run_command

    def interrupted(args):
        raise KeyboardInterrupt

    class Args:
        func = staticmethod(interrupted)

    assert run_command(Args()) == 130


def test_report_is_self_contained_and_escapes_post_text(analyzed):
    _, report, _ = analyzed
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html
    unmarked = re.sub(r"</?mark>", "", html)  # example posts mark their most influential words
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in unmarked and "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"https?://|@import|url\(", html, re.I)
    assert "default-src 'none'" in html
    for needle in (
        "Net sentiment per day",
        "<svg",
        "<polygon",
        "<polyline",
        "Most negative",
        "Example posts",
        "Alerts",
    ):
        assert needle in html


def _chromium(binary: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_report_renders_in_headless_chromium(analyzed, chromium, tmp_path):
    from PIL import Image

    _, report, _ = analyzed
    png = tmp_path / "report.png"
    done = _chromium(chromium, [f"--screenshot={png}", "--window-size=1200,2000", report.resolve().as_uri()], tmp_path)
    assert png.is_file(), done.stderr[-2000:]
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 2000)
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, charts and bars, not a blank page
    assert max(count for count, _ in colours) < 0.9 * 1200 * 2000
    reds = sum(count for count, (r, g, b) in colours if r > 180 and g < 110 and b < 120)
    assert reds > 50  # the negative-share bars drew
    dom = _chromium(chromium, ["--dump-dom", report.resolve().as_uri()], tmp_path).stdout
    assert "Brand sentiment" in dom and "acme" in dom and "globex" in dom and "<svg" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in re.sub(r"</?mark>", "", dom) and "<script" not in dom


def test_report_stays_small_when_a_stray_timestamp_stretches_the_span(tmp_path, tiny_bundle):
    data = tmp_path / "posts.csv"
    data.write_text(
        "id,text,t\n1,old post,1000000000\n2,great phone,2014-12-01T10:00:00Z\n3,meh,2014-12-01T12:00:00Z\n"
    )
    report = tmp_path / "r.html"
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
                "t",
                "--db",
                str(tmp_path / "s.duckdb"),
                "--model",
                str(tiny_bundle),
                "--quiet",
                "--period",
                "hour",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    html = report.read_text(encoding="utf-8")
    assert len(html) < 1_000_000  # 13 MB of 116,000 bars before
    assert "The chart shows the latest 400 hours" in html and "2014-12-01 12:00" in html
