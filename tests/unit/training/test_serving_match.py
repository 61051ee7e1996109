"""Train/serve match: a mined pair's step is the step the reasoning chain shows an operator for the
same anchor, target and change (values, summaries, start probability, facts, prompt text)."""

from __future__ import annotations

import pytest

from kgimagine.kg import queries
from kgimagine.kg.model import Edge, Node
from kgimagine.reasoning.operators.scripted import ScriptedOperator, cite_first
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.traces import render_step_user
from kgimagine.training.pairs import build_pair_example, mine_pairs, read_labelled_trials
from kgimagine.types import Factor, NodeLabel, RelationType
from tests.unit.reasoning import graph_fixture as G

# trial 10: imatinib in GIST, phase 2 like trial 1, other eligibility criteria, failed
TEN = G.trial(10)


def store_with_population_twin():
    st = G.fixture_store()
    st.upsert_nodes([Node(TEN, NodeLabel.TRIAL, "NCT00000010",
                          {"phase": "phase 2", "split": "train", "outcome_label": 0,
                           "criteria": "Inclusion: children with gastrointestinal stromal tumor, any KIT status."})])
    st.upsert_edges([Edge(TEN, RelationType.TESTS, G.IMATINIB, G.prov("top", "train:10", "TOP non-commercial")),
                     Edge(TEN, RelationType.STUDIES, G.GIST, G.prov("top", "train:10", "TOP non-commercial"))])
    return st


def served_step(store, anchor_id, target_id, factor):
    op = ScriptedOperator([cite_first(0.6)], repeat_last=True)
    Predictor(store, op, k=20).predict(TrialSpec.from_graph(store, target_id))
    steps = [s for s, _ in op.calls if s.anchor_summary.startswith(anchor_id + " ") and s.factor is factor]
    assert steps, f"the chain from {anchor_id} to {target_id} has no {factor.value} step"
    return steps[0]


def trained_step(store, anchor_id, target_id, factor):
    pairs = mine_pairs(read_labelled_trials(store), max_anchors_per_target=20)
    pair = next(p for p in pairs if (p.anchor.trial_id, p.target.trial_id) == (anchor_id, target_id))
    assert pair.factor is factor
    ex = build_pair_example(store, pair, queries.facts_for_change, graph_version=store.graph_version())
    assert ex is not None
    return ex.step


@pytest.mark.parametrize("anchor,target,factor", [
    (G.trial(1), G.trial(3), Factor.DRUG),  # imatinib -> sunitinib in GIST, phase 2
    (G.trial(3), G.trial(1), Factor.DRUG),  # and back
    (G.trial(1), TEN, Factor.POPULATION),  # same drug, disease and phase; other eligibility
])
def test_pair_step_is_the_served_step(anchor, target, factor):
    store = store_with_population_twin()
    served = served_step(store, anchor, target, factor)
    trained = trained_step(store, anchor, target, factor)
    assert trained.anchor_value == served.anchor_value
    assert trained.target_value == served.target_value
    assert trained.anchor_summary == served.anchor_summary
    assert trained.target_summary == served.target_summary
    assert trained.p_before == pytest.approx(served.p_before, abs=1e-6)
    assert [f.fact_id for f in trained.facts] == [f.fact_id for f in served.facts]
    assert render_step_user(trained) == render_step_user(served)


def test_population_pairs_are_mined():
    store = store_with_population_twin()
    pairs = mine_pairs(read_labelled_trials(store), max_anchors_per_target=20)
    pop = {(p.anchor.trial_id, p.target.trial_id) for p in pairs if p.factor is Factor.POPULATION}
    assert pop == {(G.trial(1), TEN), (TEN, G.trial(1))}
