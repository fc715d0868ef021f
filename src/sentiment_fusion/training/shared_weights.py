"""Store a weight that several graphs of a bundle hold identically once, in a file they all read.

The targeted text model is trained with the post-level model's word-embedding table frozen
(``train text --freeze-word-embeddings``), so after int8 export both graphs hold the same
30,522 x 384 int8 table: 11.7 MB of the 23 MB that each graph weighs. ONNX's external data lets
each graph name the bytes of an initializer in another file (path, offset, length; ONNX Runtime
reads it relative to the graph's own folder), so the bundle keeps the table once::

    adopt_word_embeddings(target_model, text_model)  # the same bytes, under the same name
    share_initializer(bundle_dir, {"text.onnx": TABLE, "target.onnx": TABLE}, "word_embeddings.bin")

DEVELOPMENT-TIME ONLY (needs ``onnx``). The graphs' answers are unchanged: the runtime reads the
same bytes, only from another file (checked by the caller, e.g. ``scripts/add_target_component.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORD_EMBEDDINGS = "model.encoder.embeddings.word_embeddings.weight_quantized"  # the shipped text.onnx's table


def adopt_word_embeddings(model, source, ids: str = "input_ids") -> str:
    """Give ``model`` (an fp32 graph whose float word-embedding table was frozen at ``source``'s
    dequantized values) ``source``'s quantized table and its dequantization, in place: the
    lookup's values stay bit-identical, and both graphs now hold the same bytes under the same
    name (ValueError if the tables' values differ). Returns that name."""
    from onnx import helper, numpy_helper

    from .graph_nodes import replace_nodes

    inits = {t.name: t for t in source.graph.initializer}
    gather = next((n for n in source.graph.node if n.op_type == "Gather" and n.input[1] == ids), None)
    dequantize = next((n for n in source.graph.node if gather is not None and gather.output[0] in n.input), None)
    if gather is None or dequantize is None or dequantize.op_type != "DequantizeLinear":
        raise ValueError(f"the source graph has no quantized lookup of {ids!r} (Gather -> DequantizeLinear)")
    table, scale, zero = (inits[name] for name in (gather.input[0], *dequantize.input[1:3]))
    values = (
        numpy_helper.to_array(table).astype(np.float32) - numpy_helper.to_array(zero).astype(np.float32)
    ) * numpy_helper.to_array(scale)

    own = {t.name: t for t in model.graph.initializer}
    lookup = next((n for n in model.graph.node if n.op_type == "Gather" and n.input[1] == ids), None)
    if lookup is None or lookup.input[0] not in own:
        raise ValueError(f"the graph has no float table looked up by {ids!r}")
    if not np.array_equal(numpy_helper.to_array(own[lookup.input[0]]), values):
        raise ValueError("its word-embedding table differs from the source's (was it frozen in training?)")
    nodes = []
    for node in model.graph.node:
        if node is not lookup:
            nodes.append(node)
            continue
        quantized = node.output[0] + "_quantized"
        nodes.append(helper.make_node("Gather", [table.name, ids], [quantized], name=node.name))
        nodes.append(
            helper.make_node(
                "DequantizeLinear", [quantized, scale.name, zero.name], list(node.output), name=node.name + "/dq"
            )
        )
    replace_nodes(model.graph, nodes)
    kept = [t for t in model.graph.initializer if t.name != lookup.input[0]]
    del model.graph.initializer[:]
    model.graph.initializer.extend([*kept, table, scale, zero])
    return table.name


def float_word_lookup(model, fp32_model, ids: str = "input_ids") -> None:
    """Give ``model`` (an int8 export whose word-embedding lookup reads an int8 table through
    ``DequantizeLinear``, :func:`~.quantize.int8_gather_weights`) the float table of ``fp32_model``
    (the same trained model's fp32 graph) back, in place, so that :func:`adopt_word_embeddings`
    can check it against the shipped table and take that table's bytes instead."""
    from onnx import helper

    from .graph_nodes import replace_nodes

    lookup = next((n for n in fp32_model.graph.node if n.op_type == "Gather" and n.input[1] == ids), None)
    table = next((t for t in fp32_model.graph.initializer if lookup is not None and t.name == lookup.input[0]), None)
    if table is None:
        raise ValueError(f"the fp32 graph has no float table looked up by {ids!r}")
    gather = next((n for n in model.graph.node if n.op_type == "Gather" and n.input[1] == ids), None)
    dequantize = next((n for n in model.graph.node if gather is not None and gather.input[0] in n.output), None)
    if gather is None or dequantize is None or dequantize.op_type != "DequantizeLinear":
        raise ValueError(f"the graph has no int8 table looked up by {ids!r} (DequantizeLinear -> Gather)")
    nodes = []
    for node in model.graph.node:
        if node is gather:
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            inputs = [table.name, *node.input[1:]]
            nodes.append(helper.make_node("Gather", inputs, list(node.output), name=node.name, **attributes))
        elif node is not dequantize:
            nodes.append(node)
    model.graph.initializer.append(table)
    replace_nodes(model.graph, nodes)


def share_initializer(bundle_dir: str | Path, graphs: dict[str, str], data_file: str) -> int:
    """Move initializer ``graphs[graph]`` of each graph (file names relative to ``bundle_dir``) into
    ``data_file``, written once; every graph must hold the same bytes (ValueError otherwise).
    Returns the bytes each graph no longer holds."""
    import onnx
    from onnx import TensorProto

    bundle_dir = Path(bundle_dir)
    models, shared = {}, None
    for graph, name in graphs.items():
        model = onnx.load(str(bundle_dir / graph))
        tensor = _initializer(model, name, graph)
        data = _raw_bytes(tensor, bundle_dir, graph)
        if shared is None:
            shared = (data, list(tensor.dims), tensor.data_type)
        elif (data, list(tensor.dims), tensor.data_type) != shared:
            raise ValueError(f"{graph}: {name} differs from that of {next(iter(graphs))}: nothing to share")
        models[graph] = (model, tensor)
    assert shared is not None, "no graphs given"
    (bundle_dir / data_file).write_bytes(shared[0])
    for graph, (model, tensor) in models.items():
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", data_file), ("offset", "0"), ("length", str(len(shared[0])))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(bundle_dir / graph))
    return len(shared[0])


def _initializer(model, name: str, graph: str):
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return tensor
    raise ValueError(f"{graph} has no initializer {name!r}")


def _raw_bytes(tensor, bundle_dir: Path, graph: str) -> bytes:
    from onnx import TensorProto, numpy_helper

    if tensor.data_location == TensorProto.EXTERNAL:  # already shared: read it back
        info = {entry.key: entry.value for entry in tensor.external_data}
        with open(bundle_dir / info["location"], "rb") as f:
            f.seek(int(info.get("offset", 0)))
            return f.read(int(info["length"])) if "length" in info else f.read()
    return numpy_helper.to_array(tensor).tobytes()
