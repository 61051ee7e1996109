"""A tiny GRPO run of the real SmolLM2-135M-Instruct on CPU (``kgimagine.training.grpo``).

Two step prompts, two sampled completions each, 16 new tokens, one step: the rewards come from
the real verifier, the teacher direction and the outcome; the test fails when the LoRA weights do
not move (no reward signal reached the policy) or the reward log is missing.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.local_model import cache_dir, require_smollm2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _examples():
    from kgimagine.traces import Claim, FactRef, StepAnswer, StepExample, StepInput
    from kgimagine.types import Factor

    out = []
    for i, (direction, label) in enumerate((("up", 1), ("down", 0))):
        a, b = "drugbank:DB00619", "drugbank:DB01268"
        facts = [
            FactRef(fact_id="fact:1a2b3c", text="Sunitinib TREATS gastrointestinal stromal tumor",
                    subject=b, relation="TREATS", object="doid:9253"),
            FactRef(fact_id="fact:4d5e6f", text="Imatinib TARGETS KIT", subject=a, relation="TARGETS", object="ncbigene:3815"),
            FactRef(fact_id="fact:7a8b9c", text="Sunitinib TARGETS KIT", subject=b, relation="TARGETS", object="ncbigene:3815"),
        ]
        step = StepInput(factor=Factor.DRUG, anchor_value=f"Imatinib [{a}]", target_value=f"Sunitinib [{b}]",
                         p_before=0.5, facts=facts, anchor_summary="clinicaltrials:NCT00000001 (phase 2, failed): "
                         f"Imatinib [{a}] in gastrointestinal stromal tumor [doid:9253]",
                         target_summary=f"clinicaltrials:NCT00000002 (phase 2): Sunitinib [{b}] in gastrointestinal "
                         "stromal tumor [doid:9253]")
        answer = StepAnswer(direction=direction, probability=0.7 if direction == "up" else 0.3,
                            claims=[Claim(facts=["fact:1a2b3c"], role="up")])
        out.append(StepExample(graph_version="kg-test", split="phase_I_train", origin="pair" if i else "chain",
                               example_id=f"ex:{i}", anchor_id="clinicaltrials:NCT00000001",
                               target_id="clinicaltrials:NCT00000002", step=step, answer=answer, target_label=label,
                               direction=direction))
    return out


def test_tiny_grpo_run_moves_the_adapter_and_logs_rewards(tmp_path):
    import torch

    from kgimagine.local_models import ensure_base_model
    from kgimagine.reasoning.verifier import NameIndex, verify_step
    from kgimagine.traces import write_traces
    from kgimagine.training.grpo import REWARD_LOG, TRAINER_LOG, GrpoConfig, run_grpo

    require_smollm2()
    torch.set_num_threads(1)
    base = ensure_base_model(cache_dir())
    data = tmp_path / "steps.jsonl"
    write_traces(data, _examples())
    names = NameIndex.from_records([
        {"id": "drugbank:DB00619", "label": "Drug", "name": "Imatinib", "synonyms": []},
        {"id": "drugbank:DB01268", "label": "Drug", "name": "Sunitinib", "synonyms": []},
        {"id": "doid:9253", "label": "Disease", "name": "gastrointestinal stromal tumor", "synonyms": []},
        {"id": "ncbigene:3815", "label": "Gene", "name": "KIT", "synonyms": []},
    ])

    def verify(answer, step):
        v = verify_step(answer, step, names)
        return [c.verdict for c in v.claims], v.supported

    out = tmp_path / "adapter"
    cfg = GrpoConfig(steps=1, prompts_per_step=2, num_generations=2, max_new_tokens=16, lr=1e-3,
                     temperature=1.2, device="cpu", seed=0)
    metrics = run_grpo(base, [data], out, cfg, verify)
    assert metrics["lora_tensors_changed"] > 0, metrics  # a reward signal reached the LoRA weights
    assert (out / "adapter_model.safetensors").is_file() and (out / "kgimagine-manifest.json").is_file()
    rows = [json.loads(l) for l in (out / REWARD_LOG).read_text().splitlines()]
    assert len(rows) == 4 and all({"supported", "claims", "direction", "outcome_ll", "total"} <= set(r) for r in rows)
    assert {r["outcome_ll"] is None for r in rows} == {True, False}  # the chain step has no outcome reward
    history = json.loads((out / TRAINER_LOG).read_text())
    assert any("rewards/direction/mean" in h for h in history)


def test_too_few_prompts_that_fit_is_an_error_not_a_silent_no_op(tmp_path):
    """A GRPO run whose prompts mostly exceed --max-prompt-tokens used to train nothing and say
    nothing (the trainer drew no full batch: 0 steps, 0 tensors changed)."""
    from kgimagine.errors import TrainingError
    from kgimagine.local_models import ensure_base_model
    from kgimagine.traces import write_traces
    from kgimagine.training.grpo import GrpoConfig, run_grpo

    require_smollm2()
    base = ensure_base_model(cache_dir())
    data = tmp_path / "steps.jsonl"
    write_traces(data, _examples())
    cfg = GrpoConfig(steps=1, prompts_per_step=3, num_generations=2, max_new_tokens=8, device="cpu", seed=0)
    with pytest.raises(TrainingError, match="2 of 2 prompts fit .* a GRPO step needs 3"):
        run_grpo(base, [data], tmp_path / "adapter", cfg, lambda answer, step: ([], False))
    assert not (tmp_path / "adapter" / "adapter_model.safetensors").exists()
