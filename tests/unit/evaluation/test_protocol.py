"""The protocol never lets the evaluated trials' labels fit a model or choose a threshold."""

from __future__ import annotations

import numpy as np
import pytest

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.baselines import TrialTable
from kgimagine.evaluation.features import TrialInput
from kgimagine.evaluation.metrics import choose_threshold
from kgimagine.evaluation.protocol import Labelled, run_cross_validated, run_heldout, stratified_folds


def _table(prefix: str, n: int) -> TrialTable:
    return TrialTable(tuple(TrialInput(f"NCT{prefix}{i:06d}", "phase 2") for i in range(n)))


class Spy:
    """A learned method that records what it was fitted on and predicts a fixed score per trial."""

    learned = True
    name = "spy"
    fits: list[set[str]] = []

    def fit(self, table, y):
        Spy.fits.append({t.nctid for t in table.trials})

    def predict_proba(self, table):
        return np.asarray([(int(t.nctid[-3:]) * 37 % 100) / 100 for t in table.trials])


def test_stratified_folds_balance_classes_and_are_fixed():
    y = np.array([1] * 10 + [0] * 15)
    f = stratified_folds(y, 5)
    assert (f == stratified_folds(y, 5)).all()
    for k in range(5):
        assert (y[f == k] == 1).sum() == 2 and (y[f == k] == 0).sum() == 3
    with pytest.raises(EvaluationError, match="folds"):
        stratified_folds(np.array([1, 0]), 5)


def test_cross_validation_never_fits_or_thresholds_on_the_evaluated_fold():
    rng = np.random.default_rng(0)
    ev = Labelled(_table("01", 40), rng.integers(0, 2, 40))
    train = Labelled(_table("02", 20), rng.integers(0, 2, 20))
    Spy.fits = []
    run = run_cross_validated("spy", Spy, True, train, ev, n_folds=5)
    folds = np.asarray(run.extra["folds"])
    assert run.n_fits == 25 and len(Spy.fits) == 25  # 5 outer x (4 inner + 1 final)
    ids = np.asarray([t.nctid for t in ev.table.trials])
    train_ids = {t.nctid for t in train.table.trials}
    for k in range(5):
        held = set(ids[folds == k])
        for fitted in Spy.fits[5 * k: 5 * k + 5]:
            assert not fitted & held
            assert train_ids <= fitted
    assert run.predicted_positive.dtype == bool and len(run.thresholds) == 5


def test_cross_validation_threshold_of_an_unfitted_method_comes_from_the_other_folds():
    rng = np.random.default_rng(1)
    ev = Labelled(_table("03", 30), rng.integers(0, 2, 30))
    spy = Spy()
    run = run_cross_validated("chain", lambda: spy, False, None, ev, n_folds=3)
    folds = np.asarray(run.extra["folds"])
    p_all = spy.predict_proba(ev.table)
    for k in range(3):
        other = folds != k
        assert run.thresholds[k] == choose_threshold(ev.y[other], p_all[other])
        assert (run.predicted_positive[folds == k] == (p_all[folds == k] >= run.thresholds[k])).all()
    assert run.n_fits == 0


def test_heldout_uses_validation_only_for_the_threshold():
    rng = np.random.default_rng(2)
    valid = Labelled(_table("04", 30), rng.integers(0, 2, 30))
    evaluated = _table("05", 12)
    Spy.fits = []
    run = run_heldout("spy", Spy, True, None, valid, evaluated, inner_folds=3)
    eval_ids = {t.nctid for t in evaluated.trials}
    assert all(not f & eval_ids for f in Spy.fits)
    # the spy's scores do not depend on the fit, so the out-of-fold validation scores are its scores
    assert run.thresholds == [choose_threshold(valid.y, Spy().predict_proba(valid.table))]
    assert len(run.probability) == 12
