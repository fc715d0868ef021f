"""The paired, fold-by-fold comparison of two cross-validated fusion variants (training/fusion_cv.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_fusion.training.fusion_cv import ensemble_scores, paired_comparison


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


def kept(held_out: list[list[int]], members: list[np.ndarray]) -> dict:
    """A cross_validate result with keep_members: per fold its pairs and members' probabilities."""
    folds = zip(held_out, members, strict=True)
    return {"seed": 13, "per_fold": [{"held_out": np.array(h), "member_probabilities": m} for h, m in folds]}


def test_ensembles_pool_the_first_members_of_runs_on_the_same_folds():
    labels = np.array([0, 1, 2, 2])
    folds = [[0, 1], [2, 3]]
    # run a: member 0 sure of the right class, member 1 leaning to class 2; run b: one member, class 2
    class2 = np.tile([0.05, 0.05, 0.9], (2, 1))
    a = kept(folds, [np.stack([np.eye(3)[labels[f]], class2]) for f in folds])
    b = kept(folds, [np.tile([0.1, 0.1, 0.8], (1, 2, 1)) for _ in folds])
    first = ensemble_scores(labels, [a], [1])
    assert [f["accuracy"] for f in first["per_fold"]] == [1.0, 1.0] and first["accuracy"]["mean"] == 1.0
    both = ensemble_scores(labels, [a], [2])  # 1.0 + 0.05 against 0.9 on fold 1: still right
    assert both["accuracy"]["mean"] == 1.0
    # with b, class 2 outvotes a's right member on fold 1 (labels 0, 1); fold 2 is all class 2
    mixed = ensemble_scores(labels, [a, b], [2, 1])
    assert [f["accuracy"] for f in mixed["per_fold"]] == [0.0, 1.0]
    assert mixed["accuracy"] == {"mean": 0.5, "sd": pytest.approx(np.std([0.0, 1.0], ddof=1))}


def test_pooling_refuses_runs_on_other_folds_or_too_few_members():
    probs = [np.full((1, 2, 3), 1 / 3)] * 2
    a, b = kept([[0, 1], [2, 3]], probs), kept([[0, 2], [1, 3]], probs)
    with pytest.raises(ValueError, match="same folds"):
        ensemble_scores(np.zeros(4, int), [a, b], [1, 1])
    with pytest.raises(ValueError, match="fewer members"):
        ensemble_scores(np.zeros(4, int), [a], [2])
    with pytest.raises(ValueError, match="one member count"):
        ensemble_scores(np.zeros(4, int), [a, a], [1])
