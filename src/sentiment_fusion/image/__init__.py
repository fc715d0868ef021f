"""Images: safe decoding + preprocessing, the MobileNetV2 ONNX encoder, the CIFAR-100 sentiment map.

``ImagePreprocessor`` needs only Pillow and numpy; ``ImageEncoder`` imports onnxruntime when
first used, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .preprocess import ImagePreprocessor

__all__ = ["ImageEncoder", "ImagePreprocessor"]

if TYPE_CHECKING:  # pragma: no cover
    from .encoder import ImageEncoder


def __getattr__(name: str):
    if name == "ImageEncoder":
        from .encoder import ImageEncoder

        return ImageEncoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
