"""Train the 4-member fusion ensemble on all of MVSA-Single train + dev and export it as one fusion graph.

    python scripts/train_fusion_ensemble.py [--model models/default] [--data ../shared/data]
        [--members 4] [--inner-folds 8] [--seed 13] [--out runs/fusion-ensemble] [--check]

Issue 17: 5-fold cross-validation chose ``ensemble4`` (``benchmarks/fusion_cv.py --variants
recipe,ensemble4``). This builds that variant for shipping (:mod:`sentiment_fusion.training.
fusion_ensemble`): member m is the recipe (image head, then fusion head with modality dropout
and the MVSA-Multiple train texts as text-only posts) trained on the labelled MVSA-Single pairs
outside inner fold m of train + dev and selected and temperature-calibrated on inner fold m.
Features come from ``--model``'s own text and image graphs (cached in ``--cache``, the keys
``train fusion`` and the CV benchmark use). The MVSA-Single test split is never read.

Writes ``OUT/fusion.onnx`` (the recipe's inputs and outputs; logits = log of the members' mean
calibrated probabilities) and ``OUT/fusion-component.json`` (the manifest's ``components.fusion``
record: temperature 1). With ``--check``, ``OUT/check.json``: a copy of ``--model`` in a
temporary folder with the graph swapped in, loaded by the runtime, scored on MVSA-Single dev
(not a held-out figure: every dev pair trained or selected a member), batch invariance, and
time per fused post against ``--model`` itself. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sentiment_fusion.training.fusion_cv import build_pool
from sentiment_fusion.training.fusion_ensemble import ensemble_component, graph_agreement, pool_inputs, train_ensemble


def build(args) -> dict:
    from sentiment_fusion.bundle import read_manifest
    from sentiment_fusion.data import read_dataset

    mvsa = Path(args.data) / "mvsa_single"
    train, dev = f"mvsa:{mvsa}:train", f"mvsa:{mvsa}:dev"
    text_only = f"jsonl:{Path(args.data) / 'mvsa_multiple' / 'train.jsonl'}"
    pool = build_pool(args.model, [train, dev], args.cache, text_only=[text_only], dev_spec=dev)
    start = time.monotonic()
    run = train_ensemble(pool, args.members, args.inner_folds, args.seed, args.out / "work")
    seconds = time.monotonic() - start
    out = args.out
    run.ensemble.export_onnx(out / "fusion.onnx")
    agreement = graph_agreement(out / "fusion.onnx", pool_inputs(pool), run.probabilities)
    if agreement["max_abs_diff"] > 5e-3 or agreement["argmax_agreement"] < 0.999:  # int8 weights: ~1e-3
        raise SystemExit(f"the graph disagrees with the members it was built from: {agreement}")
    components = read_manifest(args.model)["components"]
    component = ensemble_component(
        out,
        run.ensemble,
        extra={"onnx_agreement": agreement},
        training={
            "recipe": "scripts/train_fusion_ensemble.py (sentiment_fusion.training.fusion_ensemble)",
            "config": {
                "model": str(args.model),
                "data": [train, dev],
                "text_only": [text_only],
                "members": args.members,
                "inner_folds": args.inner_folds,
                "seed": args.seed,
            },
            "features": {
                "text_graph_sha256": components["text"]["files"]["graph"]["sha256"],
                "image_encoder_sha256": components["image"]["files"]["encoder"]["sha256"],
            },
            "data": [{"spec": spec, "n": len(read_dataset(spec).examples)} for spec in (train, dev, text_only)],
            "n_pairs": len(pool),
            "n_text_only": len(pool.extra_labels),
            "members": [
                {
                    "selected_on": f"inner fold {m} of {args.inner_folds} (n={int((run.inner == m).sum())})",
                    "temperature": member.temperature,
                    "best_epochs": member.best_epochs,
                    "selection_fold_scores": member.select_scores,
                }
                for m, member in enumerate(run.members)
            ],
            "seconds": round(seconds, 1),
        },
    )
    record = component.to_dict()
    (out / "fusion-component.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out / 'fusion.onnx'} and {out / 'fusion-component.json'} ({seconds:.0f} s)", flush=True)
    return record


def swapped_bundle(model: Path, graph: Path, record: dict, into: Path) -> Path:
    """A copy of ``model`` whose fusion component is ``graph`` with the manifest record ``record``."""
    bundle = into / "bundle"
    shutil.copytree(model, bundle)
    shutil.copyfile(graph, bundle / record["files"]["graph"]["path"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["components"]["fusion"] = record
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return bundle


def seconds_per_post(analyzer, texts, images, batch: int, rounds: int) -> float:
    """Best of ``rounds`` of scoring every post in batches of ``batch``, per post."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            analyzer.predict_batch(texts[i : i + batch], images[i : i + batch])
        best = min(best, (time.perf_counter() - start) / len(texts))
    return best


