"""Limits, server-side paths, URL fetching, auth, CORS, request ids, logs and settings."""

from __future__ import annotations

import http.server
import ipaddress
import json
import logging
import os
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers.api import ImageAwareAnalyzer, assert_error, b64, client, png_bytes
from sentiment_fusion.api.config import Settings
from sentiment_fusion.api.fetch import address_forbidden


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- size limits
def test_body_limit_from_content_length(image_analyzer):
    with client(image_analyzer, max_body_bytes=1000) as c:
        r = c.post(
            "/v1/predict", content=json.dumps({"text": "x" * 2000}), headers={"content-type": "application/json"}
        )
        assert_error(r, 413, "body_too_large", "1000-byte limit")
        assert c.post("/v1/predict", json={"text": "small"}).status_code == 200


def test_body_limit_counts_streamed_bytes(image_analyzer):
    def chunks():  # no Content-Length: chunked transfer
        yield b'{"text": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    with client(image_analyzer, max_body_bytes=1000) as c:
        r = c.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        assert_error(r, 413, "body_too_large")
        files = {"image": ("big.png", b"\0" * 5000, "image/png")}
        assert_error(c.post("/v1/predict/upload", files=files), 413, "body_too_large")


def test_image_byte_limit(image_analyzer):
    big = png_bytes((64, 64))
    with client(image_analyzer, max_image_bytes=len(big) - 1) as c:
        assert_error(c.post("/v1/predict", json={"image": b64(big)}), 413, "image_too_large", "limit")
        assert_error(c.post("/v1/predict", json={"image": "data:image/png;base64," + b64(big)}), 413, "image_too_large")
        assert_error(c.post("/v1/predict/upload", files={"image": ("a.png", big, "image/png")}), 413, "image_too_large")
        assert c.post("/v1/predict", json={"image": b64(png_bytes((4, 4)))}).status_code == 200


def test_pixel_limit_rejects_bombs_before_decoding(image_analyzer):
    with client(image_analyzer) as c:  # default 25 MP
        bomb = png_claiming(100_000, 100_000)  # 10 gigapixels in 100 bytes
        error = assert_error(c.post("/v1/predict", json={"image": b64(bomb)}), 413, "image_too_large", "pixels")
        assert "25000000" in error["message"]
        assert_error(
            c.post("/v1/predict/upload", files={"image": ("b.png", bomb, "image/png")}), 413, "image_too_large"
        )
    with client(image_analyzer, max_image_pixels=100) as c:
        assert_error(c.post("/v1/predict", json={"image": b64(png_bytes((11, 10)))}), 413, "image_too_large", "110")
        assert c.post("/v1/predict", json={"image": b64(png_bytes((10, 10)))}).status_code == 200


def test_text_and_batch_limits(image_analyzer):
    with client(image_analyzer, max_text_chars=10, max_batch_items=3) as c:
        assert_error(c.post("/v1/predict", json={"text": "x" * 11}), 422, "text_too_long", "11 characters", "10")
        assert c.post("/v1/predict", json={"text": "x" * 10}).status_code == 200
        error = assert_error(
            c.post("/v1/predict/batch", json={"items": [{"text": "a"}] * 4}), 422, "batch_too_large", "4"
        )
        assert "3" in error["message"]
        r = c.post("/v1/predict/batch", json={"items": [{"text": "a"}, {"text": "y" * 11}]})
        assert_error(r, 422, "text_too_long", "items[1]")


def test_default_limits_suit_the_open_internet(monkeypatch):
    for key in list(os.environ):
        if key.startswith("SENTIMENT_FUSION_"):
            monkeypatch.delenv(key)
    s = Settings()
    assert (s.max_body_bytes, s.max_image_bytes, s.max_image_pixels) == (8 << 20, 5 << 20, 25_000_000)
    assert (s.max_text_chars, s.max_batch_items, s.request_timeout_s) == (5000, 64, 10.0)
    assert s.image_root is None and not s.url_fetch_enabled and not s.api_keys and not s.cors_origins


