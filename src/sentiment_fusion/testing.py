"""Tiny real bundles for tests: real tokenizer, real ONNX graphs, random weights.

Training-side helper (imports torch). Nothing here is used at inference.
"""
from __future__ import annotations

from pathlib import Path

SENTENCES = ["I love this, great day!", "This is terrible and sad.", "The meeting is at noon."]


def make_tiny_text_bundle(bundle_dir: str | Path, *, seed: int = 0, name: str = "tiny") -> Path:
    """A text-only BiLSTM bundle (a few KB) with untrained weights."""
    import torch

    from .bundle import file_entry
    from .text.encoding import EncodingConfig, TextEncoder
    from .text.lstm import BiLSTMClassifier, BiLSTMConfig
    from .text.normalize import TextNormalizer
    from .text.vocab import build_word_tokenizer
    from .training.publish import publish_bundle

    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    normalizer = TextNormalizer()
    tokenizer = build_word_tokenizer(normalizer.normalize_batch(SENTENCES), min_frequency=1)
    encoder = TextEncoder(normalizer, tokenizer, EncodingConfig(max_length=32))
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=encoder.vocab_size, embed_dim=8, hidden_dim=8))
    model.export_onnx(bundle_dir / "text.onnx")
    tokenizer.save(str(bundle_dir / "tokenizer.json"))
    component = {
        "kind": "bilstm",
        "files": {"graph": file_entry(bundle_dir, "text.onnx"), "tokenizer": file_entry(bundle_dir, "tokenizer.json")},
        "preprocessing": encoder.to_config(),
        "temperature": 1.0,
        "architecture": model.to_config(),
        "metrics": [],
    }
    publish_bundle(bundle_dir, name=name, version="0.0.1", components={"text": component},
                   description="tiny untrained test bundle")
    return bundle_dir
