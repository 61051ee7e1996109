"""``DistilledOperator``: a student's step answers on the teacher's chain skeleton.

A distilled student (``LocalOperator`` with an adapter trained on the learned operator's steps) was
taught the teacher's *steps*: drug and disease changes, starting where the learned operator starts
(its calibrated anchor start with the criteria-text, phase and graph-summary parts of the target
already applied). Served alone, a ``LocalOperator`` starts from the anchor's label and also steps
through population and phase, which it never learnt. This operator keeps the teacher's skeleton —
``prepare_target``, ``target_probability``, ``anchor_start``, ``start_factors``, ``complete_plan``,
``threshold`` — and lets the student answer every step. It has no evidence model of its own
(no ``fact_signs``): the verifier checks the student's claims with the rule signs
(``traces.rule_fact_signs``), and an unsupported step moves nothing, as always.

With a student that never moves, the prediction is the teacher's chain start; what the steps add
is the difference (``benchmarks/distill.py`` measures both).
"""

from __future__ import annotations

from typing import Any, Sequence

from kgimagine.traces import StepInput
from kgimagine.types import Factor


class DistilledOperator:
    def __init__(self, student: Any, teacher: Any) -> None:
        self.student = student
        self.teacher = teacher
        self.complete_plan = bool(getattr(teacher, "complete_plan", False))
        self.start_factors = frozenset(getattr(teacher, "start_factors", ()))
        self.start_note = str(getattr(teacher, "start_note", ""))

    @property
    def name(self) -> str:
        return f"{getattr(self.student, 'name', 'student')}@{getattr(self.teacher, 'name', 'teacher')}-skeleton"

    @property
    def threshold(self) -> float:
        return float(getattr(self.teacher, "threshold", 0.5))

    @property
    def phase_thresholds(self) -> dict[str, float]:
        return dict(getattr(self.teacher, "phase_thresholds", {}) or {})

    def prepare_target(self, key: str, desc: Any) -> Any:
        return self.teacher.prepare_target(key, desc)

    def target_probability(self, key: str) -> float:
        return float(self.teacher.target_probability(key))

    def anchor_start(self, anchor_key: str, target_key: str | None = None,
                     stepped: Sequence[Factor] | None = None) -> float | None:
        return self.teacher.anchor_start(anchor_key, target_key, stepped)

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        return self.student.imagine(step, feedback=feedback)
