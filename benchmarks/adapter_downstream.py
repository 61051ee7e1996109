"""Downstream effect of a distilled LoRA adapter on validation-trial predictions.

Runs the same Predictor (same graph, anchors, plan, fact budget, verifier) with the local base
model and with base + adapter on the first N trials of a validation file, and reports AP /
ROC-AUC (bootstrap 95 % CI), a paired-bootstrap difference, grounding rate and seconds per trial.
Labels are read from the file for scoring only; the predictor never sees them.

    python benchmarks/adapter_downstream.py --graph ~/.cache/kgimagine/graph --adapter runs/adapter \
        --file ../shared/data/top/phase_I_valid.csv --n 20 --k 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import command_lines  # noqa: E402  (benchmarks/provenance.py)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def run(predictor, specs):
    probs, rates, secs = [], [], []
    for spec in specs:
        t0 = time.perf_counter()
        pred = predictor.predict(spec)
        secs.append(time.perf_counter() - t0)
        probs.append(pred.probability)
        if pred.grounding_rate is not None:
            rates.append(pred.grounding_rate)
        print(f"  {spec.nct_id}: p={pred.probability:.3f} grounding={pred.grounding_rate} {secs[-1]:.1f}s", flush=True)
    return probs, rates, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", type=Path, required=True)
    ap.add_argument("--adapter", type=Path, required=True)
    ap.add_argument("--file", type=Path, required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("KGIMAGINE_CACHE", Path.home() / ".cache/kgimagine")))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/adapter_downstream.md")
    args = ap.parse_args()

    import torch

    from kgimagine.evaluation.metrics import average_precision, bootstrap, format_value, paired_bootstrap, roc_auc
    from kgimagine.kg.connect import open_store
    from kgimagine.loaders.top import read_top_csv
    from kgimagine.reasoning.embedding import MiniLMEmbedder
    from kgimagine.reasoning.operators.local import LocalOperator
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec

    store = open_store(args.graph)
    rows = [r for r in read_top_csv(args.file) if r.label is not None][: args.n]
    specs = [TrialSpec.from_top_row(r) for r in rows]
    y = [r.label for r in rows]
    embedder = MiniLMEmbedder()
    results = {}
    for name, adapter in (("base", None), ("adapter", args.adapter)):
        print(f"== {name}", flush=True)
        op = LocalOperator(adapter=adapter, cache_dir=args.cache)
        predictor = Predictor(store, op, k=args.k, embedder=embedder, cache_dir=args.cache)
        results[name] = run(predictor, specs)
    lines = [
        "# Downstream effect of the LoRA adapter (`benchmarks/adapter_downstream.py`)",
        "",
        *command_lines(graph_version=store.graph_version()),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, CPU only. "
        f"Graph {store.graph_version()}; file `{args.file.name}`, first {len(rows)} labelled trials "
        f"({sum(y)} successes); k={args.k} anchors, MiniLM anchor retrieval, constrained decoding; "
        f"adapter `{args.adapter}`.",
        "",
        "| model | AP (95 % CI) | ROC-AUC (95 % CI) | grounding rate | s/trial |",
        "|---|---|---|---|---|",
    ]
    for name, (p, rates, secs) in results.items():
        apv, auc = bootstrap(average_precision, y, p), bootstrap(roc_auc, y, p)
        g = sum(rates) / len(rates) if rates else float("nan")
        lines.append(f"| SmolLM2 {name} | {apv} | {auc} | {g:.2f} | {sum(secs) / len(secs):.1f} |")
    diff_ap = paired_bootstrap(average_precision, y, results["adapter"][0], results["base"][0])
    diff_auc = paired_bootstrap(roc_auc, y, results["adapter"][0], results["base"][0])
    lines += ["", f"Adapter − base: AP {diff_ap}; ROC-AUC {diff_auc} (paired bootstrap; an interval containing 0 is within noise).",
              f"Point values: AP base {format_value(average_precision(y, results['base'][0]))}, "
              f"adapter {format_value(average_precision(y, results['adapter'][0]))}."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
