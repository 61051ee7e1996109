"""The LangGraph state of one prediction: plain JSON values (dicts, lists), so checkpointers and
Studio can store and show it. Lists grow through reducers; nodes return partial updates only."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from kgimagine.kg.queries import START_SMOOTHING


def merge_timings(left: dict[str, float] | None, right: dict[str, float] | None) -> dict[str, float]:
    """Reducer: add per-node seconds."""
    out = dict(left or {})
    for k, v in (right or {}).items():
        out[k] = round(out.get(k, 0.0) + float(v), 6)
    return out


class ReasoningConfig(BaseModel):
    """Knobs of the state machine (the builder takes them; nothing reads the environment)."""

    model_config = ConfigDict(frozen=True)

    k: int = 5  # anchors per prediction
    max_reasks: int = 2  # re-asks of one step after a refused answer
    #: label = probability >= threshold; None: the operator's (its ``phase_thresholds`` for the
    #: trial's phase, else its ``threshold``, else 0.5), as ``kgimagine predict`` picks it
    threshold: float | None = 0.5
    #: per-phase thresholds ("1", "2", "3", see ``trials.evidence.phase_group``); a trial whose
    #: phase has one uses it instead of ``threshold``
    phase_thresholds: dict[str, float] = Field(default_factory=dict)
    fact_budget: int = 12  # facts shown per step
    #: trial ids ("clinicaltrials:NCT…") that are never anchors and whose edges and outcomes no
    #: step's facts show, besides the target's own: an evaluation's held-out trials that the graph
    #: still holds (a user's new trial is not in the graph, and neither are the trials it is
    #: evaluated with)
    hidden_trials: frozenset[str] = frozenset()
    smoothing: float = START_SMOOTHING  # anchor start p = s*label + (1-s)*phase base rate
    recursion_limit: int = 2000


class ReasoningState(TypedDict, total=False):
    # input
    spec: dict[str, Any]  # TrialSpec.model_dump()
    context: str  # e.g. "arm A" for an arm-level sub-question
    # resolved target and anchors
    target: dict[str, Any] | None  # ResolvedTarget
    anchors: list[dict[str, Any]]  # Anchor
    base_rate: float
    # per-anchor loop
    anchor_index: int
    plan: list[dict[str, Any]]  # PlanStep
    step_index: int
    p_start: float  # the current chain's start (the operator's, or the anchor's smoothed label)
    p_current: float
    carry: float  # logit the current chain's supported steps moved by without a fact stating it
    facts: list[dict[str, Any]]  # FactRef of the current step
    raw_answer: str
    attempts: int
    feedback: str | None
    decision: Literal["reask", "accept"]
    # results (grow through reducers)
    steps: Annotated[list[dict[str, Any]], operator.add]  # {"anchor_id", "record": StepRecord}
    chains: Annotated[list[dict[str, Any]], operator.add]  # Chain (without steps)
    flags: Annotated[list[str], operator.add]
    timings: Annotated[dict[str, float], merge_timings]
    result: dict[str, Any] | None  # Prediction
    readable: list[str]  # the chain as `kgimagine predict` prints it (Studio's view of the result)
