"""GRPO with verifiable rewards on imagination steps (trl's ``GRPOTrainer``), after SFT.

``run_grpo`` reads step examples (teacher steps and mixed-in pairs, ``kgimagine train chains``),
renders each prompt exactly as ``LocalOperator`` serves it (the chat template over
``traces.render_step_messages`` plus the answer prefill ``traces.ANSWER_PREFILL``), samples
``num_generations`` completions per prompt and rewards each with ``kgimagine.training.rewards``
(verifier support, claim penalty, direction against the teacher, outcome log-likelihood for pairs).
It trains a LoRA adapter — the SFT adapter given with ``init_adapter``, or a fresh one — and writes
a PEFT adapter folder with ``kgimagine-manifest.json`` (so ``LocalOperator(adapter=…)`` serves it),
``grpo_log.json`` (trl's log history: reward means per function and step) and ``rewards.jsonl``
(every completion with its rewards).

CPU: fp32 and no gradient checkpointing (trl's GRPO defaults are bf16 and checkpointing on).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from kgimagine.errors import TrainingError
from kgimagine.traces import ANSWER_PREFILL, StepExample, TraceIssue, iter_traces, render_step_messages
from kgimagine.training.lora import LoraSettings, base_fingerprint, build_lora_model, load_adapter, lora_state, save_adapter
from kgimagine.training.manifest import TrainManifest, library_versions, write_manifest
from kgimagine.training.rewards import RewardLog, Verify, grpo_reward_functions, grpo_row

REWARD_LOG = "rewards.jsonl"
TRAINER_LOG = "grpo_log.json"


class GrpoConfig(BaseModel):
    """Settings of one GRPO run (recorded in the adapter manifest)."""

    model_config = ConfigDict(frozen=True)

    steps: int = Field(50, ge=1)
    prompts_per_step: int = Field(2, ge=1)
    num_generations: int = Field(4, ge=2)
    max_new_tokens: int = Field(96, ge=4)
    max_prompt_tokens: int = Field(1024, ge=16)  # longer prompts are skipped (counted)
    lr: float = Field(1e-5, gt=0.0)
    temperature: float = Field(1.0, gt=0.0)
    beta: float = Field(0.0, ge=0.0)  # KL to the starting model (0: no reference model)
    lora: LoraSettings = LoraSettings()
    device: str = "auto"
    seed: int = 0


def read_step_examples(paths: Sequence[str | Path]) -> tuple[list[StepExample], list[TraceIssue]]:
    """The ``StepExample`` records of trace files (chain records are not GRPO prompts)."""
    issues: list[TraceIssue] = []
    out: list[StepExample] = []
    for p in paths:
        if not Path(p).is_file():
            raise TrainingError(f"trace file {p} does not exist; write one with `kgimagine train chains --out {p}`")
        out.extend(r for r in iter_traces(p, issues) if isinstance(r, StepExample))
    return out, issues


def grpo_prompt(tokenizer: Any, ex: StepExample) -> str:
    """The served prompt text: chat template + generation prompt + the answer prefill."""
    text = tokenizer.apply_chat_template(render_step_messages(ex.step), tokenize=False, add_generation_prompt=True)
    return text + ANSWER_PREFILL


def run_grpo(
    base_dir: str | Path,
    data_paths: Sequence[str | Path],
    out_dir: str | Path,
    config: GrpoConfig,
    verify: Verify,
    *,
    init_adapter: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train with GRPO; write the adapter folder (+ manifest, logs). Returns the run's metrics."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from kgimagine.local_models import load_causal_lm, resolve_device
    from kgimagine.training.trainer import base_model_name

    say = log or (lambda s: None)
    examples, issues = read_step_examples(data_paths)
    for issue in issues:
        say(f"skipped {issue.path}:{issue.line}: {issue.reason}")
    if not examples:
        raise TrainingError(f"no step examples in {', '.join(map(str, data_paths))}")
    device = resolve_device(config.device)
    model, tokenizer = load_causal_lm(base_dir, device="cpu", dtype=torch.float32)
    fingerprint = base_fingerprint(model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows, too_long = [], 0
    for ex in examples:
        prompt = grpo_prompt(tokenizer, ex)
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > config.max_prompt_tokens:
            too_long += 1
            continue
        rows.append(grpo_row(ex, prompt))
    if len(rows) < config.prompts_per_step:  # the trainer would draw no full batch: it would run no step at all
        raise TrainingError(
            f"{len(rows)} of {len(rows) + too_long} prompts fit --max-prompt-tokens {config.max_prompt_tokens}; a GRPO "
            f"step needs {config.prompts_per_step} (--prompts-per-step): give more examples or raise --max-prompt-tokens")
    say(f"{len(rows)} prompts ({too_long} longer than {config.max_prompt_tokens} tokens skipped)")
    torch.manual_seed(config.seed)
    if init_adapter is not None:
        model = load_adapter(model, init_adapter, trainable=True)
    else:
        model = build_lora_model(model, config.lora)
    before = lora_state(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / REWARD_LOG).unlink(missing_ok=True)
    reward_log = RewardLog(out / REWARD_LOG)
    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(
            output_dir=tmp, max_steps=config.steps, learning_rate=config.lr,
            per_device_train_batch_size=config.prompts_per_step * config.num_generations,
            num_generations=config.num_generations, max_completion_length=config.max_new_tokens,
            temperature=config.temperature, beta=config.beta, seed=config.seed,
            bf16=device.startswith("cuda"), use_cpu=device == "cpu", gradient_checkpointing=False,
            logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, dataloader_num_workers=0,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=grpo_reward_functions(verify, reward_log), args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    if trainer.state.global_step == 0:
        raise TrainingError(f"GRPO ran no step on {len(rows)} prompts (--prompts-per-step {config.prompts_per_step}); "
                            "nothing was trained")
    model = trainer.model
    after = lora_state(model)
    changed = sum(1 for k in before if k in after and not torch.equal(before[k], after[k]))
    history = [h for h in trainer.state.log_history if "reward" in h]
    metrics = {
        "steps": config.steps, "prompts": len(rows), "skipped_too_long": too_long, "seconds": round(seconds, 1),
        "lora_tensors_changed": changed, "lora_tensors": len(before),
        "reward_first": history[0].get("reward") if history else None,
        "reward_last": history[-1].get("reward") if history else None,
        "init_adapter": str(init_adapter) if init_adapter else None, "device": device,
    }
    (out / TRAINER_LOG).write_text(json.dumps(trainer.state.log_history, indent=1) + "\n", encoding="utf-8")
    save_adapter(model, out, base_path=base_dir)
    write_manifest(out, TrainManifest(
        base_model=base_model_name(base_dir), base_model_path=str(Path(base_dir).resolve()),
        base_fingerprint=fingerprint,
        data_files=[{"path": str(p)} for p in data_paths],
        graph_versions=sorted({e.graph_version for e in examples}), splits=sorted({e.split for e in examples}),
        config={"method": "grpo", **config.model_dump(mode="json")}, metrics=metrics, versions=library_versions(),
    ))
    return metrics


__all__ = ["GrpoConfig", "REWARD_LOG", "TRAINER_LOG", "grpo_prompt", "read_step_examples", "run_grpo"]
