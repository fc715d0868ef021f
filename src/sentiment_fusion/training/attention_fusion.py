"""One ``MultiHeadAttention`` node per self-attention block of an exported BERT-style text graph.

The PyTorch export spells each block's attention out in about 30 float ops: reshape and
transpose query, key and value into heads, scale both query and key, ``MatMul``, add the padding
mask (``-inf`` where ``attention_mask`` is 0), ``Softmax``, zero any NaN row, ``MatMul`` with the
values, transpose and reshape back. ONNX Runtime's contrib ``MultiHeadAttention``
(``com.microsoft``) does the same work in one kernel, taking the projected query, key and value
``[B, T, hidden]`` and the padding mask ``[B, T]``. It is row-wise like the ops it replaces: each
text's heads read only its own tokens, and a padded key gets weight exactly 0 (``exp`` of the
mask's -10000 underflows), so a text's scores are still the same to the bit alone and in any
batch (tests/training/test_attention_fusion.py, tests/core/test_batch_invariance.py).

The kernel's ``scale`` is the product of the export's two scalings rounded to float32: with
it every logit of the shipped graphs stayed the same to the bit (bundle 1.6.0, see the
CHANGELOG), while the graph runs faster, most on long texts, where attention is most of the
float work. Blocks that do not match the exported pattern exactly are left as they are.
"""

from __future__ import annotations

import numpy as np

from .graph_nodes import live_nodes, producers_and_consumers, replace_nodes

MASK_INPUT = "attention_mask"
MASK_INT32 = "attention_mask/int32"


def fuse_attention(model):
    """Replace each matched self-attention block by one ``MultiHeadAttention`` node reading the
    graph input ``attention_mask`` as its key padding mask. Returns ``(model, blocks fused)``."""
    from onnx import TensorProto, helper

    graph = model.graph
    if MASK_INPUT not in {i.name for i in graph.input}:
        return model, 0
    producer, consumers = producers_and_consumers(graph)
    constants = _constants(graph)
    matches = (_match(graph, node, producer, consumers, constants) for node in graph.node if node.op_type == "Softmax")
    blocks = [b for b in matches if b]
    if not blocks:
        return model, 0
    fused = {b["output"]: b for b in blocks}
    nodes = [helper.make_node("Cast", [MASK_INPUT], [MASK_INT32], to=TensorProto.INT32, name=MASK_INT32)]
    for node in graph.node:
        block = fused.get(node.output[0]) if node.output else None
        if block is None:
            nodes.append(node)
            continue
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [block["query"], block["key"], block["value"], "", MASK_INT32],
                [block["output"]],
                name=block["output"] + "/MultiHeadAttention",
                domain="com.microsoft",
                num_heads=block["heads"],
                scale=block["scale"],
            )
        )
    replace_nodes(graph, live_nodes(graph, nodes))
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model, len(blocks)


def _match(graph, softmax, producer: dict, consumers: dict, constants: dict) -> dict | None:
    """The block around ``softmax`` as {query, key, value, output, heads, scale}, or None."""

    def made_by(name: str, op: str):
        node = producer.get(name)
        return node if node is not None and node.op_type == op else None

    def only_consumer(name: str, op: str):
        """The one ``op`` node reading ``name``, when every other reader only takes its shape."""
        users = [n for n in consumers.get(name, []) if n.op_type != "Shape"]
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    def perm(node) -> list[int]:
        return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])

    def heads_in(transpose, order: list[int]):
        """The projection that ``transpose`` (after a Reshape into heads) reads, and the head width."""
        if transpose is None or perm(transpose) != order:
            return None, 0
        reshape = made_by(transpose.input[0], "Reshape")
        concat = made_by(reshape.input[1], "Concat") if reshape is not None else None
        width = constants.get(concat.input[-1]) if concat is not None else None
        if width is None or width.size != 1:
            return None, 0
        return reshape.input[0], int(width.reshape(-1)[0])

    def scaled(name: str):
        mul = made_by(name, "Mul")
        scale = constants.get(mul.input[1]) if mul is not None else None
        return (mul.input[0], float(scale)) if scale is not None and scale.size == 1 else (None, 0.0)

    masked = made_by(softmax.input[0], "Add")
    scores = made_by(masked.input[0], "MatMul") if masked is not None else None
    if scores is None or not _is_padding_mask(graph, producer, masked.input[1]):
        return None
    q_heads, q_scale = scaled(scores.input[0])
    k_heads, k_scale = scaled(scores.input[1])
    query, width = heads_in(made_by(q_heads, "Transpose") if q_heads else None, [0, 2, 1, 3])
    key, k_width = heads_in(made_by(k_heads, "Transpose") if k_heads else None, [0, 2, 3, 1])
    probs = softmax.output[0]
    nan_guard = next((n for n in consumers.get(probs, []) if n.op_type == "Where"), None)
    if nan_guard is not None:  # Where(IsNaN(p), 0, p): a row with every key masked
        probs = nan_guard.output[0]
    context = next((n for n in consumers.get(probs, []) if n.op_type == "MatMul" and n.input[0] == probs), None)
    if context is None or not query or not key or width != k_width:
        return None
    value, v_width = heads_in(made_by(context.input[1], "Transpose"), [0, 2, 1, 3])
    heads_out = context.output[0]
    same_shape = only_consumer(heads_out, "Reshape")  # the export's [B, H, T, d] -> [B, -1, T, d]
    if same_shape is not None:
        heads_out = same_shape.output[0]
    merge = only_consumer(heads_out, "Transpose")
    if merge is None or perm(merge) != [0, 2, 1, 3] or not value or v_width != width:
        return None
    reshape = only_consumer(merge.output[0], "Reshape")
    hidden = _hidden_size(producer, constants, query)
    if reshape is None or hidden is None or hidden % width:
        return None
    return {
        "query": query,
        "key": key,
        "value": value,
        "output": reshape.output[0],
        "heads": hidden // width,
        "scale": float(np.float32(q_scale) * np.float32(k_scale)),
    }


def _is_padding_mask(graph, producer, name: str) -> bool:
    """Whether ``name`` is computed from the graph input ``attention_mask`` and constants only
    (shapes of other tensors allowed: ``Shape`` reads no values)."""
    inputs = {i.name for i in graph.input}
    seen, stack, reached = set(), [name], False
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in inputs:
            if current != MASK_INPUT:
                return False
            reached = True
            continue
        node = producer.get(current)
        if node is not None and node.op_type != "Shape":
            stack.extend(i for i in node.input if i)
    return reached


def _hidden_size(producer, constants, projection: str) -> int | None:
    """The width of a projection ``MatMul(x, W) + b``: the length of ``b`` (a constant, or an
    ``Identity`` of one: the exporter shares equal initializers that way)."""
    add = producer.get(projection)
    if add is None or add.op_type != "Add":
        return None
    for operand in add.input:
        source = operand
        while source not in constants and source in producer and producer[source].op_type == "Identity":
            source = producer[source].input[0]
        if source in constants and constants[source].ndim == 1:
            return int(constants[source].size)
    return None


def _constants(graph) -> dict[str, np.ndarray]:
    """The graph's scalar and 1-D constants (initializers and ``Constant`` nodes): the scalings,
    head widths and biases the matcher reads; weight matrices and tables are not read."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer if len(init.dims) <= 1}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values
