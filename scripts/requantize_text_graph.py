"""Turn a bundle's dynamic-int8 text graph (bundles <= 1.1.1) into the batch-invariant int8 graph.

DEVELOPMENT-TIME ONLY (needs the [train] extra's ``onnx``); how bundle 1.2.0's ``text.onnx`` was
made from 1.1.1's, whose fp32 graph was not kept::

    python scripts/requantize_text_graph.py models/default artifacts/text_invariant.onnx
    python scripts/requantize_text_graph.py models/default artifacts/text_invariant.onnx --publish 1.2.0

1. dequantize: each ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` becomes an fp32
   ``MatMul`` with the int8 weights times their per-channel scales (the same weights, exactly);
2. pooling: the masked mean's ``ReduceSum`` (whose summation order depends on the batch's
   shape) becomes a masked ``MatMul``, as :mod:`sentiment_fusion.text.transformer` now exports it;
3. :func:`sentiment_fusion.training.quantize.quantize_text_graph`, calibrated on a seeded
   sample of the model's own training data (TweetEval train tweets and IMDB train reviews).

New trainings export step 2's pooling directly and quantize in the text recipe. ``--publish``
then puts the graph into the bundle, scores it on TweetEval val (the int8 check) and re-runs the
bundle's recorded evaluations (its test splits, once) through the runtime: the new version.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.evaluation import evaluate  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.graph_nodes import producers_and_consumers, replace_nodes  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402
from sentiment_fusion.training.quantize import quantize_text_graph  # noqa: E402

DATA = ROOT.parent / "shared/data"


def dequantize(model) -> None:
    """fp32 MatMuls in place of the dynamic-int8 chains (weights = int8 values x per-channel scales)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer, consumers = producers_and_consumers(graph)
    replaced, dropped, weights = {}, set(), []
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        a, b, _, b_zero = node.input
        quantize = producer[a]
        (cast,) = consumers[node.output[0]]
        (mul,) = consumers[cast.output[0]]
        scales = producer[mul.input[1]]  # Mul(activation scale, weight scales)
        assert (quantize.op_type, cast.op_type, mul.op_type, scales.op_type) == (
            "DynamicQuantizeLinear",
            "Cast",
            "Mul",
            "Mul",
        )
        w_scale = numpy_helper.to_array(inits[scales.input[1]])
        weight = (numpy_helper.to_array(inits[b]).astype(np.float32) - numpy_helper.to_array(inits[b_zero])) * w_scale
        weights.append(numpy_helper.from_array(weight.astype(np.float32), b + "/fp32"))
        replaced[id(node)] = helper.make_node(
            "MatMul", [quantize.input[0], b + "/fp32"], [mul.output[0]], name=node.name
        )
        dropped |= {id(cast), id(mul), id(scales), id(quantize)}
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    graph.initializer.extend(weights)
    replace_nodes(graph, nodes)


def pool_by_matmul(model) -> None:
    """``ReduceSum(hidden * mask, axis=1)`` -> ``Squeeze(MatMul(mask^T, hidden))``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    nodes = list(graph.node)
    (k,) = [i for i, n in enumerate(nodes) if n.op_type == "ReduceSum" and producer[n.input[0]].op_type == "Mul"]
    reduce = nodes[k]
    hidden, mask = producer[reduce.input[0]].input
    if producer[hidden].op_type != "LayerNormalization":
        hidden, mask = mask, hidden
    out = reduce.output[0]
    graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "pooling/axis"))
    nodes[k : k + 1] = [
        helper.make_node("Transpose", [mask], [out + "/mask_t"], perm=[0, 2, 1]),  # (B, 1, T)
        helper.make_node("MatMul", [out + "/mask_t", hidden], [out + "/sum"]),  # (B, 1, H)
        helper.make_node("Squeeze", [out + "/sum", "pooling/axis"], [out]),
    ]
    del graph.node[:]
    graph.node.extend(nodes)


def calibration_feeds(bundle: Path, n_tweets: int, n_reviews: int, seed: int = 0):
    encoder = Analyzer.load(bundle).text.encoder
    tweets = read_dataset(f"tweeteval:{DATA / 'tweeteval/sentiment'}:train").examples
    reviews = read_dataset(f"imdb:{DATA / 'imdb/aclImdb_v1.tar.gz'}:train").examples
    rng = random.Random(seed)
    texts = [e.text for e in rng.sample(tweets, n_tweets) + rng.sample(reviews, n_reviews)]
    ids = encoder.token_ids(texts)
    ids.sort(key=len)  # similar lengths together
    for start in range(0, len(ids), 16):
        input_ids, mask = encoder.pad(ids[start : start + 16])
        yield {"input_ids": input_ids, "attention_mask": mask}


def publish(bundle: Path, graph: Path, fp32: Path, record: dict, version: str, description: str) -> dict:
    """Bundle ``version``: the new text graph, its validation check, the bundle's evaluations re-run."""
    manifest = read_manifest(bundle)
    components = manifest["components"]
    text = components["text"]
    shutil.copyfile(graph, bundle / "text.onnx")
    text["files"]["graph"] = file_entry(bundle, "text.onnx")
    pytorch_val = next(m for m in text["metrics"] if m["split"] == "validation")
    text["quantization"] = {**record, "kept": True}  # read as batch-invariant by the check below
    check = evaluate(Analyzer(bundle, manifest), read_dataset(pytorch_val["data"]), "text")
    drop = pytorch_val["macro_recall"] - check["macro_recall"]
    text["quantization"] = {
        **record,
        "split": "validation",
        "fp32_macro_recall": pytorch_val["macro_recall"],
        "int8_macro_recall": check["macro_recall"],
        "fp32_bytes": fp32.stat().st_size,
        "int8_bytes": graph.stat().st_size,
        "kept": bool(drop <= 0.005),
        "made_by": f"scripts/requantize_text_graph.py from bundle {manifest['version']}'s dynamic-int8 text.onnx",
    }
    print("validation:", {k: text["quantization"][k] for k in ("fp32_macro_recall", "int8_macro_recall", "kept")})
    if not text["quantization"]["kept"]:
        raise SystemExit(f"int8 loses {drop:.4f} validation macro-recall (> 0.005): not published")
    reports = [(e["data"], e["modality"]) for e in manifest.get("evaluations", [])]
    return publish_bundle(
        bundle,
        name=manifest["name"],
        version=version,
        components=components,
        description=description or manifest["description"],
        reports=reports,
        published=manifest.get("published", []),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tweets", type=int, default=448)
    parser.add_argument("--reviews", type=int, default=64)
    parser.add_argument("--publish", metavar="VERSION", help="put the graph into the bundle as this version")
    parser.add_argument("--description", default="", help="the new version's description (default: kept)")
    args = parser.parse_args()
    import onnx

    model = onnx.load(str(args.bundle / "text.onnx"))
    dequantize(model)
    pool_by_matmul(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fp32 = args.out.with_name(args.out.stem + "_fp32.onnx")
    onnx.save(model, str(fp32))
    record = quantize_text_graph(fp32, args.out, calibration_feeds(args.bundle, args.tweets, args.reviews))
    print({**record, "fp32": str(fp32), "out": str(args.out)})
    if args.publish:
        manifest = publish(args.bundle, args.out, fp32, record, args.publish, args.description)
        for e in manifest["evaluations"]:
            print(e["data"], e["modality"], {k: e[k] for k in ("n", "accuracy", "macro_recall", "weighted_f1", "ece")})


if __name__ == "__main__":
    main()
