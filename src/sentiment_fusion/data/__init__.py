"""Readers of the real data formats, all producing :class:`Example` records.

>>> from sentiment_fusion.data import read_dataset
>>> ds = read_dataset("tweeteval:../shared/data/tweeteval/sentiment:val")  # doctest: +SKIP
>>> len(ds), ds.classes, ds[0].text[:20]                                    # doctest: +SKIP

One module per format (imdb, tweeteval, mvsa, tabular for jsonl/csv, targets, cifar100); ``spec``
parses the ``--data`` spec of DESIGN.md and dispatches. Readers never decode images: an
Example carries a Path, and the image preprocessing decodes it with its safety limits.
"""

from __future__ import annotations

from .dataset import Dataset
from .example import Example
from .spec import DATASET_KINDS, DatasetSpec, parse_spec, read_dataset

__all__ = ["DATASET_KINDS", "Dataset", "DatasetSpec", "Example", "parse_spec", "read_dataset"]
