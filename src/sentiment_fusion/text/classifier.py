"""What every text model shares: a features() body and a dropout + linear head.

Training-only (torch). Subclasses set ``self.config`` (a dataclass), ``self.dropout``,
``self.classifier`` and implement ``features`` and ``vocab_size``. The ONNX export is
:func:`sentiment_fusion.training.export.export_text_model` (model code never imports training).
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn


class TextClassifier(nn.Module):
    kind: str  # names the class in checkpoints (training/checkpoints.py rebuilds it from kind + config)
    vocab_size: int

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:  # (B, D)
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(input_ids, attention_mask)))  # (B, C)

    def forward_with_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        feats = self.features(input_ids, attention_mask)
        return self.classifier(feats), feats

    def to_config(self) -> dict:
        return asdict(self.config)
