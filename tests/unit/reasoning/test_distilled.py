"""DistilledOperator: the student answers the steps of the teacher's chain skeleton."""

from __future__ import annotations

import pytest

from kgimagine.reasoning.operators.distilled import DistilledOperator
from kgimagine.reasoning.operators.learned import LearnedOperator
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.traces import render_step_answer

from .test_learned import fitted, lstore  # noqa: F401  (module fixtures)


class Copycat:
    """A student that answers what the teacher would."""

    def __init__(self, teacher):
        self.teacher, self.calls = teacher, []

    def imagine(self, step, *, feedback=None):
        self.calls.append(step)
        return render_step_answer(self.teacher.answer(step))


class Still:
    """A student that never moves (cites the first fact as context)."""

    def imagine(self, step, *, feedback=None):
        return ('{"direction": "none", "probability": %.4f, "claims": [{"facts": ["%s"], "role": "context"}], '
                '"rationale": ""}' % (step.p_before, step.facts[0].fact_id))


@pytest.mark.parametrize("nct", ["NCT00000101", "NCT00000106"])
def test_the_student_answers_the_teachers_steps_from_the_teachers_starts(lstore, fitted, nct):  # noqa: F811
    model, _ = fitted
    teacher = LearnedOperator(lstore, model)
    spec = TrialSpec.from_graph(lstore, f"clinicaltrials:{nct}")
    ref = Predictor(lstore, teacher, k=3, max_reasks=0).predict(spec)
    student = Copycat(teacher)  # the teacher's own answers, checked with the rule signs
    op = DistilledOperator(student, teacher)
    got = Predictor(lstore, op, k=3, max_reasks=0).predict(spec)
    assert [c.p_start for c in got.chains] == pytest.approx([c.p_start for c in ref.chains])
    assert [[s.factor for s in c.steps] for c in got.chains] == [[s.factor for s in c.steps] for c in ref.chains]
    assert not {s.factor for s in student.calls} & teacher.start_factors  # no population / phase steps
    assert not hasattr(op, "fact_signs") and op.threshold == teacher.threshold  # checked with the rule signs


def test_a_student_that_never_moves_ends_at_the_teachers_start(lstore, fitted):  # noqa: F811
    model, _ = fitted
    spec = TrialSpec.from_graph(lstore, "clinicaltrials:NCT00000102")
    out = Predictor(lstore, DistilledOperator(Still(), LearnedOperator(lstore, model)), k=3, max_reasks=0).predict(spec)
    assert out.chains and all(c.p_end == pytest.approx(c.p_start, abs=1e-4) for c in out.chains)
