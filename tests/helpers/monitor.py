"""Helpers of the monitor tests (issue 15): a model whose verdicts follow keywords, so that a test
can make a brand's day turn negative on purpose (the tiny test model's weights are random)."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers.api import ImageAwareAnalyzer
from sentiment_fusion.labels import LABELS, Sentiment
from sentiment_fusion.runtime import ModalityPrediction, Prediction

NEGATIVE = {"awful", "broken", "refund", "dead", "slow", "hate"}
POSITIVE = {"love", "great", "happy", "fine"}
WORDS = ["love", "great", "awful", "broken", "fine", "slow", "happy", "refund", "battery", "screen"]


def keyword_probs(text: str) -> list[float]:
    words = set(text.lower().replace("#", " ").split())
    neg, pos = len(words & NEGATIVE), len(words & POSITIVE)
    raw = [0.2 + neg, 0.6, 0.2 + pos]
    return [x / sum(raw) for x in raw]


class KeywordAnalyzer(ImageAwareAnalyzer):
    """The toy image model of :class:`ImageAwareAnalyzer`; texts scored by counting keywords."""

    def predict_batch(self, texts, images, on_error="raise"):
        out = super().predict_batch(texts, images, on_error)
        for i, (text, result) in enumerate(zip(texts, out, strict=True)):
            if text is not None and isinstance(result, Prediction):
                probs = dict(zip(LABELS, keyword_probs(text), strict=True))
                label = Sentiment(max(range(3), key=lambda k: probs[LABELS[k]]))
                view = ModalityPrediction(label, probs)
                modalities = {**result.modalities, "text": view}
                out[i] = Prediction(label, probs, modalities, "text") if images[i] is None else result
        return out


def posts(
    n: int, start: int = 0, brands=("apple", "samsung"), day0=datetime(2014, 12, 1), hours: int = 5
) -> list[dict]:
    """``n`` posts of the given brands, one every ``hours`` hours from ``day0``."""
    return [
        {
            "id": f"p{i}",
            "text": " ".join(
                [WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)], "phone", f"#{WORDS[(i * 3) % 10]}", str(i % 5)]
            ),
            "created_at": (day0 + timedelta(hours=i * hours)).isoformat() + "Z",
            "brand": brands[i % len(brands)],
        }
        for i in range(start, start + n)
    ]
