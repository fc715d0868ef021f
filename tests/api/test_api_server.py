"""A real uvicorn on 127.0.0.1: ``python app.py`` as a subprocess (the shipped entry point), plus
an in-process uvicorn serving the image-capable test analyzer. Raw sockets check what only a
real server shows: a refused body is never read, slow bodies time out, JSON logs on stderr."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from helpers.api import ImageAwareAnalyzer, ThreadServer, free_port, png_bytes
from helpers.paths import REPO
from sentiment_fusion import __version__
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.main import create_app


@pytest.fixture(scope="module")
def served(tiny_bundle, tmp_path_factory):
    """``python app.py --model <tiny bundle>`` on a free loopback port; stopped after the module."""
    log_path = tmp_path_factory.mktemp("server") / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_FUSION_")}
    env.update(
        SENTIMENT_FUSION_MAX_BODY_BYTES="100000",
        SENTIMENT_FUSION_BODY_TIMEOUT_S="2",
        SENTIMENT_FUSION_HEADER_TIMEOUT_S="1.5",
        SENTIMENT_FUSION_INFERENCE_THREADS="1",
    )
    for _attempt in range(3):  # the free port could be taken between the check and the bind
        port = free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(REPO / "app.py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--model",
                    str(tiny_bundle),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"app.py did not start: {log_path.read_text()[-2000:]}")
    yield url, port, proc, log_path
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raw_exchange(port: int, payload: bytes, *, pause_after: float = 0.0, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes, then read the whole answer (the server closes or sends Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(payload)
        if pause_after:
            time.sleep(pause_after)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data) + 1


def status_and_json(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_every_route_over_http(served):
    url, *_ = served
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/healthz").json() == {
            "status": "ok",
            "detail": None,
            "package_version": __version__,
            "model": {"name": "tiny", "version": "0.0.1"},
        }
        assert http.get("/readyz").json()["status"] == "ready"
        for path in ("/predict", "/v1/predict"):
            r = http.post(path, json={"text": "I love this, great day!"})
            assert r.status_code == 200 and r.json()["model"]["name"] == "tiny"
        assert http.post("/v1/predict/upload", data={"text": "hello"}).status_code == 200
        assert len(http.post("/v1/predict/batch", json={"items": [{"text": "a"}, {"text": "b"}]}).json()["items"]) == 2
        assert http.get("/v1/model").json()["modalities"] == ["text"]
        assert "/v1/predict" in http.get("/openapi.json").json()["paths"]
        assert http.get("/docs").status_code == 200
        assert "<title>sentiment-fusion</title>" in http.get("/").text
        assert "sentiment_fusion_http_requests_total" in http.get("/metrics").text
        r = http.post("/v1/predict", json={"image": "x"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "image_not_supported"


def test_head_works_wherever_get_does(served):
    url, *_ = served
    with httpx.Client(base_url=url, timeout=10) as http:
        for path in ("/healthz", "/readyz", "/v1/model", "/metrics", "/", "/static/app.js", "/docs", "/openapi.json"):
            get, head = http.get(path), http.head(path)
            assert head.status_code == get.status_code == 200, path
            assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
            assert head.headers["x-request-id"], path
        head = http.head("/v1/predict")
        assert head.status_code == 405 and "POST" in head.headers["allow"] and head.content == b""
        assert http.delete("/healthz").headers["allow"] == "GET, HEAD"
        assert (
            http.get("/healthz", headers={"content-encoding": "gzip"}).status_code == 200
        )  # no body: nothing to refuse
        assert http.head("/nowhere").status_code == 404


def _closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (recv returns b""), or fail after ``limit``."""
    start = time.monotonic()
    sock.settimeout(limit)
    while sock.recv(4096):
        pass
    return time.monotonic() - start


