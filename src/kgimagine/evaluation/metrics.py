"""Metric functions, the validation threshold rule and bootstrap confidence intervals.

Pure numpy; each function is tested against scikit-learn on fixed vectors. A metric that is
not defined on its input (ROC-AUC / average precision with one class only) returns an
``Undefined`` value carrying the reason, never a number.

Conventions:

* ``y`` holds 0/1 labels (1 = success), ``p`` the predicted probability of success.
* A trial is predicted positive when ``p >= threshold``.
* Expected calibration error uses 10 equal-width bins on [0, 1]: bin ``i`` holds
  ``i/10 <= p < (i+1)/10``, the last bin also holds ``p == 1``; ECE is the sum over non-empty
  bins of ``n_bin / n * |mean(y in bin) - mean(p in bin)|``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from kgimagine.errors import EvaluationError

N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 20240607
ECE_BINS = 10


@dataclass(frozen=True, slots=True)
class Undefined:
    """A metric that has no value on this input; ``reason`` says why."""

    reason: str

    def __str__(self) -> str:
        return f"undefined: {self.reason}"


ONE_CLASS = Undefined("one class")
MetricValue = float | Undefined


def is_defined(value: MetricValue) -> bool:
    return not isinstance(value, Undefined)


def _arrays(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ya = np.asarray(y, dtype=np.int64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    if ya.shape != pa.shape:
        raise EvaluationError(f"labels and probabilities differ in length ({ya.size} vs {pa.size})")
    if ya.size == 0:
        raise EvaluationError("no trials to score (empty label vector)")
    if not np.isin(ya, (0, 1)).all():
        bad = sorted(set(ya.tolist()) - {0, 1})
        raise EvaluationError(f"labels must be 0 or 1, got {bad[:5]}")
    if not np.isfinite(pa).all() or (pa < 0).any() or (pa > 1).any():
        raise EvaluationError("probabilities must be finite numbers in [0, 1]")
    return ya, pa


# --- ranking metrics ----------------------------------------------------------------------
def average_precision(y, p) -> MetricValue:
    """Step-wise average precision (as scikit-learn): sum over thresholds of (R_n - R_{n-1}) P_n."""
    ya, pa = _arrays(y, p)
    n_pos = int(ya.sum())
    if n_pos == 0 or n_pos == ya.size:
        return ONE_CLASS
    order = np.argsort(-pa, kind="mergesort")
    ys, ps = ya[order], pa[order]
    # last index of each distinct score (ties form one threshold)
    distinct = np.r_[np.nonzero(np.diff(ps))[0], ys.size - 1]
    tp = np.cumsum(ys)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based average ranks (ties share their mean rank)."""
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    starts = np.r_[0, np.nonzero(np.diff(sorted_v))[0] + 1]
    ends = np.r_[starts[1:], values.size]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1..end
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(y, p) -> MetricValue:
    """Area under the ROC curve (Mann-Whitney U with ties counted one half)."""
    ya, pa = _arrays(y, p)
    n_pos = int(ya.sum())
    n_neg = ya.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return ONE_CLASS
    ranks = _ranks(pa)
    u = ranks[ya == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# --- probability metrics ------------------------------------------------------------------
def brier_score(y, p) -> float:
    ya, pa = _arrays(y, p)
    return float(np.mean((pa - ya) ** 2))


def _bin_index(pa: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((pa * n_bins).astype(np.int64), n_bins - 1)


def expected_calibration_error(y, p, n_bins: int = ECE_BINS) -> float:
    """ECE with ``n_bins`` equal-width bins (see the module docstring)."""
    ya, pa = _arrays(y, p)
    idx = _bin_index(pa, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sum_y = np.bincount(idx, weights=ya, minlength=n_bins)
    sum_p = np.bincount(idx, weights=pa, minlength=n_bins)
    nz = count > 0
    return float(np.sum(np.abs(sum_y[nz] - sum_p[nz])) / ya.size)


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    fraction_positive: float


def calibration_bins(y, p, n_bins: int = ECE_BINS) -> list[CalibrationBin]:
    """The non-empty equal-width bins behind the calibration plot and the ECE."""
    ya, pa = _arrays(y, p)
    idx = _bin_index(pa, n_bins)
    out = []
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            out.append(CalibrationBin(b / n_bins, (b + 1) / n_bins, int(mask.sum()),
                                      float(pa[mask].mean()), float(ya[mask].mean())))
    return out


# --- threshold metrics --------------------------------------------------------------------
def f1_at(y, p, threshold: float) -> float:
    """F1 of ``p >= threshold`` (0.0 when there are no predicted and no true positives)."""
    ya, pa = _arrays(y, p)
    pred = pa >= threshold
    tp = int(np.sum(pred & (ya == 1)))
    fp = int(np.sum(pred & (ya == 0)))
    fn = int(np.sum(~pred & (ya == 1)))
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else 2 * tp / denom


def choose_threshold(y_valid, p_valid) -> float:
    """The threshold that maximises F1 on *validation* data; ties go to the lower threshold
    (``kgimagine.thresholds.f1_threshold``). Never call this with the evaluated trials' labels.
    """
    from kgimagine.thresholds import f1_threshold

    ya, pa = _arrays(y_valid, p_valid)
    t = f1_threshold(ya, pa)
    if t is None:
        raise EvaluationError("cannot choose a threshold: the validation labels have no positive trial")
    return t


# --- multi-class (arm-level questions) ----------------------------------------------------
def _class_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true).ravel()
    yp = np.asarray(y_pred).ravel()
    if yt.shape != yp.shape:
        raise EvaluationError(f"gold and predicted answers differ in length ({yt.size} vs {yp.size})")
    if yt.size == 0:
        raise EvaluationError("no questions to score")
    return yt, yp


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in ``y_true`` of the recall of that class."""
    yt, yp = _class_arrays(y_true, y_pred)
    recalls = [float(np.mean(yp[yt == c] == c)) for c in np.unique(yt)]
    return float(np.mean(recalls))


def macro_f1(y_true, y_pred, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: classes in gold or predicted)."""
    yt, yp = _class_arrays(y_true, y_pred)
    classes = list(labels) if labels is not None else sorted(set(yt.tolist()) | set(yp.tolist()))
    scores = []
    for c in classes:
        tp = int(np.sum((yp == c) & (yt == c)))
        fp = int(np.sum((yp == c) & (yt != c)))
        fn = int(np.sum((yp != c) & (yt == c)))
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores))


