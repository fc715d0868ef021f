"""Insights on real brand tweets: per-day sentiment from predictions vs human labels, and throughput.

Data: CrowdFlower "Apple Twitter sentiment" (Dec 1-10, 2014; ../shared/data/apple_tweets),
human labels 1 negative / 3 neutral / 5 positive; not_relevant rows (coded 0 or
not_relevant) are left out of the comparison (they are still scored).

Measures, on posts that have a human label:
- Pearson r over days between the predicted and the human daily net sentiment
  (positive share - negative share), on all days and on days with >= --min-day posts;
- mean absolute error of the daily negative share (and of the daily net sentiment);
- overall agreement (accuracy, macro-F1) of predictions with the human labels;
- throughput of the local engine (posts/s, scoring phase: tokenize + ONNX + DuckDB commits).

Each figure is given for the posts scored as a whole (``posts``: the post's tone, as before
brand mentions) and, when the bundle has a targeted component, for the ``apple`` mentions
(``mentions``: each post that names Apple scored toward Apple). ``--brands FILE`` finds Apple by
its aliases (benchmarks/apple_brands.toml: the aliases of issue 12, fixed before measuring;
posts that name none of them are unmatched and left out of the mention figures); without it
every post is scored toward its brand "apple" (``--brand apple``, found or not).

    python benchmarks/insights_apple_tweets.py                  # the default bundle (models/default)
    python benchmarks/insights_apple_tweets.py --model DIR
    python benchmarks/insights_apple_tweets.py --tiny           # pipeline check with the tiny random bundle
    python benchmarks/insights_apple_tweets.py --brands benchmarks/apple_brands.toml   # apple mentions by alias

The last line of stdout is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from sentiment_fusion.insights.aggregates import trends
from sentiment_fusion.insights.pipeline import analyze
from sentiment_fusion.insights.readers import ColumnSpec, parse_label_map
from sentiment_fusion.insights.store import PostStore
from sentiment_fusion.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "apple_tweets" / "Apple-Twitter-Sentiment-DFE.csv"
SPEC = ColumnSpec(
    id="_unit_id",
    text="text",
    time="date",
    brand="apple",
    label="sentiment",
    label_map=parse_label_map("1=negative,3=neutral,5=positive,0=,not_relevant="),
)


class PostsOnly:
    """A store read as posts scored as a whole, whether or not it holds mentions."""

    def __init__(self, store: PostStore) -> None:
        self.query = store.query

    @staticmethod
    def rows_sql() -> str:
        return "posts"


def daily_comparison(store, min_day: int, brand: str | None = None) -> dict:
    predicted = {s.period: s for s in trends(store, "day", brand, column="sentiment", labelled_only=True)}
    human = {s.period: s for s in trends(store, "day", brand, column="human_label", labelled_only=True)}
    days = sorted(predicted)
    rows = [
        {
            "day": d.date().isoformat(),
            "n": human[d].n,
            "net_pred": predicted[d].net,
            "net_human": human[d].net,
            "neg_pred": predicted[d].share("negative"),
            "neg_human": human[d].share("negative"),
        }
        for d in days
    ]
    out = {"days": rows}
    for name, keep in (("all_days", rows), (f"days_n_ge_{min_day}", [r for r in rows if r["n"] >= min_day])):
        net_p, net_h = np.array([r["net_pred"] for r in keep]), np.array([r["net_human"] for r in keep])
        neg_p, neg_h = np.array([r["neg_pred"] for r in keep]), np.array([r["neg_human"] for r in keep])
        out[name] = {
            "n_days": len(keep),
            "pearson_r_net": float(np.corrcoef(net_p, net_h)[0, 1]) if len(keep) > 2 and net_p.std() > 0 else None,
            "mae_negative_share": float(np.abs(neg_p - neg_h).mean()) if keep else None,
            "mae_net": float(np.abs(net_p - net_h).mean()) if keep else None,
        }
    return out


def agreement(store, brand: str | None = None) -> dict:
    pairs = store.query(
        f"SELECT human_label AS y, sentiment AS p FROM {store.rows_sql()} "
        "WHERE human_label IS NOT NULL AND sentiment IS NOT NULL" + (" AND brand = ?" if brand else ""),
        [brand] if brand else [],
    )
    f1s = []
    for label in LABELS:
        tp = sum(r["y"] == label and r["p"] == label for r in pairs)
        fp = sum(r["y"] != label and r["p"] == label for r in pairs)
        fn = sum(r["y"] == label and r["p"] != label for r in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"n": len(pairs), "accuracy": sum(r["y"] == r["p"] for r in pairs) / len(pairs), "macro_f1": sum(f1s) / 3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=None, help="bundle folder (default: models/default)")
    parser.add_argument(
        "--tiny", action="store_true", help="use a tiny untrained bundle (needs torch): pipeline check only"
    )
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--min-day", type=int, default=30, help="posts a day needs for the second set of numbers")
    parser.add_argument("--db", type=Path, default=None, help="keep the store here (default: a temporary file)")
    parser.add_argument(
        "--brands",
        type=Path,
        default=None,
        help="brands TOML (e.g. benchmarks/apple_brands.toml): apple mentions found by alias",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"skip: {args.data} not found (../shared/data/apple_tweets)", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if args.tiny:
            from sentiment_fusion.testing import make_tiny_text_bundle

            model = make_tiny_text_bundle(Path(tmp) / "tiny")
        db = args.db or Path(tmp) / "apple.duckdb"
        result = analyze(
            [args.data],
            SPEC,
            db,
            model=model,
            engine=args.engine,
            batch_size=args.batch_size,
            threads=args.threads,
            progress=True,
            brands=args.brands,
        )
        with PostStore(db, read_only=True) as store:
            daily = daily_comparison(PostsOnly(store), args.min_day)
            agree = agreement(PostsOnly(store))
            figures = {"posts": {"agreement": agree, **daily}}
            if result.mention_config is not None:
                figures["mentions"] = {
                    "how": "brands file (aliases)" if args.brands else "every post toward its brand 'apple'",
                    **result.mention_totals,
                    "agreement": agreement(store, "apple"),
                    **daily_comparison(store, args.min_day, "apple"),
                }
    print(
        f"{result.model_version} [{result.engine}]: {result.scored} posts scored in {result.score_seconds:.2f}s "
        f"= {result.posts_per_s:.0f} posts/s (read {result.read_seconds:.2f}s)"
    )
    for name, f in figures.items():
        agree, daily = f["agreement"], f
        print(
            f"== {name}"
            + (
                f" ({f['how']}: {f['mentions']} mentions, {f['unmatched']} posts unmatched)"
                if name == "mentions"
                else ""
            )
        )
        print(
            f"agreement with human labels: n={agree['n']} accuracy {agree['accuracy']:.3f} "
            f"macro-F1 {agree['macro_f1']:.3f}"
        )
        print(f"{'day':<12}{'n':>6}{'net pred':>10}{'net human':>11}{'neg pred':>10}{'neg human':>11}")
        for r in daily["days"]:
            print(
                f"{r['day']:<12}{r['n']:>6}{r['net_pred']:>+10.3f}{r['net_human']:>+11.3f}"
                f"{r['neg_pred']:>10.3f}{r['neg_human']:>11.3f}"
            )
        for key in ("all_days", f"days_n_ge_{args.min_day}"):
            m = daily[key]
            r = "n/a" if m["pearson_r_net"] is None else f"{m['pearson_r_net']:.3f}"
            print(
                f"{key}: {m['n_days']} days, Pearson r (daily net) {r}, MAE daily negative share "
                f"{m['mae_negative_share']:.3f}, MAE daily net {m['mae_net']:.3f}"
            )
    print(
        json.dumps(
            {
                "data": str(args.data),
                "model": result.model_version,
                "engine": result.engine,
                "posts": result.rows_read,
                "scored": result.scored,
                "errors": result.errors,
                "posts_per_s": result.posts_per_s,
                "score_seconds": result.score_seconds,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "brands": str(args.brands) if args.brands else None,
                "mentions_seconds": result.mentions.seconds,
                "agreement": figures["posts"]["agreement"],  # the post-level figures, as before
                **{k: v for k, v in figures["posts"].items() if k != "agreement"},
                **({"mentions": figures["mentions"]} if "mentions" in figures else {}),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
