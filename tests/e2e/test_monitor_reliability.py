"""The reliability benchmark (benchmarks/monitor_reliability.py) in a short run with the tiny model:
ingest at concurrency 16 beside dashboard reads with zero errors, every acknowledged post stored
once; then ``kill -9`` mid-ingest, restart, nothing acknowledged lost, nothing twice, and re-sending
the unacknowledged batches completes the set. (The README's figures are its 60 s run on the
shipped model.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.paths import REPO, shared_data

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_short_reliability_run_with_a_kill(tiny_bundle):
    shared_data("tweeteval", "sentiment", "train_text.txt")
    options = ["--model", str(tiny_bundle), "--duration", "6", "--kill-after", "3", "--json"]
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "monitor_reliability.py"), *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    steady, kill = report["steady"], report["kill9"]
    assert steady["errors"] == 0 and steady["posts_acked"] > 0 and steady["every_acked_once"]
    assert steady["store_rows"] == steady["posts_acked"]
    assert kill["every_acked_there"] and kill["duplicates_after_restart"] == 0
    assert kill["batches_in_flight_at_kill"] > 0, "the kill fell while batches were in flight"
    assert kill["complete_after_resend"] and kill["duplicates_final"] == 0
