"""What every text model shares: a features() body, dropout + linear head, ONNX export.

Training-only (torch). Subclasses set ``self.config`` (a dataclass), ``self.dropout``,
``self.classifier`` and implement ``features`` and ``vocab_size``.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn


class TextClassifier(nn.Module):
    vocab_size: int

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:  # (B, D)
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(input_ids, attention_mask)))  # (B, C)

    def forward_with_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        feats = self.features(input_ids, attention_mask)
        return self.classifier(feats), feats

    def export_onnx(self, path: str | Path) -> Path:
        """A graph (input_ids, attention_mask) -> (logits, features) with dynamic batch and length."""
        from ..training.export import export_text_model

        return export_text_model(self, self.vocab_size, path)

    def to_config(self) -> dict:
        return asdict(self.config)
