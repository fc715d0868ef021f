"""Let a bundle's int8 image encoder take decoded uint8 pixels instead of the normalized float batch.

DEVELOPMENT-TIME ONLY (needs the [train] extra's ``onnx``); how bundle 1.2.0's
``image_encoder.onnx`` was made from 1.1.1's::

    python scripts/uint8_image_input.py models/default

The converted MobileNetV2 graph starts with ``QuantizeLinear(pixels, 1/128, 128)``, and the
preprocessor normalizes ``(p - 128) / 128``: quantizing that gives back ``p`` exactly. So the
quantization is dropped and the graph takes the uint8 pixels themselves: the same features to
the bit (checked here on real images before the bundle is touched), without building, and
paying for, a float copy of every image. Only the encoder file and its manifest entry change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.bundle import MANIFEST, read_manifest  # noqa: E402
from sentiment_fusion.component import file_entry  # noqa: E402
from sentiment_fusion.image.encoder import ImageEncoder  # noqa: E402
from sentiment_fusion.image.preprocess import ImagePreprocessor  # noqa: E402

DATA = ROOT.parent / "shared/data"


def take_uint8_pixels(model, preprocessor: ImagePreprocessor) -> None:
    """Drop the input quantization that undoes ``preprocessor``'s normalization exactly."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    first = graph.node[0]
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    if first.op_type != "QuantizeLinear" or first.input[0] != graph.input[0].name:
        raise SystemExit("the graph does not start by quantizing its input")
    scale, zero = float(inits[first.input[1]]), int(inits[first.input[2]])
    if preprocessor.layout != "NHWC" or any(
        m != zero or s * scale != 1.0 for m, s in zip(preprocessor.mean, preprocessor.std, strict=True)
    ):
        raise SystemExit(
            f"quantization (scale {scale}, zero point {zero}) is not the inverse of {preprocessor.describe()}"
        )
    for node in graph.node:
        node.input[:] = [graph.input[0].name if name == first.output[0] else name for name in node.input]
    graph.node.remove(first)
    graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8


def main() -> None:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args()
    manifest = read_manifest(args.bundle)
    image = manifest["components"]["image"]
    path = args.bundle / image["files"]["encoder"]["path"]
    preprocessor = ImagePreprocessor.from_config(image["preprocessing"]["image"])
    model = onnx.load(str(path))
    take_uint8_pixels(model, preprocessor)
    onnx.checker.check_model(model)
    converted = path.with_name(path.stem + "_uint8.onnx")
    onnx.save(model, str(converted))

    images = sorted((DATA / "mvsa_single/data").glob("*.jpg"), key=lambda p: int(p.stem))[:64]
    before = ImageEncoder(path, preprocessor).encode(images)
    after = ImageEncoder(converted, preprocessor).encode(images)
    if not np.array_equal(before, after):
        converted.unlink()
        raise SystemExit(f"features differ (max {np.abs(before - after).max()}): bundle left as it was")
    converted.replace(path)
    image["files"]["encoder"] = file_entry(args.bundle, image["files"]["encoder"]["path"])
    image["inputs"] = {"pixels": f"uint8[batch, {preprocessor.size}, {preprocessor.size}, 3]"}
    (args.bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{path}: takes uint8 pixels; features identical on {len(images)} MVSA-Single images")


if __name__ == "__main__":
    main()
