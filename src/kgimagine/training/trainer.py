"""LoRA SFT: our own PyTorch loop (length-grouped batches, gradient accumulation), CPU or GPU.

One code path for every device. It runs under ``accelerate``: on CPU a single process in fp32;
on CUDA bf16 autocast (fp32 master weights) and gradient checkpointing by default; on several
GPUs launch the same command with ``accelerate launch -m kgimagine.cli.app train sft …`` (each
process takes every N-th batch, DDP averages the gradients, rank 0 writes the adapter).

``run_sft`` is the whole job behind ``kgimagine train sft``: read trace files, tokenise with the
base model's chat template (loss on the assistant turn only), train, and write a PEFT adapter
folder with ``kgimagine-manifest.json`` and ``loss_curve.png``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from kgimagine.errors import TrainingError
from kgimagine.training.datasets import IGNORE_INDEX, TokenizedExample, read_sft_data, tokenize_sft_data
from kgimagine.training.lora import (
    LoraSettings,
    base_fingerprint,
    build_lora_model,
    save_adapter,
    trainable_parameters,
)
from kgimagine.training.manifest import (
    LOSS_CURVE_FILE,
    TrainManifest,
    library_versions,
    plot_loss_curve,
    write_manifest,
)

ProgressFn = Callable[[int, int, float], None]  # (step, total steps, loss)


class SftConfig(BaseModel):
    """Settings of one LoRA SFT run (all recorded in the adapter manifest)."""

    model_config = ConfigDict(frozen=True)

    steps: int = Field(100, ge=1)  # optimizer steps
    batch_size: int = Field(4, ge=1)  # examples per micro-batch (per process)
    grad_accum: int = Field(1, ge=1)  # micro-batches per optimizer step
    lr: float = Field(2e-4, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)  # cosine decay floor
    max_grad_norm: float = Field(1.0, gt=0.0)
    max_length: int = Field(512, ge=16)
    lora: LoraSettings = LoraSettings()
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    bf16: bool | None = None  # None: on for CUDA, off for CPU (CPUs here lack native bf16)
    gradient_checkpointing: bool | None = None  # None: on for CUDA
    group_by_length: bool = True
    seed: int = 0


@dataclass
class TrainResult:
    steps: int
    loss_curve: list[tuple[int, float]]
    tokens: int  # non-padding tokens processed (all processes)
    seconds: float
    trainable_params: int
    total_params: int
    examples: int
    device: str
    bf16: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def initial_loss(self) -> float:
        return self.loss_curve[0][1] if self.loss_curve else float("nan")

    @property
    def final_loss(self) -> float:
        return self.loss_curve[-1][1] if self.loss_curve else float("nan")

    def metrics(self) -> dict[str, Any]:
        tail = [l for _, l in self.loss_curve[-max(1, len(self.loss_curve) // 10):]]
        return {
            "steps": self.steps,
            "examples": self.examples,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "initial_loss": round(self.initial_loss, 4),
            "final_loss": round(self.final_loss, 4),
            "final_loss_mean_last_10pct": round(sum(tail) / len(tail), 4) if tail else None,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "device": self.device,
            "bf16": self.bf16,
            **self.extra,
        }


# -- batching --------------------------------------------------------------------------------------


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int, group: bool = True,
                           megabatch: int = 50) -> list[list[int]]:
    """One epoch of batches (indices). With ``group``: shuffle, cut into mega-batches of
    ``batch_size*megabatch``, sort each by length (so batches pad little), shuffle the batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group:
        size = batch_size * megabatch
        chunks = [sorted(order[i:i + size], key=lambda k: -lengths[k]) for i in range(0, len(order), size)]
        order = [k for c in chunks for k in c]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if group:
        rng.shuffle(batches)
    return batches


