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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.image.preprocess import ImagePreprocessor  # noqa: E402
from sentiment_fusion.training.encoder_rewrite import rewrite_image_encoder  # noqa: E402

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args()
    images = sorted((DATA / "mvsa_single/data").glob("*.jpg"), key=lambda p: int(p.stem))[:64]

    def rewrite(model, preprocessor: ImagePreprocessor) -> dict:
        take_uint8_pixels(model, preprocessor)
        return {"pixels": f"uint8[batch, {preprocessor.size}, {preprocessor.size}, 3]"}

    path = rewrite_image_encoder(args.bundle, rewrite, images, "uint8")
    print(f"{path}: takes uint8 pixels; features identical on {len(images)} MVSA-Single images")


if __name__ == "__main__":
    main()
