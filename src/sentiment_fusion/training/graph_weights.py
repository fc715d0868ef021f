"""A text model's weights read back out of its exported ONNX graph (fp32, or int8 as :mod:`.quantize` writes it).

A bundle keeps ONNX graphs only; when the weights file its text model was exported from is gone,
training can still start from that model: every linear layer's weight is the graph's int8 weight
times its per-channel scale (``DequantizeLinear -> MatMul`` for static projections,
``MatMulInteger`` + ``Mul`` by the weight scales for per-row down-projections, a plain ``MatMul``
or ``Gemm`` in an fp32 graph), biases and layer norms are stored as they were, and embedding
tables are dequantized (``DequantizeLinear`` before or after their ``Gather``). The weights come
back exactly; what int8 changed is the activations, so the rebuilt model's logits match the int8
graph's as closely as int8 allows (``tests/training/test_graph_weights.py``).

Parameters are named by the exporter's node scopes (``/encoder/encoder/layer.0/attention/self/query/Add``
-> ``encoder.encoder.layer.0.attention.self.query.bias``), which are the module paths of the model
:func:`sentiment_fusion.training.export.export_text_model` exported. Needs ``onnx`` ([train] extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .graph_nodes import producers_and_consumers

# Modules the exported forward never runs, so the graph cannot hold them: kept as the model has them.
NOT_IN_GRAPH = ("encoder.pooler.",)  # MiniLM pools by masked mean, not BERT's pooler


def graph_weights(path: str | Path) -> dict[str, np.ndarray]:
    """``{torch parameter name: float32 array}`` of every weight the text graph at ``path`` holds."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producer, consumers = producers_and_consumers(graph)

    def value(name: str) -> np.ndarray:
        """An initializer, or the dequantized initializer a ``DequantizeLinear`` node gives."""
        if name in inits:
            return inits[name].astype(np.float32)
        node = producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            raise ValueError(f"{path}: {name!r} is not a weight (produced by {node.op_type if node else 'nothing'})")
        return dequantize(node)

    def dequantize(node) -> np.ndarray:
        q, scale = inits[node.input[0]], inits[node.input[1]]
        zero = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), q.dtype)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [-1 if i == axis % q.ndim else 1 for i in range(q.ndim)]
        if scale.ndim:
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q.astype(np.float32) - zero.astype(np.float32)) * scale).astype(np.float32)

    def linear_weight(name: str) -> np.ndarray:
        """The (in, out) weight of the linear layer whose output (maybe activation-QDQ'd) is ``name``."""
        node = producer[name]
        while node.op_type in ("DequantizeLinear", "QuantizeLinear") and node.input[0] in producer:
            node = producer[node.input[0]]  # an activation's quantize-dequantize pair
        if node.op_type == "MatMul":
            return value(node.input[1])
        if node.op_type == "Mul":  # quantize.per_row_int8: Mul(Mul(Cast(MatMulInteger), w_scale), x_scale)
            per_column = producer[node.input[0]]
            cast = producer[per_column.input[0]]
            integer = producer[cast.input[0]]
            if (per_column.op_type, cast.op_type, integer.op_type) == ("Mul", "Cast", "MatMulInteger"):
                q, zero = inits[integer.input[1]], inits[integer.input[3]]
                return (q.astype(np.float32) - zero.astype(np.float32)) * inits[per_column.input[1]]
        raise ValueError(f"{path}: no linear layer (MatMul, per-row MatMulInteger) produces {name!r}")

    weights: dict[str, np.ndarray] = {}
    for node in graph.node:
        scope = ".".join(node.name.strip("/").split("/")[:-1])  # "/a/b/Add" -> "a.b"
        if node.op_type == "LayerNormalization":
            weights[f"{scope}.weight"], weights[f"{scope}.bias"] = value(node.input[1]), value(node.input[2])
        elif node.op_type == "Gemm":  # an fp32 nn.Linear on 2-D input: y = x @ B^T + C (transB=1)
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            weight = value(node.input[1])
            weights[f"{scope}.weight"], weights[f"{scope}.bias"] = (
                (weight if trans_b else weight.T),
                value(node.input[2]),
            )
        elif node.op_type == "Add":
            bias = [name for name in node.input if name in inits and inits[name].ndim == 1]
            if len(bias) == 1 and inits[bias[0]].size > 1:
                (other,) = [name for name in node.input if name != bias[0]]
                weights[f"{scope}.weight"] = linear_weight(other).T  # torch's Linear keeps (out, in)
                weights[f"{scope}.bias"] = value(bias[0])
        elif node.op_type == "Gather" and (node.input[0] in inits or node.input[0] in producer):
            source = producer.get(node.input[0])
            if node.input[0] in inits and inits[node.input[0]].ndim == 2:
                table = inits[node.input[0]]
                after = consumers.get(node.output[0], [])  # dynamic int8: Gather(int8 table) -> DequantizeLinear
                if table.dtype != np.float32 and len(after) == 1 and after[0].op_type == "DequantizeLinear":
                    table = dequantize(_with_input(after[0], node.input[0]))
                weights[f"{scope}.weight"] = table.astype(np.float32)
            elif source is not None and source.op_type == "DequantizeLinear" and source.input[0] in inits:
                weights[f"{scope}.weight"] = dequantize(source)
    return {name.removeprefix("model."): array for name, array in weights.items()}  # export wraps the model


def _with_input(node, first: str):
    """A copy of ``node`` reading ``first`` as its first input (to dequantize a whole table)."""
    import onnx

    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.input[0] = first
    return copy


def load_graph_weights(model: nn.Module, path: str | Path) -> dict[str, torch.Tensor]:
    """``model``'s state dict with every tensor taken from the graph at ``path``; ValueError naming
    what does not fit (a parameter the graph lacks, one it has that the model does not, a shape)."""
    found = graph_weights(path)
    state = model.state_dict()
    missing = sorted(k for k in state if k not in found and not k.startswith(NOT_IN_GRAPH))
    unknown = sorted(set(found) - set(state))
    wrong = sorted(k for k in set(found) & set(state) if tuple(found[k].shape) != tuple(state[k].shape))
    if missing or unknown or wrong:
        raise ValueError(
            f"{path} does not hold a {type(model).__name__}'s weights: "
            f"missing {missing[:3]}, unknown {unknown[:3]}, other shapes {wrong[:3]}"
        )
    return {k: torch.from_numpy(found[k]) if k in found else v for k, v in state.items()}
