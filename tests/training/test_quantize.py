"""Batch-invariant int8 (training/quantize.py) on a small encoder-shaped graph.

The graph has what the text encoder has, at toy size: an embedding lookup, layer norm, an
up-projection (static scales), GELU-like nonlinearity, a down-projection (per-row scales) and
a right-padded token axis. A row's outputs must be bit-identical alone and in any batch, and
close to the fp32 graph."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto  # noqa: E402

from helpers.toy_encoder import feeds, toy_encoder  # noqa: E402
from sentiment_fusion.training.quantize import quantize_text_graph  # noqa: E402


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantize")
    fp32, int8 = folder / "fp32.onnx", folder / "int8.onnx"
    toy_encoder(fp32)
    rng = np.random.default_rng(1)
    record = quantize_text_graph(fp32, int8, (feeds(rng, 8, 12) for _ in range(8)))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    sessions = {
        name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for name, path in (("fp32", fp32), ("int8", int8))
    }
    return record, sessions, int8


def test_one_static_and_one_per_row_projection_and_int8_embeddings(graphs):
    record, _, path = graphs
    assert record["static"] == 1 and record["per_row"] == 1 and record["batch_invariant"] is True
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "MatMulInteger" in ops  # the down-projection, per-row
    assert ops.count("QuantizeLinear") >= 1  # the up-projection's static activation scale
    table = [i for i in onnx.load(str(path)).graph.initializer if i.name.startswith("embeddings")]
    assert table and all(i.data_type != TensorProto.FLOAT or len(i.dims) < 2 for i in table)


def test_a_rows_outputs_do_not_depend_on_its_batch_mates(graphs):
    _, sessions, _ = graphs
    rng = np.random.default_rng(2)
    batch = feeds(rng, 33, 12)
    together = sessions["int8"].run(["logits"], batch)[0]
    for row in (0, 7, 32):
        alone = sessions["int8"].run(["logits"], {"input_ids": batch["input_ids"][row : row + 1]})[0]
        np.testing.assert_array_equal(alone[0], together[row])
    # Extreme batch-mates (the values a per-tensor dynamic scale would follow) change nothing either.
    loud = dict(batch)
    loud["input_ids"] = np.concatenate([batch["input_ids"][:1], np.full((31, 12), 3, np.int64)])
    np.testing.assert_array_equal(sessions["int8"].run(["logits"], loud)[0][0], together[0])


def test_int8_stays_close_to_fp32(graphs):
    _, sessions, _ = graphs
    batch = feeds(np.random.default_rng(3), 64, 12)
    fp32 = sessions["fp32"].run(["logits"], batch)[0]
    int8 = sessions["int8"].run(["logits"], batch)[0]
    scale = np.abs(fp32).max()
    assert np.abs(int8 - fp32).max() < 0.05 * scale
    assert (int8.argmax(-1) == fp32.argmax(-1)).mean() > 0.9


def test_each_row_is_quantized_by_one_blocked_quantize_linear(graphs):
    _, _, path = graphs
    model = onnx.load(str(path))
    ops = [node.op_type for node in model.graph.node]
    assert "Round" not in ops  # the per-row Div / Round / Add / Cast chain is fused
    blocked = [
        n
        for n in model.graph.node
        if n.op_type == "QuantizeLinear" and any(a.name == "block_size" for a in n.attribute)
    ]
    assert len(blocked) == 1  # the one down-projection
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 21


def test_fusing_the_row_quantization_changes_no_bit(tmp_path):
    """per_row_int8's four-op chain and the blocked QuantizeLinear give the same integers."""
    from sentiment_fusion.training.quantize import fuse_row_quantization, per_row_int8

    toy_encoder(tmp_path / "fp32.onnx")
    model = onnx.load(str(tmp_path / "fp32.onnx"))
    for i, node in enumerate(model.graph.node):
        node.name = f"{node.op_type}_{i}"
    per_row_int8(model, {n.name for n in model.graph.node if n.op_type == "MatMul"})
    onnx.save(model, str(tmp_path / "chain.onnx"))
    fused, count = fuse_row_quantization(model)
    onnx.save(fused, str(tmp_path / "fused.onnx"))
    assert count == 2 and "Round" not in [n.op_type for n in fused.graph.node]
    batch = feeds(np.random.default_rng(3), 16, 12)
    batch["input_ids"][:, 0] = 1
    outputs = [
        ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"]).run(["logits"], batch)[0]
        for name in ("chain.onnx", "fused.onnx")
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])
