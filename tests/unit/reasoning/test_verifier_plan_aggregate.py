from __future__ import annotations

import json
import math

import pytest

from kgimagine.kg import queries
from kgimagine.reasoning.aggregate import aggregate_chains, logit
from kgimagine.reasoning.plan import build_plan
from kgimagine.reasoning.retrieval import Anchor, ResolvedTarget
from kgimagine.reasoning.nodes import fact_ref
from kgimagine.reasoning.verifier import NameIndex, verify_answer, verify_citations
from kgimagine.traces import Claim, StepInput
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G


def _ans(cited, p=0.6):
    return json.dumps({"direction": "down", "probability": p, "claims": [{"facts": [c], "role": "down"} for c in cited]})


def test_verdicts(rstore):
    facts = [fact_ref(f) for f in queries.facts_for_change(rstore, Factor.DRUG, [G.IMATINIB], [G.SUNITINIB],
                                                            context_ids=[G.GIST], budget=12)]
    step = StepInput(factor=Factor.DRUG, anchor_value=f"Imatinib [{G.IMATINIB}]", target_value=f"Sunitinib [{G.SUNITINIB}]",
                     p_before=0.7, facts=facts)
    names = NameIndex.from_store(rstore)
    shown = [f.fact_id for f in facts]
    down = next(f.fact_id for f in facts if f.relation == "TREATS")  # Imatinib TREATS GIST: given up -> down
    other = next(e.fact_id for e in rstore.iter_edges() if e.fact_id not in shown)
    v = verify_citations([shown[0], other, "fact:doesnotexist"], shown, rstore)
    assert v == {shown[0]: "verified", other: "not_retrieved", "fact:doesnotexist": "unknown_fact"}
    ok = verify_answer(_ans([down]), step, names, store=rstore)
    assert ok.supported and ok.answer.probability == 0.6 and ok.reason == "" and ok.verdict == "supported"
    bad = verify_answer(_ans([down, other]), step, names, store=rstore)
    assert not bad.supported and other in bad.reason and "not retrieved" in bad.reason
    assert [c.verdict for c in bad.claims] == ["supported", "unsupported"]
    none = verify_answer(_ans([]), step, names, store=rstore)
    assert not none.supported and "no claim" in none.reason
    garbage = verify_answer("I think it will work!", step, names, store=rstore)
    assert garbage.answer is None and not garbage.supported and "unparsable" in garbage.reason
    # a fact id shown but deleted from the graph would be unknown: simulate with a fake id in "shown"
    assert verify_citations(["fact:ghost"], ["fact:ghost"], rstore) == {"fact:ghost": "unknown_fact"}


def _anchor(**kw):
    base = dict(trial_id=G.trial(4), label=1, similarity=0.5, drug_ids=[G.SORAFENIB], disease_ids=[G.HCC],
                phase="phase 3", criteria="adults with HCC", drug_names=["Sorafenib"],
                disease_names=["hepatocellular carcinoma"])
    return Anchor(**{**base, **kw})


def test_plan_order_and_values():
    target = ResolvedTarget(trial_id=G.trial(8), drug_ids=[G.SUNITINIB], disease_ids=[G.GIST], phase="phase 2",
                            drug_names=["Sunitinib"], disease_names=["gastrointestinal stromal tumor"])
    steps = build_plan(_anchor(), target, target_criteria="adults with GIST")
    assert [s.factor for s in steps] == [Factor.DISEASE, Factor.DRUG, Factor.POPULATION, Factor.PHASE]
    disease, drug = steps[0], steps[1]
    assert disease.context_ids == [G.SORAFENIB]  # still the anchor's drug at this point of the chain
    assert drug.context_ids == [G.GIST]
    assert drug.anchor_value == "Sorafenib [drugbank:DB00398]" and drug.target_value == "Sunitinib [drugbank:DB01268]"
    same = ResolvedTarget(drug_ids=[G.SORAFENIB], disease_ids=[G.HCC], phase="phase 3")
    assert build_plan(_anchor(), same, target_criteria="adults  with HCC") == []
    # an unresolved target disease is not a step (nothing to reason about)
    nodis = ResolvedTarget(drug_ids=[G.SUNITINIB], phase="phase 3")
    assert [s.factor for s in build_plan(_anchor(), nodis)] == [Factor.DRUG]
    # nor is a factor unknown on the anchor's side
    assert [s.factor for s in build_plan(_anchor(disease_ids=[], disease_names=[]), target)][0] == Factor.DRUG


