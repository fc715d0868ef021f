"""The ``--data SPEC`` contract (DESIGN.md, "Dataset spec"): parse it and dispatch.

``KIND:PATH[:split]`` for archives and folders, ``jsonl:PATH`` / ``csv:PATH`` for tables,
or a bare path ending in ``.jsonl``/``.csv`` (optionally ``.gz``); ``targets:FILE[:train|dev]``
for the 3-line targeted format (``train``/``dev``: a seeded 90/10 split of FILE).

>>> parse_spec("tweeteval:data/tweeteval/sentiment:dev")
DatasetSpec(kind='tweeteval', path=PosixPath('data/tweeteval/sentiment'), split='val')
>>> parse_spec("posts.jsonl.gz").kind
'jsonl'
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from . import imdb, mvsa, tabular, targets, tweeteval
from .dataset import Dataset, check_split

__all__ = ["DATASET_KINDS", "Dataset", "DatasetSpec", "parse_spec", "read_dataset"]

logger = logging.getLogger(__name__)

DATASET_KINDS: tuple[str, ...] = ("imdb", "tweeteval", "mvsa", "cifar100", "jsonl", "csv", "targets")

# (valid splits, aliases) per kind that has splits; jsonl/csv files are one split each.
_SPLITS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "imdb": (imdb.SPLITS, imdb.ALIASES),
    "tweeteval": (tweeteval.SPLITS, tweeteval.ALIASES),
    "mvsa": (mvsa.SPLITS, mvsa.ALIASES),
    "targets": (targets.SPLITS, targets.ALIASES),
    # Kept here rather than imported: cifar100.py pulls in numpy/pickle handling and is
    # only imported when a cifar100 spec is actually read.
    "cifar100": (("train", "test"), {}),
}
_SUFFIX_KINDS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".csv": "csv", ".csv.gz": "csv"}


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec. ``split`` is canonical (``dev`` -> ``val`` for tweeteval) or None
    when the spec names none: the reader then applies its default (``train``; for an MVSA
    folder without ``splits/``, ``all``)."""

    kind: str
    path: Path
    split: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}" + (f":{self.split}" if self.split else "")


def parse_spec(spec: str | Path | DatasetSpec) -> DatasetSpec:
    """Parse a data spec string; ValueError (listing what is valid) for unknown kinds/splits.

    Only syntax is checked here, not whether the path exists. A ``:`` inside PATH is
    fine: the last ``:part`` is read as the split only when it has no path separator.
    """
    if isinstance(spec, DatasetSpec):
        return spec
    text = str(spec).strip()
    if not text:
        raise ValueError(f"empty data spec; expected {_EXPECTED}")
    head, sep, rest = text.partition(":")
    kind = head.strip().lower()
    if not (sep and kind in DATASET_KINDS):
        bare_kind = _kind_from_suffix(text)
        if bare_kind is None:
            raise ValueError(f"unknown data set kind {head!r} in spec {text!r}; expected {_EXPECTED}")
        return DatasetSpec(bare_kind, Path(text).expanduser())
    if not rest.strip():
        raise ValueError(f"data spec {text!r} has no path; expected {kind}:PATH")
    if kind not in _SPLITS:
        path_part, split_part = _split_off(rest)
        if split_part is not None and not Path(rest).expanduser().exists():
            raise ValueError(
                f"{kind} data has no splits (got {split_part!r} in {text!r}): give one "
                f"file per split, e.g. {kind}:{path_part}"
            )
        return DatasetSpec(kind, Path(rest).expanduser())
    path_part, split_part = _split_off(rest)
    if split_part is not None and Path(rest).expanduser().exists():
        path_part, split_part = rest, None  # the whole thing is an existing path
    split = None
    if split_part:
        valid, aliases = _SPLITS[kind]
        split = check_split(kind, split_part, valid, aliases)
    return DatasetSpec(kind, Path(path_part).expanduser(), split)


def read_dataset(spec: str | Path | DatasetSpec, *, limit: int | None = None) -> Dataset:
    """Read the data set a spec names.

    >>> ds = read_dataset("imdb:../shared/data/imdb/aclImdb_v1.tar.gz:test", limit=4)  # doctest: +SKIP
    >>> [e.id for e in ds]                                                              # doctest: +SKIP
    ['test/neg/0_2', 'test/pos/0_10', 'test/neg/1_3', 'test/pos/1_10']

    ``limit`` keeps the first N examples of the reader's fixed order (for quick runs).
    ``fingerprint`` covers what was read: a whole archive or jsonl/csv file even with
    ``limit``; for folders, the split's files (TweetEval's two files always whole; an
    IMDB folder's or MVSA's per-example files only for the examples kept by ``limit``).
    Raises FileNotFoundError naming a missing path, ValueError for a bad spec and
    :class:`~sentiment_fusion.errors.DataFormatError` (a ValueError) for a malformed file.
    """
    if limit is not None and (isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
    parsed = parse_spec(spec)
    if not parsed.path.exists():
        raise FileNotFoundError(f"{parsed.kind} data not found: {parsed.path} (spec {str(spec)!r})")
    kind, path, split = parsed.kind, parsed.path, parsed.split
    if kind == "imdb":
        return imdb.read_imdb(path, split or "train", limit=limit)
    if kind == "tweeteval":
        return tweeteval.read_tweeteval(path, split or "train", limit=limit)
    if kind == "mvsa":
        return mvsa.read_mvsa(path, split, limit=limit)
    if kind == "cifar100":
        from .cifar100 import read_cifar100  # lazy: another module, heavier imports

        dataset = read_cifar100(path, split or "train")
        if limit is not None:
            dataset = dataclasses.replace(dataset, examples=dataset.examples[:limit])
        return dataset
    if kind == "targets":
        return targets.read_targets(path, split or "all", limit=limit)
    if kind == "jsonl":
        return tabular.read_jsonl(path, limit=limit)
    return tabular.read_csv(path, limit=limit)


_EXPECTED = (
    "one of "
    + ", ".join(f"{k}:PATH" for k in DATASET_KINDS)
    + " (with [:split] for "
    + ", ".join(_SPLITS)
    + "), or a path ending in "
    + ", ".join(_SUFFIX_KINDS)
)


def _kind_from_suffix(text: str) -> str | None:
    lower = text.lower()
    for suffix, kind in _SUFFIX_KINDS.items():
        if lower.endswith(suffix):
            return kind
    return None


def _split_off(rest: str) -> tuple[str, str | None]:
    """``"a/b:test"`` -> ``("a/b", "test")``; ``"C:\\x"`` or ``"a/b"`` -> (rest, None)."""
    head, sep, tail = rest.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail:
        return rest, None
    return head, tail.strip()