def cross_entropy(true_index, probabilities, eps: float = 1e-15) -> float:
    """Mean negative log probability given to the true class (rows renormalised to sum 1)."""
    ti = np.asarray(true_index, dtype=np.int64).ravel()
    pr = np.asarray(probabilities, dtype=np.float64)
    if pr.ndim != 2 or pr.shape[0] != ti.size:
        raise EvaluationError(f"probabilities must be (n_questions, n_classes); got {pr.shape} for {ti.size} answers")
    if (ti < 0).any() or (ti >= pr.shape[1]).any():
        raise EvaluationError("a true-class index is outside the probability columns")
    if (pr < 0).any() or not np.isfinite(pr).all():
        raise EvaluationError("class probabilities must be finite and non-negative")
    pr = pr / pr.sum(axis=1, keepdims=True)
    pr = np.clip(pr, eps, 1 - eps)
    return float(-np.mean(np.log(pr[np.arange(ti.size), ti])))


# --- bootstrap ----------------------------------------------------------------------------
MetricFn = Callable[[np.ndarray, np.ndarray], MetricValue]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a percentile bootstrap interval over the resamples where it is defined."""

    value: MetricValue
    low: float | None
    high: float | None
    n_resamples: int  # resamples on which the metric was defined

    def to_dict(self) -> dict:
        if not is_defined(self.value):
            return {"value": str(self.value), "ci95": None, "n_resamples": self.n_resamples}
        ci = None if self.low is None else [self.low, self.high]
        return {"value": self.value, "ci95": ci, "n_resamples": self.n_resamples}

    def __str__(self) -> str:
        if not is_defined(self.value):
            return str(self.value)
        if self.low is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap(metric: MetricFn, y, p, *, n_resamples: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED,
              indices: np.ndarray | None = None) -> Interval:
    """Point value and 95 % percentile interval of ``metric`` over ``n_resamples`` resamples."""
    ya, pa = _arrays(y, p)
    value = metric(ya, pa)
    if not is_defined(value):
        return Interval(value, None, None, 0)
    idx = _resample_indices(ya.size, n_resamples, seed) if indices is None else indices
    stats = []
    for row in idx:
        v = metric(ya[row], pa[row])
        if is_defined(v):
            stats.append(v)
    if not stats:
        return Interval(value, None, None, 0)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return Interval(float(value), float(lo), float(hi), len(stats))


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """``metric(a) - metric(b)`` on the same trials, with a paired bootstrap interval."""

    difference: MetricValue
    low: float | None
    high: float | None
    n_resamples: int

    @property
    def significant(self) -> bool:
        """True when the 95 % interval excludes zero; otherwise the difference is within noise."""
        return self.low is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict:
        if not is_defined(self.difference):
            return {"difference": str(self.difference), "ci95": None, "significant": False}
        ci = None if self.low is None else [self.low, self.high]
        return {"difference": self.difference, "ci95": ci, "significant": self.significant,
                "n_resamples": self.n_resamples}

    def __str__(self) -> str:
        if not is_defined(self.difference):
            return str(self.difference)
        if self.low is None:
            return f"{self.difference:+.3f}"
        mark = "" if self.significant else " (within noise)"
        return f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}]{mark}"


def paired_bootstrap(metric: MetricFn, y, p_a, p_b, *, n_resamples: int = N_BOOTSTRAP,
                     seed: int = BOOTSTRAP_SEED) -> PairedDifference:
    """Resample trials once per replicate and score both methods on the same resample."""
    ya, pa = _arrays(y, p_a)
    _, pb = _arrays(y, p_b)
    va, vb = metric(ya, pa), metric(ya, pb)
    if not (is_defined(va) and is_defined(vb)):
        return PairedDifference(va if not is_defined(va) else vb, None, None, 0)
    diffs = []
    for row in _resample_indices(ya.size, n_resamples, seed):
        a, b = metric(ya[row], pa[row]), metric(ya[row], pb[row])
        if is_defined(a) and is_defined(b):
            diffs.append(a - b)
    if not diffs:
        return PairedDifference(float(va - vb), None, None, 0)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return PairedDifference(float(va - vb), float(lo), float(hi), len(diffs))


def format_value(value: MetricValue, digits: int = 3) -> str:
    if not is_defined(value):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:.{digits}f}"
