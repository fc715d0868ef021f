"""Helpers for the API tests (tests/api/); their fixtures are in the conftest.py files.

- :class:`ImageAwareAnalyzer`: the tiny text model plus a toy image "model" (brightness -> sentiment)
  with the real ImagePreprocessor, so the image paths of the API can be tested before a real
  image bundle exists.
- :func:`client`: a TestClient over ``create_app`` with settings overrides.
- :class:`ThreadServer`: a real uvicorn on 127.0.0.1 (random free port) serving an app object.
"""

from __future__ import annotations

import base64
import contextlib
import io
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the API tests need the [serve] extra")

from fastapi.testclient import TestClient
from PIL import Image

from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app
from sentiment_fusion.errors import InvalidInputError
from sentiment_fusion.image.preprocess import ImagePreprocessor
from sentiment_fusion.labels import LABELS, Sentiment
from sentiment_fusion.runtime import ModalityPrediction, Prediction


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_error(response, status: int, code: str, *words: str) -> dict:
    """A JSON error with this status and code whose message names each of ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]
    for word in words:
        assert word.lower() in error["message"].lower(), (word, error["message"])
    return error


def png_bytes(size=(8, 6), color=(250, 250, 250), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def _probs_from(image) -> np.ndarray:
    brightness = float(np.asarray(image, dtype=np.float64).mean() / 255.0)  # 0 dark .. 1 bright
    raw = np.array([1.0 - brightness, 0.2, brightness]) + 1e-3
    return raw / raw.sum()


def _modality(probs) -> ModalityPrediction:
    return ModalityPrediction(Sentiment(int(np.argmax(probs))), dict(zip(LABELS, map(float, probs), strict=True)))


class ImageAwareAnalyzer:
    """The tiny text Analyzer plus a toy image model: bright pictures are positive, dark ones negative."""

    def __init__(self, text_analyzer, delay: float = 0.0, fail_on: str | None = None):
        self.text_analyzer = text_analyzer
        self.delay = delay
        self.fail_on = fail_on  # a text that makes predict_batch raise a plain bug (RuntimeError)
        self.image = SimpleNamespace(preprocessor=ImagePreprocessor())
        self.manifest = {
            **text_analyzer.manifest,
            "name": "tiny-with-toy-image",
            "components": {
                **text_analyzer.manifest["components"],
                "image": {"kind": "toy-brightness", "temperature": 1.0, "metrics": []},
            },
        }
        self.name, self.version = self.manifest["name"], self.manifest["version"]
        self.modalities = ("text", "image")
        self.batch_sizes: list[int] = []

    def predict_batch(self, texts, images, on_error="raise"):
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("toy analyzer bug")
        self.batch_sizes.append(len(texts))
        text_idx = [i for i, t in enumerate(texts) if t is not None]
        text_preds = (
            dict(
                zip(
                    text_idx,
                    self.text_analyzer.predict_batch([texts[i] for i in text_idx], on_error=on_error),
                    strict=True,
                )
            )
            if text_idx
            else {}
        )
        out = []
        for i, (text, image) in enumerate(zip(texts, images, strict=True)):
            views = {}
            if isinstance(text_preds.get(i), Exception):
                out.append(text_preds[i])
                continue
            if text is not None:
                views["text"] = text_preds[i].modalities["text"]
            if image is not None:
                try:
                    views["image"] = _modality(_probs_from(self.image.preprocessor.decode(image)))
                except InvalidInputError as error:
                    if on_error == "raise":
                        raise
                    out.append(error)
                    continue
            final = np.mean([[v.scores[k] for k in LABELS] for v in views.values()], axis=0)
            source = "mean" if len(views) == 2 else next(iter(views))
            out.append(
                Prediction(
                    Sentiment(int(np.argmax(final))), dict(zip(LABELS, map(float, final), strict=True)), views, source
                )
            )
        return out

    def predict(self, text=None, image=None):
        return self.predict_batch([text], [image])[0]


@contextlib.contextmanager
def client(analyzer, **overrides):
    """A TestClient (lifespan run) over create_app with the given analyzer and settings."""
    app = create_app(Settings(**overrides), analyzer=analyzer)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """A real uvicorn serving ``app`` on 127.0.0.1 in a background thread (bound before start: no port race)."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
