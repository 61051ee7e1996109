"""Pair mining on a small hand-built graph: exactly the one-factor pairs, only allowed splits."""

from __future__ import annotations

import pytest

from kgimagine.errors import TrainingError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.traces import StepExample, iter_traces, write_traces
from kgimagine.training.pairs import (
    PairStats,
    TrialProfile,
    classify_pair,
    iter_pair_examples,
    mine_pairs,
    read_labelled_trials,
    select_cited,
)
from kgimagine.types import Factor, NodeLabel as L, RelationType as R


def prov(rec: str) -> Provenance:
    return Provenance(source="test", source_version="1", licence="CC0-1.0", record_id=rec)


def trial(n: int, phase: str, split: str, label: int | None) -> Node:
    props = {"phase": phase, "split": split}
    if label is not None:
        props["outcome_label"] = label
    return Node(f"clinicaltrials:NCT0000000{n}", L.TRIAL, f"trial {n}", props)


D1, D2 = "drugbank:DB00001", "drugbank:DB00002"
X, Y, Z = "doid:1", "doid:2", "doid:3"
G1, G2, G3 = "ncbigene:1", "ncbigene:2", "ncbigene:3"
T = {n: f"clinicaltrials:NCT0000000{n}" for n in range(1, 8)}

# (n, drug, disease, phase, split, label)
TRIALS = [
    (1, D1, X, "phase 1", "phase_I_train", 1),
    (2, D1, Y, "phase 1", "phase_I_train", 0),
    (3, D2, X, "phase 1", "phase_I_train", 0),
    (4, D1, X, "phase 1/phase 2", "phase_I_train", 1),
    (5, D2, Y, "phase 1", "phase_I_train", 1),
    (6, D1, Z, "phase 1", "phase_I_valid", None),  # evaluation split: no label in the graph
    (7, D2, Y, "phase 1/phase 2", "phase_I_valid", 1),  # labelled, but not an allowed split below
]


def build_graph(path) -> NetworkXGraphStore:
    st = NetworkXGraphStore(path)
    st.upsert_nodes([
        Node(D1, L.DRUG, "drugone"), Node(D2, L.DRUG, "drugtwo"),
        Node(X, L.DISEASE, "disease x"), Node(Y, L.DISEASE, "disease y"), Node(Z, L.DISEASE, "disease z"),
        Node(G1, L.GENE, "GENE1"), Node(G2, L.GENE, "GENE2"), Node(G3, L.GENE, "GENE3"),
        *[trial(n, ph, sp, lab) for n, _, _, ph, sp, lab in TRIALS],
    ])
    edges = [
        Edge(D1, R.TARGETS, G1, prov("t1")), Edge(D2, R.TARGETS, G1, prov("t2")),
        Edge(D2, R.TARGETS, G2, prov("t3")), Edge(X, R.ASSOCIATED_WITH, G1, prov("a1")),
        Edge(Y, R.ASSOCIATED_WITH, G3, prov("a2")), Edge(Y, R.SUBCLASS_OF, X, prov("s1")),
    ]
    for n, drug, disease, *_ in TRIALS:
        edges += [Edge(T[n], R.TESTS, drug, prov(f"top{n}")), Edge(T[n], R.STUDIES, disease, prov(f"top{n}"))]
    st.upsert_edges(edges)
    return st


class Fact:
    def __init__(self, edge, text):
        self.fact_id, self.text, self.edge = edge.fact_id, text, edge


def simple_facts_for_change(store, factor, anchor_ids, target_ids, budget=12, **_ignored):
    """Stand-in with kgimagine.kg.queries.facts_for_change's signature: the facts touching the
    changed values (trial edges only for a phase change), sorted by fact id."""
    rels = None if factor is Factor.PHASE else [r for r in R if r not in (R.TESTS, R.STUDIES)]
    edges = store.facts([*anchor_ids, *target_ids], rel_types=rels, limit=budget)
    names = store.get_nodes({e.source for e in edges} | {e.target for e in edges})
    return [Fact(e, f"{names[e.source].name} {e.type.value} {names[e.target].name}") for e in edges]


@pytest.fixture()
def graph(tmp_path):
    return build_graph(tmp_path / "g")


def ordered(*pairs):
    return {(T[a], T[b]) for a, b in pairs} | {(T[b], T[a]) for a, b in pairs}


