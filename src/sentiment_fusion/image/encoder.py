"""MobileNetV2 image encoder: an ONNX Runtime session of the converted features graph.

The graph (``scripts/convert_mobilenet.py``) maps a preprocessed float32 batch
``pixels [B, 224, 224, 3]`` to ``features [B, 1280]``, the ImageNet MobileNetV2's pooled
penultimate layer. Inference needs onnxruntime, numpy and Pillow only.

>>> enc = ImageEncoder("artifacts/mobilenet_v2_features_int8.onnx")   # doctest: +SKIP
>>> enc.encode(["cat.jpg", "dog.png"]).shape                            # doctest: +SKIP
(2, 1280)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BundleError
from ..sessions import Workers, onnx_session
from .preprocess import ImagePreprocessor, ImageSource

logger = logging.getLogger(__name__)

METADATA_KEY = "sentiment_fusion"  # ONNX metadata_props entry written by convert_mobilenet.py


class ImageEncoder:
    """Images -> feature vectors ``[B, dim]`` float32 (dim = 1280 for MobileNetV2; raw, not L2-normalized).

    ``preprocessor`` defaults to the one recorded in the graph's metadata by the converter;
    a bundle passes the one from its manifest. ``threads``: how many groups of images are
    decoded and encoded side by side (None = :func:`~sentiment_fusion.sessions.default_threads`).
    ``batch_size`` bounds memory in :meth:`encode`
    (one float batch of 32 is 19 MB).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        preprocessor: ImagePreprocessor | None = None,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = Path(path)
        if not self.path.is_file():
            raise BundleError(f"{self.path}: image encoder graph not found")
        self.workers = Workers(threads)  # validates threads
        self.session = onnx_session(self.path)  # one thread: groups of images run side by side on it
        # A call that is one group (a single image) runs on every core instead (same features).
        self.wide_session = onnx_session(self.path, self.workers.threads) if self.workers.threads > 1 else self.session
        self.preprocessor = preprocessor or self._preprocessor_from_metadata()
        self.batch_size = batch_size
        self.threads = threads

        (inp,) = self.session.get_inputs()
        (out,) = self.session.get_outputs()
        self.input_name, self.output_name = inp.name, out.name
        # A graph whose input is uint8 takes the pixels as decoded ([B, size, size, 3], before
        # normalization): its first quantization (scale 1/128, zero point 128) WAS the normalization,
        # so the float batch it would rebuild is never made (scripts/uint8_image_input.py).
        self.takes_pixels = inp.type == "tensor(uint8)"
        size = self.preprocessor.size
        if self.takes_pixels:
            expected, wants = [size, size, 3], "uint8 pixels"
        else:
            expected = [size, size, 3] if self.preprocessor.layout == "NHWC" else [3, size, size]
            wants = f"float32 ({self.preprocessor.layout})"
        if inp.type not in ("tensor(float)", "tensor(uint8)") or list(inp.shape[1:]) != expected:
            raise BundleError(
                f"{self.path}: input {inp.name} is {inp.type} {inp.shape}, but the preprocessor makes "
                f"{wants} [B, {', '.join(map(str, expected))}]"
            )
        if len(out.shape) != 2 or not isinstance(out.shape[1], int):
            raise BundleError(f"{self.path}: output {out.name} must be [B, dim], got {out.shape}")
        self.dim: int = out.shape[1]

    def _preprocessor_from_metadata(self) -> ImagePreprocessor:
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise BundleError(
                f"{self.path}: the graph records no preprocessing; pass preprocessor=ImagePreprocessor(...)"
            )
        try:
            return ImagePreprocessor.from_config(json.loads(props[METADATA_KEY])["preprocessing"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{self.path}: unreadable preprocessing metadata ({exc})") from exc

    def __repr__(self) -> str:
        return f"ImageEncoder({str(self.path)!r}, dim={self.dim}, preprocessor={self.preprocessor!r})"

    # ------------------------------------------------------------------ inference
    def prepare(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Decode a list of images into this graph's input batch (uint8 pixels or the float batch)."""
        size = self.preprocessor.size
        pixels = np.empty((len(images), size, size, 3), np.uint8)
        for i, image in enumerate(images):
            pixels[i] = self.preprocessor.pixels(image)
        return pixels if self.takes_pixels else self.preprocessor.normalize(pixels)

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray:
        """Run the graph on an already prepared batch (:meth:`prepare`: uint8 pixels for a uint8
        graph, else the ImagePreprocessor's float32 batch) -> ``[B, dim]`` float32."""
        batch = np.asarray(batch)
        size = self.preprocessor.size
        dtype = np.uint8 if self.takes_pixels else np.float32
        shape = (size, size, 3) if self.takes_pixels or self.preprocessor.layout == "NHWC" else (3, size, size)
        if batch.dtype != dtype or batch.ndim != 4 or batch.shape[1:] != shape:
            raise ValueError(
                f"expected a {np.dtype(dtype).name} batch [B, {', '.join(map(str, shape))}] "
                f"({'ImageEncoder.prepare' if self.takes_pixels else 'the ImagePreprocessor'}), "
                f"got {batch.dtype} {batch.shape}"
            )
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        chunks = self.workers.split(len(batch), self.batch_size)
        if len(chunks) == 1:
            return self._run(batch, self.wide_session)
        return np.concatenate(self.workers.map(lambda chunk: self._run(batch[chunk.start : chunk.stop]), chunks))

    def _run(self, batch: np.ndarray, session=None) -> np.ndarray:
        out = (session or self.session).run([self.output_name], {self.input_name: batch})[0]
        return out.astype(np.float32, copy=False)

    def encode(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Decode, preprocess and encode a list of images (paths, bytes, PIL images, HxWx3 uint8
        arrays) in batches of ``batch_size`` -> ``[len(images), dim]`` float32.

        Raises :class:`~sentiment_fusion.errors.ImageError` for an image that cannot be decoded.
        """
        images = _as_list(images, "encode")
        if not images:
            return np.zeros((0, self.dim), np.float32)
        # Groups of images are decoded and encoded side by side (sessions.Workers); one group
        # (a single image) is decoded here and encoded on every core.
        chunks = self.workers.split(len(images), self.batch_size)
        if len(chunks) == 1:
            return self._run(self.prepare(images), self.wide_session)
        parts = self.workers.map(lambda chunk: self._run(self.prepare(images[chunk.start : chunk.stop])), chunks)
        return np.concatenate(parts)

    def extract_features(self, paths: Sequence[ImageSource], batch_size: int = 32, progress: bool = True) -> np.ndarray:
        """Features of many images for training code to cache, with a tqdm progress bar.

        Same result as :meth:`encode`; an undecodable image raises ImageError naming its path
        (filter bad files before, e.g. with ``preprocessor.decode`` in a try block).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        paths = _as_list(paths, "extract_features")
        out = np.zeros((len(paths), self.dim), np.float32)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(paths), unit="img", desc="image features")
        try:
            for i in range(0, len(paths), batch_size):
                chunk = paths[i : i + batch_size]
                out[i : i + len(chunk)] = self.encode_pixels(self.prepare(chunk))
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return out


def _as_list(images: Sequence[ImageSource], method: str) -> list:
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image)):
        raise TypeError(f"pass a list of images, e.g. encoder.{method}([image]), not a single image")
    return list(images)
