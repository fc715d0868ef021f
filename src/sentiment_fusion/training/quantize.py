"""Batch-invariant int8 for the text graph: a post's scores never depend on its batch-mates.

ONNX Runtime's dynamic int8 quantizes each call's activations with one scale for the whole
input tensor, so the other texts of a batch moved a text's scores (by up to 0.21 on TweetEval
val). Here no scale depends on anything but the row it quantizes:

- projections whose input is a layer-norm output (query/key/value, attention output, FFN in)
  get **static** activation scales, calibrated once on training texts (QDQ, per-tensor
  activations, per-channel int8 weights); ONNX Runtime fuses them into integer kernels;
- down-projections (more input than output features: the FFN out after GELU, whose per-token
  outliers a fixed scale clips, and the classifier) get **per-row** scales computed from each
  token's own activations (symmetric uint8 around 128, per-channel symmetric int8 weights,
  ``MatMulInteger``).

Embedding tables are stored int8 (per-row scales, dequantized when looked up): weights only.

Every other op of the exported encoder is row-wise and exact under right-padding (pooling is a
masked matmul, see :mod:`sentiment_fusion.text.transformer`), so scoring a text alone or in any
batch gives bit-identical logits (tested). Needs ``onnx`` and ``onnxruntime`` (the [train] extra).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .attention_fusion import fuse_attention
from .graph_nodes import replace_nodes

log = logging.getLogger(__name__)

METHOD = (
    "batch-invariant int8: static activation scales (calibrated on training texts) for projections of "
    "layer-norm outputs, per-row activation scales for down-projections (FFN out, classifier); "
    "per-channel int8 weights"
)


def linear_matmuls(model) -> list:
    """The graph's MatMul nodes with a weight initializer as second input (the linear layers)."""
    weights = {init.name for init in model.graph.initializer}
    return [node for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights]


def is_down_projection(model, node) -> bool:
    """More input features than output features (FFN out 1536 -> 384, classifier 384 -> 3)."""
    (weight,) = [init for init in model.graph.initializer if init.name == node.input[1]]
    rows, cols = weight.dims
    return rows > cols


