"""The state machine, node by node, with a scripted operator."""

from __future__ import annotations

import json

import pytest

from kgimagine.errors import OperatorError
from kgimagine.reasoning.graph import build_graph
from kgimagine.reasoning.nodes import ReasoningNodes
from kgimagine.reasoning.operators.scripted import ScriptedOperator, answer_json, cite_first
from kgimagine.reasoning.retrieval import AnchorIndex
from kgimagine.reasoning.spec import Prediction, TrialSpec
from kgimagine.reasoning.state import ReasoningConfig
from tests.unit.reasoning import graph_fixture as G

TARGET = TrialSpec.build(drugs=["sunitinib"], diseases=["hepatocellular carcinoma"], phase="phase 2",
                         criteria="Inclusion: advanced hepatocellular carcinoma, Child-Pugh A.")


def run(store, op, spec=TARGET, **cfg):
    graph = build_graph(store, op, config=ReasoningConfig(**cfg))
    out = graph.invoke({"spec": spec.model_dump(mode="json")})
    return out, Prediction.model_validate(out["result"])


def test_full_run_all_supported(rstore):
    op = ScriptedOperator([cite_first(0.7)], repeat_last=True)
    out, pred = run(rstore, op, k=3)
    assert len(pred.chains) == 3 and pred.grounding_rate == 1.0
    assert pred.steps_total == pred.steps_supported > 0
    for chain in pred.chains:
        assert chain.p_end == pytest.approx(0.7)  # each supported step sets p to the operator's value
        for s in chain.steps:
            assert s.verdicts and all(v == "verified" for v in s.verdicts.values())
    assert pred.probability == pytest.approx(0.7, abs=1e-6) and pred.label == 1
    assert pred.operator == "scripted" and pred.graph_version == rstore.graph_version()
    json.dumps(out)  # the whole state is plain JSON (Studio, checkpointers)
    assert {"imagine", "verify", "retrieve_anchors"} <= set(pred.timings)


def test_anchors_never_target_or_unlabelled(rstore):
    spec = TrialSpec.from_graph(rstore, "NCT00000003")  # a labelled trial predicted as target
    op = ScriptedOperator([cite_first(0.5)], repeat_last=True)
    out, pred = run(rstore, op, spec=spec, k=10)
    assert G.trial(3) not in pred.anchors and G.trial(8) not in pred.anchors
    assert len(pred.anchors) == 6
    # the target's own outcome never appears in a fact shown to the operator
    for step, _ in op.calls:
        assert not any("NCT00000003 (phase 2, succeeded)" in f.text for f in step.facts)
        assert "NCT00000003" not in step.anchor_summary


def test_hidden_trials_are_never_shown(rstore):
    """An evaluation's held-out trials stay in the graph, but they are never anchors and no step
    shows their edges."""
    hidden = [G.trial(3), G.trial(5)]  # sunitinib's labelled trials
    op = ScriptedOperator([cite_first(0.5)], repeat_last=True)
    graph = build_graph(rstore, op, config=ReasoningConfig(k=10, hidden_trials=frozenset(hidden)))
    out = graph.invoke({"spec": TARGET.model_dump(mode="json")})
    shown = {f.subject for step, _ in op.calls for f in step.facts}
    assert op.calls and not shown & set(hidden)
    assert not {a["trial_id"] for a in out["anchors"]} & set(hidden)
    plain = ScriptedOperator([cite_first(0.5)], repeat_last=True)  # without: they are shown
    build_graph(rstore, plain, config=ReasoningConfig(k=10)).invoke({"spec": TARGET.model_dump(mode="json")})
    assert {f.subject for step, _ in plain.calls for f in step.facts} & set(hidden)


def test_non_retrieved_citation_is_reasked_with_feedback(rstore):
    other = next(e.fact_id for e in rstore.iter_edges() if e.type.value == "CAUSES")
    bad = answer_json("up", 0.9, [([other], "up")])
    op = ScriptedOperator([bad, cite_first(0.4)], repeat_last=True)
    out, pred = run(rstore, op, k=1)
    first = pred.chains[0].steps[0]
    assert first.supported and first.attempts == 2 and first.p_after == 0.4
    assert op.calls[0][1] is None and other in op.calls[1][1] and "not retrieved" in op.calls[1][1]


