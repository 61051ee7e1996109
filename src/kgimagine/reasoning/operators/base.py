"""The ``Operator`` protocol: whatever takes one imagination step (an LLM or a statistical model).

An operator receives a ``StepInput`` (current probability, the one change, the retrieved facts)
and returns its raw answer text, which must be one JSON object in the format of
``kgimagine.traces.render_step_answer`` (direction, probability, claims, rationale). The
reasoning graph parses and validates it, verifies every claim (``reasoning/verifier.py``), and
re-asks with ``feedback`` (the reason the last answer was refused), bounded.

Optional: ``fact_signs(step) -> dict[str, float]`` (fact id -> the signed contribution the
operator's own model gives it; ``None`` for "no model"). When present, the verifier checks claim
roles against it; otherwise against ``kgimagine.traces.rule_fact_signs``.

Optional: ``start_offset: float`` (a logit added once to each chain's start probability; the
statistical operator's fitted per-chain intercept, 0 for its rule weights).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from kgimagine.traces import StepInput


@runtime_checkable
class Operator(Protocol):
    @property
    def name(self) -> str:
        """Identifies the backend and model, e.g. ``local:SmolLM2-135M-Instruct+adapter:runs/a1``."""

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        """Return the raw answer text for one step."""
