"""Rewrite a bundle's image encoder graph in place, only if the features stay the same to the bit.

DEVELOPMENT-TIME (needs ``onnx``): the one tail of ``scripts/uint8_image_input.py`` (bundle
1.2.0) and ``scripts/signed_image_weights.py`` (bundle 1.4.0). The rewritten graph is saved
beside the old one, both encode the same real images, and only when every feature is equal
does it replace the old file and its manifest entry; otherwise the bundle is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..bundle import MANIFEST, read_manifest
from ..component import file_entry
from ..image.encoder import ImageEncoder
from ..image.preprocess import ImagePreprocessor


def rewrite_image_encoder(
    bundle: Path,
    rewrite: Callable[[object, ImagePreprocessor], dict | None],
    images: Sequence[Path],
    suffix: str,
) -> Path:
    """Apply ``rewrite(model, preprocessor)`` (edits the ONNX model in place; may return new
    ``inputs`` for the manifest) to ``bundle``'s encoder; keep it only if ``images`` get the same
    features. Raises SystemExit, with the largest difference, when they do not."""
    import onnx

    manifest = read_manifest(bundle)
    image = manifest["components"]["image"]
    path = bundle / image["files"]["encoder"]["path"]
    preprocessor = ImagePreprocessor.from_config(image["preprocessing"]["image"])
    model = onnx.load(str(path))
    inputs = rewrite(model, preprocessor)
    onnx.checker.check_model(model)
    rewritten = path.with_name(f"{path.stem}_{suffix}.onnx")
    onnx.save(model, str(rewritten))

    before = ImageEncoder(path, preprocessor, threads=1).encode(list(images))
    after = ImageEncoder(rewritten, preprocessor, threads=1).encode(list(images))
    if not np.array_equal(before, after):
        rewritten.unlink()
        raise SystemExit(f"features differ (max {np.abs(before - after).max()}): bundle left as it was")
    rewritten.replace(path)
    image["files"]["encoder"] = file_entry(bundle, image["files"]["encoder"]["path"])
    if inputs is not None:
        image["inputs"] = inputs
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return path