# ----------------------------------------------------------------------------- time limits
@pytest.mark.slow
def test_request_timeout_is_a_json_504_not_a_hang(tiny_analyzer):
    with client(ImageAwareAnalyzer(tiny_analyzer, delay=2.0), request_timeout_s=0.3) as c:
        start = time.monotonic()
        r = c.post("/v1/predict", json={"text": "slow"})
        assert time.monotonic() - start < 1.5  # answered at the deadline, not when the model finishes
        assert_error(r, 504, "timeout", "0.3 s")
        assert c.get("/healthz").status_code == 200


def test_full_queue_is_a_fast_503(tiny_analyzer):
    with client(ImageAwareAnalyzer(tiny_analyzer, delay=0.4), max_queue=1, max_batch_items=1) as c:
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda i: c.post("/v1/predict", json={"text": f"post {i}"}), range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert 200 in statuses and 503 in statuses, statuses
        busy = next(r for r in responses if r.status_code == 503)
        assert_error(busy, 503, "overloaded")
        assert busy.headers["retry-after"] == "1"


def test_micro_batching_merges_concurrent_requests(tiny_analyzer):
    analyzer = ImageAwareAnalyzer(tiny_analyzer, delay=0.05)
    with client(analyzer) as c, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: c.post("/v1/predict", json={"text": f"post {i}"}), range(16)))
    assert all(r.status_code == 200 for r in responses)
    assert max(analyzer.batch_sizes) > 1 and sum(analyzer.batch_sizes) == 16
    for i, r in enumerate(responses):  # merged or not, every post gets its own answer
        assert r.json()["scores"] == pytest.approx(tiny_analyzer.predict(text=f"post {i}").scores, abs=1e-5)


# ----------------------------------------------------------------------------- server-side paths
@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "dark.png").write_bytes(png_bytes(color=(0, 0, 0)))
    (root / "bright.jpg").write_bytes(png_bytes(color=(255, 255, 255), fmt="JPEG"))
    (tmp_path / "secret.png").write_bytes(png_bytes())
    os.symlink(tmp_path / "secret.png", root / "escape.png")
    os.symlink(root / "sub" / "dark.png", root / "inside.png")
    os.symlink(tmp_path, root / "up")
    os.mkfifo(root / "fifo.png")
    return root


def test_paths_inside_the_image_root(image_analyzer, image_root):
    with client(image_analyzer, image_root=image_root) as c:
        assert c.post("/v1/predict", json={"image": "sub/dark.png"}).json()["sentiment"] == "Negative"
        assert c.post("/v1/predict", json={"image": "bright.jpg"}).json()["sentiment"] == "Positive"
        assert c.post("/v1/predict", json={"image": str(image_root / "bright.jpg")}).status_code == 200
        assert c.post("/v1/predict", json={"image": "inside.png"}).status_code == 200  # symlink within the root
        assert c.post("/v1/predict", json={"image": b64(png_bytes())}).status_code == 200  # base64 still works


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("../secret.png", 403, "path_outside_root"),
        ("sub/../../secret.png", 403, "path_outside_root"),
        ("/etc/passwd", 403, "path_outside_root"),
        ("escape.png", 403, "path_outside_root"),  # symlink pointing out of the root
        ("up/secret.png", 403, "path_outside_root"),  # through a symlinked folder
        ("../does-not-exist.png", 403, "path_outside_root"),  # outside: no hint whether it exists
        ("missing.png", 422, "image_not_found"),
        ("sub", 422, "invalid_path"),
        ("fifo.png", 422, "invalid_path"),  # would block a plain open(): must not hang
        ("a\x00b.png", 422, "invalid_path"),
    ],
)
def test_paths_that_are_refused(image_analyzer, image_root, path, status, code):
    with client(image_analyzer, image_root=image_root) as c:
        error = assert_error(c.post("/v1/predict", json={"image": path}), status, code)
        assert str(image_root) not in error["message"]  # the server's folders are not revealed


