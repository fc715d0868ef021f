"""Reliability of monitor mode (issue 15 point 6), measured against a real server on 127.0.0.1.

    python benchmarks/monitor_reliability.py                      # default bundle, 60 s, concurrency 16
    python benchmarks/monitor_reliability.py --duration 10 --json  # a short run; last line JSON

Two phases, each on its own fresh DuckDB file, each server started as a user does
(``python -m sentiment_fusion.cli serve --db FILE``):

1. **steady**: ``--duration`` seconds of ``POST /v1/posts`` at ``--concurrency`` clients, each batch
   ``--batch`` real tweets (TweetEval sentiment, ../shared/data) with unique ids, brands and times,
   while ``--readers`` clients read what the dashboard reads (``/v1/monitor``, summary, trends,
   ``/v1/monitor/alerts``). Reports errors, ingest and read latency (p50/p99), posts/s, the server's
   RSS over time; then stops the server and checks the file: every acknowledged post is there
   exactly once and nothing else is.
2. **kill -9**: the same ingest load; after ``--kill-after`` seconds the server gets SIGKILL with
   batches in flight. Restarted on the same file: every acknowledged post must be there, none
   twice; re-sending the unacknowledged batches must complete the set (their posts come back
   ``stored``, or ``unchanged`` when the kill fell between commit and answer).

The server runs with ``SENTIMENT_FUSION_MAX_QUEUE`` >= concurrency x batch, so that every batch in
flight can wait for the model (the default 512 answers 503 "overloaded" beyond that: back-pressure,
which this benchmark counts as an error). Traffic only goes to loopback; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TWEETS = REPO.parent / "shared" / "data" / "tweeteval" / "sentiment"
BRANDS = ("apple", "samsung", "google", "microsoft")
READS = ("/v1/monitor", "/v1/insights/summary", "/v1/insights/trends?period=day", "/v1/monitor/alerts?limit=10")


def load_texts(limit: int = 60_000) -> list[str]:
    texts: list[str] = []
    for name in ("train_text.txt", "test_text.txt", "val_text.txt"):
        path = TWEETS / name
        if path.is_file():
            texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        sys.exit(f"no tweets under {TWEETS}: this benchmark needs ../shared/data/tweeteval")
    return texts[:limit]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Server:
    def __init__(self, db: Path, model: Path | None, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "sentiment_fusion.cli", "serve", "--db", str(db), "--port", str(self.port)]
        command += ["--log-level", "warning"] + (["--model", str(model)] if model else [])
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=self.log)

    def wait_ready(self, timeout: float = 180.0) -> float:
        import httpx

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Load:
    """Ingest workers and dashboard readers; every batch is recorded as acknowledged or not."""

    def __init__(self, texts: list[str], batch: int, seed: int = 0) -> None:
        self.texts = texts
        self.batch = batch
        self.rng = random.Random(seed)
        self.next_text = 0
        self.sent: dict[str, dict] = {}  # every post ever sent, by id
        self.acked: set[str] = set()
        self.unacked: list[list[dict]] = []  # batches without a 200 answer
        self.ingest_ms: list[float] = []
        self.read_ms: list[float] = []
        self.errors: list[str] = []
        self.statuses: dict[str, int] = {}

    def make_batch(self, worker: int, seq: int) -> list[dict]:
        day0 = datetime(2024, 3, 1)
        out = []
        for j in range(self.batch):
            text = self.texts[self.next_text % len(self.texts)]
            self.next_text += 1
            post = {
                "id": f"w{worker}-{seq}-{j}",
                "text": text,
                "created_at": (day0 + timedelta(minutes=self.rng.randrange(14 * 24 * 60))).isoformat() + "Z",
                "brand": BRANDS[self.rng.randrange(len(BRANDS))],
            }
            self.sent[post["id"]] = post
            out.append(post)
        return out

    async def ingest_worker(self, client, url: str, worker: int, deadline: float, stop: asyncio.Event) -> None:
        seq = 0
        while time.monotonic() < deadline and not stop.is_set():
            batch = self.make_batch(worker, seq)
            seq += 1
            start = time.perf_counter()
            try:
                response = await client.post(url + "/v1/posts", json={"posts": batch})
            except Exception as exc:  # noqa: BLE001 - a killed server: the batch is unacknowledged
                self.unacked.append(batch)
                self.errors.append(f"ingest: {type(exc).__name__}")
                continue
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                self.unacked.append(batch)
                self.errors.append(f"ingest: HTTP {response.status_code} {response.text[:200]}")
                continue
            body = response.json()
            for post in body["posts"]:
                self.statuses[post["status"]] = self.statuses.get(post["status"], 0) + 1
            if body["rejected"]:
                self.errors.append(f"ingest: {body['rejected']} rejected: {body['posts'][0]}")
            self.acked.update(p["id"] for p in body["posts"] if p["status"] != "rejected")
            self.ingest_ms.append(elapsed)

    async def reader(self, client, url: str, deadline: float, stop: asyncio.Event) -> None:
        i = 0
        while time.monotonic() < deadline and not stop.is_set():
            path = READS[i % len(READS)]
            i += 1
            start = time.perf_counter()
            try:
                response = await client.get(url + path)
            except Exception as exc:  # noqa: BLE001
                if not stop.is_set():
                    self.errors.append(f"read {path}: {type(exc).__name__}")
                continue
            if response.status_code != 200:
                self.errors.append(f"read {path}: HTTP {response.status_code}")
            else:
                self.read_ms.append((time.perf_counter() - start) * 1000)

    async def run(self, url: str, duration: float, concurrency: int, readers: int, kill=None) -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency + readers, max_keepalive_connections=concurrency + readers)
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
            deadline = time.monotonic() + duration
            tasks = [self.ingest_worker(client, url, w, deadline, stop) for w in range(concurrency)]
            tasks += [self.reader(client, url, deadline, stop) for _ in range(readers)]
            if kill is not None:
                tasks.append(kill(stop))
            await asyncio.gather(*tasks)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))], 1)


def store_ids(db: Path) -> tuple[int, set[str]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT post_id FROM posts").fetchall()]
    finally:
        con.close()
    return len(ids), set(ids)


def steady(args, texts: list[str], work: Path, env: dict[str, str]) -> dict:
    db = work / "steady.duckdb"
    server = Server(db, args.model, work / "steady.log", env)
    ready_s = server.wait_ready()
    load = Load(texts, args.batch)
    samples: list[tuple[float, float]] = []

    async def sample_rss(stop_at: float) -> None:
        start = time.monotonic()
        while time.monotonic() < stop_at:
            value = rss_mb(server.proc.pid)
            if value is not None:
                samples.append((round(time.monotonic() - start, 1), round(value, 1)))
            await asyncio.sleep(1.0)

    async def both() -> None:
        start = time.monotonic()
        await asyncio.gather(
            load.run(server.url, args.duration, args.concurrency, args.readers),
            sample_rss(start + args.duration),
        )

    start = time.perf_counter()
    asyncio.run(both())
    wall = time.perf_counter() - start
    server.stop()
    rows, ids = store_ids(db)
    quarter = [m for t, m in samples if t >= args.duration * 0.25]
    return {
        "server_ready_s": round(ready_s, 1),
        "wall_s": round(wall, 1),
        "batches_acked": len(load.ingest_ms),
        "posts_acked": len(load.acked),
        "posts_per_s": round(len(load.acked) / wall, 1),
        "errors": len(load.errors),
        "first_errors": load.errors[:5],
        "statuses": load.statuses,
        "ingest_ms": {"p50": percentile(load.ingest_ms, 50), "p99": percentile(load.ingest_ms, 99)},
        "reads": len(load.read_ms),
        "read_ms": {"p50": percentile(load.read_ms, 50), "p99": percentile(load.read_ms, 99)},
        "rss_mb": {
            "start": samples[0][1] if samples else None,
            "at_25pct": quarter[0] if quarter else None,
            "max": max(m for _, m in samples) if samples else None,
            "end": samples[-1][1] if samples else None,
        },
        "rss_samples": samples,
        "store_rows": rows,
        "every_acked_once": load.acked <= ids and rows == len(ids),
        "nothing_unsent": ids <= set(load.sent),
    }


def kill9(args, texts: list[str], work: Path, env: dict[str, str]) -> dict:
    db = work / "kill.duckdb"
    server = Server(db, args.model, work / "kill.log", env)
    server.wait_ready()
    load = Load(texts, args.batch, seed=1)

    async def killer(stop: asyncio.Event) -> None:
        await asyncio.sleep(args.kill_after)
        os.kill(server.proc.pid, signal.SIGKILL)
        stop.set()

    asyncio.run(load.run(server.url, args.kill_after + 30, args.concurrency, args.readers, kill=killer))
    server.stop(kill=True)
    acked, unacked = set(load.acked), [p for batch in load.unacked for p in batch]
    restarted = Server(db, args.model, work / "kill.log", env)
    restart_s = restarted.wait_ready()
    restarted.stop()
    rows_after_kill, ids_after_kill = store_ids(db)
    # re-send the unacknowledged batches to a fresh server on the same file
    again = Server(db, args.model, work / "kill.log", env)
    again.wait_ready()
    resend: dict[str, int] = {}
    import httpx

    with httpx.Client(timeout=60, trust_env=False) as client:
        for batch in load.unacked:
            body = client.post(again.url + "/v1/posts", json={"posts": batch}).json()
            for post in body["posts"]:
                resend[post["status"]] = resend.get(post["status"], 0) + 1
    again.stop()
    rows_final, ids_final = store_ids(db)
    committed_unacked = len({p["id"] for p in unacked} & ids_after_kill)
    return {
        "killed_after_s": args.kill_after,
        "posts_acked_before_kill": len(acked),
        "batches_in_flight_at_kill": len(load.unacked),
        "restart_ready_s": round(restart_s, 1),
        "store_rows_after_restart": rows_after_kill,
        "every_acked_there": acked <= ids_after_kill,
        "duplicates_after_restart": rows_after_kill - len(ids_after_kill),
        "unacked_posts_found_committed": committed_unacked,
        "resend_statuses": resend,
        "complete_after_resend": ids_final == set(load.sent),
        "duplicates_final": rows_final - len(ids_final),
        "store_rows_final": rows_final,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="bundle (default: the shipped default)")
    parser.add_argument("--duration", type=float, default=60.0, help="steady phase seconds (default 60, max 300)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=50, help="posts per ingest request")
    parser.add_argument("--readers", type=int, default=2, help="dashboard readers beside the ingest")
    parser.add_argument("--kill-after", type=float, default=8.0, help="seconds of ingest before the SIGKILL")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and logs in this folder")
    parser.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    args = parser.parse_args(argv)
    args.duration = min(args.duration, 300.0)
    texts = load_texts()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_FUSION_")}
    env["SENTIMENT_FUSION_MAX_QUEUE"] = str(max(512, 2 * args.concurrency * args.batch))
    work = args.keep or Path(tempfile.mkdtemp(prefix="monitor-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now().astimezone().isoformat(timespec="minutes"),
        "machine": f"{os.uname().nodename}, {os.cpu_count()} CPUs",
        "tweets": len(texts),
        "concurrency": args.concurrency,
        "batch": args.batch,
        "readers": args.readers,
        "steady": steady(args, texts, work, env),
    }
    if not args.skip_kill:
        report["kill9"] = kill9(args, texts, work, env)
    samples = report["steady"].pop("rss_samples")
    if not args.json:
        print(json.dumps(report, indent=1))
        print("rss samples (s, MB):", samples[:: max(1, len(samples) // 12)])
    else:
        print(json.dumps(report))
    ok = report["steady"]["errors"] == 0 and report["steady"]["every_acked_once"]
    if "kill9" in report:
        k = report["kill9"]
        ok = ok and k["every_acked_there"] and k["complete_after_resend"] and not k["duplicates_final"]
    if args.keep is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"reliability: {'ok' if ok else 'FAILED'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
