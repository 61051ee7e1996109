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


def _predict_trial8(extra_nodes=(), extra_edges=()):
    from tests.unit.reasoning.graph_fixture import fixture_store

    st = fixture_store()
    st.upsert_nodes(list(extra_nodes))
    st.upsert_edges(list(extra_edges))
    return Predictor(st, StatisticalOperator(st), k=3).predict(TrialSpec.from_graph(st, "NCT00000008"))


def test_statistical_chain_moves_with_the_graph_evidence():
    # trial 8 tests sorafenib in GIST; the graph gains one fact: sorafenib TREATS GIST
    from kgimagine.kg.model import Edge
    from kgimagine.types import RelationType
    from tests.unit.reasoning.graph_fixture import prov

    base = _predict_trial8()
    indication = Edge(G.SORAFENIB, RelationType.TREATS, G.GIST, prov("pharmacotherapydb", "new"))
    more = _predict_trial8(extra_edges=[indication])
    assert base.steps_total > 0 and more.steps_total > 0
    assert more.probability > base.probability  # an indication for the target raises the estimate
    assert any(indication.fact_id in s.cited for c in more.chains for s in c.steps)  # and is cited


@pytest.mark.parametrize("label", [0, 1])
def test_statistical_chain_follows_a_twin_trials_outcome(label):
    # a labelled twin of trial 8 (same drug, disease, phase and criteria) pulls the estimate to its outcome
    from kgimagine.kg.model import Edge, Node
    from kgimagine.types import NodeLabel, RelationType
    from tests.unit.reasoning.graph_fixture import CRIT, prov

    twin = G.trial(9)
    node = Node(twin, NodeLabel.TRIAL, "NCT00000009",
                {"phase": "phase 2", "split": "train", "criteria": CRIT[8], "outcome_label": label})
    edges = [Edge(twin, RelationType.TESTS, G.SORAFENIB, prov("top", "train:9", "TOP non-commercial")),
             Edge(twin, RelationType.STUDIES, G.GIST, prov("top", "train:9", "TOP non-commercial"))]
    base = _predict_trial8()
    with_twin = _predict_trial8([node], edges)
    assert with_twin.anchors[0] == twin
    assert (with_twin.probability > base.probability) if label else (with_twin.probability < base.probability)


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
