"""TweetEval sentiment (Barbieri et al., 2020) in the cardiffnlp layout.

A folder with ``{split}_text.txt`` (one tweet per line) and ``{split}_labels.txt`` (one
label index per line, ``0`` negative, ``1`` neutral, ``2`` positive; ``mapping.txt``, when
present, is read so a differently ordered release still maps by name).

>>> ds = read_tweeteval("../shared/data/tweeteval/sentiment", "val")  # doctest: +SKIP
>>> len(ds), ds[0].id  # doctest: +SKIP
(2000, 'val:1')
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataFormatError
from ..labels import Sentiment
from ._files import FilesHasher, decode_line, require_file, split_lines
from .dataset import Dataset, check_split
from .example import Example

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
ALIASES: dict[str, str] = {"dev": "val", "validation": "val"}
CLASSES = tuple(Sentiment)
DEFAULT_MAPPING: dict[str, Sentiment] = {str(int(s)): s for s in Sentiment}


def read_tweeteval(path: str | Path, split: str = "train", *, limit: int | None = None) -> Dataset:
    """Read one split; ids are ``"{split}:{line}"`` with 1-based line numbers.

    Both files are read whole even with ``limit`` (a few MB), because the line-count check
    is what catches a text file and a label file that have drifted apart.
    """
    split = check_split("tweeteval", split, SPLITS, ALIASES)
    root = _locate(Path(path).expanduser().resolve(), split)
    text_file = require_file(root / f"{split}_text.txt", f"tweeteval {split} text file")
    labels_file = require_file(root / f"{split}_labels.txt", f"tweeteval {split} label file")
    mapping_file = root / "mapping.txt"
    mapping = _read_mapping(mapping_file) if mapping_file.is_file() else DEFAULT_MAPPING

    hasher = FilesHasher(root)
    text_lines = split_lines(hasher.add(text_file))
    label_lines = split_lines(hasher.add(labels_file))
    if len(text_lines) != len(label_lines):
        raise DataFormatError(
            f"{text_file} has {len(text_lines)} lines but {labels_file} has "
            f"{len(label_lines)}; the two files must be line-aligned"
        )

    examples: list[Example] = []
    empty = 0
    for lineno, (raw_text, raw_label) in enumerate(zip(text_lines, label_lines, strict=True), start=1):
        # Decode and check every line, not only the first `limit`: a bad file fails fast.
        label = _parse_label(decode_line(raw_label, labels_file, lineno), mapping, labels_file, lineno)
        # cardiffnlp lines end with " \n": only trailing whitespace goes.
        text = decode_line(raw_text, text_file, lineno).rstrip()
        empty += not text
        if limit is None or len(examples) < limit:
            examples.append(Example(id=f"{split}:{lineno}", text=text, label=label))
    if empty:
        logger.warning("tweeteval %s: %d empty tweets in %s (kept, as empty text)", split, empty, text_file)
    logger.info("tweeteval %s: %d tweets from %s", split, len(examples), root)
    return Dataset("tweeteval", split, root, examples, CLASSES, hasher.hexdigest())


def _locate(path: Path, split: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"tweeteval data not found: {path} (expected a folder)")
    # Accept the tweeteval/ root of the cardiffnlp repo as well as its sentiment/ task folder.
    if not (path / f"{split}_text.txt").exists() and (path / "sentiment").is_dir():
        return path / "sentiment"
    return path


def _read_mapping(file: Path) -> dict[str, Sentiment]:
    """``mapping.txt``: ``<index>\\t<name>`` per line -> {"0": NEGATIVE, ...}."""
    mapping: dict[str, Sentiment] = {}
    for lineno, raw in enumerate(split_lines(file.read_bytes()), start=1):
        line = decode_line(raw, file, lineno).strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError("expected '<index><TAB><name>'")
            mapping[parts[0]] = Sentiment.parse(parts[1])
        except ValueError as exc:
            raise DataFormatError(f"{file}:{lineno}: bad mapping line {line!r}: {exc}") from exc
    if not mapping:
        raise DataFormatError(f"{file}: empty label mapping")
    return mapping


def _parse_label(raw: str, mapping: dict[str, Sentiment], file: Path, lineno: int) -> Sentiment:
    key = raw.strip()
    if key not in mapping:
        raise DataFormatError(f"{file}:{lineno}: bad label {raw!r}; expected one of {', '.join(mapping)}")
    return mapping[key]
