"""The meaning checks of the verifier on the fixture graph: names, relations, direction,
contradictions, relevance; and the name index."""

from __future__ import annotations

import pytest

from kgimagine.kg import queries
from kgimagine.reasoning.nodes import fact_ref
from kgimagine.reasoning.verifier import NameIndex, verify_step
from kgimagine.traces import Claim, FactRef, StepAnswer, StepInput, rule_fact_signs
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G

KIT, KDR = "ncbigene:3815", "ncbigene:3791"


@pytest.fixture
def drug_step(rstore):
    """Imatinib -> Sunitinib in GIST, with the facts reasoning retrieves."""
    facts = [fact_ref(f) for f in queries.facts_for_change(rstore, Factor.DRUG, [G.IMATINIB], [G.SUNITINIB],
                                                            context_ids=[G.GIST], budget=12)]
    return StepInput(factor=Factor.DRUG, anchor_value=f"Imatinib [{G.IMATINIB}]",
                     target_value=f"Sunitinib [{G.SUNITINIB}]", p_before=0.6, facts=facts)


@pytest.fixture
def names(rstore):
    return NameIndex.from_store(rstore)


def fid(step, subject, relation, obj):
    return next(f.fact_id for f in step.facts if (f.subject, f.relation, f.object) == (subject, relation, obj))


def ans(direction, p, claims, rationale=""):
    return StepAnswer(direction=direction, probability=p, claims=[Claim(facts=f, role=r) for f, r in claims],
                      rationale=rationale)


def shared_kit(step, direction="up", p=0.7, role="up", rationale="Imatinib TARGETS KIT; Sunitinib TARGETS KIT."):
    return ans(direction, p, [([fid(step, G.IMATINIB, "TARGETS", KIT)], role),
                              ([fid(step, G.SUNITINIB, "TARGETS", KIT)], role)], rationale)


def test_rule_signs(drug_step):
    signs = rule_fact_signs(drug_step)
    assert signs[fid(drug_step, G.IMATINIB, "TARGETS", KIT)] == 1.0  # shared target
    assert signs[fid(drug_step, G.SUNITINIB, "TARGETS", KDR)] == 0.0  # only one side
    assert signs[fid(drug_step, G.IMATINIB, "TREATS", G.GIST)] == -1.0  # the indicated drug is given up
    trial3 = fid(drug_step, G.trial(3), "TESTS", G.SUNITINIB)
    assert next(f for f in drug_step.facts if f.fact_id == trial3).outcome == 1 and signs[trial3] == 1.0


def test_correct_answer_is_supported(drug_step, names):
    v = verify_step(shared_kit(drug_step), drug_step, names)
    assert v.supported and v.verdict == "supported" and [c.verdict for c in v.claims] == ["supported"] * 2
    # lower-case names, aliases and a path claim are fine too
    v = verify_step(shared_kit(drug_step, rationale="gleevec targets KIT, and so does sunitinib"), drug_step, names)
    assert v.supported, v.reason


@pytest.mark.parametrize("rationale, why", [
    ("Sunitinib TARGETS KDR.", "KDR"),  # a real entity outside the cited facts
    ("Sunitinib TREATS KIT.", "no cited fact is TREATS"),  # wrong relation
    ("Imatinib TARGETS KIT; Sunitinib TARGETS KIT; Sorafenib shares it.", "Sorafenib"),  # swapped in
    ("Sunitinib (TDKY) TARGETS KIT.", "TDKY"),  # invented name
    ("Sunitinib TARGETS EFFECTS CYTCHLINEMATIS", "EFFECTS"),
    ("no", "names none"),
    ("no one", "names none"),
])
def test_rationale_problems_make_every_claim_unsupported(drug_step, names, rationale, why):
    v = verify_step(shared_kit(drug_step, rationale=rationale), drug_step, names)
    assert not v.supported and v.verdict == "unsupported" and why in v.reason, v.reason
    assert all(c.verdict == "unsupported" for c in v.claims)


def test_direction_checks(drug_step, names):
    # direction against the move
    v = verify_step(shared_kit(drug_step, direction="down", p=0.7), drug_step, names)
    assert not v.supported and "moves" in v.reason
    # a consistent move whose claims say the opposite of their facts' sign
    v = verify_step(shared_kit(drug_step, direction="down", p=0.5, role="down"), drug_step, names)
    assert not v.supported and "evidence sign" in v.reason
    # the operator's own signs decide when it has them
    kit = fid(drug_step, G.IMATINIB, "TARGETS", KIT)
    v = verify_step(shared_kit(drug_step), drug_step, names, fact_signs={kit: -0.4})
    assert not v.supported and [c.verdict for c in v.claims] == ["unsupported", "unsupported"]
    # "none" with an unchanged probability and context claims is fine
    v = verify_step(shared_kit(drug_step, direction="none", p=0.6, role="context"), drug_step, names)
    assert v.supported, v.reason


def test_contradictions_are_refuted(drug_step, names):
    kit = fid(drug_step, G.IMATINIB, "TARGETS", KIT)
    v = verify_step(shared_kit(drug_step, rationale="Imatinib does not target KIT; Sunitinib TARGETS KIT."),
                    drug_step, names)
    assert v.verdict == "refuted" and not v.supported
    assert [c.verdict for c in v.claims] == ["refuted", "unsupported"] and v.claims[0].facts == [kit]
    trial = fid(drug_step, G.trial(3), "TESTS", G.SUNITINIB)
    claims = [([trial], "up")]
    good = verify_step(ans("up", 0.7, claims, "NCT00000003 of Sunitinib succeeded."), drug_step, names)
    assert good.supported, good.reason
    bad = verify_step(ans("up", 0.7, claims, "NCT00000003 of Sunitinib failed."), drug_step, names)
    assert bad.verdict == "refuted" and "succeeded" in bad.claims[0].reason


