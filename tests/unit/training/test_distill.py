"""Teacher-step filtering and the pair mixing rule (training/distill.py)."""

from __future__ import annotations

import pytest

from kgimagine.traces import CheckedClaim, Claim, FactRef, StepAnswer, StepExample, StepInput, StepRecord
from kgimagine.training.distill import (
    DistillStats,
    mix_pairs,
    pair_agrees,
    prune_to_supported,
    split_by_target,
    teacher_step_example,
)
from kgimagine.types import Factor

FACTS = [FactRef(fact_id=f"fact:{i}", text=f"fact {i}") for i in range(3)]
STEP = StepInput(factor=Factor.DRUG, anchor_value="A", target_value="B", p_before=0.4, facts=FACTS,
                 anchor_summary="NCT1 (phase 2, failed): A in D", target_summary="NCT2 (phase 2): B in D")


def record(*, verdicts=("supported", "supported"), roles=("up", "up"), supported=True, p_after=0.6) -> StepRecord:
    claims = [CheckedClaim(facts=[f"fact:{i}"], role=r, verdict=v) for i, (r, v) in enumerate(zip(roles, verdicts))]
    return StepRecord(factor=Factor.DRUG, anchor_value="A", target_value="B", facts=FACTS, claim="",
                      cited=[c.facts[0] for c in claims], verdicts={c.facts[0]: "verified" for c in claims},
                      supported=supported, p_before=0.4, p_after=p_after, direction="up", proposed=p_after,
                      claims=claims, verdict="supported" if supported else "unsupported")


def student(holds: set[str]):
    """A stand-in student verifier: a claim holds when its fact is in ``holds``; the step is
    supported when every claim holds and one backs the direction."""
    def check(answer: StepAnswer, step: StepInput):
        v = ["supported" if c.facts[0] in holds else "unsupported" for c in answer.claims]
        backed = any(c.role == answer.direction for c in answer.claims) or answer.direction == "none"
        return v, bool(v) and all(x == "supported" for x in v) and backed
    return check


def example(rec, step=STEP, check=None, stats=None):
    return teacher_step_example(rec, step, graph_version="kg-t", split="phase_I_train",
                                anchor_id="clinicaltrials:NCT1", target_id="clinicaltrials:NCT2",
                                target_label=1, index=0, check=check, stats=stats)


def test_a_supported_teacher_step_becomes_its_structured_answer():
    ex = example(record())
    assert ex is not None and ex.origin == "chain" and ex.step == STEP  # the prompt as the teacher saw it
    assert ex.answer.direction == "up" and ex.answer.probability == pytest.approx(0.6)
    assert [c.facts for c in ex.answer.claims] == [["fact:0"], ["fact:1"]] and ex.direction == "up"


def test_teacher_steps_the_verifier_did_not_support_are_dropped_and_counted():
    stats = DistillStats()
    assert example(record(supported=False, verdicts=("supported", "unsupported")), stats=stats) is None
    assert example(record(), step=None, stats=stats) is None  # never asked (no facts)
    assert stats.counts["dropped: not supported under the teacher's verifier"] == 1
    assert stats.counts["dropped: input not recorded (no facts, never asked)"] == 1
    assert "kept" not in stats.counts


def test_claims_failing_the_student_check_are_pruned_and_the_rest_kept():
    stats = DistillStats()
    ex = example(record(), check=student({"fact:1"}), stats=stats)
    assert ex is not None and ex.answer.cited == ["fact:1"]
    assert stats.counts["kept with claims pruned"] == 1


def test_a_step_whose_direction_no_holding_claim_backs_is_dropped():
    stats = DistillStats()
    rec = record(roles=("up", "context"))
    assert example(rec, check=student({"fact:1"}), stats=stats) is None  # only the context claim holds
    assert example(record(), check=student(set()), stats=stats) is None
    assert stats.counts["dropped: the claims that hold do not back the direction"] == 1
    assert stats.counts["dropped: no claim holds under the student's check"] == 1


def test_prune_keeps_an_answer_that_already_holds_unchanged():
    ans = StepAnswer(direction="up", probability=0.6, claims=[Claim(facts=["fact:0"], role="up")])
    assert prune_to_supported(ans, STEP, student({"fact:0"})) == (ans, "")


@pytest.mark.parametrize("observed,move,agrees", [
    ("up", 0.10, True), ("up", -0.10, False), ("down", -0.02, True), ("down", 0.02, False),
    ("same", 0.001, True), ("same", 0.2, False), ("up", 0.004, False),
])
def test_mixing_rule_teacher_direction_must_match_the_observed_outcomes(observed, move, agrees):
    assert pair_agrees(observed, move) is agrees


def pair(i: int, direction: str, fact: str = "fact:0") -> StepExample:
    role = {"up": "up", "down": "down", "same": "context"}[direction]
    ans = StepAnswer(direction="none" if direction == "same" else direction, probability=0.5,
                     claims=[Claim(facts=[fact], role=role)])
    return StepExample(graph_version="kg-t", split="phase_I_train", origin="pair", example_id=f"pair:{i}",
                       anchor_id=f"clinicaltrials:NCT{i}", target_id=f"clinicaltrials:NCT{i + 100}", step=STEP,
                       answer=ans, target_label=int(direction == "up"), direction=direction)


def test_mix_pairs_keeps_only_agreeing_supported_pairs():
    pairs = [pair(0, "up"), pair(1, "up"), pair(2, "down"), pair(3, "down", fact="fact:2"), pair(4, "up")]
    moves = {"pair:0": 0.2, "pair:1": -0.2, "pair:2": -0.1, "pair:3": -0.1}  # pair:4: no teacher estimate
    stats = DistillStats()
    kept = mix_pairs(pairs, moves, check=student({"fact:0"}), stats=stats)
    assert [p.example_id for p in kept] == ["pair:0", "pair:2"]
    assert stats.counts == {"pairs": 5, "pairs kept": 2, "pairs dropped: teacher and outcomes disagree": 1,
                            "pairs dropped: answer not supported": 1, "pairs dropped: no teacher estimate": 1}


def test_split_by_target_never_trains_on_a_held_out_trial():
    exs = [pair(1, "up"), pair(2, "up"), pair(3, "up")]  # targets NCT101..103, anchors NCT1..3
    held = {"clinicaltrials:NCT101", "clinicaltrials:NCT3"}
    train, out = split_by_target(exs, lambda t: t in held)
    assert [e.example_id for e in out] == ["pair:1"]
    assert [e.example_id for e in train] == ["pair:2"]  # pair:3's anchor is held out: in neither
