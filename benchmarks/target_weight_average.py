"""Do several runs of the targeted recipe beat one, averaged as weights (a model soup) or as logits?

    python benchmarks/target_weight_average.py runs/tgt-s21/best.pt runs/tgt-s22/best.pt [--bundle models/default]

Each weights file is a run of the shipped targeted recipe (README, "Targeted sentiment") with
another ``--seed``; ``--bundle`` adds the bundle's own ``target`` component, read back from its
int8 graph (:mod:`~sentiment_fusion.training.graph_weights`: its fp32 file is gone). For every
member and every group of two or more, the group's mean weights
(:func:`~sentiment_fusion.training.starting_point.averaged`: one model, the cost of one) and the
mean of its members' logits (an ensemble: the cost of all) are scored by argmax (fp32, PyTorch) on

- Dong 2014 Twitter *dev* (n = 625): the split each run chose its checkpoint on, so a single
  run's figure is flattered by that choice and a mean's is not;
- SemEval-2014 restaurants + laptops *dev* (the seeded 10% of each train file, n = 594): held
  out from training and from every choice.

No test split is read. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.data import read_dataset  # noqa: E402
from sentiment_fusion.metrics import classification_report  # noqa: E402
from sentiment_fusion.training.starting_point import (  # noqa: E402
    StartingPoint,
    averaged,
    graph_starting_point,
    starting_point,
)

SPLITS = {
    "dong_dev": ["twitter_dong2014/train.raw"],
    "semeval_dev": ["semeval14/Restaurants_Train.xml.seg", "semeval14/Laptops_Train.xml.seg"],
}


def logits(point: StartingPoint, ids: list[list[int]]) -> np.ndarray:
    model = point.model().eval()
    out = np.zeros((len(ids), 3), np.float32)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.no_grad():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            batch, mask = point.encoder.pad([ids[i] for i in rows])
            out[rows] = model(input_ids=torch.from_numpy(batch), attention_mask=torch.from_numpy(mask)).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", nargs="+", type=Path, help="best.pt / last.pt of runs of one recipe")
    parser.add_argument("--bundle", type=Path, help="also the target component of this bundle")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/targeted")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    members = ([graph_starting_point(args.bundle, "target")] if args.bundle else []) + [
        starting_point(p) for p in args.weights
    ]
    averaged(members)  # refuses models that differ before anything is scored
    names = [m.provenance.get("graph", m.provenance["path"]) for m in members]
    splits = {}
    for split, files in SPLITS.items():
        examples = [e for f in files for e in read_dataset(f"targets:{args.data / f}:dev").examples]
        ids = members[0].encoder.token_ids([e.text for e in examples], [e.target for e in examples])
        splits[split] = (ids, np.array([int(e.label) for e in examples]))

    def scores(member_logits: dict[str, np.ndarray]) -> dict:
        return {
            split: {
                k: classification_report(labels, member_logits[split].argmax(1))[k]
                for k in ("n", "accuracy", "macro_f1")
            }
            for split, (_, labels) in splits.items()
        }

    own = [{split: logits(m, ids) for split, (ids, _) in splits.items()} for m in members]
    rows = [{"members": [name], **scores(lg)} for name, lg in zip(names, own, strict=True)]
    for size in range(2, len(members) + 1):
        for group in itertools.combinations(range(len(members)), size):
            soup = averaged([members[i] for i in group])
            means = {
                "weight mean": {split: logits(soup, ids) for split, (ids, _) in splits.items()},
                "logit mean": {split: np.mean([own[i][split] for i in group], axis=0) for split in splits},
            }
            rows += [{"members": [names[i] for i in group], "kind": k, **scores(v)} for k, v in means.items()]
    for row in rows:
        figures = "  ".join(f"{s} {row[s]['accuracy']:.4f} / {row[s]['macro_f1']:.4f}" for s in splits)
        print(f"{row.get('kind', 'one run'):>11}  {' + '.join(row['members'])}\n{'':>13}{figures}")
    print(json.dumps({"splits": {s: v[1].size for s, v in splits.items()}, "rows": rows}))


if __name__ == "__main__":
    main()
