"""The one record every reader produces and every consumer takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import Sentiment


@dataclass(frozen=True)
class Example:
    """One post: its text and/or image and, when known, its label.

    ``image`` is a path to an image file, or for archives that hold pixels rather
    than files (CIFAR-100) an ``HxWx3`` uint8 array; readers never decode image
    files: that is the image preprocessing's job, with its safety limits. ``label`` is None for
    unlabelled data (blind test splits, posts to score). ``target`` names what the label is
    the sentiment toward (a brand, person, aspect), None for the post's own sentiment. ``meta``
    keeps everything else the source had (per-modality labels, timestamps, brand, ...).
    """

    id: str
    text: str | None = None
    image: Path | np.ndarray | None = None
    label: Sentiment | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
