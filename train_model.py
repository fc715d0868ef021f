"""Rebuild the shipped default model bundle (models/default) from ../shared/data, end to end.

    python train_model.py            # everything below, resuming from runs/ checkpoints
    python train_model.py --help

Steps (times measured on the 2-core CPU development machine, with nothing else running):
  1. text   MiniLM-L6 fine-tuned in two stages, each selected on TweetEval val:
            a) one epoch on TweetEval train + a seeded 6,000 IMDB train reviews (~30 min)
            b) from (a)'s final weights, one more epoch at learning rate 3e-5 on
               TweetEval train + a seeded 14,000 IMDB train reviews (the 6,000 and
               8,000 more); calibrated on TweetEval val, ONNX dynamic int8     (~55 min)
  2. image  MLP head on ImageNet MobileNetV2 features of MVSA-Single train images with
            their posts' labels, selected and calibrated on MVSA-Single dev  (~3 min)
  3. fusion head over both on MVSA-Single train pairs (+ MVSA-Multiple texts
            as text-only posts), selected and calibrated on dev; then the
            bundle is assembled and scored once on the reported splits       (~10 min)
The original design's BiLSTM on IMDB is `--lstm` (models/lstm-imdb, ~15 min).
Every step resumes from its checkpoint in runs/ when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the data sets (default ../shared/data)")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "default")
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="MobileNetV2 features graph (default: artifacts/mobilenet_v2_features_int8.onnx from "
        "scripts/convert_mobilenet.py, else the one in the current default bundle)",
    )
    parser.add_argument(
        "--lstm", action="store_true", help="train the original BiLSTM on IMDB instead (models/lstm-imdb)"
    )
    args = parser.parse_args()

    from sentiment_fusion.cli import main as cli

    d = args.data
    if args.lstm:
        return cli(
            [
                "train",
                "text",
                "--kind",
                "bilstm",
                "--train",
                f"imdb:{d}/imdb/aclImdb_v1.tar.gz:train",
                "--report",
                f"imdb:{d}/imdb/aclImdb_v1.tar.gz:test",
                "--out",
                str(ROOT / "models" / "lstm-imdb"),
                "--name",
                "lstm-imdb",
                "--vocab-size",
                "25000",
                "--max-length",
                "400",
                "--epochs",
                "4",
                "--init-embeddings",
                "minilm",
                "--work",
                str(ROOT / "runs" / "lstm-imdb"),
            ]
        )
    encoder = args.encoder or next(
        (
            p
            for p in (ROOT / "artifacts" / "mobilenet_v2_features_int8.onnx", args.out / "image_encoder.onnx")
            if p.is_file()
        ),
        None,
    )
    if encoder is None:
        print("error: no MobileNetV2 features graph; run scripts/convert_mobilenet.py (see README)", file=sys.stderr)
        return 2
    runs = ROOT / "runs" / "bundles"
    tweets, imdb, mvsa = f"{d}/tweeteval/sentiment", f"{d}/imdb/aclImdb_v1.tar.gz", f"{d}/mvsa_single"

    def text_step(stage: str, imdb_reviews: int, *extra: str) -> list[str]:
        return [
            "train",
            "text",
            "--kind",
            "minilm",
            "--train",
            f"tweeteval:{tweets}:train",
            "--train",
            f"imdb:{imdb}:train@{imdb_reviews}",
            "--val",
            f"tweeteval:{tweets}:val",
            "--max-length",
            "256",
            "--balance-classes",
            "--epochs",
            "1",
            *extra,
            "--out",
            str(runs / stage),
            "--work",
            str(ROOT / "runs" / stage),
            "--name",
            stage,
        ]

    steps = [
        text_step("text-minilm", 6000),
        text_step(
            "text-minilm-2",
            14000,
            "--init-from",
            str(ROOT / "runs" / "text-minilm" / "last.pt"),
            "--lr",
            "3e-5",
            "--eval-steps",
            "300",
        ),
        [
            "train",
            "image",
            "--train",
            f"mvsa:{mvsa}:train",
            "--val",
            f"mvsa:{mvsa}:dev",
            "--encoder",
            str(encoder),
            "--labels",
            "post",
            "--out",
            str(runs / "image"),
            "--work",
            str(ROOT / "runs" / "image"),
        ],
        [
            "train",
            "fusion",
            "--text-model",
            str(runs / "text-minilm-2"),
            "--image-model",
            str(runs / "image"),
            "--train",
            f"mvsa:{mvsa}:train",
            "--val",
            f"mvsa:{mvsa}:dev",
            "--text-only",
            f"jsonl:{d}/mvsa_multiple/train.jsonl",
            "--out",
            str(args.out),
            "--name",
            "default",
            "--version",
            "1.1.1",
            "--description",
            "Default sentiment-fusion model: fine-tuned MiniLM-L6 text encoder (int8), ImageNet MobileNetV2 "
            "image encoder (int8) with a sentiment head, and a fusion head trained on MVSA-Single tweet "
            "image+text pairs.",
            "--work",
            str(ROOT / "runs" / "fusion"),
            "--report",
            f"tweeteval:{tweets}:test@text",
            "--report",
            f"imdb:{imdb}:test@text",
            "--report",
            f"mvsa:{mvsa}:dev@text",
            "--report",
            f"mvsa:{mvsa}:dev@image",
            "--report",
            f"mvsa:{mvsa}:dev@both",
        ],
    ]
    for step in steps:
        print("$ sentiment-fusion " + " ".join(step), flush=True)
        code = cli(step)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
