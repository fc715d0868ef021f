"""Score a bundle on a labelled data set through the ONNX runtime (what users get)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidInputError
from .labels import LABELS
from .metrics import score_probabilities

if TYPE_CHECKING:
    from .data.spec import Dataset
    from .runtime import Analyzer

log = logging.getLogger(__name__)

MODALITIES = ("text", "image", "both")


def predict_probabilities(
    analyzer: Analyzer, dataset: Dataset, modality: str = "both", batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """Calibrated probabilities [N, 3] for each example, using the given modality."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality must be one of {MODALITIES}, got {modality!r}")
    examples = dataset.examples
    texts = [e.text if modality in ("text", "both") else None for e in examples]
    images = [e.image if modality in ("image", "both") else None for e in examples]
    if all(t is None and i is None for t, i in zip(texts, images, strict=True)):
        raise InvalidInputError(f"{_describe(dataset)} has no {modality} input to score")
    from tqdm.auto import tqdm

    probs = np.zeros((len(examples), len(LABELS)), np.float64)
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="evaluate", unit="batch"):
        stop = start + batch_size
        predictions = analyzer.predict_batch(texts[start:stop], images[start:stop], on_error="return")
        for i, p in enumerate(predictions, start):
            if isinstance(
                p, InvalidInputError
            ):  # named by the example's id (e.g. ``line:12``), not its place in a batch
                raise InvalidInputError(
                    f"{_describe(dataset)}, example {examples[i].id}: {p} "
                    f"(--modality {'text' if texts[i] is not None else 'image'})",
                    code=p.code,
                ) from None
            probs[i] = [p.scores[label] for label in LABELS]
    return probs


def _describe(dataset: Dataset) -> str:
    return f"{dataset.name}:{dataset.source}" + (f":{dataset.split}" if dataset.split else "")


def evaluate(analyzer: Analyzer, dataset: Dataset, modality: str = "both", progress: bool = False) -> dict:
    """Metrics on the labelled examples of ``dataset``; binary sets scored on their two classes."""
    labelled = [e for e in dataset.examples if e.label is not None]
    if not dataset.examples:
        raise InvalidInputError(f"{_describe(dataset)}: no examples to evaluate (--limit 0?)")
    if not labelled:
        raise InvalidInputError(f"{_describe(dataset)} has no labels to evaluate against")
    if len(labelled) < len(dataset.examples):
        log.warning(
            "%s: scoring the %d labelled of %d examples (%d have no label)",
            _describe(dataset),
            len(labelled),
            len(dataset.examples),
            len(dataset.examples) - len(labelled),
        )
    from dataclasses import replace

    subset = replace(dataset, examples=labelled)
    probs = predict_probabilities(analyzer, subset, modality, progress=progress)
    report = score_probabilities(probs, np.array([e.label for e in labelled], dtype=np.int64), dataset.classes)
    report.update(
        {
            "modality": modality,
            "data": dataset.name,
            "split": dataset.split,
            "model": {"name": analyzer.name, "version": analyzer.version},
        }
    )
    return report


__all__ = ["MODALITIES", "evaluate", "predict_probabilities"]
