"""A small encoder-shaped ONNX graph for the int8 and shared-weight tools (training/quantize.py,
training/shared_weights.py): an embedding lookup, layer norm, an up-projection, a nonlinearity
and a down-projection over a right-padded token axis."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB, HIDDEN, WIDE, OUT = 50, 16, 64, 4


def toy_encoder(path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    inits = {
        "embeddings": rng.normal(0, 1, (VOCAB, HIDDEN)),
        "ln_scale": rng.uniform(0.5, 1.5, HIDDEN),
        "ln_bias": rng.normal(0, 0.1, HIDDEN),
        "w_up": rng.normal(0, 0.3, (HIDDEN, WIDE)),
        "w_down": rng.normal(0, 0.3, (WIDE, OUT)),
    }
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"]),
        helper.make_node("LayerNormalization", ["embedded", "ln_scale", "ln_bias"], ["normed"], axis=-1),
        helper.make_node("MatMul", ["normed", "w_up"], ["up"]),
        helper.make_node("Tanh", ["up"], ["act"]),
        helper.make_node("MatMul", ["act", "w_down"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "tokens", OUT])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def feeds(rng, n: int, tokens: int) -> dict:
    return {"input_ids": rng.integers(1, VOCAB, (n, tokens)).astype(np.int64)}
