"""One weight kept once on disk for two graphs (training/shared_weights.py), read back by ONNX Runtime."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from helpers.toy_encoder import HIDDEN, VOCAB, feeds, toy_encoder
from sentiment_fusion.sessions import onnx_session
from sentiment_fusion.testing import make_tiny_text_bundle
from sentiment_fusion.training.quantize import quantize_text_graph
from sentiment_fusion.training.shared_weights import adopt_word_embeddings, float_word_lookup, share_initializer


def _largest(path) -> str:
    model = onnx.load(str(path))
    return max(model.graph.initializer, key=lambda t: numpy_helper.to_array(t).size).name


def _logits(path, ids: np.ndarray) -> np.ndarray:
    return onnx_session(path).run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]


def test_two_graphs_read_one_shared_table_and_answer_as_before(tmp_path):
    bundle = make_tiny_text_bundle(tmp_path / "b")
    shutil.copyfile(bundle / "text.onnx", bundle / "other.onnx")
    ids = np.random.default_rng(0).integers(1, 15, (4, 9)).astype(np.int64)
    before = _logits(bundle / "text.onnx", ids)
    name = _largest(bundle / "text.onnx")
    size_before = (bundle / "text.onnx").stat().st_size

    saved = share_initializer(bundle, {"text.onnx": name, "other.onnx": name}, "shared.bin")

    assert (bundle / "shared.bin").stat().st_size == saved > 0
    assert (bundle / "text.onnx").stat().st_size <= size_before - saved + 64  # the bytes left the graph
    for graph in ("text.onnx", "other.onnx"):
        np.testing.assert_array_equal(_logits(bundle / graph, ids), before)
    # sharing again (already external) reads the bytes back and changes nothing
    share_initializer(bundle, {"text.onnx": name, "other.onnx": name}, "shared.bin")
    np.testing.assert_array_equal(_logits(bundle / "other.onnx", ids), before)


def test_different_tables_are_refused(tmp_path):
    one = make_tiny_text_bundle(tmp_path / "one", seed=0)
    two = make_tiny_text_bundle(tmp_path / "two", seed=1)
    shutil.copyfile(two / "text.onnx", one / "other.onnx")
    name = _largest(one / "text.onnx")
    with pytest.raises(ValueError, match="differs"):
        share_initializer(one, {"text.onnx": name, "other.onnx": name}, "shared.bin")
    assert not (one / "shared.bin").exists()


def test_an_unknown_initializer_is_named(tmp_path):
    bundle = make_tiny_text_bundle(tmp_path / "b")
    with pytest.raises(ValueError, match="no initializer 'nope'"):
        share_initializer(bundle, {"text.onnx": "nope"}, "shared.bin")


def _source_with_quantized_table(path, values_q: np.ndarray, scale: float) -> None:
    """A graph whose word lookup is Gather(int8 table) -> DequantizeLinear, as the shipped text.onnx's."""
    nodes = [
        helper.make_node("Gather", ["table_q", "input_ids"], ["looked_up_q"]),
        helper.make_node("DequantizeLinear", ["looked_up_q", "table_scale", "table_zero"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(values_q, "table_q"),
        numpy_helper.from_array(np.array(scale, np.float32), "table_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "table_zero"),
    ]
    graph = helper.make_graph(
        nodes,
        "source",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_an_int8_export_takes_the_shipped_table_through_its_fp32_lookup(tmp_path):
    """float_word_lookup + adopt_word_embeddings: the int8 export's own (re-quantized) copy of a
    frozen table is replaced by the shipped table's bytes, whose lookups equal the fp32 graph's."""
    rng = np.random.default_rng(0)
    values_q = rng.integers(-127, 128, (VOCAB, HIDDEN)).astype(np.int8)
    _source_with_quantized_table(tmp_path / "source.onnx", values_q, 0.01)
    toy_encoder(tmp_path / "toy.onnx")
    fp32 = onnx.load(str(tmp_path / "toy.onnx"))
    table = next(t for t in fp32.graph.initializer if t.name == "embeddings")
    table.CopyFrom(numpy_helper.from_array(values_q.astype(np.float32) * np.float32(0.01), "embeddings"))  # frozen
    onnx.save(fp32, str(tmp_path / "fp32.onnx"))
    quantize_text_graph(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", (feeds(rng, 8, 12) for _ in range(4)))

    model = onnx.load(str(tmp_path / "int8.onnx"))
    with pytest.raises(ValueError, match="no float table"):  # its lookup reads int8 rows until restored
        adopt_word_embeddings(model, onnx.load(str(tmp_path / "source.onnx")))
    float_word_lookup(model, fp32)
    name = adopt_word_embeddings(model, onnx.load(str(tmp_path / "source.onnx")))
    onnx.save(model, str(tmp_path / "adopted.onnx"))

    assert name == "table_q"
    assert not any(n.op_type == "DequantizeLinear" and n.input[0].startswith("embeddings") for n in model.graph.node)
    ids = feeds(rng, 4, 9)["input_ids"]
    session = onnx_session(tmp_path / "adopted.onnx")
    fp32_logits = onnx_session(tmp_path / "fp32.onnx").run(["logits"], {"input_ids": ids})[0]
    np.testing.assert_allclose(session.run(["logits"], {"input_ids": ids})[0], fp32_logits, atol=0.15)
    # the two graphs now hold one table's bytes under one name: share_initializer accepts them
    shutil.copyfile(tmp_path / "source.onnx", tmp_path / "text.onnx")
    share_initializer(tmp_path, {"text.onnx": name, "adopted.onnx": name}, "shared.bin")
    np.testing.assert_allclose(session.run(["logits"], {"input_ids": ids})[0], fp32_logits, atol=0.15)


def test_float_word_lookup_needs_an_int8_lookup_and_a_float_table(tmp_path):
    toy_encoder(tmp_path / "toy.onnx")
    fp32 = onnx.load(str(tmp_path / "toy.onnx"))
    with pytest.raises(ValueError, match="no int8 table"):
        float_word_lookup(onnx.load(str(tmp_path / "toy.onnx")), fp32)
    with pytest.raises(ValueError, match="no float table"):
        float_word_lookup(fp32, onnx.load(str(tmp_path / "toy.onnx")), ids="token_type_ids")
