"""The original design's text model: embedding -> bidirectional LSTM -> pooling -> classifier.

Training-only module (imports torch). Export to ONNX with :func:`sentiment_fusion.training.export.export_text_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..labels import NUM_CLASSES
from .classifier import TextClassifier


@dataclass(frozen=True)
class BiLSTMConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_dim: int = 128
    num_classes: int = NUM_CLASSES
    dropout: float = 0.4
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_dim", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"BiLSTMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BiLSTMConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def feature_dim(self) -> int:
        return 4 * self.hidden_dim  # [max, mean] x [forward, backward]


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each right-padded sequence within its own length; pads stay in place.

    Running a forward LSTM over this gives the backward direction without ever
    reading pads first, so a text's output does not depend on how much padding
    its batch has (batch and single predictions agree) and the graph needs no
    packed sequences (which ONNX cannot express).
    """
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.unsqueeze(1)  # (B, 1)
    index = torch.where(t < L, L - 1 - t, t)  # (B, T)
    return torch.gather(x, 1, index.unsqueeze(-1).expand_as(x))


class BiLSTMClassifier(TextClassifier):
    kind = "bilstm"

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        self.forward_lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True)
        self.backward_lstm = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.to(torch.float32).unsqueeze(-1)  # (B, T, 1)
        lengths = attention_mask.sum(dim=1)  # (B,)
        x = self.dropout(self.embedding(input_ids))  # (B, T, E)
        forward_out, _ = self.forward_lstm(x)  # (B, T, H)
        backward_out, _ = self.backward_lstm(_reverse_padded(x, lengths))
        backward_out = _reverse_padded(backward_out, lengths)  # back to text order
        h = torch.cat([forward_out, backward_out], dim=-1)  # (B, T, 2H)
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, 2H)
        maxed = h.masked_fill(mask == 0, -1e4).amax(dim=1)  # (B, 2H)
        # A text with no tokens has no evidence: zero features, not the pad sentinel.
        maxed = maxed * (lengths > 0).to(maxed.dtype).unsqueeze(-1)
        return torch.cat([maxed, mean], dim=-1)  # (B, 4H)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim
