"""Headless Chromium for the tests that render the web page and the report.

Outside CI a missing browser skips those tests; in CI (``CI`` set to a true value, as ``.ci/run``
does) it fails them, so the only proof that the page works cannot vanish into a skip.
:class:`DevTools` drives the page over the DevTools protocol on ``--remote-debugging-pipe``
(file descriptors 3 and 4, NUL-separated JSON), so no WebDriver, websocket library or browser
download is needed: only Debian's ``chromium`` package.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

INSTALL_HINT = "apt-get install -y chromium"
FALLBACK_PATHS = ("/usr/bin/chromium",)  # Debian's package, when /usr/bin is not on PATH


def in_ci(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def find_chromium(
    which: Callable[[str], str | None] = shutil.which, fallbacks: Sequence[str] = FALLBACK_PATHS
) -> str | None:
    for candidate in (which("chromium"), *fallbacks):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def require_chromium(
    env: Mapping[str, str] = os.environ,
    which: Callable[[str], str | None] = shutil.which,
    fallbacks: Sequence[str] = FALLBACK_PATHS,
) -> str:
    """The chromium binary; without one, fail in CI and skip elsewhere."""
    found = find_chromium(which, fallbacks)
    if found is not None:
        return found
    message = f"headless Chromium is not installed ({INSTALL_HINT})"
    if in_ci(env):
        pytest.fail(f"{message}; CI must run the browser tests (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{message}; CI installs it and fails without it")


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
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=wire_fds,  # noqa: PLW1509 - only os.dup2 runs in the child, no locks taken
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
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
        box = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}
            )

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
