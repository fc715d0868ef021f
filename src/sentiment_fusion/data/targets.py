"""Target-dependent sentiment in the 3-line format of ``../shared/data/targeted/``.

Dong et al. (2014) Twitter and SemEval-2014 Task 4 (Pontiki et al., 2014, as distributed with
the ABSA-PyTorch preprocessing) share it: per example, the sentence with the target replaced by
``$T$`` (one or more times), the target, the polarity (``-1`` negative, ``0`` neutral, ``1``
positive). Each :class:`Example` holds the sentence with the target put back as ``text`` and the
target as ``target``; its label is the sentiment toward that target. Ids are ``line:N``, N the
sentence's 1-based line number in the file.

The releases have train and test files only, so ``:train`` / ``:dev`` carve a seeded
90% / 10% split out of one file (the same split every time, whatever else is read); no split
means the whole file.

>>> dev = read_targets("../shared/data/targeted/twitter_dong2014/train.raw", "dev")  # doctest: +SKIP
>>> len(dev), dev[0].target  # doctest: +SKIP
(624, 'lady gaga')
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ..hashing import sha256_file
from ..labels import Sentiment
from ._files import decode_line, require_file, split_lines
from .dataset import Dataset, check_split
from .example import Example

logger = logging.getLogger(__name__)

PLACEHOLDER = "$T$"
SPLITS: tuple[str, ...] = ("all", "train", "dev")
ALIASES: dict[str, str] = {"val": "dev", "validation": "dev"}
DEV_FRACTION = 0.1
DEV_SEED = 2014  # fixed: the dev split of a file never changes
POLARITY = {"-1": Sentiment.NEGATIVE, "0": Sentiment.NEUTRAL, "1": Sentiment.POSITIVE}
CLASSES = tuple(Sentiment)


def read_targets(path: str | Path, split: str = "all", *, limit: int | None = None) -> Dataset:
    """Read a 3-line targeted file (``split``: ``all``, or ``train`` / ``dev`` carved from it)."""
    split = check_split("targets", split, SPLITS, ALIASES)
    file = require_file(Path(path).expanduser().resolve(), "targets data file")
    lines = [decode_line(raw, file, n).strip() for n, raw in enumerate(split_lines(file.read_bytes()), start=1)]
    while lines and not lines[-1]:  # trailing blank lines (SemEval files end with one)
        lines.pop()
    if len(lines) % 3:
        raise DataFormatError(
            f"{file}: {len(lines)} lines is not a multiple of 3 (sentence with $T$, target, polarity per example)"
        )
    examples = [_example(file, n, *lines[n - 1 : n + 2]) for n in range(1, len(lines), 3)]
    if not examples:
        raise DataFormatError(f"{file}: no examples (empty file?)")
    if split != "all":
        order = np.random.default_rng(DEV_SEED).permutation(len(examples))
        cut = round(len(examples) * DEV_FRACTION)
        keep = np.sort(order[:cut] if split == "dev" else order[cut:])
        examples = [examples[i] for i in keep]
    if limit is not None:
        examples = examples[:limit]
    logger.info("targets %s: %d examples from %s", split, len(examples), file)
    return Dataset("targets", split, file, examples, CLASSES, sha256_file(file))


def _example(file: Path, lineno: int, sentence: str, target: str, polarity: str) -> Example:
    if PLACEHOLDER not in sentence:
        raise DataFormatError(f"{file}:{lineno}: the sentence has no {PLACEHOLDER} (expected 3 lines per example)")
    if not target:
        raise DataFormatError(f"{file}:{lineno + 1}: empty target")
    if polarity not in POLARITY:
        raise DataFormatError(f"{file}:{lineno + 2}: bad polarity {polarity!r}; expected -1, 0 or 1")
    text = sentence.replace(PLACEHOLDER, target)
    return Example(id=f"line:{lineno}", text=text, label=POLARITY[polarity], target=target)