@pytest.mark.slow
def test_connections_that_stall_before_their_headers_are_closed(served):
    """Slowloris: silent connections and header lines trickled in are closed at the header deadline (1.5 s)."""
    _, port, *_ = served
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert 1.0 < _closed_after(silent, 10) < 4
    with socket.create_connection(("127.0.0.1", port)) as trickle:
        start = time.monotonic()
        trickle.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")

        def send_headers_slowly():
            for i in range(20):
                time.sleep(0.3)
                trickle.sendall(b"X-Slow-%d: 1\r\n" % i)

        with pytest.raises(ConnectionError):  # reset or broken pipe once the server has closed it
            send_headers_slowly()
        assert time.monotonic() - start < 4
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:  # a keep-alive client is fine
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            time.sleep(0.8)  # idle between requests: the keep-alive timeout (5 s) applies, not this one


def test_body_over_the_limit_is_refused_from_its_header(served):
    _, port, *_ = served
    # Only the headers are sent: the 413 must come without the server waiting for 10 MB.
    head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    start = time.monotonic()
    status, body = status_and_json(raw_exchange(port, head))
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert time.monotonic() - start < 1.5  # well before the 2 s body timeout


def test_chunked_body_over_the_limit(served):
    _, port, *_ = served
    chunk = b"x" * 30000
    payload = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 5 + b"0\r\n\r\n"
    )
    status, body = status_and_json(raw_exchange(port, payload))
    assert status == 413 and body["error"]["code"] == "body_too_large"


@pytest.mark.slow
def test_slow_body_times_out(served):
    _, port, *_ = served
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"text": '
    )
    start = time.monotonic()
    status, body = status_and_json(raw_exchange(port, head))  # the rest never comes
    assert status == 408 and body["error"]["code"] == "body_timeout"
    assert 1.9 < time.monotonic() - start < 8


def test_keeps_serving_after_bad_input_and_under_concurrency(served):
    url, _, proc, _ = served
    bad = [b'{"text": ', b"\xff\xfe", b"[" * 50000, b'{"image": "' + b"A" * 1000 + b'"}', b'{"text": 1}']
    with httpx.Client(base_url=url, timeout=10) as http:
        for body in bad:
            r = http.post("/v1/predict", content=body, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (body[:20], r.text)
            assert r.json()["error"]["code"]

        def one(i: int) -> int:
            return http.post("/v1/predict", json={"text": f"post number {i}"}).status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(one, range(64))) == {200}
    assert proc.poll() is None


def test_json_access_logs_on_stderr(served):
    url, _, _, log_path = served
    httpx.get(url + "/healthz", headers={"X-Request-ID": "server-log-check"}, timeout=5)
    time.sleep(0.2)
    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [e for e in entries if e.get("request_id") == "server-log-check"]
    assert access and access[0]["status"] == 200 and access[0]["route"] == "/healthz"
    assert all("level" in e and "logger" in e for e in entries)


def test_app_py_reports_a_bad_model_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--model", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2 and "model bundle folder not found" in result.stderr


def test_app_py_reports_bad_settings(tmp_path, tiny_bundle):
    env = {**os.environ, "SENTIMENT_FUSION_MAX_BODY_BYTES": "lots"}
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--model", str(tiny_bundle)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2 and "max_body_bytes" in result.stderr
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2 and "--workers" in result.stderr


@pytest.mark.slow
def test_images_and_timeouts_over_http(tiny_analyzer):
    app = create_app(Settings(request_timeout_s=0.5), analyzer=ImageAwareAnalyzer(tiny_analyzer))
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        r = http.post(
            "/v1/predict/upload",
            files={"image": ("a.jpg", png_bytes(fmt="JPEG"), "image/jpeg")},
            data={"text": "The meeting is at noon."},
        )
        assert r.status_code == 200 and set(r.json()["modalities"]) == {"text", "image"}
        image = base64.b64encode(png_bytes(color=(0, 0, 0))).decode()
        assert http.post("/v1/predict", json={"image": image}).json()["sentiment"] == "Negative"
    slow = create_app(Settings(request_timeout_s=0.3), analyzer=ImageAwareAnalyzer(tiny_analyzer, delay=2.0))
    with ThreadServer(slow) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        start = time.monotonic()
        r = http.post("/v1/predict", json={"text": "slow"})
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        assert time.monotonic() - start < 1.5
        assert http.get("/healthz").status_code == 200
