"""The :class:`Dataset` every reader returns: examples plus what a manifest needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import Sentiment
from .example import Example

UNLABELLED = -1
"""Index :attr:`Dataset.labels` uses for an example without a label (blind test splits)."""


@dataclass(repr=False)
class Dataset:
    """One split of one data set, read into memory.

    ``classes`` is the label set the data set was annotated with, which is not always all
    three: IMDB is binary, so evaluation scores it on negative vs positive only.
    ``fingerprint`` is the sha256 of the source bytes (the archive, or the split's files in
    a stable order) so a model manifest can say exactly which data it saw.

    >>> ds = read_dataset("tweeteval:../shared/data/tweeteval/sentiment:val")  # doctest: +SKIP
    >>> len(ds), ds.classes[0], ds.labels[:3]                                    # doctest: +SKIP
    (2000, <Sentiment.NEGATIVE: 0>, array([1, 2, 0]))
    """

    name: str
    split: str | None
    source: Path
    examples: list[Example]
    classes: tuple[Sentiment, ...]
    fingerprint: str

    def __post_init__(self) -> None:
        self.source = Path(self.source)
        self.classes = tuple(Sentiment.parse(c) for c in self.classes)
        if not self.classes:
            raise ValueError(f"{self.name}: a data set needs at least one class")
        # Catch a reader bug early rather than as a wrong confusion matrix later.
        stray = {e.label for e in self.examples if e.label is not None} - set(self.classes)
        if stray:
            names = sorted(s.label for s in stray)
            raise ValueError(f"{self.name}: labels {names} are not in classes {self.class_names}")

    @property
    def labels(self) -> np.ndarray:
        """Label indices (``Sentiment`` values), int64, ``-1`` where an example has none."""
        return np.fromiter(
            (UNLABELLED if e.label is None else int(e.label) for e in self.examples),
            dtype=np.int64,
            count=len(self.examples),
        )

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.classes)

    @property
    def is_labelled(self) -> bool:
        """True when every example has a label (False for blind test splits)."""
        return all(e.label is not None for e in self.examples)

    def label_counts(self) -> dict[str, int]:
        """``{"negative": n, ...}`` over ``classes`` (plus ``"unlabelled"`` when any)."""
        counts = Counter(e.label for e in self.examples)
        out = {c.label: counts.get(c, 0) for c in self.classes}
        if counts.get(None):
            out["unlabelled"] = counts[None]
        return out

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def __repr__(self) -> str:
        # The default dataclass repr would print every example.
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.class_names}, source={str(self.source)!r}, "
            f"fingerprint={self.fingerprint[:12]!r}...)"
        )


def check_split(kind: str, split: str, valid: tuple[str, ...], aliases: dict[str, str]) -> str:
    """Return the canonical split name, or raise ValueError listing the valid ones."""
    key = split.strip().lower()
    key = aliases.get(key, key)
    if key not in valid:
        note = ", ".join(f"{a} = {c}" for a, c in aliases.items())
        raise ValueError(
            f"unknown split {split!r} for {kind}; expected one of {', '.join(valid)}"
            + (f" (aliases: {note})" if note else "")
        )
    return key
