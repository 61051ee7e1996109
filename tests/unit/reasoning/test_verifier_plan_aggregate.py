from __future__ import annotations

import json
import math

import pytest

from kgimagine.kg import queries
from kgimagine.reasoning.aggregate import aggregate_chains, logit
from kgimagine.reasoning.plan import build_plan
from kgimagine.reasoning.retrieval import Anchor, ResolvedTarget
from kgimagine.reasoning.verifier import verify_answer, verify_citations
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G


def _ans(cited, p=0.6):
    return json.dumps({"probability": p, "claim": "c", "cited": cited})


def test_verdicts(rstore):
    facts = queries.facts_for_change(rstore, Factor.DRUG, [G.IMATINIB], [G.SUNITINIB], context_ids=[G.GIST], budget=3)
    shown = [f.fact_id for f in facts]
    other = next(e.fact_id for e in rstore.iter_edges() if e.fact_id not in shown)
    v = verify_citations([shown[0], other, "fact:doesnotexist"], shown, rstore)
    assert v == {shown[0]: "verified", other: "not_retrieved", "fact:doesnotexist": "unknown_fact"}
    ok = verify_answer(_ans([shown[0]]), shown, rstore)
    assert ok.supported and ok.answer.probability == 0.6 and ok.reason == ""
    bad = verify_answer(_ans([shown[0], other]), shown, rstore)
    assert not bad.supported and other in bad.reason and "not retrieved" in bad.reason
    none = verify_answer(_ans([]), shown, rstore)
    assert not none.supported and "cites no fact" in none.reason
    garbage = verify_answer("I think it will work!", shown, rstore)
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


def test_aggregate():
    assert aggregate_chains([0.8], [0.3]) == pytest.approx(0.8)
    p = aggregate_chains([0.9, 0.1], [1.0, 1.0])
    assert p == pytest.approx(0.5)
    heavy = aggregate_chains([0.9, 0.1], [0.9, 0.1])
    assert heavy > 0.8
    assert logit(0.0) < -9 and math.isfinite(logit(1.0))
    with pytest.raises(ValueError):
        aggregate_chains([], [])
