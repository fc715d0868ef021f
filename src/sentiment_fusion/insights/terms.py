"""Words and hashtags most characteristic of a brand's negative (or positive) posts.

Weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
2008, "Fightin' Words", eq. 16-22). For a word w, focal group i (a brand's posts
predicted negative) and contrast group j (that brand's other scored posts):

    delta_w = log((y_wi + a_w) / (n_i + a_0 - y_wi - a_w)) - log((y_wj + a_w) / (n_j + a_0 - y_wj - a_w))
    var(delta_w) ~= 1 / (y_wi + a_w) + 1 / (y_wj + a_w)
    zeta_w = delta_w / sqrt(var)

with y counts, n group token totals, and prior a_w = counts of w in the background
corpus (every scored post of every brand), a_0 = their sum, as tidylo does. The prior
shrinks rare words towards their background rate, so a word seen twice does not top the
list, and zeta (a z-score) ranks by evidence rather than by raw ratio.

Tokens: the project's :class:`TextNormalizer` (mentions and links removed, HTML
unescaped, elongations shortened), lowercased; words of 2+ letters, ``#hashtags`` and
``$cashtags`` kept whole; a small English stopword list and numbers dropped.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..text.normalize import TextNormalizer

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours
out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your yours yourself im ive id ill its it's i'm i've you're youre dont don't cant can't wont won't isnt isn't
rt amp via gt lt http https www com co
""".split()
)
_TOKEN = re.compile(r"[#$]?[^\W\d_][\w'’]*")
_NORMALIZER = TextNormalizer(
    mentions="", urls="", split_hashtags=False, emoji_to_text=False, emoticons_to_text=True, lowercase=True
)


def tokenize(text: str | None) -> list[str]:
    """Content tokens of a post.

    >>> tokenize("@Apple I LOVE the new #iPhone6 sooooo much!!! http://t.co/x $AAPL")
    ['love', 'new', '#iphone6', 'soo', 'much', '$aapl']
    """
    if not text:
        return []
    tokens = (t.replace("’", "'").strip("'") for t in _TOKEN.findall(_NORMALIZER.normalize(text)))
    return [t for t in tokens if len(t.lstrip("#$")) >= 2 and t not in STOPWORDS]


@dataclass(frozen=True)
class Term:
    term: str
    zeta: float  # z-score of the weighted log-odds: > 1.96 is distinctive at 95%
    delta: float  # log-odds ratio (focal vs contrast), prior-smoothed
    count: int  # occurrences in the focal group
    count_other: int  # occurrences in the contrast group


def log_odds(focal: Counter, contrast: Counter, prior: Counter, *, min_count: int = 3) -> list[Term]:
    """Every word seen ``min_count``+ times in focal + contrast, most focal-characteristic first."""
    n_i, n_j, a_0 = sum(focal.values()), sum(contrast.values()), sum(prior.values())
    terms = []
    for word in set(focal) | set(contrast):
        y_i, y_j = focal.get(word, 0), contrast.get(word, 0)
        a_w = prior.get(word, 0)
        if y_i + y_j < min_count or a_w <= 0:
            continue
        delta = math.log((y_i + a_w) / (n_i + a_0 - y_i - a_w)) - math.log((y_j + a_w) / (n_j + a_0 - y_j - a_w))
        zeta = delta / math.sqrt(1 / (y_i + a_w) + 1 / (y_j + a_w))
        terms.append(Term(word, zeta, delta, y_i, y_j))
    return sorted(terms, key=lambda t: (-t.zeta, t.term))


def _count(texts: Iterable[str | None]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(tokenize(text))
    return counts


def top_terms(
    store, brand: str | None = None, *, k: int = 15, min_count: int = 3, min_zeta: float = 1.96
) -> list[dict]:
    """For each brand and for negative and positive: its ``k`` most characteristic terms.

    Only terms with zeta > ``min_zeta`` (distinctive at 95% by default) are listed, so a
    brand with few negative posts gets a short list rather than noise.
    """
    rows = store.query(
        f"SELECT brand, sentiment, text FROM {store.rows_sql()} WHERE sentiment IS NOT NULL ORDER BY brand"
    )
    # Token counts per (brand, sentiment); the prior is the whole store, every brand.
    counts: dict[tuple[str, str], Counter] = {}
    for row in rows:
        counts.setdefault((row["brand"], row["sentiment"]), Counter()).update(tokenize(row["text"]))
    prior: Counter = Counter()
    for c in counts.values():
        prior.update(c)
    out = []
    for name in sorted({b for b, _ in counts} if brand is None else {brand}):
        for side in ("negative", "positive"):
            focal = counts.get((name, side), Counter())
            contrast: Counter[str] = Counter()
            for (b, s), c in counts.items():
                if b == name and s != side:
                    contrast.update(c)
            for rank, term in enumerate(log_odds(focal, contrast, prior, min_count=min_count)[:k], start=1):
                if term.zeta <= min_zeta or term.count == 0:
                    break
                out.append(
                    {
                        "brand": name,
                        "sentiment": side,
                        "rank": rank,
                        "term": term.term,
                        "zeta": term.zeta,
                        "delta": term.delta,
                        "count": term.count,
                        "count_other": term.count_other,
                    }
                )
    return out
