"""Combine the anchors' chains into one probability."""

from __future__ import annotations

import math
from typing import Sequence

EPS = 1e-4


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
    return sigmoid(sum(w * logit(p) for w, p in zip(weights, p_ends)) / total)


AGGREGATE_METHOD = "similarity-weighted logit mean"
