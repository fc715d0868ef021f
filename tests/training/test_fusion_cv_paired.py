"""The paired, fold-by-fold comparison of two cross-validated fusion variants (training/fusion_cv.py)."""

from __future__ import annotations

import pytest

from sentiment_fusion.training.fusion_cv import paired_comparison


def result(name: str, accuracies: list[float], f1s: list[float], seed: int = 13) -> dict:
    return {
        "variant": {"name": name},
        "seed": seed,
        "folds": len(accuracies),
        "n": 100,
        "per_fold": [{"n": 20, "accuracy": a, "weighted_f1": f} for a, f in zip(accuracies, f1s, strict=True)],
    }


def test_differences_are_fold_by_fold_with_wins_ties_and_losses():
    baseline = result("recipe", [0.70, 0.72, 0.74], [0.60, 0.61, 0.62])
    other = result("ensemble4", [0.72, 0.71, 0.74], [0.63, 0.62, 0.60])
    paired = paired_comparison(baseline, other)
    assert paired["baseline"] == "recipe" and paired["variant"] == "ensemble4" and paired["seed"] == 13
    assert paired["accuracy"]["per_fold"] == pytest.approx([0.02, -0.01, 0.0])
    assert paired["accuracy"]["mean"] == pytest.approx(0.01 / 3)
    assert (paired["accuracy"]["wins"], paired["accuracy"]["ties"], paired["accuracy"]["losses"]) == (1, 1, 1)
    assert paired["weighted_f1"]["per_fold"] == pytest.approx([0.03, 0.01, -0.02])
    assert (paired["weighted_f1"]["wins"], paired["weighted_f1"]["losses"]) == (2, 1)


def test_results_on_different_folds_are_not_paired():
    with pytest.raises(ValueError, match="not paired: seed"):
        paired_comparison(result("recipe", [0.7, 0.7], [0.6, 0.6]), result("flip", [0.7, 0.7], [0.6, 0.6], seed=29))
