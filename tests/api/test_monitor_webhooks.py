"""Alert webhooks (issue 15 point 5) against a real HTTP receiver on 127.0.0.1, with a real uvicorn
and a real DuckDB file: one signed POST per new alert, retried with backoff, never blocking
ingest, never twice across restarts; outbound URLs follow the image-URL rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from helpers.api import ThreadServer
from helpers.monitor import KeywordAnalyzer, posts
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

duckdb = pytest.importorskip("duckdb")
SECRET = "s3cret"


class Receiver:
    """A loopback webhook receiver: records every request; answers ``status`` (after ``delay``)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next = 0  # answer 500 to this many requests first
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                status = receiver.status
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    status = 500
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "status": status, "at": time.monotonic()}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]


def settings(store, receiver_url, **extra) -> Settings:
    values = {
        "monitor_db": store,
        "webhook_urls": receiver_url,
        "webhook_secret": SECRET,
        "url_allowed_hosts": "127.0.0.1",
        "url_allow_private": True,  # the receiver is on loopback (tests only)
        "webhook_backoff_s": 0.1,
        "alert_min_volume": 5,
        "alert_window": 3,
        **extra,
    }
    return Settings(**values)


def history(skew: bool) -> list[dict]:
    batch = posts(300, hours=1)
    if skew:
        for post in batch[190:260]:
            post["text"] = "awful broken refund battery dead again"
    return batch


