"""kgimagine: knowledge-graph-grounded successive counterfactual imagination for clinical trials.

The public API is small and imported lazily, so ``import kgimagine`` stays fast::

    from kgimagine import open_store, Predictor, TrialSpec
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "open_store": "kgimagine.kg.connect",
    "GraphStore": "kgimagine.kg.store",
    "NetworkXGraphStore": "kgimagine.kg.networkx_store",
    "Node": "kgimagine.kg.model",
    "Edge": "kgimagine.kg.model",
    "Provenance": "kgimagine.kg.model",
    "Predictor": "kgimagine.reasoning.predictor",
    "TrialSpec": "kgimagine.reasoning.spec",
    "ArmQuestion": "kgimagine.reasoning.spec",
    "Prediction": "kgimagine.reasoning.spec",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kgimagine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
