"""What would a shorter token cap buy on long texts? Accuracy and speed of the shipped text graph
on IMDB reviews cut to fewer tokens.

    python benchmarks/imdb_token_cap.py [--n 3000] [--caps 256,192,160,128] [--model models/default] [--profile]

Issue 13 asks for ``evaluate`` on IMDB test (25,000 reviews) in under 3 minutes; most reviews
fill the bundle's 256-token cap (``head_tail``: the first quarter and the last three quarters of
the budget), so their cost is the graph's, not padding's. This scores the same graph with the
same truncation at smaller caps, on a seeded ``--n`` of the IMDB *train* reviews that no shipped
text model trained on (the text recipe's seeded 14,000, seed 13, hold the earlier stage's 6,000;
the other 11,000 are left), negative vs positive by argmax as ``evaluate`` scores IMDB. Speed is
texts per second through the runtime's own ``TextModel.run`` (cut by length, one slice per core),
every cap in the same run: only the ratios between caps mean anything (the host's speed moves).
``--profile`` adds where the graph's time goes for texts at the first cap (ONNX Runtime's
profiler, one thread, 16 reviews that fill the cap, three calls): each op type's share of the
kernel time. No test split is read. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.sessions import onnx_session, session_options  # noqa: E402
from sentiment_fusion.text.encoding import TextEncoder  # noqa: E402

IMDB_TRAIN = "imdb:{data}/imdb/aclImdb_v1.tar.gz:train"
TRAINED_ON, TRAINING_SEED = 14000, 13  # the text recipe's IMDB sample (README, "Rebuilding the shipped bundles")


def held_out_reviews(data: str, n: int, seed: int = 2026) -> tuple[list[str], np.ndarray]:
    """A seeded ``n`` of the IMDB train reviews outside the text recipe's sample, and their labels."""
    examples = read_dataset(IMDB_TRAIN.format(data=data)).examples
    labelled = [e for e in examples if e.text is not None and e.label is not None]
    trained = np.random.default_rng(TRAINING_SEED).choice(len(labelled), TRAINED_ON, replace=False)
    unused = np.setdiff1d(np.arange(len(labelled)), trained)
    if n > len(unused):
        raise SystemExit(f"--n {n}: only {len(unused)} reviews are held out")
    pick = np.sort(np.random.default_rng(seed).choice(unused, n, replace=False))
    return [labelled[i].text for i in pick], np.array([labelled[i].label for i in pick])


def capped(encoder: TextEncoder, cap: int) -> TextEncoder:
    """``encoder`` with a token cap of ``cap`` (the same tokenizer, normalizer and truncation)."""
    return TextEncoder(encoder.normalizer, encoder.tokenizer, dataclasses.replace(encoder.config, max_length=cap))


def op_shares(graph: Path, encoder: TextEncoder, texts: list[str], rows: int = 16) -> dict[str, float]:
    """Each op type's share of the graph's kernel time on ``rows`` texts that fill the cap."""
    full = [ids for ids in encoder.token_ids(texts) if len(ids) == encoder.config.max_length][:rows]
    input_ids, mask = encoder.pad(full)
    options = session_options(threads=1)  # what the runtime runs, one thread
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = onnx_session(graph, options=options)
    for _ in range(3):
        session.run(None, {"input_ids": input_ids, "attention_mask": mask})
    events = json.loads(Path(session.end_profiling()).read_text())
    micros: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            micros[event["args"]["op_name"]] += event["dur"]
    total = sum(micros.values())
    return {op: round(100 * t / total, 1) for op, t in micros.most_common() if 100 * t / total >= 0.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="held-out IMDB train reviews")
    parser.add_argument("--caps", default="256,192,160,128", help="token caps, the bundle's own first")
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--profile", action="store_true", help="each op type's share of the time at the first cap")
    args = parser.parse_args()
    caps = [int(c) for c in args.caps.split(",")]

    texts, labels = held_out_reviews(args.data, args.n)
    analyzer = Analyzer.load(args.model)
    text_model = analyzer.text
    shipped = text_model.encoder
    text_model.run(texts[:64])  # warm-up
    rows = []
    for cap in caps:
        text_model.encoder = capped(shipped, cap)
        start = time.perf_counter()
        logits, _ = text_model.run(texts)
        seconds = time.perf_counter() - start
        predicted = np.where(logits[:, 2] > logits[:, 0], 2, 0)  # negative vs positive, as evaluate scores IMDB
        accuracy = float((predicted == labels).mean())
        rows.append({"cap": cap, "accuracy": round(accuracy, 4), "texts_per_s": round(len(texts) / seconds, 1)})
    text_model.encoder = shipped
    first = rows[0]["texts_per_s"]
    negative, positive = int((labels == 0).sum()), int((labels == 2).sum())
    print(f"{len(texts)} held-out IMDB train reviews ({negative} negative, {positive} positive)")
    for row in rows:
        row["speed_vs_first"] = round(row["texts_per_s"] / first, 2)
        speed = f"{row['texts_per_s']:6.1f} texts/s ({row['speed_vs_first']:.2f}x)"
        print(f"  {shipped.config.truncation} cap {row['cap']:4d}: accuracy {row['accuracy']:.4f}  {speed}")
    result = {"n": len(texts), "split": "IMDB train, held out from the text recipe", "rows": rows}
    if args.profile:
        cap = caps[0]
        graph = analyzer.path / analyzer.manifest["components"]["text"]["files"]["graph"]["path"]
        result["op_shares_percent"] = op_shares(graph, capped(shipped, cap), texts)
        print(
            f"  where the time goes at {cap} tokens (%):",
            ", ".join(f"{op} {share}" for op, share in result["op_shares_percent"].items()),
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
