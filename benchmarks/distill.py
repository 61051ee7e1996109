"""Distillation of the learned operator into SmolLM2 (issue 13), at a scale a CPU finishes.

    python benchmarks/distill.py --graph /tmp/distill-graph --valid-file ../shared/data/top/phase_I_valid.csv

1. teacher steps: ``kgimagine train pairs`` + ``kgimagine train chains`` (the learned operator
   fitted on the graph, over its labelled training trials; pairs mixed in where the teacher and
   the outcomes agree);
2. held-out split: 20 % of the training trials by a hash of their NCT id; SFT examples never have
   a held-out anchor or target; held-out steps are steps whose target is held out;
3. ``kgimagine train sft`` on the training steps, then ``kgimagine train grpo`` from the SFT adapter;
4. on a sample of held-out teacher steps: direction agreement with the teacher and the verifier's
   verdicts (the check a served student meets: rule evidence signs) for the base model, the SFT
   adapter and the GRPO adapter, all through ``LocalOperator`` (constrained decoding, as served);
5. downstream: the first ``--valid-n`` labelled trials of ``--valid-file`` with the learned
   operator (k=5, its default; and k=--k), with base / adapters answering the steps of the learned
   chain's skeleton (``DistilledOperator``: the teacher's starts and plan) and, for base and SFT, as
   plain served chains (label start, all four factors as steps); k=--k, no re-asks.

Adapters are written under ``--work`` (default /tmp/kgimagine-distill), never into the repository.
Writes benchmarks/results/distill.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import command_lines, graph_recipe_of  # noqa: E402  (benchmarks/provenance.py)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
THREADS = 1  # torch threads of the CLI runs (set from --threads)


def held_out(trial_id: str, share: float = 0.2) -> bool:
    key = trial_id.removeprefix("clinicaltrials:").encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % 1000 < share * 1000


def kgimagine(args: list[str], log) -> float:
    """Run one CLI command (this checkout's source); returns its wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS=str(THREADS))
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "kgimagine.cli.app", *args]
    log(f"$ kgimagine {' '.join(args)}")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kgimagine {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    log(done.stdout.strip()[-600:])
    return time.perf_counter() - t0


def score_steps(op, examples, check) -> dict:
    """Direction agreement with the teacher and the verifier's verdicts on the model's answers."""
    from kgimagine.traces import parse_step_answer

    agree = parsed = steps_ok = claims = claims_ok = 0
    secs = []
    for ex in examples:
        t0 = time.perf_counter()
        raw = op.imagine(ex.step)
        secs.append(time.perf_counter() - t0)
        try:
            ans = parse_step_answer(raw)
        except ValueError:
            continue
        parsed += 1
        want = "none" if ex.direction == "same" else ex.direction
        agree += ans.direction == want
        verdicts, ok = check(ans, ex.step)
        steps_ok += ok
        claims += len(verdicts)
        claims_ok += sum(v == "supported" for v in verdicts)
    n = len(examples)
    return {"n": n, "parsed": parsed, "direction_agreement": round(agree / n, 3) if n else None,
            "supported_steps": round(steps_ok / n, 3) if n else None,
            "supported_claims": round(claims_ok / claims, 3) if claims else None, "claims": claims,
            "s_per_step": round(sum(secs) / len(secs), 1) if secs else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", type=Path, required=True, help="evaluation graph (labels: phase_I_train only)")
    ap.add_argument("--valid-file", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/kgimagine")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kgimagine-distill"))
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=900)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--grpo-steps", type=int, default=2)
    ap.add_argument("--grpo-new-tokens", type=int, default=48)
    ap.add_argument("--heldout-n", type=int, default=24, help="held-out teacher steps scored per model")
    ap.add_argument("--valid-n", type=int, default=8, help="validation trials for the downstream figures")
    ap.add_argument("--k", type=int, default=1, help="anchors per trial for the local chains (and a learned run)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 was 4x faster than 2 on the shared 2-core box)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "distill.md")
    args = ap.parse_args(argv)
    t_all = time.perf_counter()
    lines_log: list[str] = []

    def log(s: str) -> None:
        print(s, flush=True)
        lines_log.append(s)

    import torch

    global THREADS
    THREADS = args.threads
    torch.set_num_threads(args.threads)
    from kgimagine.kg.connect import open_store
    from kgimagine.traces import StepExample, iter_traces, write_traces
    from kgimagine.training.distill import split_by_target

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    store = open_store(args.graph)
    version = store.graph_version()
    store.close()
    g = str(args.graph)
    timings: dict[str, float] = {}
    # 1. teacher steps and pairs
    timings["train pairs"] = kgimagine(["train", "pairs", "--store", g, "--out", str(work / "pairs.jsonl")], log)
    timings["train operator"] = kgimagine(["train", "operator", "--store", g, "--if-missing"], log)
    timings["train chains"] = kgimagine(["train", "chains", "--store", g, "--operator", "learned", "--out",
                                         str(work / "teacher.jsonl"), "--pairs", str(work / "pairs.jsonl")], log)
    counts = json.loads((work / "teacher.stats.json").read_text())
    examples = [r for r in iter_traces(work / "teacher.jsonl") if isinstance(r, StepExample)]
    train, held = split_by_target(examples, held_out)
    held_chain = [e for e in held if e.origin == "chain"]
    held_chain.sort(key=lambda e: hashlib.blake2b(e.example_id.encode(), digest_size=4).digest())
    sample = held_chain[: args.heldout_n]
    write_traces(work / "train.jsonl", train)
    log(f"{len(examples)} examples: {len(train)} training, {len(held)} held out ({len(held_chain)} teacher steps)")
    # 2. SFT, then GRPO from the SFT adapter
    sft_dir, grpo_dir = work / "adapter-sft", work / "adapter-grpo"
    timings["train sft"] = kgimagine(["train", "sft", "--data", str(work / "train.jsonl"), "--out", str(sft_dir),
                                      "--steps", str(args.sft_steps), "--batch-size", str(args.batch_size),
                                      "--max-length", str(args.max_length), "--lr", str(args.lr), "--device", "cpu"], log)
    sft_manifest = json.loads((sft_dir / "kgimagine-manifest.json").read_text())
    grpo_metrics = None
    if args.grpo_steps:
        grpo_data = work / "grpo.jsonl"
        # 32 + 32 candidates: train grpo keeps those within --max-prompt-tokens (about 1 in 6 at 900);
        # fewer than --prompts-per-step left is an error there, not a run of no step
        write_traces(grpo_data, [e for e in train if e.origin == "pair"][:32] + [e for e in train if e.origin == "chain"][:32])
        timings["train grpo"] = kgimagine(["train", "grpo", "--data", str(grpo_data), "--out", str(grpo_dir),
                                           "--init", str(sft_dir), "--store", g, "--steps", str(args.grpo_steps),
                                           "--prompts-per-step", "2", "--generations", "2", "--max-new-tokens",
                                           str(args.grpo_new_tokens), "--max-prompt-tokens", str(args.max_length),
                                           "--lr", "1e-4", "--device", "cpu"], log)
        grpo_metrics = json.loads((grpo_dir / "kgimagine-manifest.json").read_text())["metrics"]
    # 3. held-out teacher steps
    from kgimagine.cli.train import _student_check
    from kgimagine.reasoning.operators.local import LocalOperator

    store = open_store(args.graph)
    check = _student_check(store)
    models = {"SmolLM2 base": None, "SmolLM2 + SFT adapter": sft_dir}
    if grpo_metrics is not None:
        models["SmolLM2 + SFT + GRPO adapter"] = grpo_dir
    step_scores = {}
    t0 = time.perf_counter()
    for name, adapter in models.items():
        op = LocalOperator(adapter=adapter, cache_dir=args.cache, device="cpu")
        step_scores[name] = score_steps(op, sample, check)
        log(f"{name}: {step_scores[name]}")
    timings["held-out steps"] = time.perf_counter() - t0
    # 4. downstream on validation trials
    from kgimagine.evaluation.metrics import average_precision, roc_auc
    from kgimagine.loaders.top import read_top_csv
    from kgimagine.reasoning.embedding import MiniLMEmbedder
    from kgimagine.reasoning.operators.learned import LearnedOperator, default_operator_dir
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec

    rows = [r for r in read_top_csv(args.valid_file) if r.label is not None][: args.valid_n]
    specs = [TrialSpec.from_top_row(r) for r in rows]
    y = [int(r.label) for r in rows]
    embedder = MiniLMEmbedder()
    learned = LearnedOperator.load(default_operator_dir(args.cache, version), store)
    from kgimagine.reasoning.operators.distilled import DistilledOperator

    runs = {"learned operator (k=5)": (learned, 5), f"learned operator (k={args.k})": (learned, args.k)}
    for name, adapter in models.items():
        local = LocalOperator(adapter=adapter, cache_dir=args.cache, device="cpu")
        runs[f"{name} on the learned chain's skeleton (k={args.k})"] = (DistilledOperator(local, learned), args.k)
        if "GRPO" not in name:  # the plain served chain (label start, all four factors as steps)
            runs[f"{name}, plain chain (k={args.k})"] = (local, args.k)
    downstream = {}
    t0 = time.perf_counter()
    for name, (op, k) in runs.items():
        thr = float(getattr(op, "threshold", 0.5))
        pred = Predictor(store, op, k=k, embedder=embedder, cache_dir=args.cache, threshold=thr, max_reasks=0)
        t1 = time.perf_counter()
        ps = [pred.predict(s) for s in specs]
        probs = [p.probability for p in ps]
        rates = [p.grounding_rate for p in ps if p.grounding_rate is not None]
        downstream[name] = {"ap": average_precision(y, probs), "auc": roc_auc(y, probs),
                            "grounding": sum(rates) / len(rates) if rates else None,
                            "s_per_trial": (time.perf_counter() - t1) / len(specs), "probs": probs}
        log(f"{name}: AP {downstream[name]['ap']:.3f} AUC {downstream[name]['auc']:.3f}")
    timings["downstream"] = time.perf_counter() - t0
    store.close()
    wall = time.perf_counter() - t_all
    write_markdown(args, version, counts, len(examples), len(train), len(held), len(held_chain), sft_manifest,
                   grpo_metrics, step_scores, downstream, y, timings, wall)
    return 0


def _f(x, nd=3):
    return "-" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def write_markdown(args, version, counts, n_all, n_train, n_held, n_held_chain, sft, grpo, steps, down, y,
                   timings, wall) -> None:
    import platform

    import torch

    recipe = graph_recipe_of(Path(args.graph))
    m = sft["metrics"]
    lines = [
        "# Distillation of the learned operator into SmolLM2 (`benchmarks/distill.py`)",
        "",
        *command_lines(graph_version=version, graph_build=recipe),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch threads "
        f"{torch.get_num_threads()}, CPU only. Graph {version} (labels: phase_I_train only). Wall time "
        f"{wall / 60:.1f} min (" + ", ".join(f"{k} {v / 60:.1f}" for k, v in timings.items()) + " min).",
        "",
        "## Teacher steps (`kgimagine train chains --operator learned --pairs …`)",
        "",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".",
        f"{n_all} step examples; 20 % of the training trials held out by a hash of their NCT id: "
        f"{n_train} training examples (neither anchor nor target held out), {n_held} held out "
        f"({n_held_chain} teacher steps, of which {args.heldout_n} are scored below).",
        "",
        f"SFT: {m['steps']} steps x batch {args.batch_size}, lr {args.lr}, LoRA r=8 on q_proj/v_proj, max length "
        f"{args.max_length} ({m.get('dropped_too_long')} longer examples skipped), {m['examples']} examples available; "
        f"loss {m['initial_loss']} -> {m['final_loss']}; {m['tokens_per_s']} tokens/s, {m['seconds'] / 60:.1f} min "
        f"(so {m['steps'] * args.batch_size} examples seen).",
    ]
    if grpo is not None:
        lines.append(f"GRPO (trl GRPOTrainer, from the SFT adapter): {grpo['steps']} steps x 2 prompts x 2 generations, "
                     f"{args.grpo_new_tokens} new tokens; reward {_f(grpo['reward_first'])} -> {_f(grpo['reward_last'])}; "
                     f"{grpo['lora_tensors_changed']}/{grpo['lora_tensors']} LoRA tensors changed; {grpo['seconds'] / 60:.1f} min.")
    lines += [
        "",
        "## Held-out teacher steps (LocalOperator, constrained decoding, as served)",
        "",
        "Direction agreement = the model's direction equals the teacher's. Supported = the verifier (rule "
        "evidence signs, the check a served student meets) supports the whole step / each claim.",
        "",
        "| model | steps | parsed | direction agreement | supported steps | supported claims (n claims) | s/step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in steps.items():
        lines.append(f"| {name} | {s['n']} | {s['parsed']} | {_f(s['direction_agreement'])} | {_f(s['supported_steps'])} | "
                     f"{_f(s['supported_claims'])} ({s['claims']}) | {_f(s['s_per_step'], 1)} |")
    lines += [
        "",
        f"## Downstream: first {len(y)} labelled trials of `{args.valid_file.name}` ({sum(y)} successes)",
        "",
        "| chain | AP | ROC-AUC | grounding rate | s/trial | mean abs. difference to the learned operator (same k) |",
        "|---|---|---|---|---|---|",
    ]
    ref = next((d["probs"] for n, d in down.items() if n == f"learned operator (k={args.k})"), None)
    for name, d in down.items():
        gap = None if ref is None else sum(abs(a - b) for a, b in zip(d["probs"], ref)) / len(ref)
        lines.append(f"| {name} | {_f(d['ap'])} | {_f(d['auc'])} | {_f(d['grounding'], 2)} | {_f(d['s_per_trial'], 1)} "
                     f"| {_f(gap)} |")
    path = args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    reading = old[old.index("## Reading"):] if "## Reading" in old else ""
    path.write_text("\n".join(lines) + "\n\n" + reading, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
