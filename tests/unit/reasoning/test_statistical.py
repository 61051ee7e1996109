from __future__ import annotations

import pytest

from kgimagine.errors import ReasoningError
from kgimagine.kg import queries
from kgimagine.reasoning.operators.statistical import ALL_NAMES, RULE_WEIGHTS, StatisticalOperator, pair_design
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.reasoning.nodes import fact_ref
from kgimagine.reasoning.verifier import NameIndex, verify_step
from kgimagine.traces import StepInput, parse_step_answer, role_of
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G


def _step(store, factor, a_val, t_val, a_ids, t_ids, ctx, p=0.5, summary_t="new trial (phase 2): x"):
    facts = queries.facts_for_change(store, factor, a_ids, t_ids, context_ids=ctx)
    return StepInput(
        factor=factor, anchor_value=a_val, target_value=t_val, p_before=p,
        facts=[fact_ref(f) for f in facts],
        anchor_summary=f"anchor: {' '.join(f'[{i}]' for i in ctx)}", target_summary=summary_t,
    )


def test_answer_is_deterministic_json_citing_shown_facts(rstore):
    op = StatisticalOperator(rstore)
    step = _step(rstore, Factor.DRUG, f"Sorafenib [{G.SORAFENIB}]", f"Sunitinib [{G.SUNITINIB}]",
                 [G.SORAFENIB], [G.SUNITINIB], [G.HCC])
    raw = op.imagine(step)
    assert raw == op.imagine(step, feedback="anything")
    ans = parse_step_answer(raw)
    shown = {f.fact_id for f in step.facts}
    assert ans.cited and set(ans.cited) <= shown
    # the reverse swap gains the indication (sorafenib TREATS HCC) and a better record: higher
    rev = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"Sunitinib [{G.SUNITINIB}]",
                                             f"Sorafenib [{G.SORAFENIB}]", [G.SUNITINIB], [G.SORAFENIB], [G.HCC])))
    assert rev.probability > ans.probability


def test_more_mechanism_overlap_gives_higher_probability(rstore):
    op = StatisticalOperator(rstore)
    close = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"x [{G.IMATINIB}]", f"y [{G.SUNITINIB}]",
                                               [G.IMATINIB], [G.SUNITINIB], [G.GIST])))
    far = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"x [{G.IMATINIB}]", f"y [{G.METFORMIN}]",
                                             [G.IMATINIB], [G.METFORMIN], [G.GIST])))
    assert close.probability > far.probability


def test_fit_save_load(rstore, tmp_path):
    rows, offsets, labels = pair_design(rstore, k=3)
    assert len(rows) == len(offsets) == len(labels) > 0 and all(len(r) == len(ALL_NAMES) for r in rows)
    op = StatisticalOperator.fit(rstore, k=3, l2=1.0)
    assert op.weights != RULE_WEIGHTS and op.name.startswith("statistical:fitted@kg-")
    path = op.save(tmp_path / "w.json")
    again = StatisticalOperator.load(path, rstore)
    assert again.weights == pytest.approx(op.weights)
    with pytest.raises(ReasoningError, match="unknown statistical-operator weights"):
        StatisticalOperator(rstore, weights={"nope": 1.0})
    with pytest.raises(ReasoningError, match="cannot read"):
        StatisticalOperator.load(tmp_path / "missing.json", rstore)


def test_statistical_operator_end_to_end_is_fully_grounded(rstore):
    pred = Predictor(rstore, StatisticalOperator(rstore), k=3).predict(TrialSpec.from_graph(rstore, "NCT00000008"))
    assert pred.steps_total > 0 and pred.grounding_rate == 1.0
    assert 0 < pred.probability < 1


@pytest.mark.parametrize("factor, a, t, ctx", [
    (Factor.DRUG, G.SORAFENIB, G.SUNITINIB, [G.HCC]),
    (Factor.DRUG, G.IMATINIB, G.METFORMIN, [G.GIST]),
    (Factor.DISEASE, G.HCC, G.GIST, [G.SORAFENIB]),
])
def test_answers_agree_with_the_operators_own_signs(rstore, factor, a, t, ctx):
    """Roles are the signs of the operator's own evidence, and the answer passes the verifier."""
    op = StatisticalOperator(rstore)
    step = _step(rstore, factor, f"x [{a}]", f"y [{t}]", [a], [t], ctx, p=0.6)
    ans = op.answer(step)
    signs = op.fact_signs(step)
    assert ans.claims and all(c.role == role_of(sum(signs.get(f, 0.0) for f in c.facts)) for c in ans.claims)
    assert set(signs) <= {f.fact_id for f in step.facts}
    v = verify_step(ans, step, NameIndex.from_store(rstore), store=rstore, fact_signs=signs)
    assert v.supported, v.reason
