"""Encoder outputs for training heads, computed through the same ONNX graphs the
runtime uses (so heads train on exactly what they will see), cached on disk."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cached(
    cache_dir: Path, key_parts: list[str], compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``compute()`` once per distinct key; later calls load ``<cache_dir>/<hash>.npz``."""
    key = hashlib.sha256("\x00".join(key_parts).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"features-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return arrays


def text_outputs(text_model, texts: list[str], batch: int = 512, progress: bool = True) -> dict[str, np.ndarray]:
    """``text_model``: a :class:`sentiment_fusion.runtime.TextModel`. Returns logits and features."""
    from tqdm.auto import tqdm

    logits, features = [], []
    for start in tqdm(range(0, len(texts), batch), disable=not progress, desc="text features", unit="batch"):
        lg, ft = text_model.run(texts[start : start + batch])
        logits.append(lg)
        features.append(ft)
    return {"logits": np.concatenate(logits), "features": np.concatenate(features)}


def image_features(encoder, images: list, progress: bool = True) -> dict[str, np.ndarray]:
    """``encoder``: a :class:`sentiment_fusion.image.encoder.ImageEncoder`."""
    return {"features": encoder.extract_features(images, progress=progress)}
