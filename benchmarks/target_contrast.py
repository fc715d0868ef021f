"""Does the targeted model read the target's own context, or only the post's tone?

    python benchmarks/target_contrast.py [--model DIR] [--data ../shared/data] [--pairs 300]

Dong et al. (2014) tweets name one target each, and their sentiment toward it is nearly always
the tweet's tone, so Dong accuracy cannot tell the two apart. Here two examples of Dong 2014
*dev* (carved from train; never test) whose targets and verdicts differ are joined into one text
(``training/contrast_pairs.py``, seed 7) and the model is asked about each target: a model that
reads the tone gives both the same verdict. Reported: accuracy over the 2 x ``--pairs``
questions, the share of texts with both verdicts right, and the share with the same verdict for
both targets (always wrong here). The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion import load  # noqa: E402
from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.training.contrast_pairs import contrast_pairs  # noqa: E402


def measure(model: Path | None, data: Path, pairs: int) -> dict:
    analyzer = load(model)
    dev = read_dataset(f"targets:{data / 'targeted/twitter_dong2014/train.raw'}:dev")
    questions = contrast_pairs(dev.examples, pairs, seed=7)
    answers = analyzer.predict_targets([q.text or "" for q in questions], [[q.target or ""] for q in questions])
    predicted = np.array([int(a[0].sentiment) for a in answers])
    truth = np.array([int(q.label) for q in questions if q.label is not None])
    right = predicted == truth
    return {
        "model": {"name": analyzer.name, "version": analyzer.version},
        "data": "Dong 2014 Twitter dev (seeded 10% of train.raw), joined in contrast pairs (seed 7)",
        "texts": len(questions) // 2,
        "questions": len(questions),
        "accuracy": float(right.mean()),
        "both_right": float((right[0::2] & right[1::2]).mean()),
        "same_verdict_for_both": float((predicted[0::2] == predicted[1::2]).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    result = measure(args.model, args.data, args.pairs)
    print(
        f"{result['questions']} questions on {result['texts']} joined texts: accuracy {result['accuracy']:.3f}, "
        f"both right {result['both_right']:.3f}, same verdict for both {result['same_verdict_for_both']:.3f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
