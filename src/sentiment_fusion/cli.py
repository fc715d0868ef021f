"""``sentiment-fusion <command>``: the one console script. Only this layer prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .commands import run_command

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared/data of a checkout


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model bundle folder (default: the shipped models/default, or $SENTIMENT_FUSION_MODEL)",
    )


def cmd_predict(args) -> int:
    from .runtime import Analyzer

    explain = args.explain or args.explain_image is not None
    if args.explain_image is not None and args.image is None:
        raise ValueError("--explain-image writes the heat map of the post's image: give --image too")
    analyzer = Analyzer.load(args.model)
    prediction = (analyzer.explain if explain else analyzer.predict)(
        text=args.text, image=args.image, targets=args.target
    )
    why = prediction.explanation
    if args.explain_image is not None and why is not None and why.image is not None:
        args.explain_image.write_bytes(why.image.overlay_png)
    if args.json:
        print(json.dumps({**prediction.to_dict(), "model": {"name": analyzer.name, "version": analyzer.version}}))
        return 0
    scores = "  ".join(f"{k} {v:.3f}" for k, v in prediction.scores.items())
    print(f"{prediction.sentiment.title}  ({scores})  [{prediction.source}]")
    for name, view in prediction.modalities.items():
        print(f"  {name}: {view.sentiment.title} ({'  '.join(f'{k} {v:.3f}' for k, v in view.scores.items())})")
    if why is not None:
        _print_explanation(args.text, why, args.explain_image)
    for target in prediction.targets or []:
        _print_target(args.text, target)
    return 0


def _print_target(text: str, target) -> None:
    """One line per target: where the text names it (or that it does not), its verdict and scores;
    with --explain, its own word weights below it."""
    where = f"found at {', '.join(f'{a}-{b}' for a, b in target.spans)}" if target.found else "not found in the text"
    scores = "  ".join(f"{k} {v:.3f}" for k, v in target.scores.items())
    print(f"  target {target.target!r} ({where}): {target.sentiment.title} ({scores})")
    if target.explanation is not None and target.explanation.words:
        print(f"    why {target.explanation.label} toward {target.target!r}:")
        _print_coloured(text, target.explanation.words, indent="    ")
        strongest = sorted(target.explanation.words, key=lambda w: -abs(w.weight))[:5]
        print("    strongest words: " + ", ".join(f"{w.text} {w.weight:+.3f}" for w in strongest))


def _print_explanation(text: str | None, explanation, overlay: Path | None) -> None:
    """The text with each word's background coloured by its weight (rich, when installed: red toward
    the verdict, blue against, the stronger the deeper), the strongest words, the grid and the modalities."""
    words = explanation.words
    if words:
        print(f"why {explanation.label}:")
        _print_coloured(text, words)
        strongest = sorted(words, key=lambda w: -abs(w.weight))[:5]
        print("  strongest words: " + ", ".join(f"{w.text} {w.weight:+.3f}" for w in strongest))
    if explanation.image is not None:
        print(f"  image grid (rows top first; drop of {explanation.label} when a cell is greyed out):")
        for row in explanation.image.grid:
            print("    " + " ".join(f"{w:+.3f}" for w in row))
        if overlay is not None:
            print(f"  heat map overlay written to {overlay}")
    for name, effect in explanation.modalities.items():
        without = effect.scores_without[explanation.label]
        print(f"  without {name}: {explanation.label} {without:.3f} (contribution {effect.contribution:+.3f})")


def _print_coloured(text, words, indent: str = "  ") -> None:
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:  # not a dependency: the plain text, and the strongest words below it
        print(f"{indent}{text}")
        return
    scale = max(abs(w.weight) for w in words) or 1.0
    line = Text(text)
    for w in words:
        depth = round(200 * abs(w.weight) / scale)
        colour = f"rgb(255,{255 - depth},{255 - depth})" if w.weight > 0 else f"rgb({255 - depth},{255 - depth},255)"
        line.stylize(f"black on {colour}", w.start, w.end)
    Console(highlight=False, soft_wrap=True).print(Text(indent) + line)


def cmd_evaluate(args) -> int:
    from .data import read_dataset
    from .evaluation import evaluate
    from .runtime import Analyzer

    analyzer = Analyzer.load(args.model)
    dataset = read_dataset(args.data, limit=args.limit)
    modality = args.modality or _default_modality(analyzer, dataset)
    metrics = evaluate(analyzer, dataset, modality, progress=not args.json)
    print(
        f"{args.data} [{modality}] n={metrics['n']}  accuracy {metrics['accuracy']:.4f}  macro-recall "
        f"{metrics['macro_recall']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  weighted-F1 {metrics['weighted_f1']:.4f}  "
        f"ECE {metrics['ece']:.4f}"
    )
    header = "".join(f"{c:>10}" for c in metrics["classes"])
    print(f"confusion (rows true, columns predicted)\n{'':>10}{header}")
    for name, row in zip(metrics["classes"], metrics["confusion"], strict=True):
        print(f"{name:>10}" + "".join(f"{v:>10}" for v in row))
    if args.json:
        print(json.dumps(metrics))
    return 0


def _split_samples(specs: list[str]) -> tuple[list[str], dict[str, int]]:
    """``SPEC@N`` means a seeded random N examples of SPEC."""
    plain, sample = [], {}
    for spec in specs:
        head, _, tail = spec.rpartition("@")
        if head and tail.isdigit():
            plain.append(head)
            sample[head] = int(tail)
        else:
            plain.append(spec)
    return plain, sample


def _default_modality(analyzer, dataset) -> str:
    has_text = any(e.text for e in dataset.examples) and analyzer.text is not None
    has_image = any(e.image is not None for e in dataset.examples) and analyzer.image is not None
    return "both" if has_text and has_image else "text" if has_text else "image"


def cmd_train_text(args) -> int:
    from .training.publish import publish_bundle
    from .training.text_recipe import TextTrainConfig, train_text_model

    overrides = {
        **_training_overrides(args),
        **{
            k: v
            for k, v in {"eval_steps": args.eval_steps, "balance_classes": args.balance_classes or None}.items()
            if v is not None
        },
    }
    train, sample = _split_samples(args.train)
    _preflight(args, overrides, train + (args.val or []) + (args.report or []))
    kind = args.kind or (None if args.init_from else "minilm")
    config = TextTrainConfig(
        kind=kind,
        train=train,
        val=args.val or [],
        sample=sample,
        max_length=args.max_length,
        vocab_size=args.vocab_size,
        threads=args.threads,
        training=overrides,
        embed_dim=args.embed_dim,
        hidden_dim=args.hidden_dim,
        init_embeddings=args.init_embeddings,
        quantize=not args.no_quantize,
        init_from=args.init_from,
        target=args.target_as,
        freeze_word_embeddings=args.freeze_word_embeddings,
        contrast_pairs=args.contrast_pairs,
        target_pooling=args.target_pooling,
    )
    work = args.work or Path("runs") / args.out.name
    component = train_text_model(config, args.out, work)
    manifest = publish_bundle(
        args.out,
        name=args.name or args.out.name,
        version=args.version,
        components={"text": component},
        description=args.description or f"{component.kind} text sentiment model",
        reports=[(spec, "text") for spec in args.report or []],
    )
    print(f"wrote {args.out}")
    _print_metrics(component, manifest)
    return 0


def cmd_serve(args) -> int:
    from .api.server import serve

    serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        model=args.model,
        log_level=args.log_level or ("debug" if args.verbose else "info"),
        db=args.db,
        brands=args.brands,
    )
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    if args.data is not None and not args.data.is_dir():
        raise FileNotFoundError(f"--data {args.data} is not a folder")
    data = args.data if args.data is not None else DEFAULT_DATA
    result = run_bench(
        args.model, data, seconds=args.seconds, n_texts=args.texts, n_images=args.images, peers=not args.no_peers
    )
    for key, row in result.items():
        if isinstance(row, dict) and ("batch32_per_s" in row or "skipped" in row):
            if "skipped" in row:
                print(f"{key:>22}: skipped ({row['skipped']})")
            else:
                print(
                    f"{key:>22}: batch 1 {row['batch1_per_s']:8.1f}/s  p50 {row['p50_ms']:7.2f} ms  "
                    f"p99 {row['p99_ms']:7.2f} ms  | batch 32 {row['batch32_per_s']:8.1f}/s"
                )
            if "speedup_vs_transformers_pipeline_batch32" in row:
                speedup = row["speedup_vs_transformers_pipeline_batch32"]
                print(f"{'':>22}  {speedup:.2f}x the transformers pipeline at batch 32")
            if "speedup_vs_tflite_reference_batch32" in row:
                print(
                    f"{'':>22}  {row['speedup_vs_tflite_reference_batch1']:.2f}x the TFLite reference at batch 1, "
                    f"{row['speedup_vs_tflite_reference_batch32']:.2f}x at batch 32"
                )
            if "pair_cost_vs_post_batch32" in row:
                print(
                    f"{'':>22}  a (post, target) pair costs {row['pair_cost_vs_post_batch1']:.2f}x a post's "
                    f"prediction at batch 1, {row['pair_cost_vs_post_batch32']:.2f}x at batch 32"
                )
        elif key.startswith("explain_"):
            print(
                f"{key:>22}: one post p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
                f"({', '.join(f'{k} {v:g}' for k, v in row.items() if 'passes' in k)})"
            )
    if args.json:
        print(json.dumps(result))
    return 0


def _preflight(args, overrides: dict, specs: list[str | None]) -> None:
    """Check what can be checked in a second before minutes or hours of reading and training:
    the training arguments, every data spec (syntax and path), --threads."""
    from .data.spec import parse_spec
    from .training.trainer import TrainingArguments

    TrainingArguments(output_dir=args.out, **overrides)  # ValueError naming a bad --lr, --batch-size, ...
    for spec in filter(None, specs):
        path = parse_spec(spec).path
        if not path.exists():
            raise FileNotFoundError(f"data not found: {path} (from {spec})")
    if getattr(args, "threads", None) is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")


def _training_overrides(args) -> dict:
    return {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "max_steps": args.max_steps,
            "seed": args.seed,
            "resume": not args.restart,
            "progress": not args.quiet,
        }.items()
        if v is not None
    }


def _print_metrics(component, manifest: dict) -> None:
    for row in component.metrics + manifest.get("evaluations", []):
        print(
            f"  {row['data']} [{row['split']}] n={row['n']} accuracy {row['accuracy']:.4f} macro-recall "
            f"{row['macro_recall']:.4f} weighted-F1 {row['weighted_f1']:.4f} ECE {row['ece']:.4f}"
        )


def cmd_train_image(args) -> int:
    from .training.image_recipe import ImageTrainConfig, train_image_head
    from .training.publish import publish_bundle

    _preflight(args, _training_overrides(args), [args.train, args.val] + (args.report or []))
    config = ImageTrainConfig(
        train=args.train,
        val=args.val,
        encoder=args.encoder,
        hidden_dim=args.hidden_dim,
        labels=args.labels,
        training=_training_overrides(args),
    )
    component = train_image_head(config, args.out, args.work or Path("runs") / args.out.name)
    manifest = publish_bundle(
        args.out,
        name=args.name or args.out.name,
        version=args.version,
        components={"image": component},
        description=args.description or "image sentiment head over ImageNet MobileNetV2 features",
        reports=[(spec, "image") for spec in args.report or []],
    )
    print(f"wrote {args.out}")
    _print_metrics(component, manifest)
    return 0


def cmd_train_fusion(args) -> int:
    from .evaluation import MODALITIES
    from .training.fusion_recipe import FusionTrainConfig, train_fusion
    from .training.publish import publish_bundle

    reports = [
        tuple(r.rsplit("@", 1)) if r.rsplit("@", 1)[-1] in MODALITIES else (r, "both") for r in args.report or []
    ]
    _preflight(
        args, _training_overrides(args), [args.train, args.val, *(args.text_only or []), *(r for r, _ in reports)]
    )
    config = FusionTrainConfig(
        text_model=args.text_model,
        image_model=args.image_model,
        train=args.train,
        val=args.val,
        text_only=args.text_only or [],
        training=_training_overrides(args),
    )
    components = train_fusion(config, args.out, args.work or Path("runs") / args.out.name)
    manifest = publish_bundle(
        args.out,
        name=args.name or args.out.name,
        version=args.version,
        components=components,
        description=args.description or "text + image sentiment with a fusion head",
        reports=reports,
        published=PUBLISHED_MVSA if "mvsa" in args.train else [],
    )
    print(f"wrote {args.out}")
    _print_metrics(components["fusion"], manifest)
    return 0


PUBLISHED_MVSA = [
    "MVSA-Single test (acc / weighted F1): MultiSentiNet 69.84 / 69.63, CoMN 70.51 / 70.01, MGNNS 73.77 / 72.70, "
    "CLMLF 75.33 / 73.46 (as reported by Li et al., 2022, CLMLF, Findings of NAACL)",
    "TweetEval sentiment test (macro recall): LSTM 58.3, FastText 62.9, RoBERTa-base 71.3, twitter-RoBERTa-base 72.8 "
    "(Barbieri et al., 2020)",
    "IMDB test accuracy: Keras BiLSTM example 0.878, fastText bigrams 0.906, NBSVM 0.912",
]


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument(
        "--work",
        type=Path,
        default=None,
        help="checkpoint/cache folder (default runs/<bundle name>); reruns resume from it",
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--name"), p.add_argument("--version", default="1.0.0"), p.add_argument("--description")
    p.add_argument("--epochs", type=int), p.add_argument("--batch-size", type=int), p.add_argument("--lr", type=float)
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps (smoke runs)")
    p.add_argument("--seed", type=int)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def version_text() -> str:
    """``sentiment-fusion 0.1.0`` and the default bundle (name, version, folder), read from its
    manifest without hashing the files: asking for a version must not cost a model load."""
    from . import __version__
    from .bundle import default_bundle_path, read_manifest
    from .errors import SentimentFusionError

    lines = [f"sentiment-fusion {__version__}"]
    try:
        path = default_bundle_path()
        manifest = read_manifest(path, verify=False)
        lines.append(f"default bundle: {manifest['name']} {manifest['version']} ({path})")
    except SentimentFusionError as exc:
        lines.append(f"default bundle: none ({exc})")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """Like argparse's ``version`` action, but the text is read only when the flag is given."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-fusion",
        description="Negative / neutral / positive sentiment of social-media posts from "
        "their text, their image or both: predict, evaluate, train, serve, analyze archives, bench.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the package version and the default model bundle's name and version, then exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="sentiment of one post")
    p.add_argument("--text", default=None, help="the post text")
    p.add_argument("--image", type=Path, default=None, help="image file")
    p.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="X",
        help="also the sentiment toward X (a brand, product, person; repeatable, answered in the order given; "
        "needs --text and a bundle with a target component)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also say why: the text with words coloured by their weight "
        "toward the verdict, the image's heat map grid, each modality's contribution",
    )
    p.add_argument(
        "--explain-image",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="write the image with its heat map over it to this PNG (implies --explain; needs --image)",
    )
    _add_model(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="metrics of a bundle on a labelled data set")
    p.add_argument(
        "--data", required=True, help="dataset spec, e.g. tweeteval:PATH:val, imdb:PATH:test, mvsa:PATH:dev, file.jsonl"
    )
    p.add_argument(
        "--modality",
        choices=["text", "image", "both"],
        default=None,
        help="which inputs to use (default: every modality both the data and the model have)",
    )
    p.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object with the metrics")
    _add_model(p)
    p.set_defaults(func=cmd_evaluate)

    from .api.server import add_serve_arguments

    p = add_serve_arguments(sub.add_parser("serve", help="run the HTTP API and web page (needs the [serve] extra)"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="throughput and latency of a bundle and its peers, in one run")
    p.add_argument(
        "--data",
        type=Path,
        help="folder with tweeteval/ and mvsa_single/ for real inputs (default "
        "../shared/data; without it, built-in sample texts and random images)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    p.add_argument("--texts", type=int, default=2048, help="how many texts (and Dong pairs) to measure on")
    p.add_argument("--images", type=int, default=256, help="how many images to measure on")
    p.add_argument("--no-peers", action="store_true", help="measure only the bundle")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    _add_model(p)
    p.set_defaults(func=cmd_bench)

    from .insights.cli import add_commands as add_insights_commands

    add_insights_commands(sub)

    train = sub.add_parser("train", help="train a model component into a bundle")
    tsub = train.add_subparsers(dest="component", required=True)
    p = tsub.add_parser("text", help="text model: the original BiLSTM or fine-tuned MiniLM")
    p.add_argument(
        "--kind",
        choices=["bilstm", "minilm"],
        default=None,
        help="model (default minilm; with --init-from, the model it holds)",
    )
    p.add_argument(
        "--train",
        action="append",
        required=True,
        help="training data spec (repeatable); SPEC@N trains on a seeded random N examples of it",
    )
    p.add_argument("--val", action="append", help="validation spec (repeatable; default: 10%% of train held out)")
    p.add_argument("--report", action="append", help="spec scored once on the final bundle (e.g. the test split)")
    _add_training_flags(p)
    p.add_argument("--eval-steps", type=int, help="also validate (and keep the best) every N steps")
    p.add_argument("--balance-classes", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--max-length", type=int, help="tokens per text (default 400 bilstm, 128 minilm)")
    p.add_argument("--vocab-size", type=int, default=30000, help="bilstm: words kept (most frequent in train)")
    p.add_argument("--embed-dim", type=int, default=128), p.add_argument("--hidden-dim", type=int, default=128)
    p.add_argument(
        "--init-embeddings",
        choices=["minilm"],
        help="bilstm: start word vectors from MiniLM's (vocabulary still from train)",
    )
    p.add_argument(
        "--init-from",
        help="continue fine-tuning from an earlier run's weights (its best.pt or last.pt) or "
        "a bundle made by one: the model, tokenizer and preprocessing come from it, not from the flags",
    )
    p.add_argument(
        "--no-quantize",
        action="store_true",
        help="keep fp32 (default: dynamic int8 when it keeps the validation metric within 0.01)",
    )
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--target-as",
        metavar="MODE",
        help="for data with targets (targets:FILE, a jsonl/csv target "
        "column), how MiniLM sees each: segment ([CLS] text [SEP] target [SEP]), markers (« target » "
        "in the text) or both",
    )
    p.add_argument(
        "--freeze-word-embeddings",
        action="store_true",
        help="minilm: keep --init-from's word-embedding table, so that a bundle's graphs can share it on disk",
    )
    p.add_argument(
        "--contrast-pairs",
        type=int,
        default=0,
        metavar="N",
        help="targeted data: add N texts joined from two examples with different targets and verdicts, each "
        "asked about both (training/contrast_pairs.py)",
    )
    p.add_argument(
        "--target-pooling",
        action="store_true",
        help="targeted minilm: the classifier also reads the mean of the target's own tokens (TD-BERT)",
    )
    p.set_defaults(func=cmd_train_text)

    p = tsub.add_parser("image", help="image sentiment head over MobileNetV2 features (MVSA-Single, CIFAR-100, ...)")
    p.add_argument("--train", required=True, help="e.g. mvsa:PATH:train or cifar100:PATH:train")
    p.add_argument("--val", help="e.g. mvsa:PATH:dev (default: 10%% of train held out)")
    p.add_argument(
        "--encoder",
        type=Path,
        default=Path("artifacts/mobilenet_v2_features.onnx"),
        help="MobileNetV2 features graph from scripts/convert_mobilenet.py",
    )
    p.add_argument("--hidden-dim", type=int, default=256, help="0 = logistic regression")
    p.add_argument(
        "--labels",
        choices=["image", "post"],
        default="image",
        help="train on each image's own label (MVSA per-modality) or the post's label",
    )
    p.add_argument("--report", action="append", help="spec scored once on the final bundle")
    _add_training_flags(p)
    p.set_defaults(func=cmd_train_image)

    p = tsub.add_parser("fusion", help="fusion head over a text bundle and an image bundle; writes the full bundle")
    p.add_argument("--text-model", type=Path, required=True), p.add_argument("--image-model", type=Path, required=True)
    p.add_argument("--train", required=True, help="paired data, e.g. mvsa:PATH:train")
    p.add_argument("--val", required=True, help="e.g. mvsa:PATH:dev")
    p.add_argument("--text-only", action="append", help="extra text-only labelled posts (repeatable)")
    p.add_argument("--report", action="append", help="SPEC[@text|image|both] scored once on the final bundle")
    _add_training_flags(p)
    p.set_defaults(func=cmd_train_fusion)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "train" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