def quantize_text_graph(fp32: str | Path, out: str | Path, calibration: Iterable[dict[str, np.ndarray]]) -> dict:
    """Write the batch-invariant int8 version of the fp32 text graph ``fp32`` to ``out``.

    ``calibration`` yields graph feeds (``input_ids``, ``attention_mask``) of training texts;
    a few hundred texts are enough. Returns what was done, for the manifest."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load(str(fp32))
    for i, node in enumerate(model.graph.node):  # nodes are chosen by name below
        node.name = node.name or f"{node.op_type}_{i}"
    named = Path(out).with_suffix(".named.onnx")
    onnx.save(model, str(named))
    linear = linear_matmuls(model)
    static = [node.name for node in linear if not is_down_projection(model, node)]
    per_row = [node.name for node in linear if is_down_projection(model, node)]

    class Reader(CalibrationDataReader):
        def __init__(self, feeds: Iterator[dict[str, np.ndarray]]):
            self.feeds = feeds

        def get_next(self):
            return next(self.feeds, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantizer logs one INFO line per tensor on the root logger
    try:
        if static:
            quantize_static(
                str(named),
                str(out),
                Reader(iter(calibration)),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=static,
                calibrate_method=CalibrationMethod.MinMax,
            )
        else:  # quantize_static reads an empty node list as "every node"
            shutil.copyfile(named, out)
    finally:
        root.setLevel(level)
        named.unlink(missing_ok=True)
    return _finish(out, per_row, static)


def _finish(out: str | Path, per_row: list[str], static: list[str]) -> dict:
    """Per-row int8 for the down-projections, int8 embedding tables, fused row quantization and
    attention, checked and saved to ``out``."""
    import onnx

    model = onnx.load(str(out))
    per_row_int8(model, set(per_row))
    int8_gather_weights(model)
    model, _ = fuse_row_quantization(model)
    model, _ = fuse_attention(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"method": METHOD, "static": len(static), "per_row": len(per_row), "batch_invariant": True}


def per_row_int8(model, names: set[str]) -> None:
    """Replace the fp32 linear MatMuls named ``names`` by int8 ones with per-row activation scales:
    ``y = (q(x) - 128) @ Wq * w_scale * x_scale`` where ``x_scale = max|x_row| / 127``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(128, np.uint8), "per_row/x_zero_point"),
            numpy_helper.from_array(np.array(0, np.int8), "per_row/w_zero_point"),
            numpy_helper.from_array(np.array(127.0, np.float32), "per_row/levels"),
            numpy_helper.from_array(np.array(128.0, np.float32), "per_row/offset"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "per_row/tiny"),
        ]
    )
    nodes = []
    for node in graph.node:
        if node.name not in names:
            nodes.append(node)
            continue
        x, w = node.input
        p = node.name + "/per_row"
        weight = numpy_helper.to_array(weights[w]).astype(np.float32)  # (K, N)
        w_scale = np.maximum(np.abs(weight).max(0), 1e-12) / 127.0  # (N,)
        w_q = np.clip(np.round(weight / w_scale), -127, 127).astype(np.int8)
        graph.initializer.extend(
            [
                numpy_helper.from_array(w_q, p + "/w_q"),
                numpy_helper.from_array(w_scale.astype(np.float32), p + "/w_scale"),
            ]
        )
        nodes += [
            helper.make_node("Abs", [x], [p + "/abs"]),
            helper.make_node("ReduceMax", [p + "/abs"], [p + "/max"], axes=[-1], keepdims=1),  # (..., 1)
            helper.make_node("Max", [p + "/max", "per_row/tiny"], [p + "/max_nonzero"]),
            helper.make_node("Div", [p + "/max_nonzero", "per_row/levels"], [p + "/x_scale"]),
            helper.make_node("Div", [x, p + "/x_scale"], [p + "/scaled"]),
            helper.make_node("Round", [p + "/scaled"], [p + "/rounded"]),  # in [-127, 127]
            helper.make_node("Add", [p + "/rounded", "per_row/offset"], [p + "/shifted"]),
            helper.make_node("Cast", [p + "/shifted"], [p + "/x_q"], to=TensorProto.UINT8),
            helper.make_node(
                "MatMulInteger",
                [p + "/x_q", p + "/w_q", "per_row/x_zero_point", "per_row/w_zero_point"],
                [p + "/int32"],
            ),
            helper.make_node("Cast", [p + "/int32"], [p + "/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "/float", p + "/w_scale"], [p + "/per_column"]),
            helper.make_node("Mul", [p + "/per_column", p + "/x_scale"], [node.output[0]]),
        ]
    replace_nodes(graph, nodes)


ROW_QUANTIZATION_OPSET = 21  # QuantizeLinear with blocks (block_size), one scale per block


def fuse_row_quantization(model):
    """Replace each per-row quantization that :func:`per_row_int8` writes as four ops over the
    activations (``Div`` by the row's scale, ``Round``, ``Add`` 128, ``Cast`` to uint8) by one
    ``QuantizeLinear`` whose block is the whole row (opset 21 blocked quantization: the row's own
    scale, zero point 128). It rounds half to even and saturates as the chain did, so the
    integers, and every logit, are the same to the bit (checked on TweetEval val and Dong dev for
    the shipped graphs); the text graph ran about 10% faster at batch 32 here. The model is
    converted to opset 21 first (``onnx.version_converter``; the shapes that it infers are not
    kept: they only add bytes). Returns ``(model, chains fused)``."""
    from onnx import helper, numpy_helper, version_converter

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < ROW_QUANTIZATION_OPSET:
        hints = {v.name for v in model.graph.value_info}
        model = version_converter.convert_version(model, ROW_QUANTIZATION_OPSET)
        inferred = [v for v in model.graph.value_info if v.name not in hints]  # the converter's shape inference
        for v in inferred:
            model.graph.value_info.remove(v)
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    widths = {init.name: init.dims[0] for init in graph.initializer if len(init.dims) == 2}
    chain_ops = ("/scaled", "/rounded", "/shifted")
    fused = {n.output[0] for n in graph.node if n.op_type == "Cast" and n.output[0].endswith("/per_row/x_q")}
    nodes = []
    for node in graph.node:
        if any(out.endswith("/per_row" + op) for out in node.output for op in chain_ops):
            continue  # the Div, Round and Add of a fused chain
        if node.output[0] not in fused:
            nodes.append(node)
            continue
        p = node.output[0][: -len("/x_q")]
        x, x_scale = producer[p + "/scaled"].input
        matmul = next(n for n in graph.node if n.op_type == "MatMulInteger" and n.input[0] == node.output[0])
        zero = numpy_helper.from_array(np.array([128], np.uint8))
        row = widths[matmul.input[1]]
        nodes += [
            helper.make_node("Shape", [x_scale], [p + "/scale_shape"]),
            helper.make_node("ConstantOfShape", [p + "/scale_shape"], [p + "/zero_point"], value=zero),
            helper.make_node(
                "QuantizeLinear", [x, x_scale, p + "/zero_point"], [node.output[0]], axis=-1, block_size=row
            ),
        ]
    replace_nodes(graph, nodes)
    return model, len(fused)


def int8_gather_weights(model) -> None:
    """Store float embedding tables (``Gather`` data initializers) as int8 with one scale per row,
    dequantized in the graph: a quarter of the bytes, and the same rows for every batch."""
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        table = weights.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None or len(table.dims) != 2 or numpy_helper.to_array(table).dtype != np.float32:
            nodes.append(node)
            continue
        values = numpy_helper.to_array(table)
        scale = np.maximum(np.abs(values).max(1), 1e-12) / 127.0  # (rows,)
        name = table.name + "/int8"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.clip(np.round(values / scale[:, None]), -127, 127).astype(np.int8), name),
                numpy_helper.from_array(scale.astype(np.float32), name + "/scale"),
                numpy_helper.from_array(np.zeros(len(scale), np.int8), name + "/zero_point"),
            ]
        )
        nodes.append(
            helper.make_node(
                "DequantizeLinear", [name, name + "/scale", name + "/zero_point"], [name + "/dequantized"], axis=0
            )
        )
        nodes.append(
            helper.make_node(
                "Gather",
                [name + "/dequantized", *node.input[1:]],
                list(node.output),
                name=node.name,
                **{a.name: helper.get_attribute_value(a) for a in node.attribute},
            )
        )
    replace_nodes(graph, nodes)


