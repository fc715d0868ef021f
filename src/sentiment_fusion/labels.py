"""The three sentiment classes and their names, in one place.

Data and JSON use lowercase names (``negative|neutral|positive``); code uses
:class:`Sentiment`; the HTTP API's ``sentiment`` field is capitalised as in the
original contract (``"Positive"``).
"""

from __future__ import annotations

import enum


class Sentiment(enum.IntEnum):
    NEGATIVE = 0
    NEUTRAL = 1
    POSITIVE = 2

    @property
    def label(self) -> str:
        """Lowercase name used in data files and JSON: ``"positive"``."""
        return self.name.lower()

    @property
    def title(self) -> str:
        """Capitalised name used by the API's ``sentiment`` field: ``"Positive"``."""
        return self.name.capitalize()

    @classmethod
    def parse(cls, value: str | int | Sentiment) -> Sentiment:
        """Accept ``"positive"``, ``"Positive"``, ``2`` or ``Sentiment.POSITIVE``.

        >>> Sentiment.parse("Negative")
        <Sentiment.NEGATIVE: 0>
        """
        if isinstance(value, Sentiment):
            return value
        if isinstance(value, str):
            key = value.strip().upper()
            if key in cls.__members__:
                return cls[key]
            raise ValueError(f"unknown sentiment label {value!r}; expected one of {LABELS}")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(cls):
            return cls(value)
        raise ValueError(f"unknown sentiment label {value!r}; expected one of {LABELS}")


LABELS: tuple[str, ...] = tuple(s.label for s in Sentiment)
NUM_CLASSES = len(LABELS)
