"""The image encoder's spatial map before pooling (issue 17's "image features with spatial detail").

A bundle's MobileNetV2 graph averages a 7x7 map of 1280-d region features into the one pooled
vector every head sees. :func:`region_features` reads that map out of the same graph (the input
of its last, global ``AveragePool`` made a second output), so training code can try heads that
look at image regions, e.g. attention from the text to the regions (:mod:`.fusion_cv`'s
``regions`` variant) or the regions' maximum (:func:`max_pooled`).
The map is stored as the graph's own uint8 values with their scale and zero point, so 4,061
images take 255 MB, not 1 GB; the mean of the dequantized regions is the pooled feature before
its last re-quantization.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def _map_tensor(model) -> tuple[str, str, str]:
    """The name of the tensor the graph's last ``AveragePool`` (the global one that makes the
    features) reads, and of the scale and zero point of the ``DequantizeLinear`` that makes it."""
    producers = {out: node for node in model.graph.node for out in node.output}
    pools = [node for node in model.graph.node if node.op_type in ("AveragePool", "GlobalAveragePool")]
    if not pools:
        raise ValueError("the image encoder has no average pool, so no map of regions before it")
    name = pools[-1].input[0]
    dequantize = producers.get(name)
    if dequantize is None or dequantize.op_type != "DequantizeLinear":
        raise ValueError(f"the pooled map {name!r} is not a DequantizeLinear output")
    return name, dequantize.input[1], dequantize.input[2]


def region_features(encoder, images: list, batch_size: int = 32, progress: bool = True) -> dict[str, np.ndarray]:
    """``{"regions": uint8 [N, R, C], "scale": float32 [], "zero_point": uint8 []}``: the map of each
    image (R = 49 regions of C = 1280 channels for MobileNetV2), ``encoder`` an
    :class:`~sentiment_fusion.image.encoder.ImageEncoder` whose graph is read from its path."""
    import onnx
    from onnx import numpy_helper
    from tqdm.auto import tqdm

    from ..sessions import onnx_session

    model = onnx.load(str(encoder.path))
    name, scale_name, zero_name = _map_tensor(model)
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    scale, zero_point = constants[scale_name], constants[zero_name]
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    with tempfile.TemporaryDirectory(prefix="regions-") as tmp:
        path = Path(tmp) / "encoder.onnx"
        onnx.save(model, str(path))
        session = onnx_session(path, threads=encoder.workers.threads)
    parts = []
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="image regions", unit="batch"):
        pixels = encoder.prepare(images[start : start + batch_size])
        (dense,) = session.run([name], {encoder.input_name: pixels})  # float [B, C, 7, 7], dequantized uint8
        flat = dense.reshape(len(dense), dense.shape[1], -1).transpose(0, 2, 1)  # [B, R, C]
        parts.append(np.clip(np.rint(flat / scale) + zero_point, 0, 255).astype(np.uint8))
    return {"regions": np.concatenate(parts), "scale": np.float32(scale), "zero_point": np.uint8(zero_point)}


def _to_float(values: np.ndarray, regions: dict[str, np.ndarray]) -> np.ndarray:
    return (values.astype(np.float32) - np.float32(regions["zero_point"])) * np.float32(regions["scale"])


def dequantize(regions: dict[str, np.ndarray], index: np.ndarray) -> np.ndarray:
    """Float32 regions ``[len(index), R, C]`` of the images ``index``."""
    return _to_float(regions["regions"][index], regions)


def max_pooled(regions: dict[str, np.ndarray]) -> np.ndarray:
    """Float32 ``[N, C]``: each channel's largest value over the regions of each image."""
    return _to_float(regions["regions"].max(1), regions)
