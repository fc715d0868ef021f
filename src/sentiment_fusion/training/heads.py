"""Small classifier heads over cached features: the image head and the fusion head.

Training-only (torch). Both export to ONNX graphs whose input names match what
:mod:`sentiment_fusion.runtime` feeds them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..fusion_inputs import INPUTS, column
from ..labels import NUM_CLASSES
from .export import export_onnx


@dataclass(frozen=True)
class HeadConfig:
    in_dim: int
    hidden_dim: int = 256
    num_classes: int = NUM_CLASSES
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if self.in_dim < 1 or self.hidden_dim < 0 or self.num_classes < 2:
            raise ValueError(f"bad head sizes: {self}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def _mlp(config: HeadConfig) -> nn.Sequential:
    if config.hidden_dim == 0:  # plain logistic regression
        return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.in_dim, config.num_classes))
    return nn.Sequential(
        nn.Dropout(config.dropout),
        nn.Linear(config.in_dim, config.hidden_dim),
        nn.GELU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden_dim, config.num_classes),
    )


class ImageHead(nn.Module):
    """MobileNetV2 pooled features (1280) -> sentiment logits. Features are
    standardised with training-set statistics baked into the graph."""

    kind = "image_head"

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.in_dim))
        self.register_buffer("std", torch.ones(config.in_dim))
        self.mlp = _mlp(config)

    def set_normalization(self, features: torch.Tensor) -> None:
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp(min=1e-3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp((features - self.mean) / self.std)

    def export_onnx(self, path: str | Path) -> Path:
        return export_onnx(self, (torch.randn(2, self.config.in_dim),), path, ["features"], ["logits"])

    def to_config(self) -> dict:
        return asdict(self.config)


@dataclass(frozen=True)
class FusionConfig:
    text_dim: int
    image_dim: int
    hidden_dim: int = 256
    num_classes: int = NUM_CLASSES
    dropout: float = 0.3
    # True (every shipped head): the MLP's first GELU also takes the unimodal log-probabilities and
    # the presence mask, which flattens every log-probability below about -2 to nearly 0. False: only
    # the two projections go through it; the log-probabilities and the mask reach the MLP as they are.
    gelu_on_log_probs: bool = True


class FusionHead(nn.Module):
    """Late + feature fusion with an explicit presence mask.

    Input per post: both encoders' features, both unimodal logits and
    ``present`` [B, 2] (text, image) in {0, 1}. An absent modality's features and
    logits are zeroed, and the mask itself is an input, so the head learns what
    "missing" means instead of reading zeros as evidence. Trained with modality
    dropout so it works with either modality alone.
    """

    kind = "fusion_head"

    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config
        self.text_proj = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, config.hidden_dim))
        self.image_proj = nn.Sequential(nn.LayerNorm(config.image_dim), nn.Linear(config.image_dim, config.hidden_dim))
        inner = 2 * config.hidden_dim + 2 * config.num_classes + 2
        first = [nn.GELU()] if config.gelu_on_log_probs else []
        self.mlp = nn.Sequential(
            *first,
            nn.Dropout(config.dropout),
            nn.Linear(inner, config.hidden_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_dim, config.num_classes),
        )

    def forward(self, text_features, image_features, text_logits, image_logits, present):
        return self.mlp(self.joint(text_features, image_features, text_logits, image_logits, present))

    def joint(self, text_features, image_features, text_logits, image_logits, present) -> torch.Tensor:
        """The MLP's input (B, 2H + 2C + 2): projections and log-probabilities, absent ones zeroed."""
        t, i = (present[:, c : c + 1] for c in (column("text"), column("image")))  # (B, 1) each
        text = self.text_proj(text_features) * t  # (B, H)
        image = self.image_proj(image_features) * i  # (B, H)
        if not self.config.gelu_on_log_probs:
            text, image = nn.functional.gelu(text), nn.functional.gelu(image)
        lt = torch.log_softmax(text_logits, dim=-1) * t  # (B, C)
        li = torch.log_softmax(image_logits, dim=-1) * i
        return torch.cat([text, image, lt, li, present], dim=-1)

    INPUTS: ClassVar[list[str]] = list(INPUTS)  # names and order: sentiment_fusion/fusion_inputs.py

    def export_onnx(self, path: str | Path) -> Path:
        c = self.config
        example = (
            torch.randn(2, c.text_dim),
            torch.randn(2, c.image_dim),
            torch.randn(2, c.num_classes),
            torch.randn(2, c.num_classes),
            torch.ones(2, 2),
        )
        return export_onnx(self, example, path, self.INPUTS, ["logits"])

    def to_config(self) -> dict:
        return asdict(self.config)
