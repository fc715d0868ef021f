"""Store a bundle's image head weights as int8 (a scale per row): 1.3 MB -> 0.3 MB, float32 compute.

DEVELOPMENT-TIME ONLY (needs the [train] extra's ``onnx``); how bundle 1.4.0's ``image_head.onnx``
was made from 1.3.0's, to keep the bundle under 40 MiB beside the fusion ensemble::

    python scripts/int8_image_head.py models/default

Checked before the bundle is touched: image-only answers on the 450 MVSA-Single dev images,
through the runtime, must all stay the same (1.4.0: all 450 did; probabilities moved by at most
0.0016). Only the head file and its manifest entry change.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import MANIFEST, read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.data.mvsa import read_mvsa  # noqa: E402
from sentiment_fusion.labels import LABELS  # noqa: E402
from sentiment_fusion.runtime import Analyzer  # noqa: E402
from sentiment_fusion.training.quantize import int8_stored_weights  # noqa: E402

DATA = ROOT.parent / "shared/data"


def image_probabilities(bundle: Path, images: list[Path]) -> np.ndarray:
    predictions = Analyzer.load(bundle).predict_batch(images=images)
    return np.array([[p.scores[label] for label in LABELS] for p in predictions])


def main() -> None:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args()
    images = [e.image for e in read_mvsa(DATA / "mvsa_single", "dev").examples]
    manifest = read_manifest(args.bundle)
    head = manifest["components"]["image"]["files"]["head"]["path"]
    model = onnx.load(str(args.bundle / head))
    if not int8_stored_weights(model):
        raise SystemExit(f"{args.bundle / head}: no float weight matrices: nothing to do")
    onnx.checker.check_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "bundle"
        shutil.copytree(args.bundle, trial)
        onnx.save(model, str(trial / head))
        trial_manifest = read_manifest(trial, verify=False)
        trial_manifest["components"]["image"]["files"]["head"] = file_entry(trial, head)
        (trial / MANIFEST).write_text(json.dumps(trial_manifest, indent=2) + "\n")
        before, after = image_probabilities(args.bundle, images), image_probabilities(trial, images)
        changed = int((before.argmax(1) != after.argmax(1)).sum())
        if changed:
            raise SystemExit(f"{changed} answers changed: bundle left as it was")
        shutil.copyfile(trial / head, args.bundle / head)
    manifest["components"]["image"]["files"]["head"] = file_entry(args.bundle, head)
    (args.bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"{args.bundle / head}: int8 weights; the same answers on {len(images)} MVSA dev images, "
        f"probabilities within {np.abs(before - after).max():.4f}"
    )


if __name__ == "__main__":
    main()
