"""Combine the anchors' chains into one probability."""

from __future__ import annotations

import math
from typing import Sequence

EPS = 1e-4
#: Bounds of every chain end before aggregation: one "0" or "1" answer would otherwise weigh
#: +-9 logits in the mean and dominate every other anchor.
P_MIN, P_MAX = 0.02, 0.98


def logit(p: float) -> float:
    p = min(max(p, EPS), 1 - EPS)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def aggregate_chains(p_ends: Sequence[float], similarities: Sequence[float], *, floor: float = 0.05) -> float:
    """Similarity-weighted mean of the chains' end probabilities in logit space.

    Weights are the anchor similarities (at least ``floor`` so a weak anchor still counts a little).
    """
    if not p_ends:
        raise ValueError("aggregate_chains needs at least one chain")
    if len(p_ends) != len(similarities):
        raise ValueError("one similarity per chain")
    weights = [max(float(s), floor) for s in similarities]
    total = sum(weights)
    bounded = [min(max(float(p), P_MIN), P_MAX) for p in p_ends]
    return sigmoid(sum(w * logit(p) for w, p in zip(weights, bounded)) / total)


AGGREGATE_METHOD = "similarity-weighted logit mean"
