"""``RecordingOperator``: wraps a teacher operator and keeps the exact ``StepInput`` of each step.

A ``StepRecord`` (what a chain keeps) drops the trial summaries and the routing ids of its step;
``kgimagine train chains`` needs the prompt exactly as the teacher was shown it, so the wrapper
records every input it forwards, keyed by ``step_key`` (anchor, factor, values, fact ids). Every
other attribute (``prepare_target``, ``anchor_start``, ``fact_signs``, ``complete_plan``, …) is the
teacher's own, so the state machine runs the teacher's chain unchanged.
"""

from __future__ import annotations

from typing import Any, Iterable

from kgimagine.traces import StepInput

StepKey = tuple[str, str, str, str, tuple[str, ...]]


def step_key(anchor_id: str, factor: Any, anchor_value: str, target_value: str, fact_ids: Iterable[str]) -> StepKey:
    """What identifies one step of one chain (the same for a ``StepInput`` and its ``StepRecord``)."""
    return (anchor_id, getattr(factor, "value", str(factor)), anchor_value, target_value, tuple(fact_ids))


class RecordingOperator:
    """Forwards to ``inner``; ``inputs`` maps ``step_key`` -> the last ``StepInput`` seen."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.inputs: dict[StepKey, StepInput] = {}

    def __getattr__(self, name: str) -> Any:  # only called for attributes this class lacks
        return getattr(self.inner, name)

    @property
    def name(self) -> str:
        return str(getattr(self.inner, "name", type(self.inner).__name__))

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        self.inputs[step_key(step.anchor_id, step.factor, step.anchor_value, step.target_value,
                             [f.fact_id for f in step.facts])] = step
        return self.inner.imagine(step, feedback=feedback)

    def input_of(self, anchor_id: str, record: Any) -> StepInput | None:
        """The recorded input of a chain's step record (None when it was not asked: no facts)."""
        return self.inputs.get(step_key(anchor_id, record.factor, record.anchor_value, record.target_value,
                                        [f.fact_id for f in record.facts]))

    def clear(self) -> None:
        self.inputs.clear()
