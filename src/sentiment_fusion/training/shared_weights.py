"""Store a weight that several graphs of a bundle hold identically once, in a file they all read.

The targeted text model is trained with the post-level model's word-embedding table frozen
(``train text --freeze-word-embeddings``), so after int8 export both graphs hold the same
30,522 x 384 int8 table: 11.7 MB of the 23 MB that each graph weighs. ONNX's external data lets
each graph name the bytes of an initializer in another file (path, offset, length; ONNX Runtime
reads it relative to the graph's own folder), so the bundle keeps the table once::

    share_initializer(bundle_dir, {"text.onnx": TABLE, "target.onnx": TABLE}, "word_embeddings.bin")

DEVELOPMENT-TIME ONLY (needs ``onnx``). The graphs' answers are unchanged: the runtime reads the
same bytes, only from another file (checked by the caller, e.g. ``scripts/add_target_component.py``).
"""

from __future__ import annotations

from pathlib import Path

WORD_EMBEDDINGS = "model.encoder.embeddings.word_embeddings.weight_quantized"  # quantize.int8_gather_weights' name


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
