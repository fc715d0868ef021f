"""One MultiHeadAttention per block (training/attention_fusion.py), on a real PyTorch export.

A small BERT (2 layers, 4 heads, random weights) goes through the project's own exporter and its
int8 tool, as the shipped text graphs do: every attention block is fused, the fused graph gives
the unfused one's logits, and a text's scores are the same alone and in a padded batch.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sentiment_fusion.sessions import onnx_session  # noqa: E402
from sentiment_fusion.training.attention_fusion import fuse_attention  # noqa: E402

LAYERS, HEADS, VOCAB = 2, 4, 60


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from sentiment_fusion.text.transformer import MiniLMClassifier, MiniLMConfig
    from sentiment_fusion.training.export import export_text_model

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=64
    )
    model = MiniLMClassifier(MiniLMConfig(), encoder=transformers.BertModel(config, add_pooling_layer=False)).eval()
    folder = tmp_path_factory.mktemp("attention")
    return export_text_model(model, folder / "fp32.onnx"), folder


def padded_batch(rng, lengths):
    ids = np.zeros((len(lengths), max(lengths)), np.int64)
    mask = np.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(3, VOCAB, length)
        mask[row, :length] = 1
    return ids, mask


def logits(path, ids, mask):
    return onnx_session(path).run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]


def test_every_block_fused_with_the_same_logits(exported):
    fp32, folder = exported
    model, fused = fuse_attention(onnx.load(str(fp32)))
    ops = [n.op_type for n in model.graph.node]
    assert fused == LAYERS and ops.count("MultiHeadAttention") == LAYERS
    assert "Softmax" not in ops and "IsNaN" not in ops
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "fused.onnx"))
    ids, mask = padded_batch(np.random.default_rng(1), [3, 9, 17, 17, 5])
    np.testing.assert_allclose(logits(folder / "fused.onnx", ids, mask), logits(fp32, ids, mask), atol=1e-5)


def test_fused_int8_graph_is_batch_invariant(exported):
    from sentiment_fusion.training.quantize import quantize_text_graph

    fp32, folder = exported
    rng = np.random.default_rng(2)
    names = ("input_ids", "attention_mask")
    calibration = (dict(zip(names, padded_batch(rng, [6, 11, 4]), strict=True)) for _ in range(4))
    int8 = folder / "int8.onnx"
    quantize_text_graph(fp32, int8, calibration)  # its last steps fuse attention too
    assert [n.op_type for n in onnx.load(str(int8)).graph.node].count("MultiHeadAttention") == LAYERS
    lengths = [2, 13, 7, 20, 1, 9]
    ids, mask = padded_batch(rng, lengths)
    batch = logits(int8, ids, mask)
    for row, length in enumerate(lengths):
        alone = logits(int8, ids[row : row + 1, :length], mask[row : row + 1, :length])
        # Within 1e-5 (the bound), not to the bit: this toy graph moves one logit of one
        # row by 3e-8 between shapes with or without the fusion (the shipped graphs: bit-identical).
        np.testing.assert_allclose(alone[0], batch[row], rtol=0, atol=1e-5)
    np.testing.assert_allclose(batch, logits(fp32, ids, mask), atol=0.15)


def test_a_graph_without_an_attention_mask_is_left_alone(tmp_path):
    from helpers.toy_encoder import toy_encoder

    toy_encoder(tmp_path / "toy.onnx")
    model = onnx.load(str(tmp_path / "toy.onnx"))
    before = [n.op_type for n in model.graph.node]
    model, fused = fuse_attention(model)
    assert fused == 0 and [n.op_type for n in model.graph.node] == before
