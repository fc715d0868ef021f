"""One weight kept once on disk for two graphs (training/shared_weights.py), read back by ONNX Runtime."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from sentiment_fusion.sessions import onnx_session
from sentiment_fusion.testing import make_tiny_text_bundle
from sentiment_fusion.training.shared_weights import share_initializer


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
