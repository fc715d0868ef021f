import numpy as np
import pytest

from sentiment_fusion.calibration import fit_temperature, nll, softmax
from sentiment_fusion.metrics import classification_report, expected_calibration_error, restrict_to_classes


def test_report_on_a_known_confusion():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0])
    r = classification_report(y_true, y_pred)
    assert r["n"] == 7 and r["accuracy"] == pytest.approx(5 / 7)
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert r["per_class"]["negative"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["per_class"]["neutral"]["precision"] == pytest.approx(2 / 3)
    assert r["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    f1s = [0.5, 0.8, 0.8]
    assert r["macro_f1"] == pytest.approx(np.mean(f1s))
    assert r["weighted_f1"] == pytest.approx(np.dot(f1s, [2, 2, 3]) / 7)


def test_binary_scoring_ignores_neutral():
    probs = np.array([[0.3, 0.6, 0.1], [0.1, 0.5, 0.4]])
    assert restrict_to_classes(probs, [0, 2]).tolist() == [0, 2]
    r = classification_report(np.array([0, 2]), np.array([0, 2]), classes=[0, 2])
    assert r["classes"] == ["negative", "positive"] and r["confusion"] == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match="outside the scored classes"):
        classification_report(np.array([0, 1]), np.array([0, 1]), classes=[0, 2])


def test_ece_of_perfectly_calibrated_and_overconfident():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.4, 1.0, 20000)
    correct = rng.uniform(size=conf.size) < conf
    probs = np.stack([conf, 1 - conf], 1)
    labels = np.where(correct, 0, 1)
    ece, table = expected_calibration_error(probs, labels)
    assert ece < 0.02 and sum(b["n"] for b in table) == conf.size
    over = np.stack([np.full(1000, 0.99), np.full(1000, 0.01)], 1)
    ece_over, _ = expected_calibration_error(over, np.r_[np.zeros(600), np.ones(400)].astype(int))
    assert ece_over == pytest.approx(0.99 - 0.6, abs=1e-6)


def test_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(5000, 3)) * 2
    labels = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 3.0, labels)  # logits 3x too sharp -> T ~ 3
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll(true_logits * 3, labels, t) < nll(true_logits * 3, labels, 1.0)
    with pytest.raises(ValueError, match="zero examples"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, int))


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]), 2.0)
    assert np.allclose(p.sum(1), 1) and np.isfinite(p).all()
