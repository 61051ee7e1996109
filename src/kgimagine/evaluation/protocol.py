"""The train / validation protocol: where each method is fitted and where its threshold comes from.

TOP here has ``phase_I_train`` and validation files for phases I, II and III (no phase II/III
training file). Two modes, one rule (the evaluated trials' labels never choose anything):

``heldout`` (``kgimagine eval test.csv --valid-file valid.csv``)
    Learned methods: inner K-fold on the validation file (fit on train + the other validation
    folds, predict the held-out fold) gives out-of-fold validation probabilities; the F1
    threshold maximises F1 on them (tie -> lower threshold). The final model is fitted on
    train + the whole validation file and predicts the evaluated file.
    Unfitted methods (the chain): predicted on the validation file, threshold chosen there.

``cross-validated`` (no separate validation file: the benchmark on the valid files)
    Stratified K-fold within the evaluated file. For each outer fold, the other folds are the
    "validation file" of the heldout mode (nested: inner folds choose the threshold), and the
    outer fold is the evaluated file. Probabilities and 0/1 decisions of all folds are pooled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.baselines import Method, TrialTable
from kgimagine.evaluation.metrics import choose_threshold

DEFAULT_FOLDS = 5
FOLD_SEED = 13


@dataclass(frozen=True)
class Labelled:
    table: TrialTable
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.table) != len(self.y):
            raise EvaluationError(f"{len(self.table)} trials but {len(self.y)} labels")

    def subset(self, idx: np.ndarray) -> "Labelled":
        return Labelled(self.table.subset(idx), np.asarray(self.y)[idx])

    @staticmethod
    def concat(a: "Labelled | None", b: "Labelled") -> "Labelled":
        if a is None or len(a.table) == 0:
            return b
        return Labelled(TrialTable.concat(a.table, b.table), np.concatenate([a.y, b.y]))


@dataclass
class MethodRun:
    """Predictions of one method on the evaluated trials and how they were obtained."""

    name: str
    probability: np.ndarray
    predicted_positive: np.ndarray
    thresholds: list[float]
    protocol: str
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    n_fits: int = 0
    extra: dict = field(default_factory=dict)


def stratified_folds(y: np.ndarray, n_folds: int, seed: int = FOLD_SEED) -> np.ndarray:
    """Fold number per row, classes spread evenly over folds, shuffled with a fixed seed."""
    y = np.asarray(y)
    if n_folds < 2:
        raise EvaluationError(f"need at least 2 folds (got {n_folds})")
    if y.size < n_folds:
        raise EvaluationError(f"{y.size} labelled trials cannot be split into {n_folds} folds; use fewer folds")
    rng = np.random.default_rng(seed)
    folds = np.empty(y.size, dtype=np.int64)
    offset = 0
    for cls in np.unique(y):
        idx = np.nonzero(y == cls)[0]
        idx = idx[rng.permutation(idx.size)]
        folds[idx] = (np.arange(idx.size) + offset) % n_folds
        offset += idx.size
    return folds


class _Clock:
    def __init__(self) -> None:
        self.fit = 0.0
        self.predict = 0.0
        self.n_fits = 0


def _fit(make: Callable[[], Method], data: Labelled, clock: _Clock) -> Method:
    m = make()
    t = time.perf_counter()
    m.fit(data.table, data.y)
    clock.fit += time.perf_counter() - t
    clock.n_fits += 1
    return m


def _predict(m: Method, table: TrialTable, clock: _Clock) -> np.ndarray:
    t = time.perf_counter()
    p = np.asarray(m.predict_proba(table), dtype=np.float64)
    clock.predict += time.perf_counter() - t
    return p


def _heldout(make: Callable[[], Method], learned: bool, train: Labelled | None, pool: Labelled,
             evaluated: TrialTable, inner_folds: int, clock: _Clock) -> tuple[np.ndarray, float]:
    if learned and getattr(make, "own_threshold", False):
        # a method that chooses its threshold on its own out-of-fold predictions while fitting
        # (the learned chain): one fit on train + the pool, no nested refits
        m = _fit(make, Labelled.concat(train, pool), clock)
        per_trial = getattr(m, "thresholds_for", None)  # one per evaluated trial (e.g. by its phase)
        t = np.asarray(per_trial(evaluated), dtype=np.float64) if per_trial else float(getattr(m, "threshold"))
        return _predict(m, evaluated, clock), t
    if learned:
        k = min(inner_folds, int(np.bincount(pool.y.astype(np.int64), minlength=2).min()) or 2)
        k = max(k, 2)
        folds = stratified_folds(pool.y, k)
        oof = np.empty(len(pool.y))
        for j in range(k):
            m = _fit(make, Labelled.concat(train, pool.subset(np.nonzero(folds != j)[0])), clock)
            held = np.nonzero(folds == j)[0]
            oof[held] = _predict(m, pool.table.subset(held), clock)
        threshold = choose_threshold(pool.y, oof)
        final = _fit(make, Labelled.concat(train, pool), clock)
        return _predict(final, evaluated, clock), threshold
    m = make()
    threshold = choose_threshold(pool.y, _predict(m, pool.table, clock))
    return _predict(m, evaluated, clock), threshold


def run_heldout(name: str, make: Callable[[], Method], learned: bool, train: Labelled | None,
                valid: Labelled, evaluated: TrialTable, *, inner_folds: int = DEFAULT_FOLDS) -> MethodRun:
    clock = _Clock()
    p, t = _heldout(make, learned, train, valid, evaluated, inner_folds, clock)
    what = (f"fit on train + validation file; threshold from {inner_folds}-fold out-of-fold predictions on the "
            "validation file" if learned else "no per-fold fitting; threshold chosen on the validation file")
    return MethodRun(name, p, p >= t, sorted(set(np.atleast_1d(t).astype(float).tolist())), what, clock.fit,
                     clock.predict, clock.n_fits)


def run_cross_validated(name: str, make: Callable[[], Method], learned: bool, train: Labelled | None,
                        evaluated: Labelled, *, n_folds: int = DEFAULT_FOLDS) -> MethodRun:
    clock = _Clock()
    folds = stratified_folds(evaluated.y, n_folds)
    p = np.empty(len(evaluated.y))
    decided = np.zeros(len(evaluated.y), dtype=bool)
    thresholds = []
    for k in range(n_folds):
        out = np.nonzero(folds == k)[0]
        pool = evaluated.subset(np.nonzero(folds != k)[0])
        pk, tk = _heldout(make, learned, train, pool, evaluated.table.subset(out), n_folds - 1, clock)
        p[out] = pk
        decided[out] = pk >= tk
        thresholds.extend(sorted(set(np.atleast_1d(tk).astype(float).tolist())))
    what = (f"{n_folds}-fold CV within the file: fit on train + the other folds; threshold from nested "
            f"{n_folds - 1}-fold out-of-fold predictions on the other folds" if learned
            else f"no per-fold fitting; {n_folds}-fold CV: threshold of each fold chosen on the other folds")
    if learned and getattr(make, "own_threshold", False):
        what = (f"{n_folds}-fold CV within the file: fit on the graph's labelled trials + train + the other folds; "
                "threshold F1-optimal on the fit's own out-of-fold predictions (per phase, as predict labels)")
    return MethodRun(name, p, decided, thresholds, what, clock.fit, clock.predict, clock.n_fits,
                     {"folds": folds.tolist()})
