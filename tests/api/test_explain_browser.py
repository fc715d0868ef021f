"""The web page explains a verdict: words highlighted by weight, the heat map over the image
(real Chromium, the real default bundle, a screenshot checked pixel by pixel)."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers.api import ThreadServer
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

TEXT = "Worst airline ever 😡 #neveragain\nlost my bag"


@pytest.fixture(scope="module")
def real_server(default_bundle):
    from sentiment_fusion.runtime import Analyzer

    with ThreadServer(create_app(Settings(), analyzer=Analyzer.load(default_bundle, threads=1))) as server:
        yield server


def test_page_highlights_words_and_overlays_the_heat_map(browser, real_server, tmp_path):
    picture = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(picture)
    browser.open(real_server.url + "/")
    assert browser.js("document.getElementById('explain').checked") is False  # it costs ~50 model runs: on request
    browser.click("#explain")
    browser.type("#text", TEXT)
    browser.choose_file("#image", picture)
    browser.wait_for(
        "document.getElementById('preview').complete && document.getElementById('preview').naturalWidth > 0"
    )
    browser.click("#submit")
    browser.wait_for("!document.getElementById('why').hidden && document.getElementById('why-image').naturalWidth > 0")

    files = {"image": ("photo.png", picture.read_bytes(), "image/png")}
    expected = httpx.post(real_server.url + "/v1/predict/upload", data={"text": TEXT, "explain": "true"}, files=files)
    why = expected.json()["explanation"]
    marks = browser.js("[...document.querySelectorAll('#why-text mark')].map(m => [m.textContent, +m.dataset.weight])")
    assert marks == [[w["text"], w["weight"]] for w in why["words"]]
    assert browser.js("document.getElementById('why-text').textContent") == TEXT  # offsets map back exactly
    assert browser.js("document.getElementById('why-label').textContent") == why["label"] == "negative"
    assert browser.js("document.getElementById('why-image').naturalWidth") == 320
    assert len(browser.js("[...document.querySelectorAll('#why-modalities li')]")) == 2

    browser.js("document.getElementById('why').scrollIntoView()")
    strongest = max(range(len(why["words"])), key=lambda i: why["words"][i]["weight"])
    box = browser.js(
        f"(() => {{ const r = document.querySelectorAll('#why-text mark')[{strongest}].getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    image_box = browser.js(
        "(() => { const r = document.getElementById('why-image').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    png = browser.screenshot()
    (tmp_path / "explained.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    x, y, w, h = (round(v) for v in box)
    red, green, blue = shot[y + 2 : y + h - 2, x + 2 : x + w - 2].reshape(-1, 3).mean(axis=0)
    assert red > blue + 60 and red > green + 60  # the word that decided it is highlighted red
    x, y, w, h = (round(v) for v in image_box)
    assert w > 100 and h > 60 and y + h <= shot.shape[0]
    shown = shot[y : y + h, x : x + w]
    overlay = np.asarray(
        Image.open(io.BytesIO(base64.b64decode(why["image"]["overlay_png"]))).convert("RGB").resize((w, h))
    ).astype(int)
    assert np.abs(shown - overlay).mean() < 12  # the overlay is what the page shows
