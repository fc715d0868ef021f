"""Contrast pairs: two targeted training examples joined into one text with two verdicts.

Dong 2014's tweets name one target each, and their sentiment toward it is nearly always the
tweet's tone, so a model trained on them learns the tone. Posts that praise one brand and fault
another ("Switched from United to Delta, best decision ever") need the words *near the target*.
Joining two examples whose targets and labels differ, "A's text. B's text", and asking about
each target in turn (A's label toward A, B's toward B) gives the same text two different
answers: only the target's own context tells them apart (a common augmentation for
aspect-level sentiment). Training data only; validation stays as it is.

>>> from sentiment_fusion.data.example import Example
>>> from sentiment_fusion.labels import Sentiment
>>> a = Example("1", "delta lost my bag", label=Sentiment.NEGATIVE, target="delta")
>>> b = Example("2", "united was lovely", label=Sentiment.POSITIVE, target="united")
>>> [(e.text, e.target, e.label.label) for e in contrast_pairs([a, b], 1, seed=0)]  # doctest: +NORMALIZE_WHITESPACE
[('delta lost my bag. united was lovely', 'delta', 'negative'),
 ('delta lost my bag. united was lovely', 'united', 'positive')]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.example import Example
from ..text.targets import target_spans


def contrast_pairs(examples: Sequence[Example], n: int, seed: int = 13) -> list[Example]:
    """``n`` joined texts (2n examples) from random pairs of ``examples`` (those with a target)
    whose labels differ and whose targets differ and do not occur in each other's text."""
    pool = [e for e in examples if e.target is not None and e.text and e.label is not None]
    if n <= 0 or len(pool) < 2:
        return []
    rng = np.random.default_rng(seed)
    out: list[Example] = []
    tries = 0
    while len(out) < 2 * n and tries < 50 * n:
        tries += 1
        i, j = rng.choice(len(pool), 2, replace=False)
        a, b = pool[i], pool[j]
        assert a.target is not None and b.target is not None and a.text and b.text
        if a.label == b.label or target_spans(b.text, a.target) or target_spans(a.text, b.target):
            continue
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        text = f"{first.text.rstrip().rstrip('.')}. {second.text.strip()}"
        for e in (a, b):
            out.append(Example(f"pair:{len(out)}:{e.id}", text, label=e.label, target=e.target))
    return out
