"""The web page in a real headless Chromium, driven over the DevTools protocol
(``helpers.browser.DevTools``; the ``browser`` fixture is in ``tests/api/conftest.py``). The
browser talks to a real uvicorn on 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image

from helpers.api import ImageAwareAnalyzer, ThreadServer, png_bytes
from helpers.browser import HEIGHT, WIDTH
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app


@pytest.fixture(scope="module")
def page_server(tiny_analyzer):
    app = create_app(Settings(), analyzer=ImageAwareAnalyzer(tiny_analyzer))
    with ThreadServer(app) as server:
        yield server


def test_page_analyzes_text_and_image(browser, page_server, tmp_path):
    picture = tmp_path / "bright.png"
    picture.write_bytes(png_bytes((32, 24), color=(240, 240, 240)))
    text = "I love this, great day!"
    browser.open(page_server.url + "/")
    assert "tiny-with-toy-image" in browser.js("document.getElementById('model').textContent")

    browser.type("#text", text)
    browser.choose_file("#image", picture)
    # The preview changes the layout when it has loaded: click only after that.
    browser.wait_for(
        "!document.getElementById('preview').hidden && document.getElementById('preview').complete"
        " && document.getElementById('preview').naturalWidth > 0"
    )
    browser.click("#submit")
    browser.wait_for("!document.getElementById('result').hidden")

    shown = browser.js("document.getElementById('sentiment').textContent")
    expected = httpx.post(
        page_server.url + "/v1/predict/upload",
        data={"text": text},
        files={"image": ("bright.png", picture.read_bytes(), "image/png")},
    ).json()
    assert shown == expected["sentiment"]
    labels = browser.js("[...document.querySelectorAll('#bars .bar')].map(b => b.dataset.label)")
    assert labels == ["negative", "neutral", "positive"]
    widths = browser.js("[...document.querySelectorAll('#bars .fill')].map(f => parseFloat(f.style.width))")
    assert widths == pytest.approx([100 * expected["scores"][k] for k in labels], abs=0.06)
    views = browser.js("[...document.querySelectorAll('.modality h3')].map(h => h.textContent)")
    assert views == [f"{name}: {view['sentiment']}" for name, view in expected["modalities"].items()]
    assert browser.js("document.getElementById('error').hidden") is True

    png = browser.screenshot()
    (tmp_path / "page.png").write_bytes(png)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 50  # text, bars and borders: not a blank page
    assert max(count for count, _ in colors) < 0.97 * WIDTH * HEIGHT


def test_page_shows_errors(browser, page_server, tmp_path):
    browser.open(page_server.url + "/")
    browser.click("#submit")  # nothing typed, no image
    browser.wait_for("!document.getElementById('error').hidden")
    assert "Type some text" in browser.js("document.getElementById('error').textContent")

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"this is not a picture")
    browser.choose_file("#image", not_an_image)
    browser.wait_for("!document.getElementById('preview').hidden && document.getElementById('preview').complete")
    browser.click("#submit")
    browser.wait_for("document.getElementById('error').textContent.includes('HTTP')")
    message = browser.js("document.getElementById('error').textContent")
    assert "invalid_image" in message and "HTTP 422" in message
    assert browser.js("document.getElementById('result').hidden") is True


def test_api_docs_render_offline(browser, page_server):
    """Swagger UI draws every route from the server's own files (the browser has no internet here)."""
    browser.open(page_server.url + "/docs", ready="document.querySelectorAll('.opblock').length > 0")
    paths = browser.js("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.dataset.path)")
    for path in ("/predict", "/v1/predict", "/v1/predict/upload", "/v1/predict/batch", "/healthz", "/v1/model"):
        assert path in paths, paths
    assert browser.js("document.querySelector('.info .title').textContent").startswith("sentiment-fusion")
    loaded = browser.js("performance.getEntriesByType('resource').map(r => r.name)")
    assert loaded and all(name.startswith(page_server.url) for name in loaded), loaded


def test_page_counts_characters_and_sends_one_request_at_a_time(browser, page_server):
    browser.open(page_server.url + "/")
    browser.type("#text", "x" * 5001)
    browser.wait_for("document.getElementById('count').textContent.includes('too long')")
    browser.click("#submit")
    browser.wait_for("!document.getElementById('error').hidden")
    assert "limit is 5000" in browser.js("document.getElementById('error').textContent")
    uploads = "performance.getEntriesByType('resource').filter(r => r.name.endsWith('/v1/predict/upload')).length"
    assert browser.js(uploads) == 0  # refused in the page, no request sent
    browser.js("document.getElementById('text').value = 'great day'; document.getElementById('text').focus()")
    # Ctrl+Enter three times while the first request is surely in flight: in one turn of the page's
    # event loop (real key events can arrive after a fast local answer, which may then rightly send again).
    browser.js(
        "for (let i = 0; i < 3; i++) document.getElementById('text').dispatchEvent("
        "new KeyboardEvent('keydown', {key: 'Enter', ctrlKey: true, bubbles: true}))"
    )
    browser.wait_for("!document.getElementById('result').hidden")
    time.sleep(0.3)
    assert browser.js(uploads) == 1
    assert browser.js("document.getElementById('api-key').getAttribute('aria-label')") == "API key"
    assert browser.js("document.getElementById('drop').tabIndex") == -1  # no dead tab stop before the file input
