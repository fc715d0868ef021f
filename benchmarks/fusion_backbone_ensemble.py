"""Cross-validated fusion ensembles whose members see different image backbones (issue 17).

    python benchmarks/fusion_backbone_ensemble.py --image-encoder GRAPH [--model models/default]
        [--data ../shared/data] [--members 4] [--other-members 2] [--seed 13] [--json]

Runs ``ensemble{members}`` on the bundle's own features and ``ensemble{other-members}`` with
GRAPH's image features in their place (``benchmarks/fusion_cv.py --image-encoder``), on the same
5 folds and the same inner folds, keeping each member's held-out probabilities; then scores the
ensembles that pool members of both (each member calibrated on its own inner fold, the
probabilities averaged) against the bundle's ``ensemble{members}``, fold by fold. A mixed
ensemble would run both image encoders per post. The MVSA-Single test split is never read.
The last stdout line with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from sentiment_fusion.training.fusion_cv import (
    Variant,
    build_pool,
    cross_validate,
    encoder_features,
    ensemble_scores,
    paired_comparison,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-encoder", type=Path, required=True, help="the other backbone's features graph")
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--cache", default="runs/fusion-cv/cache")
    parser.add_argument("--members", type=int, default=4, help="members of the bundle's own ensemble")
    parser.add_argument("--other-members", type=int, default=2, help="members on the other backbone's features")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.image_encoder.is_file():
        parser.error(f"{args.image_encoder}: no such features graph")
    if not 1 <= args.other_members <= 8 or not 1 <= args.members <= 8:
        parser.error("members must be 1..8 (one per inner fold)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    mvsa = Path(args.data) / "mvsa_single"
    specs = [f"mvsa:{mvsa}:train", f"mvsa:{mvsa}:dev"]
    text_only = [f"jsonl:{Path(args.data) / 'mvsa_multiple' / 'train.jsonl'}"]
    own = build_pool(args.model, specs, args.cache, text_only=text_only, dev_spec=specs[1])
    other = replace(own, image_features=encoder_features(args.image_encoder, specs, args.cache))
    if other.image_features.shape[1] != own.image_features.shape[1]:
        parser.error("the other backbone's features must be as wide as the bundle's")
    runs = [
        cross_validate(pool, Variant(f"ensemble{n}", members=n), seed=args.seed, dev=False, keep_members=True)
        for pool, n in ((own, args.members), (other, args.other_members))
    ]
    half = max(1, args.members // 2)
    ensembles = {
        f"bundle x{args.members}": (args.members, 0),
        f"bundle x{half}": (half, 0),
        f"other x{args.other_members}": (0, args.other_members),
        f"bundle x{half} + other x{args.other_members}": (half, args.other_members),
        f"bundle x{args.members} + other x{args.other_members}": (args.members, args.other_members),
    }
    baseline = f"bundle x{args.members}"
    scores = {}
    for name, take in ensembles.items():
        used = [(run, t) for run, t in zip(runs, take, strict=True) if t]
        scores[name] = ensemble_scores(own.labels, [run for run, _ in used], [t for _, t in used], name)
    for name, result in scores.items():
        acc, f1 = result["accuracy"], result["weighted_f1"]
        line = f"{name:<28} CV accuracy {acc['mean']:.4f} ± {acc['sd']:.4f}, "
        line += f"weighted F1 {f1['mean']:.4f} ± {f1['sd']:.4f}"
        if name != baseline:
            paired = result["vs_baseline"] = paired_comparison(scores[baseline], result)
            gain = f"{paired['accuracy']['mean']:+.4f} / {paired['weighted_f1']['mean']:+.4f}"
            line += f"  vs {baseline}: {gain}, wins {paired['accuracy']['wins']}/{result['folds']}"
        print(line, flush=True)
    if args.json:
        run = {"model": args.model, "image_encoder": str(args.image_encoder), "seed": args.seed}
        print(json.dumps({**run, "ensembles": scores}))


if __name__ == "__main__":
    main()