def test_mining_finds_exactly_the_one_factor_pairs(graph):
    trials = read_labelled_trials(graph, allowed_splits={"phase_I_train"})
    assert [t.trial_id for t in trials] == [T[n] for n in (1, 2, 3, 4, 5)]
    pairs = mine_pairs(trials, near=True, max_anchors_per_target=10)
    got = {(p.anchor.trial_id, p.target.trial_id): p.factor for p in pairs}
    expected = {
        **{k: Factor.DISEASE for k in ordered((1, 2), (3, 5))},
        **{k: Factor.DRUG for k in ordered((1, 3), (2, 5))},
        **{k: Factor.PHASE for k in ordered((1, 4))},
    }
    assert got == expected
    assert all(p.exact and p.similarity == 1.0 for p in pairs)


def test_no_pair_uses_a_trial_the_graph_must_not_label(graph):
    stats = PairStats()
    examples = list(iter_pair_examples(graph, facts_for_change=simple_facts_for_change,
                                       allowed_splits={"phase_I_train"}, stats=stats, max_anchors_per_target=10))
    used = {e.anchor_id for e in examples} | {e.target_id for e in examples}
    assert T[6] not in used and T[7] not in used
    assert {e.split for e in examples} == {"phase_I_train"}
    assert stats.labelled == 6 and stats.skipped_split == 1
    # without a split filter the labelled valid trial 7 pairs up (phase with 5), the unlabelled 6 never
    everything = list(iter_pair_examples(graph, facts_for_change=simple_facts_for_change, max_anchors_per_target=10))
    used_all = {e.anchor_id for e in everything} | {e.target_id for e in everything}
    assert T[7] in used_all and T[6] not in used_all


def test_pair_example_content(graph):
    examples = {e.example_id: e for e in iter_pair_examples(
        graph, facts_for_change=simple_facts_for_change, allowed_splits={"phase_I_train"}, max_anchors_per_target=10)}
    ex = examples[f"pair:{T[1]}->{T[3]}:drug"]
    assert ex.origin == "pair" and ex.step.factor is Factor.DRUG
    # values as the reasoning plan renders them
    assert (ex.step.anchor_value, ex.step.target_value) == (f"drugone [{D1}]", f"drugtwo [{D2}]")
    # start values as the reasoning chain's: 0.7 * label + 0.3 * phase base rate, where the graph's
    # labelled trials (1, 2, 3, 4, 5, 7: 4 of 6 succeeded) give overall (4 + 1) / (6 + 2) = 0.625 and
    # phase 1 (trials 1, 2, 3, 5: 2 of 4) (2 + 2 * 0.625) / (4 + 2)
    base1 = (2 + 2 * 0.625) / 6
    assert ex.step.p_before == pytest.approx(0.7 + 0.3 * base1, abs=1e-6)
    assert ex.answer.probability == pytest.approx(0.3 * base1, abs=1e-6)
    assert ex.step.anchor_summary == f"{T[1]} (phase 1, succeeded): drugone [{D1}] in disease x [{X}]"
    assert ex.direction == "down" and ex.target_label == 0
    # both drugs target GENE1: the two facts meeting at the shared gene are the support
    d1g1 = Edge(D1, R.TARGETS, G1, prov("t1")).fact_id
    d2g1 = Edge(D2, R.TARGETS, G1, prov("t2")).fact_id
    assert sorted(ex.answer.cited) == sorted([d1g1, d2g1])
    assert "drugone TARGETS GENE1" in ex.answer.claim and "drugtwo TARGETS GENE1" in ex.answer.claim
    assert "GENE2" not in ex.answer.claim  # only cited facts are restated
    assert set(ex.answer.cited) <= {f.fact_id for f in ex.step.facts}
    assert "succeeded" not in ex.step.target_summary and "failed" not in ex.step.target_summary
    dis = examples[f"pair:{T[1]}->{T[2]}:disease"]
    assert dis.answer.cited == [Edge(Y, R.SUBCLASS_OF, X, prov("s1")).fact_id]
    # both succeeded; the later phase's base rate (trials 4 and 7, both succeeded) is higher
    later = examples[f"pair:{T[1]}->{T[4]}:phase"]
    base12 = (2 + 2 * 0.625) / 4
    assert later.direction == "up" and later.answer.probability == pytest.approx(0.7 + 0.3 * base12, abs=1e-6)
    assert later.step.target_value == f"phase 1/phase 2 [{T[4]}]"


