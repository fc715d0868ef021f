"""int8_stored_weights: weight matrices stored as int8 with a scale per row, float32 compute, a quarter of the bytes."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="editing graphs needs the onnx package ([train] extra)")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sentiment_fusion.sessions import onnx_session  # noqa: E402
from sentiment_fusion.training.quantize import int8_stored_weights  # noqa: E402


def linear_graph(weight: np.ndarray, bias: np.ndarray):
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weight.shape[1]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", weight.shape[0]])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_weights_are_stored_as_int8_rows_and_computed_in_float32(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(64, 256)).astype(np.float32) * np.linspace(0.1, 3, 64, dtype=np.float32)[:, None]
    bias = rng.normal(size=64).astype(np.float32)  # a vector: left in float32
    model = linear_graph(weight, bias)
    onnx.save(model, str(tmp_path / "fp32.onnx"))

    assert int8_stored_weights(model) > 0.7 * weight.nbytes
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "int8.onnx"))
    stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert stored["w/int8"].dtype == np.int8 and stored["b"].dtype == np.float32
    assert (tmp_path / "int8.onnx").stat().st_size < 0.35 * (tmp_path / "fp32.onnx").stat().st_size

    # each row keeps its own scale: the rounding error is half a step of that row, small rows included
    scale = stored["w/int8/scale"][:, 0]
    dequantized = stored["w/int8"].astype(np.float32) * scale[:, None]
    assert np.all(np.abs(dequantized - weight) <= scale[:, None] / 2 + 1e-7)

    x = rng.normal(size=(5, 256)).astype(np.float32)
    (before,) = onnx_session(tmp_path / "fp32.onnx").run(None, {"x": x})
    (after,) = onnx_session(tmp_path / "int8.onnx").run(None, {"x": x})
    assert after.dtype == np.float32
    np.testing.assert_allclose(after, x @ dequantized.T + bias, rtol=1e-4, atol=1e-4)
    assert 0 < np.abs(after - before).max() < 0.02 * np.abs(before).max()


def test_small_weights_are_left_alone():
    model = linear_graph(np.ones((4, 8), np.float32), np.zeros(4, np.float32))
    assert int8_stored_weights(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Gemm"]
