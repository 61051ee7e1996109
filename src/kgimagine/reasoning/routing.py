"""Conditional edges of the state machine (pure functions of the state)."""

from __future__ import annotations

from typing import Literal

from kgimagine.reasoning.nodes import NO_SUPPORT
from kgimagine.reasoning.state import ReasoningState


def route_after_resolve(state: ReasoningState) -> Literal["retrieve_anchors", "aggregate"]:
    if any(f.startswith(NO_SUPPORT) for f in state.get("flags", [])):
        return "aggregate"
    return "retrieve_anchors"


def route_after_anchors(state: ReasoningState) -> Literal["plan", "aggregate"]:
    return "plan" if state.get("anchors") else "aggregate"


def route_after_plan(state: ReasoningState) -> Literal["retrieve_facts", "finish_chain"]:
    return "retrieve_facts" if state.get("plan") else "finish_chain"


def route_after_verify(state: ReasoningState) -> Literal["imagine", "retrieve_facts", "finish_chain"]:
    """Re-ask (bounded by the verify node), next step, or end of this anchor's chain."""
    if state.get("decision") == "reask":
        return "imagine"
    if state.get("step_index", 0) < len(state.get("plan", [])):
        return "retrieve_facts"
    return "finish_chain"


def route_after_chain(state: ReasoningState) -> Literal["plan", "aggregate"]:
    return "plan" if state.get("anchor_index", 0) < len(state.get("anchors", [])) else "aggregate"