def test_pairs_round_trip_through_trace_files(graph, tmp_path):
    examples = list(iter_pair_examples(graph, facts_for_change=simple_facts_for_change,
                                       allowed_splits={"phase_I_train"}))
    path = tmp_path / "pairs.jsonl"
    assert write_traces(path, examples) == len(examples) > 0
    back = list(iter_traces(path))
    assert all(isinstance(r, StepExample) and r.content_hash for r in back)
    assert [r.example_id for r in back] == [e.example_id for e in examples]
    assert {r.graph_version for r in back} == {graph.graph_version()}


def profile(tid: str, drugs, diseases, phase="phase 1", label=1) -> TrialProfile:
    return TrialProfile(tid, tid, "train", label, phase, frozenset(drugs), frozenset(diseases))


def test_near_pairs_have_one_main_difference():
    a = profile("clinicaltrials:NCTa", {D1}, {X})
    near = profile("clinicaltrials:NCTb", {D2}, {X, Y})  # drug differs fully, disease half
    tie = profile("clinicaltrials:NCTc", {D1, D2}, {X, Y})  # two equal differences: no main one
    p = classify_pair(a, near)
    assert p is not None and p.factor is Factor.DRUG and not p.exact and p.similarity == 0.5
    assert classify_pair(a, tie) is None
    assert classify_pair(a, near, min_similarity=0.6) is None
    assert classify_pair(a, a) is None
    assert mine_pairs([a, near], near=False) == []
    assert len(mine_pairs([a, near], near=True)) == 2


def test_max_anchors_per_target_keeps_exact_first():
    target = profile("clinicaltrials:NCTt", {D1}, {X})
    exact = profile("clinicaltrials:NCTz", {D2}, {X})
    near = profile("clinicaltrials:NCTa", {D2}, {X, Y})
    pairs = [p for p in mine_pairs([target, exact, near], max_anchors_per_target=1) if p.target is target]
    assert [p.anchor.trial_id for p in pairs] == ["clinicaltrials:NCTz"]
    with pytest.raises(TrainingError, match="max_anchors_per_target"):
        mine_pairs([target], max_anchors_per_target=0)


def test_select_cited_falls_back_to_target_side_facts(graph):
    facts = simple_facts_for_change(graph, Factor.DRUG, [D1], [D2])
    only_g2 = [f for f in facts if f.edge.target == G2]
    assert select_cited(only_g2, [D1], [D2]) == [only_g2[0].fact_id]
    assert select_cited([], [D1], [D2]) == []


def test_real_retrieval_never_shows_the_target_outcome(graph):
    """With kg.queries.facts_for_change the target trial is hidden: no fact states its outcome."""
    from kgimagine.kg.queries import facts_for_change

    examples = list(iter_pair_examples(graph, facts_for_change=facts_for_change, max_anchors_per_target=10))
    assert examples
    for ex in examples:
        nct = ex.target_id.split(":", 1)[1]
        for f in ex.step.facts:
            if nct in f.text:
                assert "succeeded" not in f.text and "failed" not in f.text, f.text
        assert set(ex.answer.cited) <= {f.fact_id for f in ex.step.facts}


def test_rationale_restates_cited_facts_without_provenance():
    from kgimagine.training.pairs import render_rationale, strip_provenance

    line = "Fludarabine TRIALLED_FOR melanoma (repodb repoDB, not stated (research data; Brown & Patel))"
    assert strip_provenance(line) == "Fludarabine TRIALLED_FOR melanoma"
    assert strip_provenance("GENE1 (alias) TARGETS x") == "GENE1 (alias) TARGETS x"
    text = render_rationale([line, "b TARGETS KIT (drugbank 4.2, CC BY-NC 4.0)"])
    assert text == "The graph states Fludarabine TRIALLED_FOR melanoma; b TARGETS KIT."
    assert render_rationale(["f " * 400]) == ""  # too long for 240 characters: the claims carry it
    assert len(render_rationale(["a TARGETS b"] * 40)) <= 240


def test_the_rationale_restates_a_trial_fact_without_its_context():
    """The context of a trial fact ("[in breast cancer]") names no end of the fact; a rationale that
    repeated it would name an entity the cited fact does not hold, which the verifier refuses."""
    from kgimagine.training.pairs import render_rationale

    text = "NCT1 (phase 2, succeeded) TESTS Cisplatin [in non-small cell lung cancer] (top TOP, non-commercial)"
    assert render_rationale([text]) == "The graph states NCT1 (phase 2, succeeded) TESTS Cisplatin."