WEIGHT_ONLY_METHOD = (
    "8-bit weights (MatMulNBits: symmetric, blocks of 32) with int8 compute: each row's activations "
    "quantized on the fly per block of 32 with the row's own scale (batch-invariant), no calibration"
)


def weight_only_int8(fp32: str | Path, out: str | Path, block_size: int = 32) -> dict:
    """Store every MatMul weight of ``fp32`` as 8-bit blocks (``MatMulNBits``), computed in int8
    (``accuracy_level`` 4): a row's activations are quantized per block with that row's own
    scale, so nothing depends on the batch, and no fixed activation scale clips an outlier. For
    a graph that the static / per-row recipe above quantizes too coarsely (an early targeted
    model lost 3.5 points of Dong dev accuracy there; bundle 1.3.0's targeted graph was made this
    way; the shipped targeted model keeps its accuracy under the static / per-row recipe, which
    runs about 1.7x faster at batch 32 here, so 1.5.0 uses that). With fp32 compute instead
    (``accuracy_level`` 0) the same weights ran 3x slower on single texts here: the kernel
    dequantizes every weight on every call."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(fp32)), bits=8, block_size=block_size, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
    return {"method": WEIGHT_ONLY_METHOD, "batch_invariant": True, "block_size": block_size, "accuracy_level": 4}


def int8_stored_weights(model, min_elements: int = 4096) -> int:
    """Store each float weight matrix of at least ``min_elements`` values as int8 with one scale
    per row (symmetric), turned back into float32 by ``Cast`` and ``Mul`` in the graph: a quarter
    of the bytes. For the small heads (image head, fusion ensemble), whose weights are most of
    their file. ONNX Runtime folds the two constant ops when it loads the graph, so the heads run
    on float32 constants as before: no cost per call, and a row's scores stay the same in any
    batch to the bit (a ``DequantizeLinear`` here is not folded and moved them by 3e-8). Returns
    the bytes saved."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    saved, dequantize, kept = 0, [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype != np.float32 or values.ndim != 2 or values.size < min_elements:
            kept.append(init)
            continue
        scale = (np.maximum(np.abs(values).max(1), 1e-12) / 127.0).astype(np.float32)
        stored = init.name + "/int8"
        kept += [
            numpy_helper.from_array(np.clip(np.round(values / scale[:, None]), -127, 127).astype(np.int8), stored),
            numpy_helper.from_array(scale[:, None], stored + "/scale"),
        ]
        dequantize += [
            helper.make_node("Cast", [stored], [stored + "/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [stored + "/float", stored + "/scale"], [init.name]),
        ]
        saved += values.nbytes - values.size - 4 * len(scale)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantize + nodes)
    return saved