def test_plan_values_name_what_the_graph_does_not_hold():
    # a listed drug no node matches is shown as such, never as "no drug" (the learned operator
    # steps to a side known on one end only, so the value is read)
    new = ResolvedTarget(disease_ids=[G.HCC], disease_names=["hepatocellular carcinoma"], phase="phase 3",
                         unresolved_drugs=["Keytruda", "keytruda"])
    drug = next(s for s in build_plan(_anchor(), new, complete=True) if s.factor is Factor.DRUG)
    assert drug.anchor_value == "Sorafenib [drugbank:DB00398]" and drug.target_value == "Keytruda (not in graph)"
    both = ResolvedTarget(drug_ids=[G.SUNITINIB], drug_names=["Sunitinib"], disease_ids=[G.GIST],
                          disease_names=["gastrointestinal stromal tumor"], unresolved_drugs=["x-123"],
                          unresolved_diseases=["rare thing"], phase="phase 3")
    steps = {s.factor: s for s in build_plan(_anchor(), both)}
    assert steps[Factor.DRUG].target_value == "Sunitinib [drugbank:DB01268], x-123 (not in graph)"
    assert steps[Factor.DISEASE].target_value == "gastrointestinal stromal tumor [doid:9253], rare thing (not in graph)"
    assert queries.find_ids(steps[Factor.DRUG].target_value) == [G.SUNITINIB]  # ids read as before
    from kgimagine.reasoning.readable import values

    assert values(steps[Factor.DRUG].target_value) == "Sunitinib, x-123 (not in graph)"


def test_aggregate():
    assert aggregate_chains([0.8], [0.3]) == pytest.approx(0.8)
    p = aggregate_chains([0.9, 0.1], [1.0, 1.0])
    assert p == pytest.approx(0.5)
    heavy = aggregate_chains([0.9, 0.1], [0.9, 0.1])
    assert heavy > 0.8
    assert logit(0.0) < -9 and math.isfinite(logit(1.0))
    with pytest.raises(ValueError):
        aggregate_chains([], [])


def test_anchor_and_pair_values_show_the_anchors_unresolved_names():
    # a labelled trial's listed names that matched no node at build time (its ``unresolved_*``
    # properties) are shown in its step values, the same way in served chains and in mined pairs
    from dataclasses import replace as dc_replace

    from kgimagine.kg.model import Node
    from kgimagine.reasoning.retrieval import AnchorIndex
    from kgimagine.training.pairs import _value_text, read_labelled_trials

    st = G.fixture_store()
    old = st.get_node(G.trial(4))
    st.upsert_nodes([Node(old.id, old.label, old.name, {**old.properties, "unresolved_drugs": ["TACE", "tace"],
                                                         "unresolved_diseases": "liver mets"})])
    got = {t.trial_id: t for t in queries.read_labelled_trials(st)}[G.trial(4)]
    assert got.unresolved_drugs == ("TACE", "tace") and got.unresolved_diseases == ("liver mets",)
    target = ResolvedTarget(drug_ids=[G.SUNITINIB], drug_names=["Sunitinib"], disease_ids=[G.HCC],
                            disease_names=["hepatocellular carcinoma"], phase="phase 3")
    anchor = next(a for a in AnchorIndex.build(st).retrieve(target, k=8) if a.trial_id == G.trial(4))
    drug = next(s for s in build_plan(anchor, target) if s.factor is Factor.DRUG)
    assert drug.anchor_value == "Sorafenib [drugbank:DB00398], TACE (not in graph)"
    profile = {p.trial_id: p for p in read_labelled_trials(st)}[G.trial(4)]
    names = {G.SORAFENIB: "Sorafenib", G.HCC: "hepatocellular carcinoma"}
    assert _value_text(profile, Factor.DRUG, names) == drug.anchor_value  # trained as served
    assert _value_text(profile, Factor.DISEASE, names) == "hepatocellular carcinoma [doid:684], liver mets (not in graph)"
    assert _value_text(dc_replace(profile, unresolved_drugs=()), Factor.DRUG, names) == "Sorafenib [drugbank:DB00398]"


def test_a_long_step_value_keeps_the_arrow_and_the_target_side():
    from kgimagine.reasoning.readable import _change

    assert _change("Erlotinib", "keytruda (not in graph)", 40) == "Erlotinib → keytruda (not in graph)"
    short = _change("Erlotinib", "keytruda (not in graph)", 25)
    assert len(short) == 25 and short.startswith("Erlotinib → keytruda") and short.endswith("…")
    long_before = _change("Vinorelbine, Carboplatin, Cisplatin", "Pemetrexed", 25)
    assert len(long_before) <= 25 and long_before.endswith(" → Pemetrexed") and "…" in long_before
    both = _change("Vinorelbine, Carboplatin, Cisplatin", "Metformin, Sitagliptin, Liraglutide", 25)
    assert len(both) <= 25 and " → " in both and both.count("…") == 2


