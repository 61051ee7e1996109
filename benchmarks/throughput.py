"""Throughput of the default chain (issue 11: >= 300 trials/min on 2 cores, k = 5, embedded store).

``kgimagine predict``'s default configuration (learned operator, MiniLM anchor retrieval with the
predictor's batched encoding, k anchors) over N validation trials described as new trials: they
leave the labelled pool, the operator is fitted without them (not timed), then
``Predictor.predict_many`` runs over their CSV rows (timed, after one warm-up prediction that
loads MiniLM). The Run: line records how busy the machine was.

    python benchmarks/throughput.py --store /tmp/g-all [--n 300] [--k 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from learned_operator import spec_of
from provenance import RunRecord, command_lines, graph_recipe_of

from kgimagine.evaluation.runner import read_labelled_trials
from kgimagine.kg.connect import open_store
from kgimagine.reasoning.embedding import CachedEmbedder, MiniLMEmbedder
from kgimagine.reasoning.operators.learned import LearnedModel, LearnedOperator
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.retrieval import AnchorIndex
from kgimagine.trials.evidence import EvidenceBuilder, labelled_pool

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--data-dir", default=str(HERE.parents[1] / "shared" / "data"))
    ap.add_argument("--file", default="phase_II_valid")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "kgimagine"))
    ap.add_argument("--out", default=str(HERE / "results" / "throughput.md"))
    args = ap.parse_args()

    run = RunRecord()
    store = open_store(args.store)
    trials, _ = read_labelled_trials(Path(args.data_dir) / "top" / f"{args.file}.csv")
    trials = trials[: args.n]
    held = {t.nctid for t in trials}
    pool = {k: v for k, v in labelled_pool(store).items() if k not in held}
    embedder = CachedEmbedder(MiniLMEmbedder())
    index = AnchorIndex.build(store, embedder=embedder, cache_dir=Path(args.cache_dir)).without(
        f"clinicaltrials:{k}" for k in held)
    evidence = EvidenceBuilder(store)
    model = LearnedModel.fit(evidence, pool, anchors=index, k=args.k)
    op = LearnedOperator(store, model, evidence=evidence, pool=pool)
    pred = Predictor(store, op, k=args.k, index=index, embedder=embedder, threshold=model.threshold,
                     hidden_trials=(f"clinicaltrials:{k}" for k in held))  # new trials: not shown as facts
    specs = [spec_of(t) for t in trials]
    pred.predict(specs[0])  # warm-up: MiniLM loaded, caches filled for one trial
    t0 = time.perf_counter()
    out = list(pred.predict_many(specs))
    seconds = time.perf_counter() - t0
    steps = sum(p.steps_total for p in out)
    supported = sum(p.steps_supported for p in out)
    lines = [
        "# Throughput of the default chain (issue 11)", "",
        *command_lines(graph_version=store.graph_version(), graph_build=graph_recipe_of(Path(args.store))),
        run.line(), "",
        f"- {len(out)} trials of {args.file} described as new trials (out of the pool, the anchors and the fit), "
        f"k = {args.k}, learned operator, MiniLM retrieval, embedded store: **{60 * len(out) / seconds:.0f} "
        f"trials/min** ({seconds:.1f} s; fitting not timed)",
        f"- steps {steps}, supported {supported} ({supported / max(steps, 1):.3f}); "
        f"trials with an error {sum(1 for p in out if p.error)}",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
