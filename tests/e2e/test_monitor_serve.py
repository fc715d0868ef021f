"""``sentiment-fusion serve --db`` as a user runs it (the console script's code, a real process on
127.0.0.1): ingest and read back; refused combinations exit with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from helpers.api import free_port
from helpers.paths import REPO

pytestmark = pytest.mark.slow


def _cli(*args: str, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sentiment_fusion.cli", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_FUSION_")}


def test_serve_db_ingests_and_the_cli_reads_the_same_store(tiny_bundle, tmp_path):
    db = tmp_path / "live.duckdb"
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    command = ["serve", "--db", str(db), "--port", str(port), "--model", str(tiny_bundle), "--log-level", "warning"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentiment_fusion.cli", *command],
        cwd=REPO,
        env=_env(),
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        posts = [{"id": str(i), "text": f"post number {i}", "brand": "acme"} for i in range(10)]
        assert httpx.post(url + "/v1/posts", json={"posts": posts}).json()["stored"] == 10
        api = httpx.get(url + "/v1/insights/summary").json()["rows"]
        assert api[0]["brand"] == "acme" and api[0]["posts"] == 10
        assert httpx.get(url + "/dashboard").headers["content-security-policy"].startswith("default-src 'none'")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    out = _cli("insights", "summary", "--db", str(db), "--csv", env=_env())
    assert out.returncode == 0 and out.stdout.splitlines()[1].startswith("acme,10,10,0,")


def test_serve_refuses_several_workers_and_files_that_are_not_stores(tmp_path):
    refused = _cli("serve", "--db", str(tmp_path / "s.duckdb"), "--workers", "2", env=_env())
    assert refused.returncode != 0 and "--workers 1" in refused.stderr and "Traceback" not in refused.stderr
    notes = tmp_path / "notes.csv"
    notes.write_text("id,text\n1,hello\n")
    refused = _cli("serve", "--db", str(notes), env=_env())
    assert refused.returncode != 0 and "not a DuckDB file" in refused.stderr and "Traceback" not in refused.stderr
    brands = tmp_path / "brands.toml"
    brands.write_text("[brands.x]\naliases = 3\n")
    refused = _cli("serve", "--db", str(tmp_path / "s.duckdb"), "--brands", str(brands), env=_env())
    assert refused.returncode != 0 and "brands" in refused.stderr and "Traceback" not in refused.stderr
