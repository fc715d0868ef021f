"""The live dashboard (issue 15 point 4) in a real headless Chromium over a real uvicorn on 127.0.0.1
and a real DuckDB file: it draws every brand with its trend, shares, alerts and their drivers,
and posts ingested while it is open appear without a reload. The screenshot is kept in the
test's tmp_path (pytest keeps the last runs' folders)."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from helpers.api import ThreadServer
from helpers.browser import HEIGHT, WIDTH
from helpers.monitor import KeywordAnalyzer, posts
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

pytestmark = pytest.mark.slow
WRITE = {"X-API-Key": "writer-key"}


@pytest.fixture
def monitor_server(tiny_analyzer, tmp_path):
    settings = Settings(
        monitor_db=tmp_path / "live.duckdb",
        api_keys="writer-key",
        api_read_keys="reader-key",
        dashboard_poll_s=0.2,
        alert_min_volume=5,
        alert_window=3,
    )
    with ThreadServer(create_app(settings, analyzer=KeywordAnalyzer(tiny_analyzer))) as server:
        history = posts(300, hours=1)
        for post in history[190:260]:
            post["text"] = "awful broken refund battery dead again"
        for start in range(0, 300, 100):
            answer = httpx.post(server.url + "/v1/posts", json={"posts": history[start : start + 100]}, headers=WRITE)
            assert answer.json()["stored"] == 100, answer.text
        yield server


def test_dashboard_updates_live_without_a_reload(browser, monitor_server, tmp_path):
    url = monitor_server.url
    browser.open(url + "/dashboard#key=reader-key", ready="document.body.dataset.version !== undefined")
    assert browser.js("location.hash") == ""  # the key left the address bar (kept in sessionStorage)
    brands = browser.js("[...document.querySelectorAll('section.brand')].map(s => s.dataset.brand)")
    assert brands == ["apple", "samsung"]
    assert browser.js("document.getElementById('total').textContent") == "300"
    assert browser.js("document.querySelector('[data-brand=apple] [data-field=posts]').textContent") == "150"
    # trends with intervals: one bar per day, a band and a line
    assert browser.js("document.querySelectorAll('[data-brand=apple] svg.trend rect.bar').length") == 13
    assert browser.js("document.querySelectorAll('[data-brand=apple] svg.trend polygon.band').length") == 1
    # open alerts with their driving words, repeated texts and example posts
    api_alerts = httpx.get(url + "/v1/monitor/alerts?limit=20", headers={"X-API-Key": "reader-key"}).json()["alerts"]
    assert api_alerts, "the skewed days raise alerts"
    shown = browser.js(
        "[...document.querySelectorAll('.alerts > li')]"
        ".map(li => [li.closest('section').dataset.brand, li.dataset.period])"
    )
    assert sorted(map(tuple, shown)) == sorted({(a["brand"], a["period"]) for a in api_alerts})  # one item a period
    words = browser.js("[...document.querySelectorAll('.alerts .words li')].map(li => li.textContent)")
    assert {"awful", "broken"} & set(words)
    repeated = browser.js("document.querySelector('.alerts .repeated li').textContent")
    assert "awful broken refund battery dead again" in repeated and "\u00d7" in repeated  # copies

    browser.js("window.notReloaded = 42")
    hostile = '<img src=x onerror="window.pwned = 1">love it'
    fresh = [{"id": "n1", "text": hostile, "brand": "nokia"}, {"id": "n2", "text": "great phone", "brand": "nokia"}]
    fresh += [{"id": f"a{i}", "text": "love the phone", "brand": "apple"} for i in range(5)]
    assert httpx.post(url + "/v1/posts", json={"posts": fresh}, headers=WRITE).json()["stored"] == 7
    browser.wait_for("document.querySelector('[data-brand=nokia]') !== null", timeout=10)
    browser.wait_for("document.querySelector('[data-brand=apple] [data-field=posts]').textContent === '155'")
    assert browser.js("document.getElementById('total').textContent") == "307"
    assert browser.js("window.notReloaded") == 42  # the same page, updated in place
    examples = browser.js("[...document.querySelectorAll('[data-brand=nokia] .examples li')].map(li => li.textContent)")
    assert any(hostile in text for text in examples)  # shown as text, never parsed as HTML
    assert browser.js("window.pwned === undefined && document.querySelectorAll('#brands img').length === 0")

    png = browser.screenshot()
    (tmp_path / "dashboard.png").write_bytes(png)
    print(f"dashboard screenshot: {tmp_path / 'dashboard.png'}")
    image = Image.open(io.BytesIO(png))
    assert image.size == (WIDTH, HEIGHT)
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 50 and max(count for count, _ in colors) < 0.95 * WIDTH * HEIGHT


def test_a_webhook_link_points_at_its_alert(browser, monitor_server):
    alert = httpx.get(monitor_server.url + "/v1/monitor/alerts", headers={"X-API-Key": "reader-key"}).json()["alerts"][
        0
    ]
    link = f"/dashboard#brand={alert['brand']}&period={alert['period']}&key=reader-key"
    browser.open(monitor_server.url + link, ready="document.body.dataset.version !== undefined")
    assert browser.js("document.querySelector('section.brand.focus').dataset.brand") == alert["brand"]
    assert browser.js("document.querySelector('.alerts > li.focus').dataset.period") == alert["period"]
    assert "key=" not in browser.js("location.hash")


def test_dashboard_asks_for_a_key(browser, monitor_server):
    browser.open(monitor_server.url + "/dashboard", ready="!document.getElementById('key-form').hidden")
    assert browser.js("document.querySelectorAll('section.brand').length") == 0
    browser.type("#key", "reader-key")
    browser.click("#key-form button")
    browser.wait_for("document.querySelectorAll('section.brand').length === 2")
    assert browser.js("document.getElementById('key-form').hidden") is True
