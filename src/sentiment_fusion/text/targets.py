"""Where a target (brand, person, aspect) occurs in a post, and the post with those places marked.

One implementation for training and inference (no torch): a target matches on word boundaries
whatever the case and accents ("nestle" finds "Nestlé", "Müller" finds "MULLER"), as written or as
an ``@handle``, ``#hashtag`` or ``$CASHTAG`` of its name; the words of a name may be apart, joined
or hyphenated ("lady gaga" finds "Lady  Gaga", "#LadyGaga", "@lady_gaga"; "coca cola" finds
"Coca-Cola"), and an apostrophe in it may be typographic or left out ("mcdonald's" finds
"McDonald’s" and "McDonalds").

>>> target_spans("Switched from @United to Delta, #delta rocks", "delta")
[(25, 30), (32, 38)]
>>> target_spans("Nestlé's new bar", "NESTLE")
[(0, 6)]
>>> target_spans("#LadyGaga and lady gaga", "Lady Gaga")
[(0, 9), (14, 23)]
>>> mark_target("Switched from @United to Delta", "united")
'Switched from « @United » to Delta'
>>> unhandle_target("@Apple fix this, @support", "apple")
'Apple fix this, @support'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

PREFIXES = "@#$"
# How targets match text; part of what a brands file's mentions depend on
# (insights.brands.MentionConfig.fingerprint), so stores re-match their posts when it changes.
# 1: case-insensitive; 2: also accents, a name's words joined or hyphenated, any apostrophe.
MATCHING_VERSION = 2
_WORD_BREAKS = re.compile(r"[\s_'-]+")  # between a name's words: "lady gaga", "lady_gaga", "coca-cola", "macy's"
_BETWEEN_WORDS = r"[\s_'-]*"  # and in a text, where they may also run together: "#LadyGaga", "Macys"
_APOSTROPHES = str.maketrans("\u2019\u2018\u02bc", "'''")  # the typographic ones phones type, as '
OPEN, CLOSE = "«", "»"  # one token each in MiniLM's vocabulary, kept by the normalizer, rare in posts


def target_name(target: str) -> str:
    """The name a target stands for: ``"@United"`` -> ``"United"``."""
    return target.strip().lstrip(PREFIXES).strip()


def target_words(target: str) -> list[str]:
    """The words a target is matched by, without case and accents (``"@Coca-Cola"`` -> ``["coca",
    "cola"]``); empty when it names nothing (``"#"``, ``"-"``)."""
    name, _ = _folded(target_name(target))
    return [word for word in _WORD_BREAKS.split(name) if word]


def target_spans(text: str, target: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of each occurrence of ``target`` in ``text`` (empty if none)."""
    words = target_words(target)
    if not words:
        raise ValueError(f"empty target {target!r}")
    joined = _BETWEEN_WORDS.join(re.escape(word) for word in words)
    pattern = rf"(?<![\w{re.escape(PREFIXES)}])[{re.escape(PREFIXES)}]?{joined}(?!\w)"
    folded, origin = _folded(text)
    if origin is None:  # ASCII: folding changed no offsets
        return [match.span() for match in re.finditer(pattern, folded)]
    spans = []
    for match in re.finditer(pattern, folded):
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        while end < len(text) and unicodedata.combining(text[end]):  # a decomposed accent on the last letter
            end += 1
        spans.append((start, end))
    return spans


@lru_cache(maxsize=16)  # a post is matched against every alias of every brand in turn
def _folded(text: str) -> tuple[str, list[int] | None]:
    """``text`` without case and accents ("Nestlé" -> "nestle", "Straße" -> "strasse"; a typographic
    apostrophe as '), and the index in ``text`` of the character each folded character comes from
    (None when they are the same: ASCII)."""
    if text.isascii():
        return text.lower(), None
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFD", char.casefold().translate(_APOSTROPHES)):
            if not unicodedata.combining(part):
                chars.append(part)
                origin.append(index)
    return "".join(chars), origin


def mark_target(text: str, target: str) -> str:
    """``text`` with each occurrence of ``target`` between ``«`` and ``»`` (unchanged if none)."""
    out, last = [], 0
    for start, end in target_spans(text, target):
        out += [text[last:start], f"{OPEN} ", text[start:end], f" {CLOSE}"]
        last = end
    return "".join(out) + text[last:]


def unhandle_target(text: str, target: str) -> str:
    """``text`` with the ``@`` of each ``@handle`` occurrence of ``target`` dropped.

    The normalizer maps every ``@handle`` to ``@user``; the target's own handle must stay
    readable, or "@Apple we need better batteries" would not name Apple at all."""
    out, last = [], 0
    for start, end in target_spans(text, target):
        if text[start] == "@":
            out += [text[last:start], text[start + 1 : end]]
            last = end
    return "".join(out) + text[last:]
