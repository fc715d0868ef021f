"""Text -> token ids, one implementation for training and inference.

:class:`TextEncoder` = social-media normalizer + a ``tokenizers`` tokenizer +
the length policy. The bundle stores its config and the tokenizer file, so the
ONNX runtime rebuilds exactly what the model was trained with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .normalize import TextNormalizer

TRUNCATION_STRATEGIES = ("head", "head_tail")

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

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation must be one of {TRUNCATION_STRATEGIES}, got {self.truncation!r}")
        specials = (self.cls_token is not None) + (self.sep_token is not None)
        if self.max_length < specials + 1:
            raise ValueError(f"max_length={self.max_length} leaves no room for text tokens")


@dataclass
class TextEncoder:
    normalizer: TextNormalizer
    tokenizer: "object"  # tokenizers.Tokenizer
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
    def from_files(cls, tokenizer_file: str | Path, normalizer: TextNormalizer, config: EncodingConfig) -> "TextEncoder":
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(normalizer, tokenizer, config)

    @classmethod
    def from_config(cls, tokenizer_json: str, preprocessing: dict) -> "TextEncoder":
        """The encoder a :meth:`to_config` record describes, over a tokenizer given as its JSON text."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_json)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(TextNormalizer.from_config(preprocessing["normalizer"]), tokenizer, EncodingConfig(**preprocessing["encoding"]))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Normalized, tokenized, truncated ids (with specials) for each text."""
        ids: list[list[int]] = []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):  # full Encodings of long texts are large: few at a time
            normalized = self.normalizer.normalize_batch(texts[start:start + _TOKENIZE_CHUNK])
            ids.extend(self._fit(e.ids) for e in self.tokenizer.encode_batch(normalized, add_special_tokens=False))
        return ids

    def _fit(self, ids: list[int]) -> list[int]:
        budget = self._budget
        if len(ids) > budget:
            if self.config.truncation == "head":
                ids = ids[:budget]
            else:
                head = budget // 4
                ids = ids[:head] + ids[len(ids) - (budget - head):]
        if self._cls is not None:
            ids = [self._cls] + ids
        if self._sep is not None:
            ids = ids + [self._sep]
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

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.pad(self.token_ids(texts))

    def to_config(self) -> dict:
        from dataclasses import asdict

        return {"normalizer": self.normalizer.to_config(), "encoding": asdict(self.config)}
