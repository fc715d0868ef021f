"""Social-media text normalization: one object, saved with every text model.

The same :class:`TextNormalizer` (rebuilt from the bundle's manifest) runs in
training and at inference, so a model never sees text prepared differently from
what it was trained on.
"""

from __future__ import annotations

import functools
import html
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,10}(?:\s[^<>]{0,80})?/?>")
# 3+ repeats of one character ("soooo", "!!!!") -> 2: keeps the emphasis, shrinks the vocabulary.
_ELONGATION = re.compile(r"(.)\1{2,}", re.DOTALL)
_SPACE = re.compile(r"\s+")
# C0/C1 control characters other than tab and line breaks: never meaningful in a post, and a
# NUL would collide with the markers _demojize puts around emoji names.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Western emoticons -> words both tokenizers know. Order matters: longest first.
EMOTICONS: dict[str, str] = {
    ":'(": "crying",
    ":-)": "smiling",
    ":)": "smiling",
    "(:": "smiling",
    "=)": "smiling",
    ":-D": "laughing",
    ":D": "laughing",
    "xD": "laughing",
    "XD": "laughing",
    ";-)": "winking",
    ";)": "winking",
    ":-(": "sad",
    ":(": "sad",
    "):": "sad",
    "=(": "sad",
    ":-P": "playful",
    ":P": "playful",
    ":p": "playful",
    ":-/": "skeptical",
    ":/": "skeptical",
    "<3": "love",
    "</3": "heartbroken",
}
_EMOTICON = re.compile(
    r"(?<!\S)(" + "|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True)) + r")(?!\S)"
)


@dataclass(frozen=True)
class TextNormalizer:
    """Prepare a post for a tokenizer.

    >>> TextNormalizer().normalize("@bob LOVED it!!!! 😍 #BestDayEver http://t.co/x <br />")
    '@user LOVED it!! smiling face with heart-eyes Best Day Ever http'
    """

    mentions: str | None = "@user"  # replacement for @handles (None keeps them)
    urls: str | None = "http"  # replacement for links (None keeps them)
    split_hashtags: bool = True  # "#BestDayEver" -> "Best Day Ever"
    emoji_to_text: bool = True  # "😍" -> "smiling face with heart-eyes"
    emoticons_to_text: bool = True  # ":)" -> "smiling"
    max_repeat: int = 2  # "soooo" -> "soo"; 0 disables
    strip_html: bool = True  # IMDB's "<br />", "&amp;"
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.max_repeat < 0:
            raise ValueError(f"max_repeat must be >= 0, got {self.max_repeat}")

    def normalize(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        text = _CONTROL.sub(" ", text)
        if self.strip_html:
            text = _HTML_BREAK.sub(" ", text)
            text = _HTML_TAG.sub(" ", text)
            text = html.unescape(text)
        if self.urls is not None:
            text = _URL.sub(f" {self.urls} ", text)
        if self.mentions is not None:
            text = _MENTION.sub(self.mentions, text)
        if self.split_hashtags:
            text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)).replace("_", " ") + " ", text)
        if self.emoticons_to_text:
            text = _EMOTICON.sub(lambda m: f" {EMOTICONS[m.group(1)]} ", text)
        if self.max_repeat:  # before emoji: "😂😂😂" -> "😂😂"
            keep = self.max_repeat
            text = _ELONGATION.sub(lambda m: m.group(1) * keep, text)
        if self.emoji_to_text:
            text = _demojize(text)
        if self.lowercase:
            text = text.lower()
        return _SPACE.sub(" ", text).strip()

    __call__ = normalize

    def normalize_batch(self, texts: list[str]) -> list[str]:
        return [self.normalize(t) for t in texts]

    def to_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> TextNormalizer:
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown TextNormalizer settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**config)


# Characters that show nothing: U+FFFD (left by undecodable bytes), the Braille blank and the
# Hangul fillers that social media users paste as invisible "spaces".
_BLANK_CHARS = frozenset("\ufffd\u2800\u3164\u115f\u1160\uffa0")
# Control, format (zero-width, BOM, direction marks), combining and variation marks, private
# use, unassigned: nothing a reader or a tokenizer can take meaning from on its own.
_BLANK_CATEGORIES = frozenset(("Cc", "Cf", "Co", "Cn", "Mn", "Me"))


def is_blank(text: str) -> bool:
    """True when a text has nothing to read (see ``_BLANK_CHARS`` and ``_BLANK_CATEGORIES``)."""
    return all(c.isspace() or c in _BLANK_CHARS or unicodedata.category(c) in _BLANK_CATEGORIES for c in text)


_EMOJI_LOCK = threading.Lock()


def _emoji() -> Any:
    """The emoji package (a small pure-Python dependency, imported on first use to keep import
    time low) with its search tree built, once, under a lock. The package builds the tree lazily
    into a module global; a thread that demojized while another was building it read a half-built
    tree and left emoji untranslated, so a post's scores depended on what ran beside it."""
    with _EMOJI_LOCK:
        return _emoji_with_search_tree()


@functools.cache
def _emoji_with_search_tree() -> Any:
    import emoji
    from emoji.tokenizer import get_search_tree

    get_search_tree()
    return emoji


def _demojize(text: str) -> str:
    if text.isascii():  # no emoji, without emoji's slow scan
        return text
    emoji = _emoji()
    if not emoji.emoji_count(text):
        return text
    words = emoji.demojize(text, delimiters=(" \x00", "\x00 "))
    return re.sub(r"\x00([^\x00]*)\x00", lambda m: m.group(1).replace("_", " "), words)