def test_garbage_and_unknown_ids_exhaust_reasks_then_step_is_excluded(rstore):
    ghost = answer_json("up", 0.99, [(["fact:0000"], "up")])
    op = ScriptedOperator(["not json at all", ghost, "{\"probability\": 2}", cite_first(0.2)], repeat_last=True)
    out, pred = run(rstore, op, k=1, max_reasks=2)
    first = pred.chains[0].steps[0]
    assert not first.supported and first.attempts == 3
    assert first.p_after == first.p_before  # change excluded
    assert "unsupported after 3 attempt(s)" in first.error
    assert len(op.calls) >= 4 and op.calls[3][1] is None  # the next step starts fresh
    assert pred.grounding_rate < 1.0
    assert pred.steps_supported == pred.steps_total - 1


def test_max_reasks_zero(rstore):
    op = ScriptedOperator(["garbage", cite_first(0.3)], repeat_last=True)
    _, pred = run(rstore, op, k=1, max_reasks=0)
    assert pred.chains[0].steps[0].attempts == 1 and not pred.chains[0].steps[0].supported


def test_no_graph_support(rstore):
    spec = TrialSpec.build(drugs=["unobtainium"], diseases=["made-up syndrome"], phase="phase 2")
    op = ScriptedOperator(["never called"])
    _, pred = run(rstore, op, spec=spec)
    assert pred.no_graph_support and "unobtainium" in pred.flags[0]
    assert pred.chains == [] and pred.grounding_rate is None and op.calls == []
    assert 0 < pred.probability < 1 and pred.aggregate_method.startswith("phase base rate")


def test_operator_error_propagates(rstore):
    op = ScriptedOperator([cite_first(0.5)])  # runs out after one answer
    with pytest.raises(OperatorError, match="ran out"):
        run(rstore, op, k=2)


def test_nodes_return_partial_updates(rstore):
    nodes = ReasoningNodes(rstore, ScriptedOperator(["x"]), config=ReasoningConfig(k=2),
                           index_factory=lambda: AnchorIndex.build(rstore))
    state = {"spec": TARGET.model_dump(mode="json")}
    frozen = json.dumps(state, sort_keys=True)
    upd = nodes.resolve_target(state)
    assert json.dumps(state, sort_keys=True) == frozen  # input not mutated
    assert upd["target"]["drug_ids"] == [G.SUNITINIB] and upd["target"]["disease_ids"] == [G.HCC]
    state = {**state, **upd}
    upd = nodes.retrieve_anchors(state)
    assert [a["trial_id"] for a in upd["anchors"]][0] == G.trial(5)  # same drug, disease, (other) phase
    state = {**state, **upd}
    upd = nodes.plan(state)
    assert [p["factor"] for p in upd["plan"]] in (["population", "phase"], ["phase"])


def test_same_prediction_on_every_store(store, rstore):
    """The state machine only uses the store protocol: both stores give the same chains."""
    G.load(store)
    preds = []
    for st in (rstore, store):
        op = ScriptedOperator([cite_first(0.65)], repeat_last=True)
        preds.append(run(st, op, k=3)[1])
    a, b = preds
    assert a.anchors == b.anchors and a.probability == b.probability
    assert [[s.cited for s in c.steps] for c in a.chains] == [[s.cited for s in c.steps] for c in b.chains]


def test_checkpointed_run_state_is_stored(rstore, tmp_path):
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(tmp_path / "ck.sqlite", check_same_thread=False)
    graph = build_graph(rstore, ScriptedOperator([cite_first(0.6)], repeat_last=True),
                        config=ReasoningConfig(k=1), checkpointer=SqliteSaver(conn))
    cfg = {"configurable": {"thread_id": "NCT10000001"}}
    out = graph.invoke({"spec": TARGET.model_dump(mode="json")}, cfg)
    saved = graph.get_state(cfg).values
    assert saved["result"] == out["result"] and Prediction.model_validate(saved["result"]).chains
    conn.close()