def test_image_root_must_exist(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        Settings(image_root=tmp_path / "nope")


# ----------------------------------------------------------------------------- URL fetching
class _ImageHandler(http.server.BaseHTTPRequestHandler):
    image = png_bytes(color=(255, 255, 255))

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if self.path == "/img.png":
            self._send(200, self.image)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/img.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big-declared":
            self._send(200, b"\0" * 5000)
        elif self.path == "/big-streamed":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3e8\r\n" + b"\0" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow":
            time.sleep(2)
            self._send(200, self.image)
        else:
            self._send(404, b"no")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that hang up early are expected here
        pass


@pytest.fixture(scope="module")
def image_server():
    server = _QuietServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def url_client(analyzer, **overrides):
    settings = {
        "url_fetch_enabled": True,
        "url_allowed_hosts": ["127.0.0.1"],
        "url_allow_private": True,
        "max_image_bytes": 3000,
        "url_timeout_s": 1.0,
    }
    return client(analyzer, **{**settings, **overrides})


def test_url_fetch_from_an_allowed_host(image_analyzer, image_server):
    # Loopback only reachable because the test relaxes the private-address check explicitly.
    with url_client(image_analyzer) as c:
        r = c.post("/v1/predict", json={"image": f"{image_server}/img.png"})
        assert r.status_code == 200, r.text
        assert r.json()["sentiment"] == "Positive"


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("/missing", 422, "url_fetch_failed"),
        ("/redirect", 422, "url_redirect"),
        ("/big-declared", 413, "image_too_large"),
        ("/big-streamed", 413, "image_too_large"),
        ("/slow", 504, "url_timeout"),
    ],
)
def test_url_fetch_failures(image_analyzer, image_server, path, status, code):
    with url_client(image_analyzer) as c:
        assert_error(c.post("/v1/predict", json={"image": image_server + path}), status, code)


def test_url_fetch_refusals(image_analyzer, image_server):
    port = image_server.rsplit(":", 1)[1]
    with url_client(
        image_analyzer, url_allow_private=False, url_allowed_hosts=["127.0.0.1", "localhost", ".local.test"]
    ) as c:
        # allowed host names, but they resolve to loopback: refused, nothing is fetched
        for url in (f"{image_server}/img.png", f"http://localhost:{port}/img.png"):
            assert_error(c.post("/v1/predict", json={"image": url}), 403, "url_address_forbidden", "non-public")
        assert_error(c.post("/v1/predict", json={"image": "http://example.com/a.png"}), 403, "url_host_not_allowed")
        assert_error(
            c.post("/v1/predict", json={"image": "http://169.254.169.254/latest/meta-data"}),
            403,
            "url_host_not_allowed",
        )
        assert_error(c.post("/v1/predict", json={"image": "ftp://127.0.0.1/a.png"}), 422, "url_scheme_not_allowed")
        assert_error(c.post("/v1/predict", json={"image": "http://user:pw@127.0.0.1/a.png"}), 422, "invalid_url")
        assert_error(c.post("/v1/predict", json={"image": "http://127.0.0.1:99999/a.png"}), 422, "invalid_url")
        assert_error(
            c.post("/v1/predict", json={"image": "http://no-such-host.local.test/a.png"}), 422, "url_unresolvable"
        )
        for host in ("a..local.test", f"{'x' * 64}.local.test"):  # the IDNA codec refuses these labels
            assert_error(c.post("/v1/predict", json={"image": f"http://{host}/a.png"}), 422, "invalid_url")
            r = c.post("/v1/predict/batch", json={"items": [{"text": "fine"}, {"image": f"http://{host}/a.png"}]})
            assert_error(r, 422, "invalid_url")


def test_url_fetch_needs_an_allow_list():
    with pytest.raises(ValueError, match="url_allowed_hosts"):
        Settings(url_fetch_enabled=True)
    with pytest.raises(ValueError, match="max_queue"):
        Settings(max_queue=10, max_batch_items=64)


@pytest.mark.parametrize(
    "address, forbidden",
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_address_check(address, forbidden):
    assert address_forbidden(ipaddress.ip_address(address)) is forbidden


# ----------------------------------------------------------------------------- auth, CORS, ids, logs
def test_api_keys(image_analyzer):
    with client(image_analyzer, api_keys=["k-one", "k-two"]) as c:
        assert_error(c.post("/v1/predict", json={"text": "a"}), 401, "missing_api_key", "X-API-Key")
        assert_error(c.post("/v1/predict", json={"text": "a"}, headers={"X-API-Key": "nope"}), 401, "invalid_api_key")
        assert c.post("/v1/predict", json={"text": "a"}, headers={"X-API-Key": "k-two"}).status_code == 200
        for path in ("/v1/model", "/metrics"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"X-API-Key": "k-one"}).status_code == 200
        assert c.post("/v1/predict/batch", json={"items": [{"text": "a"}]}).status_code == 401
        assert c.post("/v1/predict/upload", data={"text": "a"}).status_code == 401
        for path in ("/healthz", "/readyz", "/", "/static/app.js"):
            assert c.get(path).status_code == 200, path


