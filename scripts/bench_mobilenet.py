"""Throughput of MobileNetV2 ONNX graphs: images/s at a fixed batch (graph only, no decoding).

    python scripts/bench_mobilenet.py artifacts/mobilenet_v2_features.onnx artifacts/mobilenet_v2_features_int8.onnx

Runs the graphs in turn, ``--rounds`` times each, interleaved so that a load change on a shared
machine hits all of them alike, and reports the best round (the least disturbed) and the median.
Input: a fixed random batch, float32 [B, 224, 224, 3] in [-1, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graphs", type=Path, nargs="+")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=2, help="batches per round")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    batch = np.random.default_rng(0).uniform(-1, 1, (args.batch, 224, 224, 3)).astype(np.float32)
    sessions = {}
    for g in args.graphs:
        sess = ort.InferenceSession(str(g), opts, providers=["CPUExecutionProvider"])
        sess.run(None, {"pixels": batch})  # warm-up
        sessions[g.name] = sess
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, sess in sessions.items():
            start = time.perf_counter()
            for _ in range(args.iters):
                sess.run(None, {"pixels": batch})
            rates[name].append(args.iters * args.batch / (time.perf_counter() - start))
    result = {
        "batch": args.batch,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "ort": ort.__version__,
        "images_per_s": {
            n: {"best": round(max(r), 1), "median": round(float(np.median(r)), 1)} for n, r in rates.items()
        },
    }
    for name, r in result["images_per_s"].items():
        print(
            f"{name}: best {r['best']} img/s, median {r['median']} img/s (batch {args.batch}, {args.threads} thread(s))"
        )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
