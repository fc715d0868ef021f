"""ONNX Runtime settings that issue 13 lists as worth measuring, against the runtime's own.

    python benchmarks/ort_settings.py [--rounds 3] [--seconds 2] [--model models/default]

Each setting runs the bundle's graphs on one thread, as the runtime runs every session (one
per core), in alternating rounds so that the host's drift falls on every setting alike:
- ``text`` graph: 2,000 TweetEval val tweets, tokenized once, sorted and cut by length in calls
  of at most 32 as ``TextModel`` cuts them (``length_chunks``);
- ``text`` graph on long texts: 64 seeded held-out IMDB *train* reviews, calls of 8;
- ``image_encoder`` graph: 64 MVSA-Single images, preprocessed once, calls of 16.

Settings: the runtime's (``sessions.session_options``: all graph optimizations, memory arena and
memory patterns on, ``SkipLayerNormFusion`` off); graph optimizations only ``extended`` or only
``basic``; the memory arena off; memory patterns off; I/O binding (inputs and outputs bound to
NumPy arrays, outputs preallocated); and a graph optimized once and saved, then loaded with
optimizations off (what "pre-optimized graphs in the bundle" would run; its load time is
printed beside the runtime's). Every setting's outputs are compared with the runtime's on the
same inputs (largest absolute difference, on four calls of each workload). Texts or images per
second are the median over the rounds. No test split is read. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from imdb_token_cap import held_out_reviews  # noqa: E402

from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.runtime import Analyzer, length_chunks  # noqa: E402
from sentiment_fusion.sessions import onnx_session, session_options  # noqa: E402

TWEETEVAL_VAL = "tweeteval:{data}/tweeteval/sentiment:val"


def text_calls(encoder, texts: list[str], size: int) -> list[dict]:
    """Feeds as ``TextModel`` makes them: sorted by length, cut by ``length_chunks``, padded."""
    ids = sorted(encoder.token_ids(texts), key=len)
    calls = []
    for chunk in length_chunks([len(x) for x in ids], size):
        input_ids, mask = encoder.pad(ids[chunk.start : chunk.stop])
        calls.append({"input_ids": input_ids, "attention_mask": mask})
    return calls


def image_calls(preprocessor, images: list[bytes], size: int) -> list[dict]:
    pixels = np.stack([preprocessor.pixels(image) for image in images])
    return [{"pixels": pixels[i : i + size]} for i in range(0, len(pixels), size)]


def options_for(setting: str):
    import onnxruntime as ort

    options = session_options(threads=1)
    if setting == "optimizations_extended":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    elif setting == "optimizations_basic":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    elif setting == "memory_arena_off":
        options.enable_cpu_mem_arena = False
    elif setting == "memory_patterns_off":
        options.enable_mem_pattern = False
    return options


def runner(graph: Path, setting: str, folder: Path) -> tuple[Callable[[dict], list[np.ndarray]], float]:
    """A function feeds -> outputs under ``setting``, and the seconds its session took to load."""
    import onnxruntime as ort

    if setting == "pre_optimized":
        saved = folder / f"{graph.stem}.optimized.onnx"
        if not saved.exists():
            for sibling in graph.parent.iterdir():  # external data (the shared word-embedding table)
                if not (folder / sibling.name).exists():
                    shutil.copyfile(sibling, folder / sibling.name)
            options = session_options(threads=1)
            options.optimized_model_filepath = str(saved)
            onnx_session(graph, options=options)
        options = session_options(threads=1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        start = time.perf_counter()
        session = onnx_session(saved, options=options)
    else:
        start = time.perf_counter()
        session = onnx_session(graph, options=options_for(setting))
    load_s = time.perf_counter() - start
    names = [o.name for o in session.get_outputs()]
    if setting != "io_binding":
        return (lambda feeds: session.run(names, feeds)), load_s
    probe = session.run(
        names,
        {
            i.name: np.zeros([1 if isinstance(d, str) else d for d in i.shape], _dtype(i.type))
            for i in session.get_inputs()
        },
    )
    widths = [out.shape[1:] for out in probe]

    def bound(feeds: dict) -> list[np.ndarray]:
        binding = session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        rows = next(iter(feeds.values())).shape[0]
        outputs = [np.empty((rows, *width), np.float32) for width in widths]
        for name, out in zip(names, outputs, strict=True):
            binding.bind_output(name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        session.run_with_iobinding(binding)
        return outputs

    return bound, load_s


def _dtype(onnx_type: str):
    return {"tensor(int64)": np.int64, "tensor(uint8)": np.uint8, "tensor(float)": np.float32}[onnx_type]


def per_second(run: Callable[[dict], list[np.ndarray]], calls: list[dict], seconds: float) -> float:
    """Items per second over whole passes through ``calls`` (every length alike), at least ``seconds``."""
    run(calls[0])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for feeds in calls:
            run(feeds)
            done += len(next(iter(feeds.values())))
    return done / (time.perf_counter() - start)


SETTINGS = (
    "runtime",
    "optimizations_extended",
    "optimizations_basic",
    "memory_arena_off",
    "memory_patterns_off",
    "io_binding",
    "pre_optimized",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="at least, per setting, workload and round")
    args = parser.parse_args()

    analyzer = Analyzer.load(args.model)
    files = analyzer.manifest["components"]
    text_graph = analyzer.path / files["text"]["files"]["graph"]["path"]
    image_graph = analyzer.path / files["image"]["files"]["encoder"]["path"]
    tweets = [e.text for e in read_dataset(TWEETEVAL_VAL.format(data=args.data)).examples if e.text]
    reviews, _ = held_out_reviews(args.data, 64)
    images = [p.read_bytes() for p in sorted((Path(args.data) / "mvsa_single" / "data").glob("*.jpg"))[:64]]
    workloads = {
        "tweets": (text_graph, text_calls(analyzer.text.encoder, tweets, 32)),
        "imdb_reviews": (text_graph, text_calls(analyzer.text.encoder, reviews, 8)),
        "images": (image_graph, image_calls(analyzer.image.preprocessor, images, 16)),
    }
    speeds: dict = {s: {w: [] for w in workloads} for s in SETTINGS}
    result: dict = {"model": analyzer.version, "settings": {}}
    with tempfile.TemporaryDirectory() as folder:
        runners = {(s, w): runner(graph, s, Path(folder)) for s in SETTINGS for w, (graph, _) in workloads.items()}
        for setting in SETTINGS:
            row: dict = {"load_s": {w: round(runners[setting, w][1], 3) for w in workloads}}
            for name, (_, calls) in workloads.items():
                ours, base = runners[setting, name][0], runners["runtime", name][0]
                row[f"{name}_max_abs_diff"] = max(
                    float(np.abs(a - b).max())
                    for feeds in calls[:: max(1, len(calls) // 4)]  # four calls across the lengths
                    for a, b in zip(ours(feeds), base(feeds), strict=True)
                )
            result["settings"][setting] = row
        for _ in range(args.rounds):
            for setting in SETTINGS:
                for name, (_, calls) in workloads.items():
                    speeds[setting][name].append(per_second(runners[setting, name][0], calls, args.seconds))
    for setting in SETTINGS:
        row = result["settings"][setting]
        for name in workloads:
            median = statistics.median(speeds[setting][name])
            row[f"{name}_per_s"] = round(median, 1)
            row[f"{name}_vs_runtime"] = round(median / statistics.median(speeds["runtime"][name]), 3)
        print(
            f"{setting:>24}: "
            + "  ".join(f"{n} {row[f'{n}_per_s']:7.1f}/s ({row[f'{n}_vs_runtime']:.2f}x)" for n in workloads)
            + f"  max |diff| {max(row[f'{n}_max_abs_diff'] for n in workloads):.1e}"
            + f"  text load {row['load_s']['tweets']:.2f} s"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
