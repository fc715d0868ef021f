"""Would OpenVINO's bf16 kernels (AMX on Sapphire Rapids) run the text model faster than the
shipped batch-invariant int8 graph on ONNX Runtime? Accuracy, batch invariance and paired speed.

    pip install openvino==2026.4.1 onnx    # not project dependencies: this script only
    python benchmarks/openvino_bf16.py [--n-reviews 256] [--rounds 3] [--model models/default]

The bundle's ``text.onnx`` is turned into a float graph in memory: every activation
``QuantizeLinear`` -> ``DequantizeLinear`` pair is bypassed and every per-row ``MatMulInteger``
block becomes a float ``MatMul`` on its dequantized int8 weights, so the weights are the shipped
ones and only the activations change (bf16 instead of int8). OpenVINO compiles it with
``INFERENCE_PRECISION_HINT=bf16``. A text's scores must not depend on its batch-mates: bf16
rounds sums taken over the padded length, so each text is padded to its own length rounded up
to a multiple of ``--bucket`` and texts are grouped by that length, never padded to a
batch-mate's.

Printed: TweetEval val (2,000) macro-recall of both paths (selection-free: nothing is chosen
here), the largest logit change of 200 val tweets scored alone against inside the batched run
(bucketed, and padded to the chunk's longest as the ONNX Runtime path pads), and texts/s of
both paths in alternating rounds, tokenization included, one slice per core as the runtime
cuts a call: TweetEval val in calls of 32, and seeded held-out IMDB *train* reviews (the
256-token cap's cost). No test split is read. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from imdb_token_cap import held_out_reviews  # noqa: E402

from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.metrics import classification_report  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.sessions import default_threads  # noqa: E402
from sentiment_fusion.training.graph_nodes import live_nodes, producers_and_consumers, replace_nodes  # noqa: E402

TWEETEVAL_VAL = "tweeteval:{data}/tweeteval/sentiment:val"


def float_activation_graph(path: Path):
    """The int8 text graph at ``path`` with float activations and its own int8 weights dequantized."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))  # with the shared word-embedding table
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    producer, consumers = producers_and_consumers(graph)
    alias: dict[str, str] = {}  # a bypassed value -> the value that replaces it
    nodes = []
    for node in graph.node:
        nodes.append(node)
        source = producer.get(node.input[0]) if node.input else None
        if node.op_type == "DequantizeLinear" and source is not None and source.op_type == "QuantizeLinear":
            alias[node.output[0]] = source.input[0]  # activation fake-quantization: keep the float
        elif node.op_type == "MatMulInteger":
            # per_row/{x_q = QuantizeLinear(x, x_scale)} -> MatMulInteger -> Cast -> Mul(w_scale) -> Mul(x_scale)
            cast = consumers[node.output[0]][0]
            by_column = consumers[cast.output[0]][0]
            by_row = consumers[by_column.output[0]][0]
            w_q = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
            w_zero = numpy_helper.to_array(weights[node.input[3]]).astype(np.float32) if node.input[3:] else 0.0
            w_scale = numpy_helper.to_array(weights[by_column.input[1]]).astype(np.float32)
            name = by_row.output[0] + "/float_weight"
            graph.initializer.append(numpy_helper.from_array((w_q - w_zero) * w_scale, name))
            float_input = producer[node.input[0]].input[0]
            nodes.append(helper.make_node("MatMul", [float_input, name], [by_row.output[0] + "/float"]))
            alias[by_row.output[0]] = by_row.output[0] + "/float"
    for node in nodes:
        for i, name in enumerate(node.input):
            while name in alias:
                name = alias[name]  # noqa: PLW2901 - follow the chain of bypasses
            node.input[i] = name
    replace_nodes(graph, live_nodes(graph, nodes))  # the bypassed and per-row ops are no longer read
    return model


