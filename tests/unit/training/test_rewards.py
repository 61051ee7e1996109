"""The GRPO reward functions: plain functions of one completion (the verifier is a stand-in here)."""

from __future__ import annotations

import json
import math

import pytest

from kgimagine.traces import ANSWER_PREFILL, FactRef, StepAnswer, StepInput
from kgimagine.training import rewards as R
from kgimagine.types import Factor

STEP = StepInput(factor=Factor.DRUG, anchor_value="A [drugbank:DB1]", target_value="B [drugbank:DB2]", p_before=0.5,
                 facts=[FactRef(fact_id="fact:good", text="B TREATS D"), FactRef(fact_id="fact:bad", text="A TREATS D"),
                        FactRef(fact_id="fact:lie", text="B TARGETS G")])
VERDICT = {"fact:good": "supported", "fact:bad": "unsupported", "fact:lie": "refuted"}


def verify(answer: StepAnswer, step: StepInput):
    verdicts = [VERDICT[c.facts[0]] for c in answer.claims]
    return verdicts, bool(verdicts) and all(v == "supported" for v in verdicts)


def completion(direction="up", p=0.7, facts=("fact:good",), role="up") -> str:
    """What a model writes after the prompt's prefill."""
    text = json.dumps({"direction": direction, "probability": p,
                       "claims": [{"facts": [f], "role": role} for f in facts], "rationale": ""})
    assert text.startswith(ANSWER_PREFILL)
    return text[len(ANSWER_PREFILL):]


def test_supported_answer_earns_the_support_reward_and_no_penalty():
    c = completion()
    assert R.supported_reward(c, STEP, verify) == 1.0
    assert R.claim_penalty(c, STEP, verify) == 0.0


def test_unsupported_and_refuted_claims_are_penalised_refuted_twice_as_much():
    assert R.supported_reward(completion(facts=("fact:good", "fact:bad")), STEP, verify) == 0.0
    assert R.claim_penalty(completion(facts=("fact:good", "fact:bad")), STEP, verify) == pytest.approx(-0.5)
    assert R.claim_penalty(completion(facts=("fact:good", "fact:lie")), STEP, verify) == pytest.approx(-1.0)
    assert R.claim_penalty(completion(facts=("fact:bad", "fact:lie")), STEP, verify) == pytest.approx(-1.5)


@pytest.mark.parametrize("text", ["", ' "up", "probability": 0.7, "claims": [', "not json at all"])
def test_an_unparsable_answer_gets_no_support_and_the_full_penalty(text):
    assert R.supported_reward(text, STEP, verify) == 0.0
    assert R.claim_penalty(text, STEP, verify) == -1.0


def test_an_answer_without_claims_is_penalised():
    assert R.claim_penalty(completion(facts=()), STEP, verify) == -1.0


def test_direction_reward_reads_the_teacher_direction_even_from_a_truncated_answer():
    assert R.direction_reward(completion("down", 0.3, role="down"), "down") == 1.0
    assert R.direction_reward(completion("down", 0.3, role="down"), "up") == 0.0
    assert R.direction_reward(' "none", "probabil', "same") == 1.0  # same == none, truncated answer
    assert R.direction_reward(' "sideways"', "up") == 0.0


def test_outcome_reward_is_the_log_likelihood_of_the_known_outcome():
    assert R.outcome_reward(completion(p=0.8), 1) == pytest.approx(math.log(0.8))
    assert R.outcome_reward(completion(p=0.8), 0) == pytest.approx(math.log(0.2))
    assert R.outcome_reward(completion(p=1.0), 0) == pytest.approx(math.log(R.P_CLIP))  # clipped
    assert R.outcome_reward(' "up", "probability": 0.9, "claims": [{"fa', 1) == pytest.approx(math.log(0.9))
    assert R.outcome_reward("garbage", 1) == pytest.approx(math.log(R.P_CLIP))
    assert R.outcome_reward(completion(), None) is None and R.outcome_reward(completion(), -1) is None


def test_total_is_the_sum_and_a_good_answer_beats_a_bad_one():
    good = R.total_reward(completion(p=0.8), STEP, "up", 1, verify)
    bad = R.total_reward(completion("down", 0.2, facts=("fact:lie",), role="down"), STEP, "up", 1, verify)
    assert good == pytest.approx(1.0 + 0.0 + 1.0 + math.log(0.8))
    assert good > bad


def test_trl_reward_functions_score_a_batch_and_log_every_completion(tmp_path):
    from kgimagine.traces import StepExample

    ex = StepExample(graph_version="kg-t", split="phase_I_train", origin="pair", example_id="pair:1",
                     anchor_id="clinicaltrials:NCT1", target_id="clinicaltrials:NCT2", step=STEP,
                     answer=StepAnswer(direction="up", probability=0.8), target_label=1, direction="up")
    row = R.grpo_row(ex, "PROMPT" + ANSWER_PREFILL)
    assert row["outcome"] == 1 and R.example_outcome(ex.model_copy(update={"origin": "chain"})) == -1
    log = R.RewardLog(tmp_path / "rewards.jsonl")
    funcs = R.grpo_reward_functions(verify, log)
    assert [f.__name__ for f in funcs] == ["supported", "claims", "direction", "outcome_ll"]
    comps = [completion(p=0.8), "garbage"]
    cols = {k: [row[k]] * 2 for k in ("step", "teacher_direction", "outcome", "example_id")}
    got = [f(prompts=[row["prompt"]] * 2, completions=comps, **cols) for f in funcs]
    assert got[0] == [1.0, 0.0] and got[1] == [0.0, -1.0] and got[2] == [1.0, 0.0]
    assert got[3][0] == pytest.approx(math.log(0.8))
    lines = [json.loads(l) for l in (tmp_path / "rewards.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["total"] > lines[1]["total"] and lines[1]["completion"] == "garbage"
