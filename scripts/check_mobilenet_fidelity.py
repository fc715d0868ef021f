"""Fidelity of the converted MobileNetV2 ONNX graphs against the TFLite interpreter.

DEVELOPMENT-TIME ONLY (the reference needs TensorFlow; run it in the tf venv, see
scripts/convert_mobilenet.py)::

    /work/tfenv/bin/python scripts/check_mobilenet_fidelity.py                 # 200 MVSA images
    /work/tfenv/bin/python scripts/check_mobilenet_fidelity.py --onnx artifacts/mobilenet_v2_imagenet.int8.onnx
    # the committed test reference (8 images, top-1 + top-5 of TFLite):
    /work/tfenv/bin/python scripts/check_mobilenet_fidelity.py --n 8 \\
        --reference-out tests/image/assets/mobilenet_reference.json

Both sides get the SAME pixels: ``ImagePreprocessor.pixels()`` (uint8, 224x224 RGB) go into
the TFLite model as they are and into ONNX after ``normalize()``, so the comparison measures
the conversion, not preprocessing. Images: the first ``--n`` MVSA-Single jpgs by numeric id
(only pixels are used, no labels). Reference top-1 = argmax of the TFLite model's uint8
softmax; its quantized softmax often ties at the top (1/256 steps), so ties are broken by the
TFLite quantized logits, and a tie that remains counts as agreement when ONNX picks any of
the tied classes (the number of such images is printed). ``--reference-in`` compares against a
saved reference instead (no TensorFlow needed).

Prints one line per ONNX graph: ``agreement=0.955 n=200 ...`` and, for a features graph given
with ``--features``, the cosine similarity of its 1280-d output to TFLite's AvgPool tensor.

Measured (MVSA-Single ids 1..200, TF 2.21 TFLite interpreter, onnxruntime 1.32)::

    mobilenet_v2_imagenet.onnx       agreement=0.955 n=200 (strict 0.945; ONNX top-1 in TFLite top-5: 1.000)
    mobilenet_v2_imagenet_int8.onnx  agreement=1.000 n=200
    mobilenet_v2_imagenet_ptq.onnx   agreement=0.830 n=200 (onnxruntime static PTQ: rejected)
    TF2 PTQ release, float graph     agreement=0.885 n=200 (hence the TF1 release)
    features cosine to TFLite AvgPool: float mean 0.9972 (min 0.981), int8 1.0000, ptq 0.9847
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.image.preprocess import ImagePreprocessor  # noqa: E402

DATA = ROOT.parent / "shared/data"


def mvsa_images(folder: Path, n: int) -> list[Path]:
    paths = sorted(folder.glob("*.jpg"), key=lambda p: (int(p.stem) if p.stem.isdigit() else 1 << 62, p.name))
    if len(paths) < n:
        sys.exit(f"{folder}: only {len(paths)} jpgs, {n} asked")
    return paths[:n]


class TFLiteReference:
    """The uint8 TFLite model, keeping its quantized logits and pooled feature for comparison."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            self.it = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True, num_threads=1)
        self.it.allocate_tensors()
        ops = self.it._get_ops_details()
        softmax = [o for o in ops if o["op_name"] == "SOFTMAX"][-1]
        pool = [o for o in ops if o["op_name"] in ("AVERAGE_POOL_2D", "MEAN")][-1]
        self.logits_idx, self.pool_idx = softmax["inputs"][0], pool["outputs"][0]
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]

    def __call__(self, pixels: np.ndarray) -> dict:
        self.it.set_tensor(self.inp["index"], pixels[None])
        self.it.invoke()
        probs = self.it.get_tensor(self.out["index"])[0].astype(np.int32)
        logits = self.it.get_tensor(self.logits_idx).reshape(-1).astype(np.int32)
        pool_t = self.it.get_tensor(self.pool_idx).reshape(-1).astype(np.float32)
        scale, zero = next(d for d in self.it.get_tensor_details() if d["index"] == self.pool_idx)["quantization"]
        # ties in the uint8 softmax -> broken by the quantized logits; what still ties is kept as a set
        top = np.flatnonzero(probs == probs.max())
        top = top[logits[top] == logits[top].max()]
        order = np.lexsort((-np.arange(probs.size), logits, probs))[::-1]  # probs, then logits, desc
        return {
            "top1": int(top[0]),
            "tied": [int(i) for i in top],
            "top5": [int(i) for i in order[:5]],
            "pool": (pool_t - zero) * scale,
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--card",
        type=Path,
        default=ROOT / "artifacts/mobilenet_v2.json",
        help="written by convert_mobilenet.py: source model and preprocessing",
    )
    ap.add_argument("--onnx", type=Path, nargs="*", help="classifier graph(s); default: the card's imagenet graph")
    ap.add_argument("--features", type=Path, nargs="*", default=[], help="features graph(s) to compare to AvgPool")
    ap.add_argument("--images", type=Path, default=DATA / "mvsa_single/data")
    ap.add_argument("--weights", type=Path, default=DATA / "weights/mobilenet_v2")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--reference-in", type=Path, help="saved reference JSON instead of running TFLite")
    ap.add_argument("--reference-out", type=Path, help="save the TFLite reference (top-1, ties, top-5) as JSON")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    card = json.loads(args.card.read_text())
    pre = ImagePreprocessor.from_config(card["preprocessing"])
    graphs = args.onnx or [args.card.parent / card["files"]["imagenet"]["file"]]
    if args.reference_in:
        saved = json.loads(args.reference_in.read_text())
        paths = [args.images / name for name in saved["images"]]
        refs = [dict(r) for r in saved["reference"]]
    else:
        paths = mvsa_images(args.images, args.n)
        tfl = TFLiteReference(args.weights / card["source"])
        refs = [tfl(pre.pixels(p)) for p in paths]
    pixels = np.stack([pre.pixels(p) for p in paths])
    batch = pre.normalize(pixels)

    if args.reference_out:
        labels_file = args.weights / "imagenet_labels.txt"
        labels = labels_file.read_text().splitlines() if labels_file.is_file() else None
        args.reference_out.parent.mkdir(parents=True, exist_ok=True)
        args.reference_out.write_text(
            json.dumps(
                {
                    "what": "TFLite reference top-1 (ties after logits kept in 'tied') and top-5 of ImageNet "
                    "classes (index into imagenet_labels.txt, 0 = background) for MVSA-Single images; "
                    "made by scripts/check_mobilenet_fidelity.py",
                    "model": card["source"],
                    "model_sha256": card["source_sha256"],
                    "preprocessing": pre.to_config(),
                    "images": [p.name for p in paths],
                    "reference": [
                        {
                            **{k: r[k] for k in ("top1", "tied", "top5")},
                            **({"top1_label": labels[r["top1"]]} if labels else {}),
                        }
                        for r in refs
                    ],
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {args.reference_out}")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    for graph in graphs:
        sess = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        logits = np.concatenate(
            [sess.run(["logits"], {"pixels": batch[i : i + 32]})[0] for i in range(0, len(batch), 32)]
        )
        top1 = logits.argmax(1)
        agree = np.mean([t in r["tied"] for t, r in zip(top1, refs, strict=True)])
        strict = np.mean([t == r["top1"] for t, r in zip(top1, refs, strict=True)])
        in_top5 = np.mean([t in r["top5"] for t, r in zip(top1, refs, strict=True)])
        ties = sum(len(r["tied"]) > 1 for r in refs)
        print(
            f"{graph.name}: agreement={agree:.3f} n={len(refs)} strict_top1={strict:.3f} "
            f"onnx_top1_in_tflite_top5={in_top5:.3f} unresolved_ties={ties}"
        )
    for graph in args.features:
        if args.reference_in:
            sys.exit("--features needs the TFLite model (not --reference-in)")
        sess = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        feats = np.concatenate(
            [sess.run(["features"], {"pixels": batch[i : i + 32]})[0] for i in range(0, len(batch), 32)]
        )
        pool = np.stack([r["pool"] for r in refs])
        cos = (feats * pool).sum(1) / (np.linalg.norm(feats, axis=1) * np.linalg.norm(pool, axis=1) + 1e-12)
        print(
            f"{graph.name}: features cosine to TFLite AvgPool mean={cos.mean():.4f} min={cos.min():.4f} n={len(refs)}"
        )


if __name__ == "__main__":
    main()
