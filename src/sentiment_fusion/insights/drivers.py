"""The words behind the report's verdicts, from the model's explanations (``Analyzer.explain``).

Explaining costs about 30 model passes per post, so the store keeps none: the report explains
the few posts it shows (the example posts) and, for each alert, the period's most negative posts
(at most ``MAX_POSTS_PER_ALERT``), then adds up how much each word pushed them toward negative.
Only the text is explained (a post's image, if it had one, is not re-read here).
"""

from __future__ import annotations

import string

from ..explain import Word
from ..text.normalize import is_blank
from .alerts import Alert

MAX_POSTS_PER_ALERT = 50


def _telling(word: Word) -> bool:
    """Not bare punctuation (a "." moves verdicts a little, but tells an analyst nothing)."""
    return word.weight > 0 and bool(word.text.strip(string.punctuation))


def influential_words(analyzer, text: str | None, label: str, k: int = 3) -> list[Word]:
    """The ``k`` words that pushed ``text`` hardest toward ``label``, in the order of the text; none
    when the text alone does not get that verdict (the post's image decided it) or is blank."""
    if not text or is_blank(text):
        return []
    explanation = analyzer.explain(text=text).explanation
    if explanation.label != label:
        return []
    return sorted(sorted(filter(_telling, explanation.words), key=lambda w: -w.weight)[:k], key=lambda w: w.start)


def alert_words(analyzer, store, alert: Alert, period: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words (lowercased) that most drove the negative verdicts of the alert's brand and
    period: their weights toward negative, summed over its most negative posts."""
    rows = store.query(
        f"""SELECT text FROM {store.rows_sql()} WHERE brand = ? AND sentiment = 'negative' AND text IS NOT NULL
            AND CAST(date_trunc('{period}', created_at) AS TIMESTAMP) = ?
            ORDER BY p_negative DESC, post_id LIMIT ?""",
        [alert.brand, alert.period, MAX_POSTS_PER_ALERT],
    )
    totals: dict[str, float] = {}
    for row in rows:
        for word in influential_words(analyzer, row["text"], "negative", k=len(row["text"])):
            totals[word.text.lower()] = totals.get(word.text.lower(), 0.0) + word.weight
    return sorted(totals.items(), key=lambda item: -item[1])[:k]
