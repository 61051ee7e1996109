"""Metric functions against scikit-learn on fixed vectors; threshold rule; bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from kgimagine.errors import EvaluationError
from kgimagine.evaluation import metrics as m

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])
P = np.array([0.9, 0.1, 0.8, 0.4, 0.4, 0.35, 0.4, 0.7, 0.6, 0.2, 0.05, 1.0])  # ties at 0.4


def test_average_precision_matches_sklearn_with_ties():
    assert m.average_precision(Y, P) == pytest.approx(skm.average_precision_score(Y, P))
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        p = np.round(rng.random(50), 1)  # many ties
        if 0 < y.sum() < 50:
            assert m.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p))


def test_roc_auc_matches_sklearn_with_ties():
    assert m.roc_auc(Y, P) == pytest.approx(skm.roc_auc_score(Y, P))
    rng = np.random.default_rng(4)
    for _ in range(20):
        y = rng.integers(0, 2, 40)
        p = np.round(rng.random(40), 1)
        if 0 < y.sum() < 40:
            assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))


def test_brier_and_f1_match_sklearn():
    assert m.brier_score(Y, P) == pytest.approx(skm.brier_score_loss(Y, P))
    for t in (0.0, 0.3, 0.4, 0.5, 0.95, 1.1):
        assert m.f1_at(Y, P, t) == pytest.approx(skm.f1_score(Y, (P >= t).astype(int), zero_division=0))


def test_ranking_metrics_undefined_with_one_class():
    ones = np.ones(5, dtype=int)
    for fn in (m.average_precision, m.roc_auc):
        v = fn(ones, np.linspace(0, 1, 5))
        assert not m.is_defined(v)
        assert str(v) == "undefined: one class"
        assert str(m.bootstrap(fn, ones, np.linspace(0, 1, 5), n_resamples=10)) == "undefined: one class"
    assert m.bootstrap(m.roc_auc, ones, np.linspace(0, 1, 5)).to_dict()["value"] == "undefined: one class"


def test_ece_by_hand_and_bins():
    y = np.array([1, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 1.0])  # bins 0, 1, 9, 9 (1.0 falls in the last bin)
    expected = (1 / 4) * abs(1 - 0.05) + (1 / 4) * abs(0 - 0.15) + (2 / 4) * abs(1 - 0.975)
    assert m.expected_calibration_error(y, p) == pytest.approx(expected)
    bins = m.calibration_bins(y, p)
    assert [(b.lower, b.count) for b in bins] == [(0.0, 1), (0.1, 1), (0.9, 2)]
    # agrees with sklearn's uniform calibration curve on the non-empty bins (sklearn closes bins on
    # the right, we close them on the left: compare on probabilities off the bin edges)
    from sklearn.calibration import calibration_curve

    p_off = np.array([0.93, 0.12, 0.81, 0.44, 0.47, 0.35, 0.42, 0.71, 0.66, 0.23, 0.05, 0.99])
    frac, mean_p = calibration_curve(Y, p_off, n_bins=10)
    ours = m.calibration_bins(Y, p_off)
    assert [b.fraction_positive for b in ours] == pytest.approx(frac)
    assert [b.mean_predicted for b in ours] == pytest.approx(mean_p)


def test_threshold_maximises_validation_f1_and_ties_go_lower():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1])
    # t=0.7 -> F1 0.8 ; t=0.9 -> 0.667 ; t=0.1 -> 0.667 ; t=0.8 -> 0.5
    assert m.choose_threshold(y, p) == 0.7
    # ties: thresholds 0.6 and 0.9 both give F1 = 2/3 ... choose the lower one
    y2 = np.array([1, 0, 0, 1])
    p2 = np.array([0.9, 0.8, 0.7, 0.6])
    f1s = {t: m.f1_at(y2, p2, t) for t in p2}
    best = max(f1s.values())
    assert m.choose_threshold(y2, p2) == min(t for t, f in f1s.items() if f == pytest.approx(best))
    # exhaustive check against brute force on random vectors
    rng = np.random.default_rng(0)
    for _ in range(30):
        y = rng.integers(0, 2, 30)
        if y.sum() == 0:
            continue
        p = np.round(rng.random(30), 2)
        t = m.choose_threshold(y, p)
        scores = {c: m.f1_at(y, p, c) for c in np.unique(p)}
        top = max(scores.values())
        assert t == min(c for c, f in scores.items() if abs(f - top) < 1e-12)


def test_threshold_needs_a_positive_validation_trial():
    with pytest.raises(EvaluationError, match="no positive"):
        m.choose_threshold([0, 0], [0.2, 0.3])


def test_multiclass_metrics_match_sklearn():
    yt = np.array([0, 1, 2, 2, 1, 0, 2, 2])
    yp = np.array([0, 2, 2, 2, 1, 1, 0, 2])
    assert m.balanced_accuracy(yt, yp) == pytest.approx(skm.balanced_accuracy_score(yt, yp))
    assert m.macro_f1(yt, yp) == pytest.approx(skm.f1_score(yt, yp, average="macro"))
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.0, 0.1, 0.9],
                      [0.3, 0.4, 0.3], [0.4, 0.5, 0.1], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]])
    assert m.cross_entropy(yt, probs) == pytest.approx(skm.log_loss(yt, probs, labels=[0, 1, 2]))


def test_bad_inputs_are_named():
    with pytest.raises(EvaluationError, match="differ in length"):
        m.roc_auc([0, 1], [0.5])
    with pytest.raises(EvaluationError, match=r"0 or 1"):
        m.brier_score([0, 2], [0.1, 0.2])
    with pytest.raises(EvaluationError, match=r"\[0, 1\]"):
        m.brier_score([0, 1], [0.1, 1.2])


def test_bootstrap_is_reproducible_and_brackets_the_value():
    a = m.bootstrap(m.roc_auc, Y, P, n_resamples=300, seed=1)
    b = m.bootstrap(m.roc_auc, Y, P, n_resamples=300, seed=1)
    assert a == b
    assert a.low <= a.value <= a.high
    assert 0 < a.n_resamples <= 300  # one-class resamples are skipped, not scored


def test_paired_bootstrap_separates_signal_from_noise():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    good = np.clip(y * 0.6 + rng.random(200) * 0.4, 0, 1)
    noise = rng.random(200)
    d = m.paired_bootstrap(m.roc_auc, y, good, noise, n_resamples=300)
    assert d.difference > 0 and d.significant
    same = m.paired_bootstrap(m.roc_auc, y, noise, noise + 0.0, n_resamples=300)
    assert same.difference == 0 and not same.significant
    assert "within noise" in str(m.paired_bootstrap(m.roc_auc, y, noise, rng.random(200), n_resamples=300))
