"""Text -> token ids, one implementation for training and inference.

:class:`TextEncoder` = social-media normalizer + a ``tokenizers`` tokenizer +
the length policy. The bundle stores its config and the tokenizer file, so the
ONNX runtime rebuilds exactly what the model was trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .normalize import TextNormalizer
from .targets import mark_target, target_name, unhandle_target

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TRUNCATION_STRATEGIES = ("head", "head_tail")
# How a model of sentiment toward a target sees the target: "segment" = a second segment,
# ``[CLS] text [SEP] target [SEP]`` (BERT-SPC, Song et al. 2019); "markers" = its occurrences in the
# text between « and » (text/targets.py); "both".
TARGET_MODES = ("segment", "markers", "both")
TARGET_TOKENS = 16  # a longer target is cut: names and aspects are a few tokens

_TOKENIZE_CHUNK = 64  # texts per tokenizer call (each keeps offsets and strings for every token)


@dataclass(frozen=True)
class EncodingConfig:
    """How many tokens a model sees and which ones.

    ``head_tail`` keeps the first quarter and the last three quarters of the token
    budget for long texts (reviews): openings set the topic, endings hold the
    verdict (Sun et al., 2019, "How to Fine-Tune BERT for Text Classification").
    """

    max_length: int = 128  # including [CLS]/[SEP] when the model uses them
    truncation: str = "head_tail"
    cls_token: str | None = None  # e.g. "[CLS]" for BERT-style models, None for the LSTM
    sep_token: str | None = None
    pad_id: int = 0
    target: str | None = None  # how a target is shown (TARGET_MODES); None: a model of the post alone

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation must be one of {TRUNCATION_STRATEGIES}, got {self.truncation!r}")
        if self.target is not None and self.target not in TARGET_MODES:
            raise ValueError(f"target must be one of {TARGET_MODES} or None, got {self.target!r}")
        if self.target in ("segment", "both") and not (self.cls_token and self.sep_token):
            raise ValueError("a target segment needs cls_token and sep_token ([CLS] text [SEP] target [SEP])")
        if self.target in ("segment", "both") and self.max_length < TARGET_TOKENS + 4:
            raise ValueError(
                f"max_length={self.max_length} leaves no room for a text and a {TARGET_TOKENS}-token target"
            )
        specials = (self.cls_token is not None) + (self.sep_token is not None)
        if self.max_length < specials + 1:
            raise ValueError(f"max_length={self.max_length} leaves no room for text tokens")


@dataclass
class TextEncoder:
    normalizer: TextNormalizer
    tokenizer: Tokenizer
    config: EncodingConfig = field(default_factory=EncodingConfig)

    def __post_init__(self) -> None:
        def token_id(token: str | None) -> int | None:
            if token is None:
                return None
            idx = self.tokenizer.token_to_id(token)
            if idx is None:
                raise ValueError(f"special token {token!r} is not in the tokenizer's vocabulary")
            return idx

        self._cls = token_id(self.config.cls_token)
        self._sep = token_id(self.config.sep_token)
        self._budget = self.config.max_length - (self._cls is not None) - (self._sep is not None)

    @classmethod
    def from_files(cls, tokenizer_file: str | Path, normalizer: TextNormalizer, config: EncodingConfig) -> TextEncoder:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(normalizer, tokenizer, config)

    @classmethod
    def from_config(cls, tokenizer_json: str, preprocessing: dict) -> TextEncoder:
        """The encoder a :meth:`to_config` record describes, over a tokenizer given as its JSON text."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_json)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(
            TextNormalizer.from_config(preprocessing["normalizer"]),
            tokenizer,
            EncodingConfig(**preprocessing["encoding"]),
        )

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_ids(self, texts: list[str], targets: Sequence[str | None] | None = None) -> list[list[int]]:
        """Normalized, tokenized, truncated ids (with specials) for each text and, for a model that
        takes targets (``config.target``), each text's target (None: the post's own sentiment, the
        text alone). The text is cut to fit, never the target (up to ``TARGET_TOKENS``)."""
        if targets is not None and self.config.target is None:
            raise ValueError("this model takes no targets (its encoding has target=None)")
        if targets is not None and len(targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(targets)} targets")
        ids: list[list[int]] = []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):  # full Encodings of long texts are large: few at a time
            chunk = texts[start : start + _TOKENIZE_CHUNK]
            aims = [None] * len(chunk) if targets is None else targets[start : start + _TOKENIZE_CHUNK]
            chunk = [text if aim is None else unhandle_target(text, aim) for text, aim in zip(chunk, aims, strict=True)]
            if self.config.target in ("markers", "both"):
                chunk = [text if aim is None else mark_target(text, aim) for text, aim in zip(chunk, aims, strict=True)]
            normalized = self.normalizer.normalize_batch(chunk)
            encodings = self.tokenizer.encode_batch(normalized, add_special_tokens=False)
            ids.extend(self._fit(e.ids, self._target_ids(aim)) for e, aim in zip(encodings, aims, strict=True))
        return ids

    def _target_ids(self, target: str | None) -> list[int] | None:
        if target is None or self.config.target == "markers":
            return None
        # "@united", "#delta", "$AAPL" name what the words do (and the normalizer maps handles to @user)
        shown = self.normalizer.normalize_batch([target_name(target)])[0]
        return self.tokenizer.encode(shown, add_special_tokens=False).ids[:TARGET_TOKENS]

    def _fit(self, ids: list[int], second: list[int] | None = None) -> list[int]:
        budget = self._budget - (0 if second is None else len(second) + 1)
        if len(ids) > budget:
            if self.config.truncation == "head":
                ids = ids[:budget]
            else:
                head = budget // 4
                ids = ids[:head] + ids[len(ids) - (budget - head) :]
        if self._cls is not None:
            ids = [self._cls, *ids]
        if self._sep is not None:
            ids = [*ids, self._sep]
        if second is not None and self._sep is not None:  # EncodingConfig: a target segment has a [SEP]
            ids = [*ids, *second, self._sep]
        return ids

    def pad(self, sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest sequence: (input_ids, attention_mask), both int64 [B, T].

        Empty sequences (a text that normalizes to nothing) still get one pad
        position so that every graph sees T >= 1; its mask row is all zeros and
        the models treat that as "no text".
        """
        width = max(1, max((len(s) for s in sequences), default=1))
        ids = np.full((len(sequences), width), self.config.pad_id, dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return ids, mask

    def encode(self, texts: list[str], targets: Sequence[str | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.pad(self.token_ids(texts, targets))

    def to_config(self) -> dict:
        from dataclasses import asdict

        return {"normalizer": self.normalizer.to_config(), "encoding": asdict(self.config)}