def test_no_claim_or_nothing_relevant_is_unsupported(drug_step, names):
    assert not verify_step(ans("none", 0.6, []), drug_step, names).supported
    off = FactRef(fact_id="fact:off", text="hepatocellular carcinoma ASSOCIATED_WITH KDR", subject=G.HCC,
                  relation="ASSOCIATED_WITH", object=KDR)
    step = drug_step.model_copy(update={"facts": [*drug_step.facts, off]})
    v = verify_step(ans("none", 0.6, [(["fact:off"], "context")]), step, names)
    assert not v.supported and "touches the changed drug" in v.reason
    # a claim path must be connected
    kit = fid(drug_step, G.IMATINIB, "TARGETS", KIT)
    v = verify_step(ans("none", 0.6, [([kit, "fact:off"], "context")]), step, names)
    assert "path" in v.claims[0].reason


def test_name_index(names):
    found = lambda text: [sorted(m.ids) for m in names.mentions(text)]  # noqa: E731
    assert found("KIT and kit") == [[KIT]]  # gene symbols match with their case only
    assert found("Gleevec, imatinib") == [[G.IMATINIB], [G.IMATINIB]]
    assert found("type 2 diabetes mellitus in cancer") == [[G.T2D]]  # "cancer" is a common word
    assert found(f"see {G.GIST}") == [[G.GIST]]
    small = NameIndex.from_records([{"id": KIT, "label": "Gene", "name": "KIT"}])
    assert len(small) == 1 and small.label(KIT) == "Gene" and [m.surface for m in small.mentions("a KIT b")] == ["KIT"]


def test_answer_format_and_old_answers():
    import json

    from kgimagine.traces import parse_step_answer, render_step_answer, step_answer_schema

    a = ans("up", 0.7, [(["fact:1", "fact:2"], "up")], "x")
    assert parse_step_answer("noise " + render_step_answer(a) + " trailing") == a
    assert a.cited == ["fact:1", "fact:2"] and a.claim == "x"
    with pytest.raises(ValueError, match="version-1 format"):
        parse_step_answer('{"probability": 0.4, "claim": "c", "cited": ["fact:1"]}')
    with pytest.raises(ValueError, match="rationale"):
        parse_step_answer(json.dumps({"direction": "up", "probability": 0.5, "claims": [], "rationale": "r" * 241}))
    with pytest.raises(ValueError, match="facts"):
        parse_step_answer('{"direction": "up", "probability": 0.5, "claims": [{"facts": ["a", "b", "c", "d"], "role": "up"}]}')
    step = StepInput(factor=Factor.DRUG, anchor_value="a", target_value="b", p_before=0.5,
                     facts=[FactRef(fact_id="fact:1", text="t")])
    schema = step_answer_schema(step)
    assert schema["properties"]["claims"]["items"]["properties"]["facts"]["items"]["enum"] == ["fact:1"]


def test_a_drug_on_both_sides_is_not_the_change(rstore):
    """Adding sunitinib to imatinib: imatinib's own targets are not a shared mechanism."""
    facts = [fact_ref(f) for f in queries.facts_for_change(rstore, Factor.DRUG, [G.IMATINIB], [G.IMATINIB, G.SUNITINIB],
                                                            context_ids=[G.GIST], budget=20)]
    step = StepInput(factor=Factor.DRUG, anchor_value=f"Imatinib [{G.IMATINIB}]",
                     target_value=f"Imatinib [{G.IMATINIB}], Sunitinib [{G.SUNITINIB}]", p_before=0.6, facts=facts)
    signs = rule_fact_signs(step)
    abl1 = fid(step, G.IMATINIB, "TARGETS", "ncbigene:25")  # only imatinib targets ABL1
    kit = fid(step, G.SUNITINIB, "TARGETS", KIT)  # both target KIT
    assert signs[abl1] == 0.0 and signs[kit] == 1.0


def test_the_operators_signs_never_make_a_fact_say_what_it_does_not(drug_step, names):
    """An operator's own model may weigh a fact either way; a claim is supported only where the
    fact, read as it stands, points the same way (a failed trial of the new drug cannot raise the
    estimate; a target of the new drug alone points nowhere)."""
    won = fid(drug_step, G.trial(3), "TESTS", G.SUNITINIB)  # sunitinib succeeded in NCT00000003
    lost = fid(drug_step, G.trial(5), "TESTS", G.SUNITINIB)  # and failed in NCT00000005
    kdr = fid(drug_step, G.SUNITINIB, "TARGETS", KDR)  # only sunitinib targets KDR
    reading = rule_fact_signs(drug_step)
    assert (reading[won], reading[lost], reading[kdr]) == (1.0, -1.0, 0.0)
    ok = verify_step(ans("up", 0.7, [([won], "up")]), drug_step, names, fact_signs={won: 0.3})
    assert ok.supported, ok.reason
    for fact, points in ((lost, "down"), (kdr, "neither way")):
        v = verify_step(ans("up", 0.7, [([fact], "up")]), drug_step, names, fact_signs={fact: 0.3})
        assert not v.supported and f"what its facts state points {points}" in v.claims[0].reason
    # the same holds for a move down: the failed trial backs it, the succeeded one does not
    assert verify_step(ans("down", 0.5, [([lost], "down")]), drug_step, names, fact_signs={lost: -0.3}).supported
    assert not verify_step(ans("down", 0.5, [([won], "down")]), drug_step, names, fact_signs={won: -0.3}).supported