def fusion_seconds_per_post(session, inputs: dict[str, np.ndarray], batch: int, rounds: int) -> float:
    names = [i.name for i in session.get_inputs()]
    n = len(inputs["present"])
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, n, batch):
            session.run(["logits"], {k: inputs[k][i : i + batch] for k in names})
        best = min(best, (time.perf_counter() - start) / n)
    return best


def check(args, record: dict) -> dict:
    from sentiment_fusion.data import read_dataset
    from sentiment_fusion.evaluation import evaluate
    from sentiment_fusion.fusion_inputs import fusion_inputs
    from sentiment_fusion.runtime import Analyzer

    dev_spec = f"mvsa:{Path(args.data) / 'mvsa_single'}:dev"
    dataset = read_dataset(dev_spec)
    pairs = [e for e in dataset.examples if e.text and e.image is not None and e.label is not None]
    texts = [e.text for e in pairs]
    images = [Path(e.image).read_bytes() if isinstance(e.image, (str, Path)) else e.image for e in pairs]
    with tempfile.TemporaryDirectory(prefix="fusion-ensemble-check-") as tmp:
        bundle = swapped_bundle(Path(args.model), args.out / "fusion.onnx", record, Path(tmp))
        old, new = Analyzer.load(args.model), Analyzer.load(bundle)
        report: dict = {"bundle": str(args.model), "dev": dev_spec}
        for name, analyzer in (("current", old), ("ensemble", new)):
            metrics = evaluate(analyzer, dataset, "both")
            report[f"dev_{name}"] = {k: metrics[k] for k in ("n", "accuracy", "weighted_f1", "macro_f1", "ece")}
        report["dev_note"] = "not held out: every dev pair trained or selected an ensemble member"

        # batch invariance through the runtime: a post alone vs inside a batch of 33 mixed posts
        rng = np.random.default_rng(0)
        worst = 0.0
        for k in rng.choice(len(pairs), 8, replace=False):
            alone = new.predict(texts[k], images[k]).scores
            others = [int(i) for i in rng.choice(len(pairs), 32, replace=False) if i != k][:32]
            batch_texts = [texts[i] if j % 5 else None for j, i in enumerate(others)]  # some image-only posts
            batch_images = [images[i] if j % 7 else None for j, i in enumerate(others)]  # some text-only posts
            batch_texts = [
                t if (t is not None or im is not None) else texts[i]
                for t, im, i in zip(batch_texts, batch_images, others, strict=True)
            ]
            at = int(rng.integers(0, 33))
            batch_texts.insert(at, texts[k])
            batch_images.insert(at, images[k])
            inside = new.predict_batch(batch_texts, batch_images)[at]
            assert inside.source == "fusion"
            worst = max(worst, *(abs(alone[c] - inside.scores[c]) for c in alone))
        report["batch_invariance_max_abs_diff"] = worst

        # time per fused post, end to end (decode + encoders + heads), and the fusion graph alone
        timing: dict = {}
        for batch, rounds, n in ((32, 3, len(pairs)), (1, 2, 100)):
            for name, analyzer in (("current", old), ("ensemble", new), ("current_again", old)):
                timing[f"{name}_s_per_post_batch{batch}"] = seconds_per_post(
                    analyzer, texts[:n], images[:n], batch, rounds
                )
        outputs = {}
        for name, model, inputs in (("text", new.text, texts), ("image", new.image, images)):
            outputs[name] = (range(len(pairs)), *model.run(inputs))
        inputs = fusion_inputs(len(pairs), outputs)
        for batch in (32, 1):
            for name, analyzer in (("current", old), ("ensemble", new)):
                timing[f"{name}_fusion_graph_s_per_post_batch{batch}"] = fusion_seconds_per_post(
                    analyzer.fusion.session, inputs, batch, 5
                )
        for batch in (32, 1):
            current = min(timing[f"current_s_per_post_batch{batch}"], timing[f"current_again_s_per_post_batch{batch}"])
            timing[f"ratio_end_to_end_batch{batch}"] = timing[f"ensemble_s_per_post_batch{batch}"] / current
        report["timing"] = timing
    (args.out / "check.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--cache", default="runs/fusion-cv/cache")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--inner-folds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path("runs/fusion-ensemble"))
    parser.add_argument("--check", action="store_true", help="score, batch-invariance and timing checks")
    parser.add_argument("--check-only", action="store_true", help="check OUT's graph, do not train")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not (Path(args.data) / "mvsa_single").is_dir():
        parser.error(f"{Path(args.data) / 'mvsa_single'} not found: the MVSA-Single data set is needed")
    args.out.mkdir(parents=True, exist_ok=True)
    record = json.loads((args.out / "fusion-component.json").read_text()) if args.check_only else build(args)
    result = {"graph": str(args.out / "fusion.onnx"), "component": record}
    if args.check or args.check_only:
        result["check"] = check(args, record)
        print(json.dumps(result["check"], indent=2), flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
