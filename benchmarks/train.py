"""Training throughput: our LoRA loop (kgimagine.training.trainer) vs a plain Hugging Face
``Trainer`` on the same model, LoRA config and data (tokens/s, steady state).

    python benchmarks/train.py                      # CPU: SmolLM2, batch 4 x 256 tokens, 10 steps each
    python benchmarks/train.py --device cuda        # GPU: bf16 autocast, batch 16 x 512, 30 steps
    python benchmarks/train.py --device cuda --quick  # < 4 minutes on one H100/H200, incl. model setup

Both loops see identical batches: windows of ``--seq-len`` tokens cut from rendered step prompts
(loss on the last quarter of each window), LoRA r=8 on q_proj/v_proj, AdamW, same lr. The first
step of each loop (allocator and kernel warm-up) is excluded from tokens/s. Prints JSON and
writes its section of benchmarks/results/train.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines  # noqa: E402  (benchmarks/provenance.py)

HERE = Path(__file__).resolve().parent


def build_windows(tokenizer, n: int, seq_len: int, data: Path | None):
    """``n`` token windows of exactly ``seq_len`` tokens (labels on the last quarter)."""
    from kgimagine.traces import iter_traces, render_step_answer, render_step_messages
    from kgimagine.training.datasets import TokenizedExample

    texts: list[str] = []
    if data is not None:
        for rec in iter_traces(data, []):
            if getattr(rec, "kind", "") == "step":
                msgs = render_step_messages(rec.step) + [{"role": "assistant", "content": render_step_answer(rec.answer)}]
                texts.append(tokenizer.apply_chat_template(msgs, tokenize=False))
            if len(texts) >= 200:
                break
    if not texts:
        from kgimagine.traces import SYSTEM_PROMPT

        texts = [SYSTEM_PROMPT + f" Change drug: drug{i} -> drug{i + 1}. " * 8 for i in range(50)]
    stream: list[int] = []
    for t in texts:
        stream += tokenizer.encode(t, add_special_tokens=False)
    while len(stream) < n * seq_len:
        stream += stream
    out = []
    for i in range(n):
        ids = stream[i * seq_len:(i + 1) * seq_len]
        cut = seq_len - seq_len // 4
        out.append(TokenizedExample(f"w{i}", ids, [-100] * cut + ids[cut:]))
    return out


def run_ours(base_dir, examples, args, pad_id) -> dict:
    import torch

    from kgimagine.local_models import load_causal_lm
    from kgimagine.training.lora import LoraSettings, build_lora_model
    from kgimagine.training.trainer import SftConfig, train_lora

    model, _ = load_causal_lm(base_dir, device="cpu", dtype=torch.float32)
    torch.manual_seed(0)
    model = build_lora_model(model, LoraSettings(rank=8, alpha=16, dropout=0.05))
    cfg = SftConfig(steps=args.steps, batch_size=args.batch_size, lr=2e-4, max_length=args.seq_len,
                    device=args.device, group_by_length=False, gradient_checkpointing=False, seed=0)
    marks: list[float] = []
    result = train_lora(model, examples, cfg, pad_token_id=pad_id, progress=lambda s, n, l: marks.append(time.perf_counter()))
    steady = marks[-1] - marks[0]
    tok_per_step = args.batch_size * args.seq_len
    return {"tokens_per_s": round(tok_per_step * (len(marks) - 1) / steady, 1),
            "s_per_step": round(steady / (len(marks) - 1), 3), "final_loss": round(result.final_loss, 4),
            "peak_gpu_mib": _peak_gpu()}


def run_hf_trainer(base_dir, examples, args, pad_id) -> dict:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from kgimagine.local_models import load_causal_lm
    from kgimagine.training.lora import LoraSettings, build_lora_model
    from kgimagine.training.trainer import collate

    model, _ = load_causal_lm(base_dir, device="cpu", dtype=torch.float32)
    torch.manual_seed(0)
    model = build_lora_model(model, LoraSettings(rank=8, alpha=16, dropout=0.05))
    marks: list[float] = []

    class Marks(TrainerCallback):
        def on_step_end(self, *a, **k):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
            learning_rate=2e-4, lr_scheduler_type="cosine", logging_steps=10_000, save_strategy="no",
            report_to=[], bf16=args.device.startswith("cuda"), use_cpu=args.device == "cpu",
            dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, seed=0,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=list(examples),
                          data_collator=lambda batch: collate(batch, pad_id), callbacks=[Marks()])
        out = trainer.train()
    steady = marks[-1] - marks[0]
    tok_per_step = args.batch_size * args.seq_len
    return {"tokens_per_s": round(tok_per_step * (len(marks) - 1) / steady, 1),
            "s_per_step": round(steady / (len(marks) - 1), 3), "final_loss": round(float(out.training_loss), 4),
            "peak_gpu_mib": _peak_gpu()}


def _mean_run(rows: list[dict]) -> dict:
    out = dict(rows[-1])
    out["tokens_per_s"] = round(sum(r["tokens_per_s"] for r in rows) / len(rows), 1)
    out["s_per_step"] = round(sum(r["s_per_step"] for r in rows) / len(rows), 3)
    out["runs_tokens_per_s"] = [r["tokens_per_s"] for r in rows]
    return out


def _peak_gpu():
    import torch

    if not torch.cuda.is_available():
        return None
    mib = round(torch.cuda.max_memory_allocated() / 2**20)
    torch.cuda.reset_peak_memory_stats()
    return mib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="LoRA training throughput: our loop vs HF Trainer")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="fewer steps (GPU: < 4 min with setup)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--data", type=Path, default=None, help="pairs.jsonl to cut windows from (optional)")
    ap.add_argument("--base", type=Path, default=None, help="base model folder (default: bundled SmolLM2)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache/kgimagine"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "train.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--repeats", type=int, default=None, help="2: ABBA order (default on CPU), 1: once each")
    args = ap.parse_args(argv)
    run = RunRecord()
    gpu = args.device.startswith("cuda")
    args.steps = args.steps or (10 if (args.quick or not gpu) else 30)
    args.batch_size = args.batch_size or (16 if gpu else 4)
    args.seq_len = args.seq_len or (512 if gpu else 256)
    args.repeats = args.repeats or (1 if gpu else 2)

    import torch

    if not gpu:
        torch.set_num_threads(args.threads)
    elif not torch.cuda.is_available():
        print(json.dumps({"error": "--device cuda but torch sees no GPU"}))
        return 1
    from transformers import AutoTokenizer

    from kgimagine.local_models import ensure_base_model

    t0 = time.perf_counter()
    base_dir = args.base or ensure_base_model(args.cache)
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    examples = build_windows(tok, args.steps * args.batch_size, args.seq_len, args.data)
    setup_s = time.perf_counter() - t0
    # ABBA order (ours, HF, HF, ours for --repeats 2): a load that drifts during the run (shared
    # machines) hits both loops alike; each loop's figure is the mean of its runs
    runs: dict[str, list[dict]] = {"ours": [], "hf": []}
    order = ["ours", "hf"] + ["hf", "ours"] * (args.repeats > 1)
    for name in order:
        runs[name].append((run_ours if name == "ours" else run_hf_trainer)(base_dir, examples, args, pad))
    ours, hf = _mean_run(runs["ours"]), _mean_run(runs["hf"])
    figures = {
        "device": torch.cuda.get_device_name(0) if gpu else f"cpu ({os.cpu_count()} cores, shared; torch threads {args.threads})",
        "model": base_dir.name,
        "batch": f"{args.batch_size} x {args.seq_len} tokens",
        "steps": args.steps,
        "precision": "bf16 autocast" if gpu else "fp32",
        "ours": ours,
        "hf_trainer": hf,
        "speedup_ours_vs_hf": round(ours["tokens_per_s"] / hf["tokens_per_s"], 3),
        "setup_s": round(setup_s, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        write_markdown(Path(args.out), {**figures, "run": run.line()},
                       key="train_throughput_gpu" if gpu else "train_throughput_cpu",
                       argv=None if argv is None else ["train.py", *argv])
    return 0


def write_markdown(path: Path, f: dict, *, key: str, argv: list[str] | None = None) -> None:
    lines = [
        f"## Training throughput, {'GPU' if 'gpu' in key else 'CPU'} (benchmarks/train.py)",
        "",
        *command_lines(argv=argv),
        *([f["run"]] if f.get("run") else []),
        "",
        f"Device: {f['device']}. Model {f['model']}, LoRA r=8 on q_proj/v_proj, batch {f['batch']}, "
        f"{f['steps']} steps per loop run, {f['precision']}; first step excluded; runs (tokens/s): ours "
        f"{f['ours']['runs_tokens_per_s']}, Trainer {f['hf_trainer']['runs_tokens_per_s']} (ABBA order when 2 each).",
        "",
        "| loop | tokens/s (mean) | s/step | final loss (ours: last step; Trainer: mean of steps) | peak GPU MiB |",
        "|---|---|---|---|---|",
        f"| kgimagine trainer (ours) | {f['ours']['tokens_per_s']} | {f['ours']['s_per_step']} | {f['ours']['final_loss']} | {f['ours']['peak_gpu_mib'] or '-'} |",
        f"| transformers Trainer | {f['hf_trainer']['tokens_per_s']} | {f['hf_trainer']['s_per_step']} | {f['hf_trainer']['final_loss']} | {f['hf_trainer']['peak_gpu_mib'] or '-'} |",
        "",
        f"Ours / Trainer: **{f['speedup_ours_vs_hf']}x**.",
    ]
    write_section(path, key, "\n".join(lines))


def write_section(path: Path, name: str, text: str) -> None:
    """Replace this script's section of ``path`` (between markers), keeping the others."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
