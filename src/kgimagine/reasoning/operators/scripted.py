"""``ScriptedOperator``: a test double that returns scripted answers in order."""

from __future__ import annotations

import json
from typing import Callable, Sequence

from kgimagine.errors import OperatorError
from kgimagine.traces import StepInput, parse_step_answer, rule_fact_signs, step_sides

Script = str | Callable[[StepInput], str]

#: Same threshold as the verifier's (a move of at most this much is "none").
_NO_MOVE = 0.005


def answer_json(direction: str, probability: float, claims: list[tuple[list[str], str]], rationale: str = "") -> str:
    """A step answer as JSON text (``claims``: (fact ids, role) pairs)."""
    return json.dumps({
        "direction": direction,
        "probability": probability,
        "claims": [{"facts": list(ids), "role": role} for ids, role in claims],
        "rationale": rationale,
    })


def cite_first(probability: float, rationale: str = "") -> Callable[[StepInput], str]:
    """A scripted answer that moves to ``probability`` and cites, with the role of the move, the
    first retrieved fact that points the way of the move (``rule_fact_signs``), those touching the
    changed entities first, plus the first touching fact as context when that one does not touch
    them; with no such fact (or no move) the first touching fact (else the first fact)."""

    def answer(step: StepInput) -> str:
        move = probability - step.p_before
        direction = "up" if move > _NO_MOVE else "down" if move < -_NO_MOVE else "none"
        changed = set().union(*step_sides(step))
        touching = [f for f in step.facts if {f.subject, f.object} & changed] or list(step.facts)
        want = {"up": 1.0, "down": -1.0}.get(direction, 0.0)
        reading = rule_fact_signs(step)
        agree = [f for f in touching + list(step.facts) if reading.get(f.fact_id, 0.0) * want > 0]
        if agree and touching:
            claims = [([agree[0].fact_id], direction)]
            if agree[0] not in touching:
                claims.append(([touching[0].fact_id], "context"))
        else:
            claims = [([touching[0].fact_id], direction if direction != "none" else "context")] if touching else []
        return answer_json(direction, probability, claims, rationale)

    return answer


class ScriptedOperator:
    """Returns ``answers`` one per call (strings as they are, callables applied to the step).

    ``repeat_last`` keeps returning the last answer once the script is used up; otherwise running
    out raises ``OperatorError``. Every call is recorded in ``calls`` as (step, feedback).

    With ``own_signs`` (the default) the double's model is its script: ``fact_signs`` gives each
    fact the sign of the role its last answer claimed for it, so the verifier's check against the
    operator's model passes for a scripted role and every other check (what the facts state,
    citations, names, relations, contradictions, direction against the move) still applies. ``own_signs=False``: no model of
    its own; the verifier uses the rule signs, as for an LLM.
    """

    def __init__(
        self, answers: Sequence[Script], *, repeat_last: bool = False, name: str = "scripted", own_signs: bool = True
    ) -> None:
        if not answers:
            raise OperatorError("ScriptedOperator needs at least one answer")
        self._answers = list(answers)
        self._repeat = repeat_last
        self._name = name
        self._own_signs = own_signs
        self._last = ""
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
        self._last = a(step) if callable(a) else a
        return self._last

    def fact_signs(self, step: StepInput) -> dict[str, float] | None:
        if not self._own_signs:
            return None
        try:
            ans = parse_step_answer(self._last)
        except ValueError:
            return {}
        signs: dict[str, float] = {}
        for c in ans.claims:
            for fid in c.facts:
                signs[fid] = signs.get(fid, 0.0) + {"up": 1.0, "down": -1.0, "context": 0.0}[c.role]
        return signs
