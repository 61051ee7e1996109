"""``ScriptedOperator``: a test double that returns scripted answers in order."""

from __future__ import annotations

from typing import Callable, Sequence

from kgimagine.errors import OperatorError
from kgimagine.traces import StepInput

Script = str | Callable[[StepInput], str]


def cite_first(probability: float, claim: str = "scripted claim") -> Callable[[StepInput], str]:
    """A scripted answer that cites the first retrieved fact of the step it is given."""
    import json

    def answer(step: StepInput) -> str:
        cited = [step.facts[0].fact_id] if step.facts else []
        return json.dumps({"probability": probability, "claim": claim, "cited": cited})

    return answer


class ScriptedOperator:
    """Returns ``answers`` one per call (strings as they are, callables applied to the step).

    ``repeat_last`` keeps returning the last answer once the script is used up; otherwise running
    out raises ``OperatorError``. Every call is recorded in ``calls`` as (step, feedback).
    """

    def __init__(self, answers: Sequence[Script], *, repeat_last: bool = False, name: str = "scripted") -> None:
        if not answers:
            raise ValueError("ScriptedOperator needs at least one answer")
        self._answers = list(answers)
        self._repeat = repeat_last
        self._name = name
        self.calls: list[tuple[StepInput, str | None]] = []

    @property
    def name(self) -> str:
        return self._name

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        i = len(self.calls)
        self.calls.append((step, feedback))
        if i >= len(self._answers):
            if not self._repeat:
                raise OperatorError(f"scripted operator ran out of answers after {len(self._answers)} call(s)")
            i = len(self._answers) - 1
        a = self._answers[i]
        return a(step) if callable(a) else a
