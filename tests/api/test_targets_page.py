"""The web page with targets, in real headless Chromium against a real uvicorn on 127.0.0.1 serving a
real bundle with a target component: add and remove targets, one verdict per target (found or not),
each explained on request; a screenshot is kept in the test's tmp folder."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers.api import ThreadServer
from helpers.target_bundles import target_bundle_path
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

pytestmark = pytest.mark.slow  # a browser and a real server

TEXT = "Switched from @united to @delta, best decision ever"
COLOURS = {"negative": (0xD6, 0x45, 0x45), "neutral": (0x8A, 0x94, 0xA3), "positive": (0x2F, 0x9E, 0x5B)}  # style.css


@pytest.fixture(scope="module")
def target_server(tmp_path_factory):
    from sentiment_fusion.runtime import Analyzer

    analyzer = Analyzer.load(target_bundle_path(tmp_path_factory), threads=1)
    with ThreadServer(create_app(Settings(max_target_chars=20), analyzer=analyzer)) as server:
        yield server


def _cards(browser) -> list[dict]:
    return browser.js(
        "[...document.querySelectorAll('#target-cards .target-card')].map(c => ({"
        " target: c.dataset.target, found: c.dataset.found, title: c.querySelector('h4').textContent,"
        " where: c.querySelector('.where').textContent,"
        " widths: [...c.querySelectorAll('.fill')].map(f => parseFloat(f.style.width)),"
        " marks: [...c.querySelectorAll('mark')].map(m => [m.textContent, +m.dataset.weight]) }))"
    )


def test_page_shows_one_verdict_per_target(browser, target_server, tmp_path):
    browser.open(target_server.url + "/")
    assert browser.js("document.getElementById('target-input').disabled") is False
    browser.type("#text", TEXT)
    browser.type("#target-input", "United")
    for kind in ("keyDown", "keyUp"):  # a real Enter key: adds the target, does not submit the form
        browser.call(
            "Input.dispatchKeyEvent",
            {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
        )
    assert browser.js("document.getElementById('result').hidden") is True  # Enter did not submit
    browser.type("#target-input", "Oops")
    browser.click("#add-target")
    browser.type("#target-input", "Delta")
    browser.click("#add-target")
    assert browser.js("[...document.querySelectorAll('#targets li')].map(l => l.dataset.target)") == [
        "United",
        "Oops",
        "Delta",
    ]
    browser.click("#targets li[data-target='Oops'] button")
    browser.type("#target-input", "United")  # already there: refused with a reason
    browser.click("#add-target")
    assert "already" in browser.js("document.getElementById('target-hint').textContent")
    browser.js("document.getElementById('target-input').value = ''")
    browser.type("#target-input", "KLM")  # typed, not added: Analyze adds it
    browser.click("#explain")
    browser.click("#submit")
    browser.wait_for("!document.getElementById('result').hidden && !document.getElementById('target-results').hidden")

    targets = ["United", "Delta", "KLM"]
    expected = httpx.post(
        target_server.url + "/v1/predict/upload", data={"text": TEXT, "targets": targets, "explain": "true"}
    ).json()
    cards = _cards(browser)
    assert [c["target"] for c in cards] == targets == [t["target"] for t in expected["targets"]]
    for card, want in zip(cards, expected["targets"], strict=True):
        assert card["title"] == f"{want['target']}: {want['sentiment']}"
        assert card["found"] == str(want["found"]).lower()
        assert ("not found in the text" in card["where"]) is (not want["found"])
        if want["found"]:
            assert card["where"] == "found in the text as " + ", ".join(TEXT[a:b] for a, b in want["spans"])
        assert card["widths"] == pytest.approx([100 * want["scores"][k] for k in COLOURS], abs=0.06)
        assert card["marks"] == [[w["text"], w["weight"]] for w in want["explanation"]["words"]]
    assert [c["found"] for c in cards] == ["true", "true", "false"]
    assert browser.js("document.getElementById('sentiment').textContent") == expected["sentiment"]
    assert browser.js("document.getElementById('error').hidden") is True
    assert browser.js("document.getElementById('why-image').offsetHeight") == 0  # no image: nothing drawn

    browser.js("document.getElementById('target-results').scrollIntoView()")
    boxes = browser.js(
        "[...document.querySelectorAll('#target-cards .target-card')].map(c => {"
        " const f = [...c.querySelectorAll('.fill')]"
        ".sort((a, b) => parseFloat(b.style.width) - parseFloat(a.style.width))[0].getBoundingClientRect();"
        " return [f.x, f.y, f.width, f.height].map(Math.round); })"
    )
    png = browser.screenshot()
    (tmp_path / "targets.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    for (x, y, w, h), want in zip(boxes, expected["targets"], strict=True):
        if y < 0 or y + h > shot.shape[0] or w < 6:
            continue  # below the fold, or too thin to read
        colour = shot[y + 2 : y + h - 2, x + 2 : x + w - 2].reshape(-1, 3).mean(axis=0)
        assert np.abs(colour - COLOURS[want["sentiment"].lower()]).max() < 12  # the verdict's bar, drawn


def test_page_checks_targets_before_sending(browser, target_server):
    browser.open(target_server.url + "/")
    browser.type("#target-input", "x" * 21)  # this server's limit is 20 (from /v1/model)
    browser.click("#add-target")
    assert "at most 20 characters" in browser.js("document.getElementById('target-hint').textContent")
    assert browser.js("document.querySelectorAll('#targets li').length") == 0
    browser.js("document.getElementById('target-input').value = 'Delta'")
    browser.click("#add-target")
    browser.click("#submit")  # a target but no text
    browser.wait_for("!document.getElementById('error').hidden")
    assert "read from the post's text" in browser.js("document.getElementById('error').textContent")
    browser.type("#text", "Delta again, hours late")
    browser.click("#submit")
    browser.wait_for("!document.getElementById('target-results').hidden")
    assert [c["target"] for c in _cards(browser)] == ["Delta"]
    assert _cards(browser)[0]["marks"] == []  # no explanation asked for


def test_page_without_a_target_model_says_so(browser, tiny_analyzer):
    with ThreadServer(create_app(Settings(), analyzer=tiny_analyzer)) as server:
        browser.open(server.url + "/")
        assert browser.js("document.getElementById('target-input').disabled") is True
        assert "cannot score targets" in browser.js("document.getElementById('target-hint').textContent")
        browser.type("#text", "great flight")
        browser.click("#submit")
        browser.wait_for("!document.getElementById('result').hidden")
        assert browser.js("document.getElementById('target-results').hidden") is True
