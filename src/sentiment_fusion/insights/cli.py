"""``sentiment-fusion analyze`` and ``sentiment-fusion insights``: flags -> library calls -> print.

The main console script registers both with :func:`add_commands`; ``python -m
sentiment_fusion.insights.cli`` runs them on their own.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

ANALYZE_HELP = """\
Score posts from CSV, JSON Lines or Parquet files (or folders of them, searched
recursively) into a DuckDB file, table `posts`, one row per post id.

Re-running scores only posts not yet scored by this model version; stopping the run
at any point (Ctrl-C, kill) loses at most the last few hundred posts' work and the
next run finishes the job without duplicates. Posts that cannot be scored (empty
text, unreadable image) are stored with the reason in `error`.

Brand mentions (a bundle with a targeted text component, e.g. the default from 1.3.0):
--brands FILE names brands and their aliases in TOML,
  [brands.apple]
  aliases = ["apple", "@apple", "#apple", "$aapl", "#aapl", "iphone"]
and each post is scored toward each brand whose aliases it names (any case and accents, on word
boundaries; "apple" also finds @Apple and #apple): table `mentions`, one row per post
and brand. Posts that name no brand are kept and counted as unmatched. With
--brand-col (or --brand) each post is scored toward its own brand instead (through its
aliases when --brands lists it). The insights and the report then count mentions, so
a post naming two brands counts for each, with its own verdict. A re-run without these
flags keeps the store's brands; a changed brands file re-scores only what changed.

CSV may be UTF-8 or Windows-1252; times such as `Mon Dec 01 19:30:03 +0000 2014`,
ISO 8601 or Unix epochs become UTC timestamps. Image paths are relative to the file
that names them.

--engine ray scores with Ray Data over a pool of actors (pip install
'sentiment-fusion[scale]'). Without RAY_ADDRESS it starts Ray on this machine; with
RAY_ADDRESS=ray://HEAD:10001 (or RAY_ADDRESS=auto on a cluster node) it uses that
cluster. The model travels to the workers with the job; image files must be readable
from every worker. Results return to this machine, which writes the DuckDB file.

example:
  sentiment-fusion analyze tweets.csv --id-col _unit_id --text-col text --time-col date \\
      --brand apple --label-col sentiment --label-map 1=negative,3=neutral,5=positive,not_relevant= \\
      --db brands.duckdb --report report.html
"""
VIEWS = ("summary", "trends", "alerts", "terms", "examples")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _timestamp(text: str):
    from .timestamps import parse_timestamp

    value = parse_timestamp(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (ISO 8601, e.g. 2014-12-09 or 2014-12-09T12:00:00Z)")
    return value


def _label_map(text: str) -> dict[str, str]:
    from .readers import parse_label_map

    try:
        return parse_label_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_alert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", type=_positive_int, default=7, help="trailing periods in the alert baseline (default 7)")
    p.add_argument(
        "--min-volume",
        type=_positive_int,
        default=30,
        help="posts needed in a period and in its baseline to test it (default 30)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance after correction (default 0.05)")
    p.add_argument(
        "--correction",
        choices=["bh", "bonferroni", "none"],
        default="bh",
        help="multiple-testing correction across brands, periods and metrics (default bh = Benjamini-Hochberg)",
    )


def add_commands(subparsers) -> None:
    """Register ``analyze`` and ``insights`` on the console script's subparsers."""
    p = subparsers.add_parser(
        "analyze",
        help="score posts from files into a DuckDB store (+ HTML report)",
        description=ANALYZE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="CSV/TSV, JSONL or Parquet file, or a folder of them")
    p.add_argument("--id-col", required=True, help="column with a unique post id")
    p.add_argument("--text-col", required=True, help="column with the post text")
    p.add_argument("--image-col", help="column with an image path (relative to the input file's folder)")
    p.add_argument("--time-col", help="column with the post time (needed for trends and alerts)")
    p.add_argument("--brand-col", help="column with the brand; without it every post belongs to --brand")
    p.add_argument(
        "--brand",
        help="brand name when there is no --brand-col (default: 'all' for new posts; a re-run keeps stored brands)",
    )
    p.add_argument(
        "--brands",
        type=Path,
        metavar="FILE",
        help="TOML file of brands and aliases: score each post toward each brand it names (table mentions)",
    )
    p.add_argument("--label-col", help="column with human labels, stored as human_label for measuring")
    p.add_argument(
        "--label-map",
        type=_label_map,
        default={},
        help="raw human label -> label, e.g. 1=negative,3=neutral,5=positive,not_relevant= (empty = ignore)",
    )
    p.add_argument("--db", type=Path, required=True, help="DuckDB file to create or update")
    p.add_argument("--report", type=Path, help="also write this self-contained HTML report")
    p.add_argument("--period", choices=["hour", "day", "week"], default="day", help="report period (default day)")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model bundle folder (default: the shipped models/default, or $SENTIMENT_FUSION_MODEL)",
    )
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="where to score (default local)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="posts per model call (default 64)")
    p.add_argument("--commit-rows", type=_positive_int, default=512, help="posts per store transaction (default 512)")
    p.add_argument("--threads", type=_positive_int, help="ONNX Runtime threads (local engine)")
    p.add_argument("--ray-actors", type=_positive_int, help="Ray actors (default: one per CPU of the cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    p = subparsers.add_parser("insights", help="tables from an analyze store: summary, trends, alerts, terms, examples")
    views = p.add_subparsers(dest="view", required=True)
    for view in VIEWS:
        v = views.add_parser(view, help=f"print the {view} table")
        v.add_argument("--db", type=Path, required=True, help="DuckDB file written by analyze")
        v.add_argument("--brand", help="only this brand")
        if view in ("trends", "alerts"):
            v.add_argument(
                "--period", choices=["hour", "day", "week"], default="day", help="trend period (default day)"
            )
        v.add_argument("--since", type=_timestamp, help="only posts created at or after this time (ISO 8601; UTC)")
        v.add_argument("--until", type=_timestamp, help="only posts created before this time")
        v.add_argument("--csv", action="store_true", help="CSV instead of an aligned table")
        if view == "alerts":
            _add_alert_options(v)
        if view in ("terms", "examples"):
            v.add_argument(
                "-k",
                type=_positive_int,
                default=15 if view == "terms" else 3,
                help="terms per brand and side / examples per brand and sentiment",
            )
        if view == "terms":
            v.add_argument("--min-count", type=_positive_int, default=3, help="ignore terms seen fewer times")
            v.add_argument(
                "--min-z", type=_finite_float, default=1.96, help="list only terms with a log-odds z above this"
            )
        v.set_defaults(func=cmd_insights)


def cmd_analyze(args) -> int:
    from .pipeline import analyze
    from .readers import ColumnSpec, find_files
    from .report import check_report_path

    files = find_files(args.inputs)  # folders walked once
    if args.report:  # before hours of scoring, not after
        check_report_path(args.report, keep=[args.db, *files])
    spec = ColumnSpec(
        id=args.id_col,
        text=args.text_col,
        image=args.image_col,
        time=args.time_col,
        brand_col=args.brand_col,
        brand=args.brand,
        label=args.label_col,
        label_map=args.label_map,
    )
    result = analyze(
        files,
        spec,
        args.db,
        model=args.model,
        engine=args.engine,
        batch_size=args.batch_size,
        commit_rows=args.commit_rows,
        threads=args.threads,
        ray_actors=args.ray_actors,
        progress=not args.quiet,
        brands=args.brands,
    )
    stats = result.read_stats
    print(
        f"read {result.rows_read} rows from {stats.files} file(s) in {result.read_seconds:.1f}s"
        + (f"; {stats.missing_id} rows without an id skipped" if stats.missing_id else "")
        + (f"; {result.repeated_ids} rows repeat an earlier post id (last kept)" if result.repeated_ids else "")
        + (f"; {stats.bad_time} unparseable times" if stats.bad_time else "")
        + (f"; {stats.legacy_lines} lines read as Windows-1252" if stats.legacy_lines else "")
        + (f"; {stats.empty_files} file(s) without posts" if stats.empty_files else "")
    )
    print(
        f"scored {result.scored} posts ({result.errors} could not be scored) with {result.model_version} "
        f"[{result.engine}] in {result.score_seconds:.1f}s: {result.posts_per_s:.0f} posts/s"
    )
    totals = result.totals
    print(
        f"{args.db}: {totals['posts']} posts, {totals['scored']} scored, {totals['errors']} errors, "
        f"{totals['pending']} pending"
    )
    if result.mention_config is not None:
        done, counts = result.mentions, result.mention_totals
        whom = (
            f"{len(result.mention_config.brands)} brand(s) by alias"
            if result.mention_config.mode == "aliases"
            else "each post's own brand"
        )
        print(
            f"mentions ({whom}): {counts['mentions']} in {counts['matched']} posts; "
            f"{counts['unmatched']} posts unmatched (no brand named, or no text); this run matched "
            f"{done.posts} posts again: {done.scored} mentions scored, {done.kept} kept, {done.deleted} deleted "
            f"in {done.seconds:.1f}s"
        )
    if args.report:
        from ..runtime import Analyzer
        from .report import write_report
        from .store import PostStore

        with PostStore(args.db, read_only=True) as store:  # the scoring model explains the words behind verdicts
            print(f"report: {write_report(store, args.report, period=args.period, analyzer=Analyzer.load(args.model))}")
    return 0


def _rows(args, store) -> list[dict]:
    from . import aggregates

    if args.view == "summary":
        return aggregates.summary(store, args.brand)
    if args.view == "trends":
        rows = [s.to_row() for s in aggregates.trends(store, args.period, args.brand)]
        keep = ("brand", "period", "n", "unique_texts", "negative", "neutral", "positive", "net", "net_lo", "net_hi")
        return rows if args.csv else [{k: r[k] for k in keep} for r in rows]
    if args.view == "alerts":
        from .alerts import AlertConfig, find_alerts

        config = AlertConfig(
            window=args.window, min_volume=args.min_volume, alpha=args.alpha, correction=args.correction
        )
        alerts = find_alerts(aggregates.trends(store, args.period, args.brand, dense=True), config)
        return [{**a.to_row(), **_alert_drivers(store, a, args)} for a in alerts]
    if args.view == "terms":
        from .terms import top_terms

        return top_terms(store, args.brand, k=args.k, min_count=args.min_count, min_zeta=args.min_z)
    return aggregates.examples(store, args.brand, k=args.k)


def _alert_drivers(store, alert, args) -> dict:
    """What drives an alert (alert_drivers.py): its period's unique texts, most repeated text (posts,
    retweets, share of the period) and log-odds words."""
    from .alert_drivers import alert_drivers

    found = alert_drivers(store, alert.brand, alert.period, args.period, window=args.window, k_texts=1)
    top = found["repeated"][0] if found["repeated"] else None
    return {
        "unique_texts": found["unique_texts"],
        "top_text_posts": top["posts"] if top else None,
        "top_text_retweets": top["retweets"] if top else None,
        "top_text_share": top["share"] if top else None,
        "top_text": top["text"] if top else None,
        "words": " ".join(w["term"] for w in found["words"]),
    }


def cmd_insights(args) -> int:
    from .store import PostStore
    from .tables import format_rows

    with PostStore(args.db, read_only=True) as store:
        if args.since or args.until:  # the same tables over the posts of [since, until)
            from .window import View

            rows = _rows(args, View(store.con, args.since, args.until))
        else:
            rows = _rows(args, store)
    print(format_rows(rows, as_csv=args.csv))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point with the same error handling as ``sentiment-fusion``."""
    from ..commands import run_command

    parser = argparse.ArgumentParser(prog="sentiment-fusion", description="Score posts into a store; tables from it.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