def collate(batch: Sequence[TokenizedExample], pad_token_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (IGNORE_INDEX on padding)."""
    import torch

    width = max(len(ex) for ex in batch)
    ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, ex in enumerate(batch):
        n = len(ex)
        ids[r, :n] = torch.tensor(ex.input_ids)
        labels[r, :n] = torch.tensor(ex.labels)
        mask[r, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lr_lambda(config: SftConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if config.warmup_steps and step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        span = max(1, config.steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def oom_message(exc: BaseException, config: SftConfig, device: str) -> str | None:
    """A one-line fix for an out-of-memory error, or None when ``exc`` is not one."""
    text = str(exc)
    if not (type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower()
            or "can't allocate memory" in text or "DefaultCPUAllocator" in text):
        return None
    return (
        f"out of memory on {device} at batch size {config.batch_size} x max length {config.max_length} "
        f"with LoRA rank {config.lora.rank}: lower --batch-size (and raise --grad-accum to keep the "
        f"effective batch), lower --max-length, or lower --rank"
        + ("" if device == "cpu" else "; gradient checkpointing is "
           + ("on" if config.gradient_checkpointing is not False else "off (turn it on)"))
    )


# -- the loop ---------------------------------------------------------------------------------------


def train_lora(
    model: Any,
    examples: Sequence[TokenizedExample],
    config: SftConfig,
    *,
    pad_token_id: int,
    progress: ProgressFn | None = None,
    accelerator: Any = None,
) -> TrainResult:
    """Train the LoRA weights of a PEFT ``model`` in place for ``config.steps`` optimizer steps.

    The loss of an optimizer step is the mean over the assistant tokens of all its micro-batches
    (token-weighted, so gradient accumulation equals one large batch).
    """
    import torch
    from accelerate import Accelerator

    if not examples:
        raise TrainingError("no training examples fit; check the trace files or raise --max-length")
    device = _resolve_device(config.device)
    bf16 = config.bf16 if config.bf16 is not None else device.startswith("cuda")
    if accelerator is None:
        accelerator = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if bf16 else "no")
    torch.manual_seed(config.seed)
    ckpt = config.gradient_checkpointing if config.gradient_checkpointing is not None else device.startswith("cuda")
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(model, "config"):
        model.config.use_cache = False
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable parameters; wrap it with build_lora_model first")
    trainable, total = trainable_parameters(model)
    opt_kwargs: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if accelerator.device.type == "cuda":
        opt_kwargs["fused"] = True
    optimizer = torch.optim.AdamW(params, **opt_kwargs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    lengths = [len(ex) for ex in examples]
    world, rank = accelerator.num_processes, accelerator.process_index
    epoch, queue = 0, []  # type: int, list[list[int]]

    def next_batch() -> list[int]:
        nonlocal epoch, queue
        while not queue:
            all_batches = length_grouped_batches(lengths, config.batch_size, seed=config.seed + epoch,
                                                 group=config.group_by_length)
            queue = all_batches[rank::world] if len(all_batches) >= world else all_batches
            epoch += 1
        return queue.pop(0)

    curve: list[tuple[int, float]] = []
    tokens = 0
    on_gpu = accelerator.device.type == "cuda"
    pending: tuple[int, Any] | None = None  # (step, loss tensor) not yet read back from the device

    def report(item: tuple[int, Any]) -> None:
        # read the loss one step late: the host never waits for the step it just queued
        step_no, loss_t = item
        value = float(loss_t)
        curve.append((step_no, value))
        if progress is not None and accelerator.is_main_process:
            progress(step_no, config.steps, value)

    t0 = time.perf_counter()
    try:
        for step in range(config.steps):
            micro = [collate([examples[i] for i in next_batch()], pad_token_id) for _ in range(config.grad_accum)]
            counts = [int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro]  # on the host: no sync
            n_label = sum(counts)
            step_loss = torch.zeros((), device=accelerator.device)
            for b, n_b in zip(micro, counts):
                if n_b == 0:
                    continue
                tokens += int(b["attention_mask"].sum())
                if on_gpu:
                    b = {k: v.pin_memory().to(accelerator.device, non_blocking=True) for k, v in b.items()}
                else:
                    b = {k: v.to(accelerator.device) for k, v in b.items()}
                out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
                loss = out.loss * (n_b / n_label)
                accelerator.backward(loss)
                step_loss += loss.detach()
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if pending is not None:
                report(pending)
            pending = (step + 1, step_loss)
        if pending is not None:
            report(pending)
    except (RuntimeError, MemoryError) as exc:
        msg = oom_message(exc, config, device)
        if msg is None:
            raise
        raise TrainingError(msg) from exc
    seconds = time.perf_counter() - t0
    if world > 1:
        t = torch.tensor([tokens], device=accelerator.device)
        tokens = int(accelerator.reduce(t, reduction="sum").item())
    model = accelerator.unwrap_model(model)
    return TrainResult(steps=config.steps, loss_curve=curve, tokens=tokens, seconds=seconds,
                       trainable_params=trainable, total_params=total, examples=len(examples),
                       device=device, bf16=bf16, extra={"gradient_checkpointing": ckpt, "processes": world})


def _resolve_device(device: str) -> str:
    from kgimagine.local_models import resolve_device

    return resolve_device(device)


def base_model_name(base_dir: str | Path) -> str:
    """The name a base folder answers to: its local_models marker name, else the folder name."""
    import json

    base_dir = Path(base_dir)
    marker = base_dir / "kgimagine-model.json"
    if marker.is_file():
        name = json.loads(marker.read_text(encoding="utf-8")).get("model_name")
        if name:
            return str(name)
    return base_dir.resolve().name


def run_sft(
    base_dir: str | Path,
    data_paths: Sequence[str | Path],
    out_dir: str | Path,
    config: SftConfig,
    *,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[TrainResult, TrainManifest]:
    """Read traces, train LoRA on ``base_dir``, write the adapter folder; returns result + manifest."""
    import torch
    from accelerate import Accelerator

    from kgimagine.local_models import load_causal_lm

    say = log or (lambda s: None)
    data = read_sft_data(data_paths)
    for issue in data.issues:
        say(f"skipped {issue.path}:{issue.line}: {issue.reason}")
    if not data.examples:
        raise TrainingError(f"no usable examples in {', '.join(map(str, data_paths))}")
    device = _resolve_device(config.device)
    bf16 = config.bf16 if config.bf16 is not None else device.startswith("cuda")
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if bf16 else "no")
    model, tokenizer = load_causal_lm(base_dir, device="cpu", dtype=torch.float32)
    fingerprint = base_fingerprint(model)
    examples, too_long = tokenize_sft_data(tokenizer, data.examples, max_length=config.max_length)
    say(f"{len(examples)} examples ({too_long} longer than --max-length {config.max_length} skipped) "
        f"from {len(data.files)} file(s); {len(data.issues)} bad line(s) skipped")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    torch.manual_seed(config.seed)
    model = build_lora_model(model, config.lora)
    result = train_lora(model, examples, config, pad_token_id=int(pad), progress=progress, accelerator=accelerator)
    result.extra.update({"dropped_too_long": too_long, "bad_lines": len(data.issues)})
    name = base_model_name(base_dir)
    manifest = TrainManifest(
        base_model=name,
        base_model_path=str(Path(base_dir).resolve()),
        base_fingerprint=fingerprint,
        data_files=data.files,
        data_hash=data.data_hash,
        graph_versions=data.graph_versions,
        splits=data.splits,
        config=config.model_dump(mode="json"),
        metrics=result.metrics(),
        loss_curve=result.loss_curve,
        versions=library_versions(),
    )
    if accelerator.is_main_process:
        out = save_adapter(model, out_dir, base_path=base_dir)
        write_manifest(out, manifest)
        plot_loss_curve(result.loss_curve, out / LOSS_CURVE_FILE,
                        title=f"LoRA SFT on {name} (r={config.lora.rank}, {result.steps} steps)")
    accelerator.wait_for_everyone()
    return result, manifest


__all__ = ["SftConfig", "TrainResult", "collate", "length_grouped_batches", "oom_message", "run_sft", "train_lora"]
