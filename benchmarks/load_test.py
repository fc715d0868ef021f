"""Bounded load test of the HTTP API against a real uvicorn on 127.0.0.1.

    python benchmarks/load_test.py                         # default bundle, starts `python app.py`
    python benchmarks/load_test.py --model /tmp/tiny --duration 10 --json
    python benchmarks/load_test.py --url http://127.0.0.1:8000   # a server you started

Phases (each capped by --duration seconds AND --max-requests): ``text`` (text-only posts),
``text+image`` (text plus a 640x480 JPEG as base64) and ``mixed`` (half each); the image
phases are skipped when the model has no image component. Each phase has --concurrency
clients on keep-alive connections (a small asyncio HTTP/1.1 client: the load generator shares
the 2 cores with the server, so it has to be cheap). Reports requests/s, p50/p99 latency,
error count and the server's RSS before and after (flat memory = no leak). With --json the
LAST line of stdout is one JSON object.

Targets on a 2-core machine with the default bundle: text >= 150 req/s, text+image >= 40
req/s, p99 <= 250 ms. Traffic only ever goes to loopback; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import ipaddress
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
MAX_DURATION_S = 120.0
MAX_REQUESTS = 50_000
TEXTS = [
    "I love this phone, the camera is amazing!!! 😍",
    "Worst customer service ever. Never again.",
    "The meeting moved to 3pm on Thursday.",
    "@user thanks for the quick fix, works great now #happy",
    "Flight delayed 4 hours and no one tells us anything 😡",
    "New blog post about our Q3 roadmap: http://t.co/x",
    "not bad, not great either",
    "Best concert of my life, still can't believe it",
]


def jpeg_payloads(n: int = 4, size=(640, 480)) -> list[str]:
    """Social-media-sized JPEGs (a gradient with noise: realistic compressed size), as base64."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        y, x = np.mgrid[0 : size[1], 0 : size[0]]
        base = np.stack([(x * 255 // size[0]), (y * 255 // size[1]), np.full_like(x, 40 * i)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype("uint8")
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=85)
        out.append(base64.b64encode(buffer.getvalue()).decode())
    return out


def ensure_loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            raise SystemExit(f"refusing to load-test {host}: this script only targets loopback addresses")
    return host, port


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Connection:
    """One keep-alive HTTP/1.1 connection: POST JSON, read status + Content-Length body."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), len(body), body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_phase(host: str, port: int, make_body, duration: float, max_requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = {"count": 0, "statuses": {}}
    issued = 0
    stop_at = time.perf_counter() + duration

    async def client(seed: int) -> None:
        nonlocal issued
        rng = random.Random(seed)
        conn = Connection(host, port)
        try:
            while time.perf_counter() < stop_at and issued < max_requests:
                issued += 1
                body = make_body(rng)
                start = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.post("/v1/predict", body), timeout=30)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                    conn.close()
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors["count"] += 1
                    errors["statuses"][str(status)] = errors["statuses"].get(str(status), 0) + 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "req_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
        "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else None,
        "errors": errors,
    }


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only (checked before)
        return json.loads(response.read())


def start_server(model: str | None, port: int, extra_env: dict) -> subprocess.Popen:
    env = {**os.environ, **extra_env}
    cmd = [sys.executable, str(REPO / "app.py"), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if model:
        cmd += ["--model", model]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            get_json(url + "/readyz")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server on loopback (default: start python app.py)")
    parser.add_argument("--model", help="bundle folder for the started server (default: models/default)")
    parser.add_argument("--port", type=int, default=0, help="port for the started server (default: a free one)")
    parser.add_argument("--duration", type=float, default=15.0, help=f"seconds per phase (max {MAX_DURATION_S:g})")
    parser.add_argument("--max-requests", type=int, default=10_000, help=f"requests per phase (max {MAX_REQUESTS})")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--phases", default="text,text+image,mixed")
    parser.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    args = parser.parse_args(argv)
    duration = min(args.duration, MAX_DURATION_S)
    max_requests = min(args.max_requests, MAX_REQUESTS)

    proc = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        port = args.port
        if not port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        proc = start_server(args.model, port, {})
    host, port = ensure_loopback(url)
    try:
        wait_ready(url, proc)
        model = get_json(url + "/v1/model")
        images = jpeg_payloads() if "image" in model["modalities"] else []
        bodies = {
            "text": lambda rng: json.dumps({"text": rng.choice(TEXTS)}).encode(),
            "text+image": lambda rng: json.dumps({"text": rng.choice(TEXTS), "image": rng.choice(images)}).encode(),
        }
        bodies["mixed"] = lambda rng: bodies["text" if rng.random() < 0.5 else "text+image"](rng)
        pid = proc.pid if proc else None
        report = {
            "model": {"name": model["name"], "version": model["version"], "modalities": model["modalities"]},
            "concurrency": args.concurrency,
            "cpus": os.cpu_count(),
            "phases": {},
            "image_bytes": [len(base64.b64decode(i)) for i in images],
        }
        # Warm-up (not reported) with every kind of request, so "RSS at start" is the warmed-up server's.
        warm = bodies["mixed"] if images else bodies["text"]
        asyncio.run(run_phase(host, port, warm, 3.0, 400, args.concurrency))
        report["rss_mb_start"] = rss_mb(pid)
        for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
            if phase != "text" and not images:
                report["phases"][phase] = {"skipped": "the model has no image component"}
                continue
            result = asyncio.run(run_phase(host, port, bodies[phase], duration, max_requests, args.concurrency))
            result["rss_mb_after"] = rss_mb(pid)
            report["phases"][phase] = result
            print(
                f"{phase:>11}: {result['requests']:>6} requests {result['req_per_s']:>7} req/s  "
                f"p50 {result['p50_ms']:>6} ms  p99 {result['p99_ms']:>6} ms  errors {result['errors']['count']}"
                f"  rss {result['rss_mb_after']} MB",
                flush=True,
            )
        report["rss_mb_end"] = rss_mb(pid)
        print(f"server RSS: {report['rss_mb_start']} MB at start, {report['rss_mb_end']} MB at the end")
        if args.json:
            print(json.dumps(report))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
