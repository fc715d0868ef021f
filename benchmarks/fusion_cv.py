"""Cross-validated accuracy of fusion-head variants on MVSA-Single train + dev (issue 17).

    python benchmarks/fusion_cv.py [--model models/default] [--data ../shared/data] [--folds 5]
                                   [--variants recipe,smooth0.1,...] [--seed 13] [--no-dev] [--json]
                                   [--second-release GRAPH] [--image-encoder GRAPH]

The labelled MVSA-Single pairs (train 3,611 + dev 450) are cut into stratified, seeded folds;
for each held-out fold the recipe (image head, then fusion head with modality dropout and the
MVSA-Multiple train texts as text-only posts) is trained on the rest, selected and calibrated
on an inner fold of the rest, and scored once on the held-out fold
(:mod:`sentiment_fusion.training.fusion_cv`). Beside it, the dev figure as the recipe makes it
(selected and calibrated on dev itself) and with dev held out. Encoder outputs come from the
bundle's own graphs, cached in ``--cache`` (same keys as ``train fusion``). The MVSA-Single
test split is never read. Per-fold figures are printed, and each variant's per-fold difference
from the recipe (when it runs too: the same folds, so the differences are paired). The last
stdout line with ``--json`` is one JSON object.

``release2`` needs ``--second-release``: the second MobileNetV2 release's features graph, made
(dev-time, in the TensorFlow venv) by ``scripts/convert_mobilenet.py --model tf2 --prefix
mobilenet_v2_tf2``, i.e. ``artifacts/mobilenet_v2_tf2_features.onnx`` (float: that script's int8
conversion stops on this release's graph).

``--image-encoder GRAPH``: another backbone's pooled features replace the bundle's image features
for every variant (the image head's and the fusion head's input; not with flip, regions or
maxpool), e.g. EfficientNet-Lite0 from ``scripts/convert_efficientnet_lite.py``. The folds
depend only on the labels and ``--seed``, so a run without it gives the paired baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from sentiment_fusion.training.fusion_cv import Variant, build_pool, cross_validate, encoder_features, paired_comparison
from sentiment_fusion.training.image_regions import max_pooled

VARIANTS = {
    v.name: v
    for v in (
        Variant("recipe"),
        Variant("smooth0.1", label_smoothing=0.1),
        Variant("aux0.5", aux_weight=0.5),
        Variant("flip", flip=True),
        Variant("ensemble2", members=2),
        Variant("ensemble4", members=4),
        Variant("ensemble8", members=8),  # one member per inner fold
        Variant("classes", image_extra="classes"),  # the image head also gets the 1001 ImageNet class log-probs
        Variant("plainlogp", plain_log_probs=True),  # the unimodal log-probabilities skip the first GELU
        Variant("regions", regions=True),  # the fusion head attends from the text to the 7x7 image regions
        Variant("regions32", regions=True, region_values=32),  # ... each region projected to 32 dims first
        Variant("maxpool", image_extra="max_pool"),  # ... or the regions' channel-wise maximum
        Variant("release2", image_extra="release2"),  # ... or the second MobileNetV2 release's pooled features
        Variant("crossfit5", cross_fit=5),  # the fusion head trains on out-of-fold image logits
        Variant("imagehidden64", image_hidden=64),  # a smaller image head
        Variant("imagelinear", image_hidden=0),  # the image head as logistic regression
    )
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default="models/default", help="bundle whose text and image graphs give the features"
    )
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--cache", default="runs/fusion-cv/cache")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--variants", default="recipe", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--no-dev", action="store_true", help="skip the dev figures")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--second-release", type=Path, help="features graph of the second MobileNetV2 release")
    parser.add_argument(
        "--image-encoder", type=Path, help="features graph whose features replace the bundle's image features"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    extras = {VARIANTS[n].image_extra for n in names} - {""}
    if "release2" in extras and (args.second_release is None or not args.second_release.is_file()):
        parser.error("release2 needs --second-release GRAPH (scripts/convert_mobilenet.py --model tf2)")
    spatial = any(VARIANTS[n].flip or VARIANTS[n].regions for n in names) or "max_pool" in extras
    if args.image_encoder is not None and (spatial or not args.image_encoder.is_file()):
        parser.error("--image-encoder needs a features graph, and no flip, regions or maxpool variant")
    mvsa = Path(args.data) / "mvsa_single"
    if not mvsa.is_dir():
        parser.error(f"{mvsa} not found: the MVSA-Single data set is needed")
    specs = [f"mvsa:{mvsa}:train", f"mvsa:{mvsa}:dev"]
    pool = build_pool(
        args.model,
        specs,
        args.cache,
        text_only=[f"jsonl:{Path(args.data) / 'mvsa_multiple' / 'train.jsonl'}"],
        dev_spec=specs[1],
        flip=any(VARIANTS[n].flip for n in names),
        regions=any(VARIANTS[n].regions for n in names) or "max_pool" in extras,
        image_encoder=args.image_encoder,
    )
    if "classes" in extras:  # the TFLite model's classifier on the pooled features
        from sentiment_fusion.training.imagenet_classes import TFLITE, ImageNetClassifier

        classifier = ImageNetClassifier.from_tflite(Path(args.data) / TFLITE)
        pool.image_extras["classes"] = classifier.log_probs(pool.image_features)
    if "max_pool" in extras:
        pool.image_extras["max_pool"] = max_pooled(pool.regions)
    if "release2" in extras:
        pool.image_extras["release2"] = encoder_features(args.second_release, specs, args.cache)
    results = []
    for name in names:
        start = time.monotonic()
        result = cross_validate(pool, VARIANTS[name], args.folds, args.inner_folds, args.seed, dev=not args.no_dev)
        result["seconds"] = round(time.monotonic() - start, 1)
        results.append(result)
        acc, f1 = result["accuracy"], result["weighted_f1"]
        dev_text = "  ".join(
            f"{key} {result[key]['accuracy']:.3f} / {result[key]['weighted_f1']:.3f}"
            for key in ("dev_recipe", "dev_held_out")
            if key in result
        )
        print(
            f"{name:<10} CV (n={result['n']}, {args.folds} folds) accuracy {acc['mean']:.3f} ± {acc['sd']:.3f}, "
            f"weighted F1 {f1['mean']:.3f} ± {f1['sd']:.3f}  {dev_text}  ({result['seconds']} s)",
            flush=True,
        )
        for k, fold in enumerate(result["per_fold"]):
            acc, f1 = fold["accuracy"], fold["weighted_f1"]
            print(f"  fold {k + 1}: n={fold['n']}, accuracy {acc:.4f}, weighted F1 {f1:.4f}")
    # each variant against the recipe, fold by fold (the same folds: differences are paired)
    paired = []
    if "recipe" in names:
        baseline = results[names.index("recipe")]
        for result in results:
            if result is baseline:
                continue
            comparison = paired_comparison(baseline, result)
            paired.append(comparison)
            text = "  ".join(
                f"{metric} {comparison[metric]['mean']:+.4f} "
                f"(wins {comparison[metric]['wins']}/{args.folds}: "
                + " ".join(f"{d:+.4f}" for d in comparison[metric]["per_fold"])
                + ")"
                for metric in ("accuracy", "weighted_f1")
            )
            print(f"{comparison['variant']:<10} - recipe, per fold: {text}", flush=True)
    if args.json:
        image_encoder = str(args.image_encoder) if args.image_encoder else None
        run = {"model": args.model, "image_encoder": image_encoder, "seed": args.seed}
        print(json.dumps({**run, "results": results, "paired": paired}))


if __name__ == "__main__":
    main()
