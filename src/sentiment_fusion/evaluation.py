"""Score a bundle on a labelled data set through the ONNX runtime (what users get).

Targeted data (``targets:FILE``, or jsonl/csv rows with a ``target``): an example with a target is
scored by the sentiment toward it (``Analyzer.predict_batch(targets=...)``, the bundle's ``target``
component), since that is what its label is; an example without one, in the same file, by the
post's own answer. The report counts the examples scored toward a target (``targeted``).
"""

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
    """Calibrated probabilities [N, 3] for each example, using the given modality: toward the
    example's ``target`` when it has one (read from its text), else the post's own."""
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality must be one of {MODALITIES}, got {modality!r}")
    examples = dataset.examples
    texts = [e.text if modality in ("text", "both") else None for e in examples]
    images = [e.image if modality in ("image", "both") else None for e in examples]
    targets = [[e.target] if e.target is not None else None for e in examples]
    aimed = sum(t is not None for t in targets)
    if aimed and analyzer.target is None:
        raise InvalidInputError(
            f"{_describe(dataset)}: {aimed} of {len(examples)} examples name a target (their label is the "
            f"sentiment toward it), but this model ({analyzer.name}) has no target component to score that; "
            "use a bundle that has one",
            code="targets_not_supported",
        )
    if all(t is None and i is None for t, i in zip(texts, images, strict=True)):
        raise InvalidInputError(f"{_describe(dataset)} has no {modality} input to score")
    from tqdm.auto import tqdm

    probs = np.zeros((len(examples), len(LABELS)), np.float64)
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="evaluate", unit="batch"):
        stop = start + batch_size
        predictions = analyzer.predict_batch(
            texts[start:stop], images[start:stop], targets=targets[start:stop] if aimed else None, on_error="return"
        )
        for i, p in enumerate(predictions, start):
            if isinstance(
                p, InvalidInputError
            ):  # named by the example's id (e.g. ``line:12``), not its place in a batch
                raise InvalidInputError(
                    f"{_describe(dataset)}, example {examples[i].id}: {p} "
                    f"(--modality {'text' if texts[i] is not None else 'image'})",
                    code=p.code,
                ) from None
            scores = p.targets[0].scores if targets[i] is not None else p.scores
            probs[i] = [scores[label] for label in LABELS]
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
            "targeted": sum(e.target is not None for e in labelled),
            "model": {"name": analyzer.name, "version": analyzer.version},
        }
    )
    return report


__all__ = ["MODALITIES", "evaluate", "predict_probabilities"]
