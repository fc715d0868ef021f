"""Put a trained targeted text model into a bundle as its ``target`` component, sharing the
post-level text graph's word-embedding table on disk.

DEVELOPMENT-TIME ONLY (needs the [train] extra's ``onnx``). How the shipped component was made
(trained for bundle 1.3.0, put in again with its own int8 graph for 1.5.0)::

    D=../shared/data/targeted/twitter_dong2014; S=../shared/data/targeted/semeval14
    sentiment-fusion train text --init-from models/default --target-as both --freeze-word-embeddings \\
      --train targets:$D/train.raw:train --train targets:$S/Restaurants_Train.xml.seg:train \\
      --train targets:$S/Laptops_Train.xml.seg:train --val targets:$D/train.raw:dev --max-length 128 \\
      --contrast-pairs 4000 --epochs 3 --lr 3e-5 --batch-size 32 --eval-steps 300 \\
      --out artifacts/tgt-both-contrast --work runs/tgt-both-contrast
    python scripts/add_target_component.py artifacts/tgt-both-contrast models/default --version 1.5.0 \\
      --fp32 runs/tgt-both-contrast/text_fp32.onnx --description "..." --report targets:$D/test.raw \\
      --report targets:$S/Restaurants_Test_Gold.xml.seg --report targets:$S/Laptops_Test_Gold.xml.seg

(1.3.0 took ``--quantization weight-only``.)

1. the trained bundle's ``text`` component becomes the ``target`` component (the same tokenizer
   is required), with one of two int8 graphs (``--quantization``):
   - ``trained`` (default): the run's own batch-invariant int8 ``text.onnx`` (static and per-row
     activation scales, calibrated on training texts: :mod:`~sentiment_fusion.training.quantize`),
     the post-level graph's recipe and speed. For the shipped model it keeps Dong dev accuracy
     0.7328 and macro-F1 0.7208 (fp32: 0.7328 / 0.7218); it cost an earlier variant (target as a
     segment, Dong train only) 3.5 points, hence the other choice;
   - ``weight-only``: MatMul weights 8-bit in blocks of ``--block-size``, made here from the fp32
     graph (:func:`~sentiment_fusion.training.quantize.weight_only_int8`): 0.7312 / 0.7209 for the
     shipped model, but about as slow as fp32 at batch 32;
   either is kept only if validation accuracy and macro-F1 stay within 0.005 of fp32;
2. its word-embedding lookup takes the shipped ``text.onnx``'s quantized table
   (:func:`~sentiment_fusion.training.shared_weights.adopt_word_embeddings`: bit-identical to
   the fp32 lookup, as the targeted run froze the table at those values; the ``trained`` graph's
   own int8 copy of it is first replaced by the fp32 table, ``float_word_lookup``);
3. :func:`~sentiment_fusion.training.shared_weights.share_initializer` moves the table that
   ``text.onnx`` and ``target.onnx`` now share into ``word_embeddings.bin``;
4. the post-level text graph must answer exactly as before (logits compared on TweetEval val
   tweets, bit for bit), so the bundle's earlier evaluations of it are kept, not re-run;
5. ``--report`` specs (the targeted test splits) are scored once, on the final bundle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.evaluation import evaluate  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.publish import publish_bundle  # noqa: E402
from sentiment_fusion.training.quantize import int8_gather_weights, weight_only_int8  # noqa: E402
from sentiment_fusion.training.shared_weights import (  # noqa: E402
    adopt_word_embeddings,
    float_word_lookup,
    share_initializer,
)

SHARED = "word_embeddings.bin"
TRAINED_QUANTIZATION = ("method", "static", "per_row", "batch_invariant", "calibration_texts")
PUBLISHED = (
    "Targeted sentiment test, accuracy / macro-F1 (Song et al., 2019, AEN: Attentional Encoder Network, "
    "BERT-base): Dong 2014 Twitter BERT-SPC 73.55 / 72.14, AEN-BERT 74.71 / 73.13; SemEval-2014 restaurants "
    "BERT-SPC 84.46 / 76.98, AEN-BERT 83.12 / 73.76; laptops BERT-SPC 78.99 / 75.03, AEN-BERT 79.93 / 76.31; "
    "TD-LSTM (Tang et al., 2016) Twitter 70.80 / 69.00"
)


def portable(value):
    """``value`` with this checkout's absolute data paths written relative to the repository root,
    as the bundle's other records name them (``/work/shared/data/x`` -> ``../shared/data/x``)."""
    if isinstance(value, str):
        return value.replace(f"{ROOT.parent}/", "../")
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    return value


def text_logits(bundle: Path, n: int = 256) -> np.ndarray:
    texts = [e.text for e in read_dataset(f"tweeteval:{ROOT.parent / 'shared/data/tweeteval/sentiment'}:val").examples]
    return Analyzer.load(bundle).text.run(texts[:n])[0]


