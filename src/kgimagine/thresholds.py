"""The F1-optimal decision threshold, shared by the learned operator (its default threshold, chosen
on its out-of-fold predictions) and ``evaluation`` (thresholds chosen on validation folds).

It lives under both layers so neither imports the other."""

from __future__ import annotations

from typing import Any


def f1_threshold(y: Any, p: Any) -> float | None:
    """The threshold maximising F1 of ``p >= t`` against ``y``; ties go to the lower threshold.
    None when ``y`` has no positive. Candidates are the distinct probabilities (every distinct F1
    is reached at one of them). Call it on validation or out-of-fold data, never on evaluated trials."""
    import numpy as np

    ya = np.asarray(y, dtype=np.float64).ravel()
    pa = np.asarray(p, dtype=np.float64).ravel()
    n_pos = ya.sum()
    if n_pos == 0:
        return None
    candidates = np.unique(pa)  # ascending: the first maximum is the lowest threshold
    order = np.argsort(-pa, kind="mergesort")
    ys, ps = ya[order], pa[order]
    cum_tp = np.cumsum(ys)  # predicted positives at threshold t = all with p >= t
    best_t, best_f1 = float(candidates[0]), -1.0
    for t in candidates:
        k = int(np.searchsorted(-ps, -t, side="right"))  # count of p >= t
        tp = cum_tp[k - 1] if k else 0.0
        f1 = 2 * tp / (k + n_pos)
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = float(t), f1
    return best_t
