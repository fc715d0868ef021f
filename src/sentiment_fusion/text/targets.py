"""Where a target (brand, person, aspect) occurs in a post, and the post with those places marked.

One implementation for training and inference (no torch): a target matches case-insensitively on
word boundaries, as written or as an ``@handle``, ``#hashtag`` or ``$CASHTAG`` of its name, with
any run of spaces between its words.

>>> target_spans("Switched from @United to Delta, #delta rocks", "delta")
[(25, 30), (32, 38)]
>>> mark_target("Switched from @United to Delta", "united")
'Switched from « @United » to Delta'
>>> unhandle_target("@Apple fix this, @support", "apple")
'Apple fix this, @support'
"""

from __future__ import annotations

import re

PREFIXES = "@#$"
OPEN, CLOSE = "«", "»"  # one token each in MiniLM's vocabulary, kept by the normalizer, rare in posts


def target_name(target: str) -> str:
    """The name a target stands for: ``"@United"`` -> ``"United"``."""
    return target.strip().lstrip(PREFIXES).strip()


def target_spans(text: str, target: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of each occurrence of ``target`` in ``text`` (empty if none)."""
    name = target_name(target)
    if not name:
        raise ValueError(f"empty target {target!r}")
    words = r"\s+".join(re.escape(word) for word in name.split())
    pattern = rf"(?<![\w{re.escape(PREFIXES)}])[{re.escape(PREFIXES)}]?{words}(?!\w)"
    return [match.span() for match in re.finditer(pattern, text, flags=re.IGNORECASE)]


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