def ingest(server, batch: list[dict]) -> float:
    start = time.perf_counter()
    for i in range(0, len(batch), 100):
        answer = httpx.post(server.url + "/v1/posts", json={"posts": batch[i : i + 100]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.text
    return time.perf_counter() - start


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.05)


def pushed_alerts(store) -> set[str]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT alert_id FROM monitor_alerts WHERE pushed").fetchall()}
    finally:
        con.close()


@pytest.mark.slow
def test_each_new_alert_is_pushed_once_signed_retried_and_never_again(tiny_analyzer, tmp_path):
    store = tmp_path / "live.duckdb"
    analyzer = KeywordAnalyzer(tiny_analyzer)
    with Receiver() as receiver:
        receiver.fail_next = 1  # the first attempt fails: the retry (after backoff) delivers it
        with ThreadServer(create_app(settings(store, receiver.url), analyzer=analyzer)) as server:
            ingest(server, history(skew=True)[:190])  # ordinary days
            assert receiver.requests == []
            ingest(server, history(skew=True)[190:])  # two bad days for apple and samsung
            wait_until(lambda: len({r["headers"]["X-Sentiment-Fusion-Delivery"] for r in receiver.delivered()}) >= 1)
            time.sleep(0.5)  # every delivery due has had its chance
        alerts = pushed_alerts(store)
        assert alerts, "the bad days raise alerts"
        ids = [r["headers"]["X-Sentiment-Fusion-Delivery"] for r in receiver.delivered()]
        assert sorted(ids) == sorted(alerts)  # each new alert exactly once
        first, retry = (
            receiver.requests[0],
            next(r for r in receiver.requests[1:] if r["body"] == receiver.requests[0]["body"]),
        )
        assert first["status"] == 500 and retry["status"] == 200 and retry["at"] - first["at"] >= 0.09  # backoff

        for request in receiver.delivered():
            headers, body = request["headers"], request["body"]
            timestamp = headers["X-Sentiment-Fusion-Timestamp"]
            expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            assert headers["X-Sentiment-Fusion-Signature"] == f"sha256={expected}"
            assert headers["Content-Type"] == "application/json"
            payload = json.loads(body)
            assert payload["alert_id"] == headers["X-Sentiment-Fusion-Delivery"]
            assert payload["metric"] in ("negative_share", "net_sentiment") and payload["p_adjusted"] <= 0.05
            assert payload["dashboard"].startswith(f"/dashboard#brand={payload['brand']}&period=")
            top = payload["repeated_texts"][0]
            assert (
                top["text"] == "awful broken refund battery dead again" and top["posts"] >= 5 and 0 < top["share"] <= 1
            )
            assert {"term", "zeta", "count"} <= set(payload["words"][0]) if payload["words"] else True
        assert any(p["words"] for p in (json.loads(r["body"]) for r in receiver.delivered()))

        # After a restart on the same store, nothing is sent again; a new alert is, once, and a slow
        # receiver (3 s an answer) does not slow the ingest that raised it.
        receiver.delay = 3.0
        nokia = [
            {
                "id": f"nokia-{i}",
                "text": f"great phone love it {i}" if i < 96 else "awful broken refund battery dead again",
                "created_at": (datetime(2015, 1, 1) + timedelta(hours=2 * i)).isoformat(),
                "brand": "nokia",
            }
            for i in range(120)
        ]
        with ThreadServer(create_app(settings(store, receiver.url), analyzer=analyzer)) as server:
            ingest(server, nokia[:96])
            elapsed = ingest(server, nokia[96:])
            wait_until(
                lambda: any("nokia" in r["headers"]["X-Sentiment-Fusion-Delivery"] for r in receiver.delivered())
            )
            time.sleep(0.5)
        assert elapsed < 2.0, elapsed
        ids = Counter(r["headers"]["X-Sentiment-Fusion-Delivery"] for r in receiver.delivered())
        assert set(ids) == pushed_alerts(store) and max(ids.values()) == 1  # never twice
        assert {i for i in ids if i.startswith("nokia|")}


@pytest.mark.slow
def test_deliveries_pending_at_shutdown_resume_after_a_restart(tiny_analyzer, tmp_path):
    store = tmp_path / "live.duckdb"
    analyzer = KeywordAnalyzer(tiny_analyzer)
    with Receiver() as receiver:
        receiver.status = 503  # down
        config = settings(store, receiver.url, webhook_backoff_s=0.05, webhook_max_backoff_s=0.2)
        with ThreadServer(create_app(config, analyzer=analyzer)) as server:
            ingest(server, history(skew=True))
            wait_until(lambda: len(receiver.requests) >= 3)
        assert receiver.delivered() == []
        alerts = pushed_alerts(store)
        assert alerts
        receiver.status = 200  # back up
        with ThreadServer(create_app(config, analyzer=analyzer)):
            wait_until(lambda: len({r["body"] for r in receiver.delivered()}) == len(alerts))
            time.sleep(0.5)
        ids = [r["headers"]["X-Sentiment-Fusion-Delivery"] for r in receiver.delivered()]
        assert sorted(ids) == sorted(alerts)  # each once, after the restart


def test_outbound_rules_of_image_urls_apply(tiny_analyzer, tmp_path, monkeypatch):
    from sentiment_fusion.api.server import SettingsError, serve
    from sentiment_fusion.api.webhooks import WebhookURLError, check_webhook_url

    base = Settings(url_allowed_hosts="hooks.example.com,.example.org")
    check_webhook_url("https://hooks.example.com/x", base)
    check_webhook_url("https://a.b.example.org/x", base)
    for bad, why in [
        ("ftp://hooks.example.com/x", "http"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://evil.example.net/x", "url_allowed_hosts"),
        ("https://hooks.example.com:99999/x", "port"),
    ]:
        with pytest.raises(WebhookURLError, match=why):
            check_webhook_url(bad, base)
    for name in ("SENTIMENT_FUSION_MONITOR_DB", "SENTIMENT_FUSION_MONITOR_BRANDS"):
        monkeypatch.setenv(name, "")  # recorded, so that what serve() sets is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("SENTIMENT_FUSION_WEBHOOK_URLS", "https://evil.example.net/x")
    with pytest.raises(SettingsError, match="url_allowed_hosts"):
        serve(db=tmp_path / "s.duckdb")


@pytest.mark.slow
def test_a_private_address_is_refused_without_the_test_switch(tiny_analyzer, tmp_path):
    store = tmp_path / "live.duckdb"
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        config = settings(store, url, url_allowed_hosts="localhost", url_allow_private=False, webhook_max_attempts=2)
        with ThreadServer(create_app(config, analyzer=KeywordAnalyzer(tiny_analyzer))) as server:
            ingest(server, history(skew=True))

            wait_until(lambda: bool(_deliveries(server)) and all(r[1] for r in _deliveries(server)))
        assert receiver.requests == []
    con = duckdb.connect(str(store), read_only=True)
    errors = [r[0] for r in con.execute("SELECT last_error FROM monitor_deliveries").fetchall()]
    con.close()
    assert errors and all("non-public address" in e for e in errors)


def _deliveries(server) -> list[tuple]:
    """The delivery rows, read through the running app's own reader (the file is held by it)."""
    cursor = server.server.config.app.state.monitor.con.cursor()
    try:
        return cursor.execute("SELECT alert_id, gave_up, last_error FROM monitor_deliveries").fetchall()
    finally:
        cursor.close()
