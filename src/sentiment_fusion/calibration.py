"""Temperature scaling (Guo et al., 2017): one scalar T > 0 fitted on validation logits.

Numpy only: training fits T, the runtime applies it (:func:`softmax`).
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The T minimising validation NLL, by golden-section search over log T.

    NLL is unimodal in log T for a fixed set of logits, so a 1-D search is exact
    enough (1e-4 in log T) and needs no optimizer state or torch.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on zero examples")
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    while b - a > 1e-4:
        if nll(logits, labels, np.exp(c)) < nll(logits, labels, np.exp(d)):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2))


def calibrated_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float, classes) -> dict:
    """Metrics (with ECE) of ``softmax(logits / temperature)`` on the given label set."""
    from .metrics import score_probabilities

    return score_probabilities(softmax(logits, temperature), labels, classes)
