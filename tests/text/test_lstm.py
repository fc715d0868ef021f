import onnxruntime as ort
import pytest
import torch

from sentiment_fusion.text.lstm import BiLSTMClassifier, BiLSTMConfig
from sentiment_fusion.training.export import export_text_model, onnx_agreement


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BiLSTMClassifier(BiLSTMConfig(vocab_size=60, embed_dim=8, hidden_dim=6)).eval()


def batch(lengths, width=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    ids = torch.randint(2, 60, (len(lengths), width), generator=g)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ids * mask, mask


def test_padding_does_not_change_a_texts_output(model):
    ids, mask = batch([5, 3, 7])
    together = model(ids, mask)
    for i, n in enumerate([5, 3, 7]):
        alone = model(ids[i : i + 1, :n], mask[i : i + 1, :n])
        torch.testing.assert_close(together[i], alone[0], atol=1e-5, rtol=1e-5)


def test_feature_shape_and_empty_text(model):
    ids, mask = batch([4, 0])
    logits, feats = model.forward_with_features(ids, mask)
    assert logits.shape == (2, 3) and feats.shape == (2, model.config.feature_dim)
    assert torch.isfinite(feats).all()
    assert feats[1, : 2 * model.config.hidden_dim].abs().sum() == 0  # no tokens: no max-pooled evidence


def test_onnx_agrees_with_pytorch_at_other_batch_sizes(model, tmp_path):
    path = export_text_model(model, tmp_path / "lstm.onnx")
    for lengths in ([1], [9, 2, 5, 5, 3], [4] * 12):
        ids, mask = batch(lengths, seed=len(lengths))
        result = onnx_agreement(model, path, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        assert result["argmax_agreement"] == 1.0 and result["max_abs_diff"] < 1e-4
    session = ort.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()] == ["logits", "features"]


def test_save_load_round_trip(model, tmp_path):
    torch.save({"config": model.to_config(), "state": model.state_dict()}, tmp_path / "m.pt")
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = BiLSTMClassifier(BiLSTMConfig(**saved["config"])).eval()
    clone.load_state_dict(saved["state"])
    ids, mask = batch([6, 2])
    torch.testing.assert_close(model(ids, mask), clone(ids, mask))


def test_config_validation():
    with pytest.raises(ValueError, match="vocab_size"):
        BiLSTMConfig(vocab_size=0)
    with pytest.raises(ValueError, match="dropout"):
        BiLSTMConfig(vocab_size=10, dropout=1.5)
