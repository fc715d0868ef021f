"""The web page in a real headless Chromium, driven over the DevTools protocol.

The protocol runs over ``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated
JSON), so no WebDriver, websocket library or browser download is needed: only Debian's
``chromium`` package. The browser talks to a real uvicorn on 127.0.0.1 and nothing else.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from helpers.api import ImageAwareAnalyzer, ThreadServer, png_bytes
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app

WIDTH, HEIGHT = 1000, 1100


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, chromium: str, profile: Path):
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Move the child's ends above 10 so the dup2 to 3 and 4 below cannot clobber them.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire_fds():  # runs in the child: the protocol reads fd 3 and writes fd 4
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire_fds,  # noqa: PLW1509 - only os.dup2 runs in the child, no locks taken
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(high_r)
        os.close(high_w)
        self.out, self.inp = to_browser_w, from_browser_r
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def call(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 15.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, _, self.buffer = self.buffer.partition(b"\0")
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.inp], [], [], remaining)[0]:
                raise TimeoutError(f"no DevTools answer to {method}")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk

    def open(self, url: str, ready: str = "document.getElementById('model').textContent !== ''") -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1,
                                                          "mobile": False})
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_for(f"document.readyState === 'complete' && {ready}")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.js(f"!!({condition})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {condition}")
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text})

    def choose_file(self, selector: str, path: Path) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", session=False, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.out)
        os.close(self.inp)


@pytest.fixture(scope="module")
def page_server(tiny_analyzer):
    app = create_app(Settings(), analyzer=ImageAwareAnalyzer(tiny_analyzer))
    with ThreadServer(app) as server:
        yield server


@pytest.fixture
def browser(chromium, tmp_path):
    tools = DevTools(chromium, tmp_path / "profile")
    try:
        yield tools
    finally:
        tools.close()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_page_analyzes_text_and_image(browser, page_server, tmp_path):
    picture = tmp_path / "bright.png"
    picture.write_bytes(png_bytes((32, 24), color=(240, 240, 240)))
    text = "I love this, great day!"
    browser.open(page_server.url + "/")
    assert "tiny-with-toy-image" in browser.js("document.getElementById('model').textContent")

    browser.type("#text", text)
    browser.choose_file("#image", picture)
    # The preview changes the layout when it has loaded: click only after that.
    browser.wait_for("!document.getElementById('preview').hidden && document.getElementById('preview').complete"
                     " && document.getElementById('preview').naturalWidth > 0")
    browser.click("#submit")
    browser.wait_for("!document.getElementById('result').hidden")

    shown = browser.js("document.getElementById('sentiment').textContent")
    expected = httpx.post(page_server.url + "/v1/predict/upload", data={"text": text},
                          files={"image": ("bright.png", picture.read_bytes(), "image/png")}).json()
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
    browser.js("for (let i = 0; i < 3; i++) document.getElementById('text').dispatchEvent("
               "new KeyboardEvent('keydown', {key: 'Enter', ctrlKey: true, bubbles: true}))")
    browser.wait_for("!document.getElementById('result').hidden")
    time.sleep(0.3)
    assert browser.js(uploads) == 1
    assert browser.js("document.getElementById('api-key').getAttribute('aria-label')") == "API key"
    assert browser.js("document.getElementById('drop').tabIndex") == -1  # no dead tab stop before the file input