def test_cors(image_analyzer):
    preflight = {
        "Origin": "https://brand.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    }
    with client(image_analyzer, cors_origins=["https://brand.example"]) as c:
        r = c.options("/v1/predict", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://brand.example"
        r = c.post("/v1/predict", json={"text": "a"}, headers={"Origin": "https://brand.example"})
        assert r.headers["access-control-allow-origin"] == "https://brand.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        r = c.post("/v1/predict", json={"text": "a"}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    with client(image_analyzer) as c:  # off by default
        assert "access-control-allow-origin" not in c.options("/v1/predict", headers=preflight).headers


def test_request_ids(image_analyzer):
    with client(image_analyzer) as c:
        assert c.get("/healthz", headers={"X-Request-ID": "abc-123.x:y"}).headers["x-request-id"] == "abc-123.x:y"
        for bad in ("has space", "x" * 200, "a\tb", "<script>"):
            rid = c.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
            assert rid != bad and len(rid) == 32
        r = c.post("/v1/predict", json={}, headers={"X-Request-ID": "req-42"})
        assert r.headers["x-request-id"] == "req-42" and r.json()["error"]["request_id"] == "req-42"
        assert c.get("/nope").headers["x-request-id"]


def test_json_access_log(image_analyzer, caplog):
    from sentiment_fusion.api.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="sentiment_fusion.api.access"), client(image_analyzer) as c:
        c.post("/v1/predict", json={"text": "log me"}, headers={"X-Request-ID": "log-1"})
    record = next(r for r in caplog.records if r.name == "sentiment_fusion.api.access" and r.request_id == "log-1")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["status"] == 200 and entry["route"] == "/v1/predict" and entry["method"] == "POST"
    assert entry["request_id"] == "log-1" and entry["duration_ms"] >= 0 and entry["level"] == "info"
    assert "log me" not in json.dumps(entry)  # post contents are never logged


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SENTIMENT_FUSION_MAX_TEXT_CHARS", "7")
    monkeypatch.setenv("SENTIMENT_FUSION_API_KEYS", "a, b")
    monkeypatch.setenv("SENTIMENT_FUSION_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("SENTIMENT_FUSION_URL_FETCH_ENABLED", "true")
    monkeypatch.setenv("SENTIMENT_FUSION_URL_ALLOWED_HOSTS", "Img.Example.com,.cdn.example")
    monkeypatch.setenv("SENTIMENT_FUSION_IMAGE_ROOT", str(tmp_path))
    s = Settings()
    assert s.max_text_chars == 7 and s.api_key_values() == [b"a", b"b"]
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.url_allowed_hosts == ["img.example.com", ".cdn.example"] and s.image_root == tmp_path.resolve()
    assert "a" not in repr(s.api_keys)  # secrets stay out of logs and reprs
    monkeypatch.setenv("SENTIMENT_FUSION_MAX_BODY_BYTES", "-5")
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings()


def test_model_loading_states(monkeypatch, tiny_bundle):
    from sentiment_fusion.runtime import Analyzer

    gate = threading.Event()
    real_load = Analyzer.load

    def slow_load(*args, **kwargs):
        gate.wait(10)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(Analyzer, "load", slow_load)
    with client(None, model_path=tiny_bundle) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        assert c.get("/healthz").status_code == 200
        assert_error(c.post("/v1/predict", json={"text": "a"}), 503, "model_not_ready", "loading")
        gate.set()
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/readyz").json()["status"] == "ready"
        assert c.post("/v1/predict", json={"text": "a"}).status_code == 200


def test_broken_bundle_keeps_the_process_up(tmp_path):
    with client(None, model_path=tmp_path, load_in_background=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "failed" and "manifest.json" in r.json()["detail"]
        assert_error(c.post("/v1/predict", json={"text": "a"}), 503, "model_not_ready", "failed to load")
        assert c.get("/healthz").status_code == 200
