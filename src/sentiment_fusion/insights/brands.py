"""Brands and their aliases (``analyze --brands FILE``), and the brands each post mentions.

The brands file is TOML, one table per brand::

    [brands.apple]
    aliases = ["apple", "@apple", "#apple", "$aapl", "#aapl", "iphone"]

    [brands.samsung]
    aliases = ["samsung", "@samsungmobile", "galaxy"]

An alias matches on word boundaries whatever the case and accents, as written or as the ``@handle``,
``#hashtag`` or ``$cashtag`` of its name (:func:`sentiment_fusion.text.targets.target_spans`:
``"apple"`` also finds "@Apple" and "#APPLE", ``"nestle"`` finds "Nestlé", ``"coca cola"`` finds
"#CocaCola" and "Coca-Cola"). ``aliases`` may be left out: the brand's name is then its only alias.

A :class:`MentionConfig` says which brands a post is scored toward:

- ``mode="aliases"`` (``--brands`` alone): every brand of the file whose aliases occur in the
  post, one mention each; a post that names none is *unmatched* (kept, but in no brand's
  mention figures);
- ``mode="post_brand"`` (``--brand-col`` or ``--brand``): the post's own brand (its ``brand``
  column), found through its aliases when the file lists it (else through its name), and scored
  toward it even where the text does not name it (the targeted model then reads the whole post).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SentimentFusionError
from ..posts import MAX_TARGET_CHARS
from ..text.targets import MATCHING_VERSION, target_spans, target_words

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the [insights] extra installs tomli, the same parser
    import tomli as tomllib

MODES = ("aliases", "post_brand")
MAX_BRAND_CHARS = 200


class BrandsFileError(SentimentFusionError, ValueError):
    """The brands file cannot be read or does not describe brands (the message names the file)."""


@dataclass(frozen=True)
class Mention:
    """One brand named by one post: the target string shown to the targeted model and where the
    brand's aliases occur in the text (``(start, end)`` character offsets, merged, in order)."""

    brand: str
    target: str
    spans: list[tuple[int, int]]


def _check_alias(alias: object, where: str) -> str:
    if not isinstance(alias, str):
        raise ValueError(f"{where}: each alias must be a string, got {type(alias).__name__} {alias!r}")
    if not target_words(alias):
        raise ValueError(f"{where}: alias {alias!r} names nothing")
    if len(alias) > MAX_TARGET_CHARS:
        raise ValueError(f"{where}: alias {alias[:40]!r}... is longer than {MAX_TARGET_CHARS} characters")
    return alias.strip()