def test_the_change_column_shows_what_changes_not_what_both_sides_keep():
    from kgimagine.reasoning.readable import change_text

    # a swap beside a kept drug: only the swap shows (before, "Warfarin, … → Warfarin, …" at 25 columns)
    assert change_text("Warfarin, edoxaban", "warfarin, dabigatran (not in graph)", 40) == "edoxaban → dabigatran (not in graph)"
    assert change_text("Warfarin", "Warfarin, Enoxaparin", 25) == "+ Enoxaparin"
    assert change_text("prostate cancer, cancer, lung cancer", "prostate cancer", 25) == "− cancer, lung cancer"
    # nothing in common: both sides whole, as before; same names on both sides: both shown
    assert change_text("Sumatriptan", "Ketorolac", 25) == "Sumatriptan → Ketorolac"
    assert change_text("breast cancer", "breast cancer", 40) == "breast cancer → breast cancer"
    assert len(change_text("Warfarin", "Warfarin, Enoxaparin, Idrabiotaparinux, Avidin", 25)) == 25


def test_a_fact_about_an_entity_both_sides_keep_is_tagged_kept():
    from types import SimpleNamespace as NS

    from kgimagine.reasoning.readable import side_of

    target, anchor = {"drugbank:W", "drugbank:D"}, {"drugbank:W", "drugbank:E"}
    fact = lambda s, o: NS(subject=s, object=o)  # noqa: E731
    assert side_of(fact("clinicaltrials:NCT1", "drugbank:W"), target, anchor) == "kept"
    assert side_of(fact("clinicaltrials:NCT1", "drugbank:D"), target, anchor) == "target"
    assert side_of(fact("drugbank:E", "ncbigene:1"), target, anchor) == "anchor"
    assert side_of(fact("drugbank:W", "drugbank:D"), target, anchor) == "target"  # a kept end adds no side
    assert side_of(fact("drugbank:D", "drugbank:E"), target, anchor) == ""  # both sides
    assert side_of(fact("doid:1", "ncbigene:1"), target, anchor) == ""  # neither


def test_a_statement_cited_from_two_sources_reads_once_in_the_step_line():
    from types import SimpleNamespace as NS

    from kgimagine.reasoning.readable import step_parts

    facts = [NS(fact_id=f"fact:{i}", subject="drugbank:DB01001", object="doid:2841", source=src,
                text=f"Salbutamol TREATS asthma ({src} v1, CC BY 4.0)") for i, src in enumerate(("hetionet", "pharmacotherapydb"))]
    facts.append(NS(fact_id="fact:9", subject="clinicaltrials:NCT1", object="drugbank:DB01001", source="top",
                    text="NCT1 (phase 3, succeeded) TESTS Salbutamol (top TOP, non-commercial)"))
    step = NS(factor=Factor.DRUG, anchor_value="Salbutamol [drugbank:DB01001]", target_value="x-1 (not in graph)",
              facts=facts, claims=[Claim(facts=[f.fact_id], role="down") for f in facts], direction="down",
              supported=True, verdict="supported", p_before=0.8, p_after=0.7, reason="", error=None)
    detail = step_parts(step, 200)[4]
    assert detail == ("(anchor) Salbutamol TREATS asthma (2 sources); "
                      "(anchor) NCT1 (phase 3, succeeded) TESTS Salbutamol")


def test_the_step_line_shows_the_fact_cited_against_the_move():
    from types import SimpleNamespace as NS

    from kgimagine.reasoning.readable import step_parts

    def trial(i, outcome):
        return NS(fact_id=f"fact:{i}", subject=f"clinicaltrials:NCT{i}", object="drugbank:DB1", source="top",
                  text=f"NCT{i} (phase 2, {outcome}) TESTS Cisplatin (top TOP, non-commercial)")

    facts = [trial(1, "succeeded"), trial(2, "succeeded"), trial(3, "failed")]
    step = NS(factor=Factor.DRUG, anchor_value="Erlotinib [drugbank:DB0]", target_value="Cisplatin [drugbank:DB1]",
              facts=facts, direction="up", supported=True, verdict="supported", p_before=0.4, p_after=0.45,
              reason="", error=None, claims=[Claim(facts=["fact:1"], role="up"), Claim(facts=["fact:2"], role="up"),
                                             Claim(facts=["fact:3"], role="down")])
    assert step_parts(step, 300)[4] == ("(target) NCT1 (phase 2, succeeded) TESTS Cisplatin; (target) NCT2 (phase 2, "
                                        "succeeded) TESTS Cisplatin; against: (target) NCT3 (phase 2, failed) TESTS Cisplatin")
