"""MVSA-Single (Niu et al., 2016): tweet text + image pairs.

Layout: ``data/<id>.txt`` and ``data/<id>.jpg``; ``labelResultAll.txt`` with a header line
then ``<id>\\t<text_label>,<image_label>``; optional ``splits/{train,dev,test}.txt`` (one id
per line, the 8:1:1 split of CLMLF and later work). The test split is a blind benchmark:
its ids have no labels here and get ``label=None``; nothing looks for them elsewhere.

The pair label follows the usual rule (:func:`pair_label`): equal labels stay, one neutral
takes the other, positive + negative is contradictory and dropped (with a count in the log).

>>> ds = read_mvsa("../shared/data/mvsa_single", "dev")  # doctest: +SKIP
>>> len(ds), ds[0].image.name, ds[0].meta  # doctest: +SKIP
(450, '17.jpg', {'text_label': 'positive', 'image_label': 'positive'})
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

from ..errors import DataFormatError
from ..labels import Sentiment
from ._files import FilesHasher, decode_line, decode_with_fallback, require_file, split_lines
from .dataset import Dataset, check_split
from .example import Example

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "dev", "test", "all")
ALIASES: dict[str, str] = {"val": "dev", "validation": "dev"}
CLASSES = tuple(Sentiment)
LABEL_FILE = "labelResultAll.txt"
# Ids become file names: allow word characters only, so "../x" in a split file cannot
# point outside data/.
_ID = re.compile(r"\w+")


def pair_label(text_label: Sentiment, image_label: Sentiment) -> Sentiment | None:
    """The post's label from its text and image labels; None when they contradict.

    >>> pair_label(Sentiment.NEUTRAL, Sentiment.POSITIVE)
    <Sentiment.POSITIVE: 2>
    >>> pair_label(Sentiment.POSITIVE, Sentiment.NEGATIVE) is None
    True
    """
    if text_label == image_label or image_label == Sentiment.NEUTRAL:
        return text_label
    if text_label == Sentiment.NEUTRAL:
        return image_label
    return None


def read_mvsa(path: str | Path, split: str | None = None, *, limit: int | None = None) -> Dataset:
    """Read one split of an MVSA folder.

    ``split`` is ``train``/``dev``/``test`` (from ``splits/``) or ``all`` (every labelled
    id, in ``labelResultAll.txt`` order). None means ``train`` when ``splits/`` exists and
    ``all`` when it does not (a plain MVSA release has no split files).
    """
    root = _locate(Path(path).expanduser().resolve())
    splits_dir = root / "splits"
    if split is None:
        split = "train" if splits_dir.is_dir() else "all"
    split = check_split("mvsa", split, SPLITS, ALIASES)

    hasher = FilesHasher(root)
    label_file = require_file(root / LABEL_FILE, "MVSA label file")
    labels = _read_labels(label_file, hasher.add(label_file))
    if split == "all":
        ids, id_file = list(labels), label_file
    else:
        if not splits_dir.is_dir():
            raise FileNotFoundError(
                f"{splits_dir} not found, so split {split!r} is not defined; use split 'all' for every labelled pair"
            )
        id_file = require_file(splits_dir / f"{split}.txt", f"MVSA {split} split file")
        ids = _read_ids(id_file, hasher.add(id_file))

    examples: list[Example] = []
    dropped = unlabelled = empty = 0
    encodings: Counter[str] = Counter()
    for item_id in ids:
        if limit is not None and len(examples) >= limit:
            break
        known = labels.get(item_id)
        label = None if known is None else pair_label(*known)
        if known is not None and label is None:
            dropped += 1
            continue
        unlabelled += known is None
        example, encoding = _read_example(root, item_id, id_file, hasher, known, label)
        encodings[encoding] += 1
        empty += example.text is None
        examples.append(example)

    _log_counts(split, root, dropped, unlabelled, len(examples), encodings)
    if empty:
        logger.warning("mvsa %s: %d pairs have an empty text file (text=None, image kept)", split, empty)
    return Dataset("mvsa", split, root, examples, CLASSES, hasher.hexdigest())


def _locate(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"mvsa data not found: {path} (expected a folder with data/)")
    if (path / "data").is_dir():
        return path
    # The official zip unpacks to MVSA_Single/: accept the folder holding it too.
    inner = [p for p in sorted(path.iterdir()) if (p / "data").is_dir()]
    if len(inner) == 1:
        return inner[0]
    raise FileNotFoundError(f"mvsa data not found in {path}: expected data/<id>.txt, data/<id>.jpg and {LABEL_FILE}")


def _read_labels(file: Path, data: bytes) -> dict[str, tuple[Sentiment, Sentiment]]:
    """``labelResultAll.txt`` -> {id: (text_label, image_label)}, in file order."""
    labels: dict[str, tuple[Sentiment, Sentiment]] = {}
    for lineno, raw in enumerate(split_lines(data), start=1):
        line = decode_line(raw, file, lineno).strip()
        if not line or (lineno == 1 and line.lower().startswith("id")):
            continue  # the "ID\ttext,image" header
        fields = line.split("\t")
        pair = fields[1].split(",") if len(fields) == 2 else []
        if len(pair) != 2:
            raise DataFormatError(
                f"{file}:{lineno}: expected '<id><TAB><text_label>,<image_label>', got "
                f"{line!r} (MVSA-Multiple's three-annotator file is not read here: use "
                f"its majority-voted jsonl)"
            )
        item_id = _check_id(fields[0].strip(), file, lineno)
        if item_id in labels:
            raise DataFormatError(f"{file}:{lineno}: id {item_id} is labelled twice")
        try:
            labels[item_id] = (Sentiment.parse(pair[0]), Sentiment.parse(pair[1]))
        except ValueError as exc:
            raise DataFormatError(f"{file}:{lineno}: bad label in {line!r}: {exc}") from exc
    return labels


def _read_ids(file: Path, data: bytes) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(split_lines(data), start=1):
        item_id = decode_line(raw, file, lineno).strip()
        if not item_id:
            continue
        _check_id(item_id, file, lineno)
        if item_id in seen:
            raise DataFormatError(f"{file}:{lineno}: id {item_id} is listed twice")
        seen.add(item_id)
        ids.append(item_id)
    return ids


def _check_id(item_id: str, file: Path, lineno: int) -> str:
    if not _ID.fullmatch(item_id):
        raise DataFormatError(f"{file}:{lineno}: bad id {item_id!r} (expected e.g. 1234)")
    return item_id


def _read_example(
    root: Path,
    item_id: str,
    id_file: Path,
    hasher: FilesHasher,
    known: tuple[Sentiment, Sentiment] | None,
    label: Sentiment | None,
) -> tuple[Example, str]:
    text_path, image_path = root / "data" / f"{item_id}.txt", root / "data" / f"{item_id}.jpg"
    for file in (text_path, image_path):
        if not file.is_file():
            raise DataFormatError(f"{file}: missing (id {item_id} is listed in {id_file})")
    text, encoding = decode_with_fallback(hasher.add(text_path))
    hasher.add(image_path)  # images are part of what a model saw: hash their bytes too
    meta: dict[str, str] = {}
    if known is not None:
        meta = {"text_label": known[0].label, "image_label": known[1].label}
    if encoding != "utf-8":
        meta["text_encoding"] = encoding
    example = Example(id=item_id, text=text.rstrip() or None, image=image_path, label=label, meta=meta)
    return example, encoding


def _log_counts(split: str, root: Path, dropped: int, unlabelled: int, kept: int, encodings: Counter[str]) -> None:
    if dropped:
        # Expected 0 with the standard splits: the contradictory pairs are in no split.
        log = logger.info if split == "all" else logger.warning
        log("mvsa %s: dropped %d positive+negative pairs (contradictory labels)", split, dropped)
    if unlabelled:
        log = logger.info if split == "test" else logger.warning
        log("mvsa %s: %d of %d pairs have no label (label=None)", split, unlabelled, kept)
    fallbacks = {enc: n for enc, n in encodings.items() if enc != "utf-8"}
    if fallbacks:
        logger.info(
            "mvsa %s: %d text files were not UTF-8; decoded as %s",
            split,
            sum(fallbacks.values()),
            ", ".join(f"{enc} ({n})" for enc, n in sorted(fallbacks.items())),
        )
    logger.info("mvsa %s: %d pairs from %s", split, kept, root)
