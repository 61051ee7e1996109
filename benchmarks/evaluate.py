"""Benchmark: every baseline and the chains (the default learned chain, the statistical ones) on the
shared TOP validation files, exactly as `kgimagine eval` runs them on an evaluation graph.

Protocol (see docs/evaluation.md): for each of phase_I_valid / phase_II_valid / phase_III_valid,
5-fold stratified CV within the file; learned baselines are fitted on phase_I_train + the other
folds, and their F1 threshold comes from nested inner folds; the chains are not refitted per fold
(``chain-learned`` = predict's default: the learned operator fitted once on the graph's labelled
trials, i.e. phase_I_train only, so it sees less data than the baselines) and their threshold
comes from the other folds. Labels in the graph: phase_I_train only (audited). For the learned
chain on the same training data as the baselines, see learned_operator.py.

    python benchmarks/evaluate.py --store /path/to/graph [--chain-local-sample 20]

Prints the tables and writes benchmarks/results/evaluation.md (+ plots under --plots-dir).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from kgimagine.config import find_shared_data_dir
from provenance import RunRecord, command_lines, graph_recipe_of

HERE = Path(__file__).resolve().parent
SPLITS = ("phase_I_valid", "phase_II_valid", "phase_III_valid")
METHODS = ("prior", "text", "graph-lr", "graph-gbm", "text+graph",
           "graph-lr-noapproval", "graph-gbm-noapproval", "text+graph-noapproval", "chain-learned", "chain-statistical",
           "chain-statistical-fit")
HINT = ("Published HINT reference (TOP **test** splits, not these validation files): "
        "phase I AP ≈ 0.64, ROC-AUC ≈ 0.56; phase III AP ≈ 0.87, ROC-AUC ≈ 0.72.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="embedded graph dir built with `kgimagine kg build` (labels: phase_I_train)")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--splits", default=",".join(SPLITS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--chain-local-sample", type=int, default=0, help="also run chain-local on N trials per split")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "evaluation.md")
    ap.add_argument("--plots-dir", type=Path, default=None, help="write ROC / PR / calibration PNGs per split here")
    args = ap.parse_args(argv)

    from kgimagine.evaluation.baselines import parse_methods
    from kgimagine.evaluation.report import write_plots
    from kgimagine.evaluation.runner import EvaluationConfig, build_chain_predict, run_evaluation
    from kgimagine.kg.connect import open_store

    data_dir = args.data_dir or find_shared_data_dir(HERE)
    if data_dir is None:
        print("no shared data folder found; pass --data-dir", file=sys.stderr)
        return 2
    methods = parse_methods(args.methods)
    if args.chain_local_sample:
        methods = methods + ("chain-local",)
    args.run = RunRecord()
    store = open_store(args.store)
    args.graph_version = store.graph_version()
    args.graph_build = graph_recipe_of(Path(args.store))
    chain_predict = {}
    if "chain-local" in methods:
        from kgimagine.reasoning.operators.local import LocalOperator

        cache = Path(os.environ.get("KGIMAGINE_CACHE") or Path.home() / ".cache" / "kgimagine")
        chain_predict["chain-local"] = build_chain_predict("chain-local", store,
                                                           operator=LocalOperator(cache_dir=cache))
    sections = []
    started = time.time()
    for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
        t0 = time.time()
        cfg = EvaluationConfig(
            eval_file=data_dir / "top" / f"{split}.csv",
            train_file=data_dir / "top" / "phase_I_train.csv",
            methods=methods,
            n_folds=args.folds,
            chain_sample=args.chain_local_sample or None,
            n_resamples=args.resamples,
            title=f"{split} ({args.folds}-fold CV; learned baselines also fitted on phase_I_train)",
        )
        result = run_evaluation(cfg, store, chain_predict=chain_predict,
                                progress=lambda m, s=split: print(f"[{s}] {m}", file=sys.stderr, flush=True))
        md = result.report.to_markdown(heading_level=2)
        print(md, flush=True)
        sections.append(md + f"\n_wall time for this split: {time.time() - t0:.0f} s_\n")
        if args.plots_dir:
            write_plots(args.plots_dir / split, result.labels,
                        [r for r in result.runs if r.name not in result.sampled], split)
        _write(args, sections, started)  # after every split, so a long run keeps what it finished
    store.close()
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _write(args: argparse.Namespace, sections: list[str], started: float) -> None:
    machine = (f"{platform.machine()} {os.cpu_count()} cores (shared with other jobs, load varies), "
               f"Python {platform.python_version()}, CPU only")
    header = [
        "# Evaluation benchmark (TOP validation files)", "",
        *command_lines(graph_version=args.graph_version, graph_build=args.graph_build),
        args.run.line(),
        f"Machine: {machine}. Wall time so far {time.time() - started:.0f} s.", "",
        HINT, "",
        "Every headline figure carries a 95 % percentile bootstrap interval (1000 resamples, fixed seed); the "
        "'difference with the text baseline' tables use a paired bootstrap on the same resamples, and a difference "
        "whose interval contains 0 is *within noise*. F1 uses a threshold chosen on other folds only. ECE: 10 "
        "equal-width bins. Seconds per trial exclude fitting (see the protocol lines).", "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header) + "\n" + "\n".join(sections), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