def evaluate_graph(trained: Path, graph: Path, data) -> dict:
    """``evaluate`` of the trained bundle with ``graph`` in place of its text graph."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(trained, tmp, dirs_exist_ok=True)
        shutil.copyfile(graph, Path(tmp) / "text.onnx")
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())
        manifest["components"]["text"]["files"]["graph"] = file_entry(tmp, "text.onnx")
        manifest["components"]["text"]["quantization"] = None  # both graphs here run batched
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        return evaluate(Analyzer.load(tmp), data, "text")


def faithful(trained: Path, fp32_graph: Path, graph: Path, component: dict) -> dict:
    """The quantized graph against the fp32 one on the component's validation data (the split it
    was selected on): within 0.005 accuracy and macro-F1, or nothing is published."""
    data = read_dataset(next(m["data"] for m in component["metrics"] if m["split"] == "validation"))
    fp32, int8 = (evaluate_graph(trained, g, data) for g in (fp32_graph, graph))
    record = {
        "split": "validation",
        "n": int8["n"],
        **{f"fp32_{k}": fp32[k] for k in ("accuracy", "macro_f1", "macro_recall")},
        **{f"int8_{k}": int8[k] for k in ("accuracy", "macro_f1", "macro_recall")},
        "fp32_bytes": fp32_graph.stat().st_size,
        "int8_bytes": graph.stat().st_size,
        "kept": all(fp32[k] - int8[k] <= 0.005 for k in ("accuracy", "macro_f1")),
    }
    print("quantization:", record)
    if not record["kept"]:
        raise SystemExit("the 8-bit graph loses more than 0.005 validation accuracy or macro-F1: not published")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trained", type=Path, help="the bundle `train text --target-as ...` wrote")
    parser.add_argument("bundle", type=Path, help="the bundle to add it to (in place)")
    parser.add_argument(
        "--fp32", type=Path, help="its fp32 graph (default: the trained text.onnx; runs/NAME/text_fp32.onnx if int8)"
    )
    parser.add_argument(
        "--quantization",
        choices=["trained", "weight-only"],
        default="trained",
        help="trained: the run's static / per-row int8 text.onnx (calibrated in training; the default); "
        "weight-only: 8-bit MatMulNBits weights made here from the fp32 graph",
    )
    parser.add_argument("--block-size", type=int, default=32, help="weights per 8-bit scale, weight-only (default 32)")
    parser.add_argument("--version", required=True)
    parser.add_argument(
        "--selection", default="", help="how the variant was chosen (the model card prints it; default: the bundle's)"
    )
    parser.add_argument("--report", action="append", default=[], help="targeted test spec, scored once")
    parser.add_argument("--description", default="")
    args = parser.parse_args()

    trained, bundle = read_manifest(args.trained), read_manifest(args.bundle)
    target = portable(dict(trained["components"]["text"]))
    if not target.get("preprocessing", {}).get("encoding", {}).get("target"):
        raise SystemExit(f"{args.trained}: its text model reads no targets")
    fp32 = args.fp32 or args.trained / "text.onnx"
    trained_int8 = (target.get("quantization") or {}).get("kept")
    if args.fp32 is None and trained_int8:
        raise SystemExit(f"{args.trained}: its text.onnx is int8; give the run's fp32 graph (--fp32)")
    if args.quantization == "trained" and not (trained_int8 and target["quantization"].get("batch_invariant")):
        raise SystemExit(f"{args.trained}: its text.onnx is not batch-invariant int8; use --quantization weight-only")
    if target["files"]["tokenizer"]["sha256"] != bundle["components"]["text"]["files"]["tokenizer"]["sha256"]:
        raise SystemExit("the two models tokenize differently: nothing to share")

    import onnx

    before = text_logits(args.bundle)
    text_graph = onnx.load(str(args.bundle / "text.onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.quantization == "trained":  # the run's own static / per-row int8 graph
            model = onnx.load(str(args.trained / "text.onnx"))
            float_word_lookup(model, onnx.load(str(fp32)))
            table = adopt_word_embeddings(model, text_graph)
            onnx.save(model, str(Path(tmp) / "target.onnx"))
            quantization = {k: v for k, v in target["quantization"].items() if k in TRAINED_QUANTIZATION}
        else:
            model = onnx.load(str(fp32))
            table = adopt_word_embeddings(model, text_graph)
            int8_gather_weights(model)  # the position and token-type tables: int8 rows, as in the text graph
            onnx.save(model, str(Path(tmp) / "target_fp32.onnx"))
            quantization = weight_only_int8(Path(tmp) / "target_fp32.onnx", Path(tmp) / "target.onnx", args.block_size)
        quantization.update(faithful(args.trained, fp32, Path(tmp) / "target.onnx", target))
        shutil.copyfile(Path(tmp) / "target.onnx", args.bundle / "target.onnx")
    saved = share_initializer(args.bundle, {"text.onnx": table, "target.onnx": table}, SHARED)
    print(f"{SHARED}: {saved / 2**20:.1f} MB kept once for text.onnx and target.onnx")

    components = bundle["components"]
    shared = file_entry(args.bundle, SHARED)
    components["text"]["files"] = {**components["text"]["files"], "graph": file_entry(args.bundle, "text.onnx")}
    components["text"]["files"]["word_embeddings"] = shared
    target["files"] = {
        "graph": file_entry(args.bundle, "target.onnx"),
        "tokenizer": components["text"]["files"]["tokenizer"],
        "word_embeddings": shared,
    }
    target["quantization"] = quantization
    selection = args.selection or (bundle["components"].get("target") or {}).get("selection")
    if selection:  # the model card prints it; the same trained model keeps its own
        target["selection"] = selection
    components["target"] = target
    published = [p for p in bundle.get("published", []) if not p.startswith("Targeted sentiment test")]
    manifest = publish_bundle(
        args.bundle,
        name=bundle["name"],
        version=args.version,
        components=components,
        description=args.description or bundle["description"],
        reports=[(spec, "text") for spec in args.report],
        published=[*published, PUBLISHED],
        evaluations=[e for e in bundle.get("evaluations", []) if e.get("data") not in args.report],  # re-scored
    )
    after = text_logits(args.bundle)
    if not np.array_equal(before, after):
        raise SystemExit(f"the text graph's logits changed (max diff {np.abs(before - after).max():.3g})")
    print(f"text graph: logits bit-identical on {len(before)} TweetEval val tweets")
    for e in manifest["evaluations"]:
        if e.get("data") not in args.report:
            continue
        print(e["data"], {k: e[k] for k in ("n", "accuracy", "macro_f1", "macro_recall", "ece")})


if __name__ == "__main__":
    main()