class OpenVinoText:
    """The float text graph on OpenVINO bf16, one infer request per core, texts bucketed by length."""

    def __init__(self, graph: Path, text_model, threads: int, bucket: int, batch_size: int = 32):
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory() as folder:
            converted = Path(folder) / "text_float.onnx"
            converted.write_bytes(float_activation_graph(graph).SerializeToString())
            model = core.read_model(str(converted))
        config = {"INFERENCE_PRECISION_HINT": "bf16", "NUM_STREAMS": threads, "INFERENCE_NUM_THREADS": threads}
        self.compiled = core.compile_model(model, "CPU", config)
        self.requests = [self.compiled.create_infer_request() for _ in range(threads)]
        self.encoder, self.bucket, self.batch_size = text_model.encoder, bucket, batch_size
        self.pool = ThreadPoolExecutor(threads)

    def padded_length(self, length: int) -> int:
        return -(-length // self.bucket) * self.bucket if self.bucket else length

    def run_ids(self, request, ids: list[list[int]], pad_to_chunk: bool = False) -> np.ndarray:
        logits = np.empty((len(ids), 3), np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            groups: dict[int, list[int]] = {}
            longest = max(len(ids[i]) for i in chunk)
            for i in chunk:
                groups.setdefault(longest if pad_to_chunk else self.padded_length(len(ids[i])), []).append(i)
            for length, rows in groups.items():
                input_ids, mask = self.encoder.pad([ids[i] for i in rows])  # to the group's longest text
                extra = ((0, 0), (0, length - input_ids.shape[1]))  # then on to the group's length
                input_ids = np.pad(input_ids, extra, constant_values=self.encoder.config.pad_id)
                out = request.infer({"input_ids": input_ids, "attention_mask": np.pad(mask, extra)})
                logits[rows] = out[self.compiled.outputs[0]]
        return logits

    def run(self, texts: list[str]) -> np.ndarray:
        """Logits of ``texts``: one slice per core, each tokenized and run on its own request."""
        slices = [range(k, len(texts), len(self.requests)) for k in range(len(self.requests))]
        parts = self.pool.map(
            lambda k: self.run_ids(self.requests[k], self.encoder.token_ids([texts[i] for i in slices[k]])),
            range(len(slices)),
        )
        logits = np.empty((len(texts), 3), np.float32)
        for rows, part in zip(slices, parts, strict=True):
            logits[list(rows)] = part
        return logits


def texts_per_second(run, texts: list[str], call: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(texts), call):
        run(texts[i : i + call])
    return len(texts) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n-reviews", type=int, default=256, help="held-out IMDB train reviews for the speed rows")
    parser.add_argument("--rounds", type=int, default=3, help="alternating speed rounds")
    parser.add_argument("--bucket", type=int, default=8, help="pad each text to a multiple of this many tokens")
    args = parser.parse_args()

    analyzer = Analyzer.load(args.model)
    text = analyzer.text
    graph = analyzer.path / analyzer.manifest["components"]["text"]["files"]["graph"]["path"]
    fast = OpenVinoText(graph, text, default_threads(), args.bucket)
    val = [e for e in read_dataset(TWEETEVAL_VAL.format(data=args.data)).examples if e.text and e.label is not None]
    tweets, labels = [e.text for e in val], np.array([e.label for e in val])

    recall = {}
    for name, logits in (("onnxruntime_int8", text.run(tweets)[0]), ("openvino_bf16", fast.run(tweets))):
        recall[name] = round(classification_report(labels, logits.argmax(1))["macro_recall"], 4)
    ids = text.encoder.token_ids(tweets[:200])
    request = fast.requests[0]
    batched = {pad: fast.run_ids(request, ids, pad_to_chunk=pad) for pad in (False, True)}
    alone = np.concatenate([fast.run_ids(request, [one]) for one in ids])
    alone_padded = np.concatenate([fast.run_ids(request, [one], pad_to_chunk=True) for one in ids])
    invariance = {
        "bucketed": float(np.abs(alone - batched[False]).max()),
        "padded_to_chunk": float(np.abs(alone_padded - batched[True]).max()),
    }

    reviews, _ = held_out_reviews(args.data, args.n_reviews)
    rounds = []
    for _ in range(args.rounds):
        row = {}
        for name, run in (("onnxruntime_int8", lambda t: text.run(t)[0]), ("openvino_bf16", fast.run)):
            row[f"{name}_tweets_per_s"] = round(texts_per_second(run, tweets, 32), 1)
            row[f"{name}_reviews_per_s"] = round(texts_per_second(run, reviews, 32), 1)
        rounds.append(row)
    print(f"TweetEval val (n={len(tweets)}) macro-recall: int8 {recall['onnxruntime_int8']}, ", end="")
    print(f"bf16 {recall['openvino_bf16']}")
    print(
        f"bf16 alone vs batched, largest logit change over 200 tweets: bucketed {invariance['bucketed']:.2e}, "
        f"padded to the chunk's longest {invariance['padded_to_chunk']:.2e}"
    )
    for row in rounds:
        tweets_ratio = row["openvino_bf16_tweets_per_s"] / row["onnxruntime_int8_tweets_per_s"]
        reviews_ratio = row["openvino_bf16_reviews_per_s"] / row["onnxruntime_int8_reviews_per_s"]
        print(
            f"tweets: int8 {row['onnxruntime_int8_tweets_per_s']}/s, bf16 {row['openvino_bf16_tweets_per_s']}/s "
            f"({tweets_ratio:.2f}x); IMDB reviews: int8 {row['onnxruntime_int8_reviews_per_s']}/s, "
            f"bf16 {row['openvino_bf16_reviews_per_s']}/s ({reviews_ratio:.2f}x)"
        )
    print(json.dumps({"macro_recall_val": recall, "invariance_max_abs": invariance, "rounds": rounds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
