"""The fusion head's inputs: their names and order, and the presence layout, for training and runtime.

Per post the head sees both encoders' features, both unimodal logits and ``present`` [B, 2]
in {0, 1} (column 0 text, column 1 image). An absent modality's features and logits are zeros,
and the mask itself is an input, so the head learns what "missing" means.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .labels import NUM_CLASSES

MODALITIES = ("text", "image")  # the columns of ``present``, in order
INPUTS = ("text_features", "image_features", "text_logits", "image_logits", "present")  # the graph's inputs, in order


def column(modality: str) -> int:
    """The column of ``present`` that says whether a post has ``modality``."""
    return MODALITIES.index(modality)


def fusion_inputs(
    n: int, outputs: dict[str, tuple[Sequence[int], np.ndarray, np.ndarray]], feature_dims: dict[str, int] | None = None
) -> dict[str, np.ndarray]:
    """The head's inputs for ``n`` posts. ``outputs[modality] = (rows, logits, features)``: that
    modality's encoder outputs for the posts ``rows`` (the others lack it). A modality missing from
    ``outputs`` is absent everywhere; with its ``feature_dims`` entry it still gets zero inputs."""
    inputs = {"present": np.zeros((n, len(MODALITIES)), np.float32)}
    for modality in MODALITIES:
        if modality in outputs:
            rows, logits, features = outputs[modality]
            rows = list(rows)
            inputs[f"{modality}_logits"] = np.zeros((n, logits.shape[1]), np.float32)
            inputs[f"{modality}_features"] = np.zeros((n, features.shape[1]), np.float32)
            inputs[f"{modality}_logits"][rows], inputs[f"{modality}_features"][rows] = logits, features
            inputs["present"][rows, column(modality)] = 1.0
        elif feature_dims and modality in feature_dims:
            inputs[f"{modality}_logits"] = np.zeros((n, NUM_CLASSES), np.float32)
            inputs[f"{modality}_features"] = np.zeros((n, feature_dims[modality]), np.float32)
    return inputs


def without(inputs: dict[str, np.ndarray], modality: str) -> dict[str, np.ndarray]:
    """The same posts with ``modality`` absent (modality dropout when training the head)."""
    out = dict(inputs)
    out[f"{modality}_features"] = np.zeros_like(inputs[f"{modality}_features"])
    out[f"{modality}_logits"] = np.zeros_like(inputs[f"{modality}_logits"])
    out["present"] = inputs["present"].copy()
    out["present"][:, column(modality)] = 0
    return out