def check_brands(brands: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """``{brand: aliases}`` validated: names non-empty; aliases strings that name something, each
    brand's without repeats (in the order given)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, aliases in brands.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_BRAND_CHARS:
            raise ValueError(f"brand names must be non-empty strings of at most {MAX_BRAND_CHARS} characters: {name!r}")
        if isinstance(aliases, str) or not isinstance(aliases, Sequence):
            raise ValueError(f"brand {name!r}: aliases must be a list of strings, got {type(aliases).__name__}")
        if not aliases:
            raise ValueError(f"brand {name!r}: aliases is empty (leave it out to match the brand's name)")
        checked = [_check_alias(a, f"brand {name!r}") for a in aliases]
        out[name] = tuple(dict.fromkeys(checked))
    return out


def load_brands(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read a brands TOML file -> ``{brand: aliases}``; :class:`BrandsFileError` naming the file and
    the problem otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise BrandsFileError(f"brands file {path} not found") from None
    except IsADirectoryError:
        raise BrandsFileError(f"brands file {path} is a folder; give a TOML file") from None
    except OSError as exc:
        raise BrandsFileError(f"cannot read brands file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BrandsFileError(f"brands file {path} is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BrandsFileError(f"brands file {path} is not valid TOML: {exc}") from None
    example = '[brands.apple] aliases = ["apple", "@apple", "$aapl"]'
    extra = sorted(set(data) - {"brands"})
    if extra:
        raise BrandsFileError(f"brands file {path}: unknown top-level key(s) {extra}; expected only {example}")
    tables = data.get("brands")
    if not isinstance(tables, dict) or not tables:
        raise BrandsFileError(f"brands file {path} names no brands; expected tables such as {example}")
    brands: dict[str, object] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise BrandsFileError(f"brands file {path}: brands.{name} must be a table, e.g. {example}")
        unknown = sorted(set(table) - {"aliases"})
        if unknown:
            raise BrandsFileError(f"brands file {path}: brands.{name} has unknown key(s) {unknown}; only aliases")
        brands[name] = table.get("aliases", [name])
    try:
        return check_brands(brands)  # type: ignore[arg-type]
    except ValueError as exc:
        raise BrandsFileError(f"brands file {path}: {exc}") from None


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:  # overlapping aliases ("apple", "apple watch"): one span
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def find_mention(text: str, brand: str, aliases: Sequence[str]) -> Mention | None:
    """Where ``text`` names ``brand`` through any of its ``aliases``; None when it does not.

    The target shown to the model is the alias of the brand's *first* occurrence in the text (ties:
    the longest match, then the alias listed first). Why one alias rather than each: the targeted
    model reads the whole post with one target; the first place a post names a brand is most often
    what the post is about ("@Apple fix my iPhone": Apple), and one model call per brand and post
    keeps the cost at one pair per mention. The spans of every alias are recorded.

    >>> find_mention("@Apple please fix the iPhone battery", "apple", ["iphone", "apple"])
    Mention(brand='apple', target='apple', spans=[(0, 6), (22, 28)])
    """
    best: tuple[int, int, int] | None = None  # (start, -length, alias index)
    spans: list[tuple[int, int]] = []
    for index, alias in enumerate(aliases):
        found = target_spans(text, alias)
        if found:
            spans += found
            start, end = found[0]
            key = (start, start - end, index)
            best = key if best is None or key < best else best
    if best is None:
        return None
    return Mention(brand, aliases[best[2]], _merged(spans))


def name_mention(text: str, brand: str, aliases: Sequence[str]) -> Mention:
    """``brand`` as the post's own brand: its first alias found in the text, else its name with no
    spans (the targeted model then reads the whole post as being about it)."""
    return find_mention(text, brand, aliases) or Mention(brand, brand, [])


@dataclass(frozen=True)
class MentionConfig:
    """Which brands each post is scored toward (see the module doc); stored with the mentions so
    that a re-run without ``--brands`` keeps it, and a changed one re-matches every post."""

    mode: str
    brands: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mention mode {self.mode!r}; choose one of {MODES}")
        if self.mode == "aliases" and not self.brands:
            raise ValueError("mode 'aliases' needs at least one brand")
        object.__setattr__(self, "brands", check_brands(self.brands))

    @classmethod
    def from_file(cls, path: str | Path, *, post_brand: bool = False) -> MentionConfig:
        return cls("post_brand" if post_brand else "aliases", load_brands(path))

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "brands": {k: list(v) for k, v in sorted(self.brands.items())}})

    @classmethod
    def from_json(cls, text: str) -> MentionConfig:
        data = json.loads(text)
        return cls(data["mode"], {k: tuple(v) for k, v in data["brands"].items()})

    @property
    def fingerprint(self) -> str:
        """Changes whenever what a post would be matched to may change (mode, brands, aliases, and how
        aliases match: :data:`~sentiment_fusion.text.targets.MATCHING_VERSION`)."""
        return hashlib.sha256(f"{self.to_json()}|matching {MATCHING_VERSION}".encode()).hexdigest()[:16]

    def mentions(self, text: str | None, post_brand: str | None = None) -> list[Mention]:
        """The brands ``text`` is scored toward, in brand-name order (none for a post without text)."""
        if text is None or not text.strip():
            return []
        if self.mode == "post_brand":
            if not post_brand:
                return []
            return [name_mention(text, post_brand, self.brands.get(post_brand, (post_brand,)))]
        found = (find_mention(text, name, aliases) for name, aliases in sorted(self.brands.items()))
        return [m for m in found if m is not None]
