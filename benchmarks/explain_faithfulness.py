"""Are the explanations faithful? Deletion curves on real data (issue 14).

    python benchmarks/explain_faithfulness.py [--model DIR] [--data ../shared/data] [--tweets 1000] [--images 450]
        [--targeted 625] [--parts text,image,targets]

Text (TweetEval test tweets, the first ``--tweets``): delete the k words with the highest weight
(k = 1, 2, 3) and, separately, k words drawn at random (``DRAWS`` seeded draws per tweet), and
measure how much the predicted class's probability drops. Image (MVSA-Single dev images, scored
by the image model alone): paint the top 20% of grid cells grey (the cells the model sees) and,
separately, 20% drawn at random. A tweet needs more than k words to count for k. The targets:
top-k drops >= 2x the random ones, top cells >= 1.5x. Targeted answers (a bundle with a target
component; Dong et al. 2014 Twitter, the *dev* split carved from train, never test): the same word
curves for the probability of the verdict toward each example's target, the words weighted by
``explain(..., targets=[target])`` and the deletions scored by the targeted model.

Nothing is tuned here: the explanation settings (``GRID``, ``MAX_SPANS``, the grey fill) were fixed
by cost before this ran, and the test split is only scored. Variants are scored through the normal
runtime (``predict_batch`` for texts; the image model's graphs and ``Analyzer.answers`` for the
occluded pixel batches). The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sentiment_fusion.data import read_dataset
from sentiment_fusion.explain import (
    GRID,
    MAX_SPANS,
    delete,
    explain_targets,
    image_cells,
    mean_fill,
    occlude,
    run_pixels,
)
from sentiment_fusion.runtime import Analyzer

DRAWS = 5  # random deletions per post and k (their mean is the post's random drop)
KS = (1, 2, 3)
CELL_FRACTION = 0.2


def _summary(top: list[float], random: list[float]) -> dict:
    top_mean, random_mean = float(np.mean(top)), float(np.mean(random))
    return {
        "n": len(top),
        "top_drop": top_mean,
        "random_drop": random_mean,
        "ratio": top_mean / random_mean if random_mean > 0 else None,
        "top_beats_random": float(np.mean(np.array(top) > np.array(random))),
    }


def text_curves(analyzer: Analyzer, texts: list[str], seed: int = 0, targets: list[str] | None = None) -> dict:
    """Word deletion curves of the post's verdict or, with ``targets`` (one per text), of the verdict
    toward each text's target (the targeted model's weights and scores)."""
    rng = np.random.default_rng(seed)
    drops: dict[int, tuple[list[float], list[float]]] = {k: ([], []) for k in KS}
    for i, text in enumerate(texts):
        if targets is None:
            post = analyzer.explain(text=text)
        else:
            (post,) = explain_targets(analyzer, text, [targets[i]])
        words = post.explanation.words
        spans = [(w.start, w.end) for w in words]
        order = np.argsort([-w.weight for w in words], kind="stable")
        variants, plan = [], []
        for k in KS:
            if len(words) <= k:
                continue
            variants.append(delete(text, [spans[i] for i in order[:k]]))
            variants += [
                delete(text, [spans[i] for i in rng.choice(len(words), k, replace=False)]) for _ in range(DRAWS)
            ]
            plan.append(k)
        if not variants:
            continue
        base = post.scores[post.label]
        if targets is None:
            after = np.array([p.scores[post.label] for p in analyzer.predict_batch(variants)])
        else:
            answers = analyzer.predict_targets(variants, [[targets[i]]] * len(variants))
            after = np.array([a[0].scores[post.label] for a in answers])
        for j, k in enumerate(plan):
            chunk = base - after[j * (1 + DRAWS) : (j + 1) * (1 + DRAWS)]
            drops[k][0].append(float(chunk[0]))
            drops[k][1].append(float(chunk[1:].mean()))
    return {f"k={k}": _summary(*drops[k]) for k in KS}


def image_curves(analyzer: Analyzer, images: list[Path], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    fill = mean_fill(analyzer)
    top_drops, random_drops = [], []
    for path in images:
        post = analyzer.explain(image=path)
        _, pixels, boxes = image_cells(analyzer, path)
        weights = np.asarray(post.explanation.image.grid).ravel()
        seen = [i for i, box in enumerate(boxes) if box is not None]
        k = max(1, round(CELL_FRACTION * len(seen)))
        top = [seen[i] for i in np.argsort([-weights[i] for i in seen], kind="stable")[:k]]
        draws = [rng.choice(seen, k, replace=False) for _ in range(DRAWS)]
        batch = np.stack([occlude(pixels, [boxes[i] for i in cells], fill) for cells in [top, *draws]])
        logits, features = run_pixels(analyzer, batch)
        answers = analyzer.answers(len(batch), {"image": (range(len(batch)), logits, features)})
        chunk = post.scores[post.label] - np.array([a.scores[post.label] for a in answers])
        top_drops.append(float(chunk[0]))
        random_drops.append(float(chunk[1:].mean()))
    return {f"top_{round(CELL_FRACTION * 100)}pct_cells": _summary(top_drops, random_drops)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="bundle folder (default: the shipped default)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--tweets", type=int, default=1000)
    parser.add_argument("--images", type=int, default=450, help="MVSA-Single dev images (the split has 450)")
    parser.add_argument("--targeted", type=int, default=625, help="Dong 2014 dev examples (the split has 625)")
    parser.add_argument(
        "--parts",
        default="text,image,targets",
        help="which curves (targets: only for a bundle with a target component)",
    )
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    analyzer = Analyzer.load(args.model)
    result: dict = {
        "model": {"name": analyzer.name, "version": analyzer.version},
        "settings": {"grid": GRID, "max_spans": MAX_SPANS, "random_draws": DRAWS, "fill": "preprocessing mean"},
    }
    if "text" in parts:
        start = time.perf_counter()
        tweets = read_dataset(f"tweeteval:{args.data / 'tweeteval' / 'sentiment'}:test", limit=args.tweets)
        result["text"] = {
            "data": f"TweetEval test, first {args.tweets} tweets",
            **text_curves(analyzer, [e.text for e in tweets.examples]),
        }
        result["text"]["seconds"] = time.perf_counter() - start
        print(json.dumps(result["text"]), flush=True)
    if "targets" in parts and analyzer.target is not None:
        start = time.perf_counter()
        spec = f"targets:{args.data / 'targeted' / 'twitter_dong2014' / 'train.raw'}:dev"
        examples = read_dataset(spec, limit=args.targeted).examples
        result["targets"] = {
            "data": f"{spec} (Dong et al. 2014 Twitter, dev carved from train), first {args.targeted}",
            **text_curves(analyzer, [e.text for e in examples], targets=[e.target for e in examples]),
        }
        result["targets"]["seconds"] = time.perf_counter() - start
        print(json.dumps(result["targets"]), flush=True)
    if "image" in parts:
        start = time.perf_counter()
        posts = read_dataset(f"mvsa:{args.data / 'mvsa_single'}:dev", limit=args.images)
        result["image"] = {
            "data": f"MVSA-Single dev images (image model alone), first {args.images}",
            **image_curves(analyzer, [e.image for e in posts.examples if e.image is not None]),
        }
        result["image"]["seconds"] = time.perf_counter() - start
    print(json.dumps(result))


if __name__ == "__main__":
    main()
