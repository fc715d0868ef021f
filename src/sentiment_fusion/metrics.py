"""Classification metrics and calibration error, in numpy (no torch, no sklearn): training
selects and reports with them, evaluation scores bundles with them.

Binary data sets (IMDB: negative vs positive) are scored on their own classes:
probabilities are restricted to those classes before the argmax.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .labels import LABELS


def restrict_to_classes(probs: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Predicted class index among ``classes`` only (e.g. neg vs pos for IMDB)."""
    order = np.asarray(sorted(classes))
    return order[np.argmax(probs[:, order], axis=1)]


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[int] | None = None) -> dict:
    """n, accuracy, macro/weighted F1, macro recall, per-class P/R/F1/support, confusion.

    ``classes`` are the label indices the data set has (all three by default);
    the confusion matrix rows are true classes, columns predicted, in that order.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("no examples to score")
    classes = list(range(len(LABELS))) if classes is None else sorted(classes)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    position = {c: i for i, c in enumerate(classes)}
    for t, p in zip(y_true, y_pred, strict=True):
        if t not in position or p not in position:
            raise ValueError(f"label {t if t not in position else p} is outside the scored classes {classes}")
        confusion[position[t], position[p]] += 1
    per_class = {}
    f1s, recalls, supports = [], [], []
    for i, c in enumerate(classes):
        tp = confusion[i, i]
        support = confusion[i].sum()
        predicted = confusion[:, i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[LABELS[c]] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(support),
        }
        f1s.append(f1)
        recalls.append(recall)
        supports.append(support)
    supports_arr = np.asarray(supports, dtype=np.float64)
    return {
        "n": len(y_true),
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(np.mean(f1s)),
        "macro_recall": float(np.mean(recalls)),
        "weighted_f1": float(np.dot(f1s, supports_arr) / supports_arr.sum()),
        "per_class": per_class,
        "classes": [LABELS[c] for c in classes],
        "confusion": confusion.tolist(),
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """Top-label ECE with equal-width confidence bins, and the reliability table."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece, table = 0.0, []
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        count = int(in_bin.sum())
        if not count:
            continue
        acc, conf = float(correct[in_bin].mean()), float(confidence[in_bin].mean())
        ece += count / len(probs) * abs(acc - conf)
        table.append({"bin": f"({lo:.2f}, {hi:.2f}]", "n": count, "confidence": conf, "accuracy": acc})
    return float(ece), table


def score_probabilities(probs: np.ndarray, y_true: np.ndarray, classes: Sequence[int]) -> dict:
    """The classification report of calibrated probabilities on a data set's own classes,
    plus top-label ECE and its reliability table (probabilities renormalised over those classes)."""
    classes = sorted(int(c) for c in classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    report = classification_report(y_true, restrict_to_classes(probs, classes), classes)
    scored = probs[:, classes] / probs[:, classes].sum(axis=1, keepdims=True)
    position = {c: i for i, c in enumerate(classes)}
    report["ece"], report["reliability"] = expected_calibration_error(
        scored, np.array([position[int(y)] for y in y_true])
    )
    return report
