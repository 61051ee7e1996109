"""Reasoning benchmark: fact retrieval latency, state-machine overhead, trials per minute.

On the real built graph (``kgimagine kg build``):

1. trials per minute with the statistical operator (k=5 and k=2), recording every
   ``kg.queries.facts_for_change`` call the state machine makes (one per step) and every step input;
2. fact retrieval p50/p95 per step: the recorded calls replayed on the embedded store and, with
   ``--neo4j``, on Neo4j holding the same graph (a second instance started with ``scripts/neo4j``
   on its own home and port, loaded from the embedded graph and checked by ``graph_version``; the
   shared development server is never touched). Targets: <= 5 ms embedded, <= 25 ms Neo4j;
3. the local SmolLM2 operator on ~10 real recorded steps, constrained and unconstrained decoding:
   valid-answer rate, grounded rate (cites only shown ids), tokens/s;
4. trials per minute with the local operator (k=2) and the share of wall time spent outside the
   operator (graph queries + state machine + verification; target <= 10 %).

    python benchmarks/reasoning.py --graph ~/.cache/kgimagine/graph --neo4j spawn
    python benchmarks/reasoning.py --graph DIR --trials 5 --local-steps 3 --local-trials 1 --no-write-results

Prints the figures and writes them to benchmarks/results/reasoning.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines, graph_recipe_of  # noqa: E402  (benchmarks/provenance.py)
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from kgimagine.errors import KgimagineError  # noqa: E402
from kgimagine.kg import queries  # noqa: E402
from kgimagine.traces import StepInput, parse_step_answer  # noqa: E402

SCRIPT = REPO / "scripts" / "neo4j"
RESULTS = REPO / "benchmarks" / "results" / "reasoning.md"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    idx = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[idx]


def ms(x: float) -> str:
    return f"{x * 1000:.2f}"


class Recorder:
    """Wraps ``queries.facts_for_change`` (timing and recording each call) while active."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []
        self.seconds: list[float] = []
        self._orig: Callable[..., Any] | None = None

    def __enter__(self) -> "Recorder":
        self._orig = queries.facts_for_change
        orig = self._orig

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = orig(*args, **kwargs)
            self.seconds.append(time.perf_counter() - t0)
            self.calls.append((args[1:], kwargs))  # without the store
            return out

        queries.facts_for_change = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        queries.facts_for_change = self._orig  # type: ignore[assignment]


class RecordingOperator:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.steps: list[StepInput] = []
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:
        # the operator's optional hooks (fact_signs, start_offset, anchor_start, ...) reach the state
        # machine and the verifier unchanged: without fact_signs the verifier would judge the claim
        # roles of the statistical operator by the rule signs, not by its own model
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        if feedback is None:
            self.steps.append(step)
        t0 = time.perf_counter()
        try:
            return self.inner.imagine(step, feedback=feedback)
        finally:
            self.seconds += time.perf_counter() - t0


def replay(store: Any, calls: list[tuple[tuple, dict]]) -> list[float]:
    out = []
    for args, kwargs in calls:
        t0 = time.perf_counter()
        queries.facts_for_change(store, *args, **kwargs)
        out.append(time.perf_counter() - t0)
    return out


PASSES = 3


def replay_passes(store: Any, calls: list[tuple[tuple, dict]], passes: int = PASSES) -> tuple[list[float], list[list[float]]]:
    """``passes`` full passes over the calls in order; per call the median of its passes (this
    shared box has pauses of tens of ms that no code causes), and every pass for the record."""
    runs = [replay(store, calls) for _ in range(passes)]
    return [statistics.median(per_call) for per_call in zip(*runs)], runs


def pass_p95s(runs: list[list[float]]) -> str:
    return ", ".join(f"{pct(r, 95) * 1000:.1f}" for r in runs)


def target_specs(store: Any, n: int) -> list[Any]:
    """``n`` trials without an outcome label in the graph (evaluation-split targets), spread evenly."""
    from kgimagine.reasoning.spec import TrialSpec
    from kgimagine.types import NodeLabel

    ids = sorted(t.id for t in store.iter_nodes(NodeLabel.TRIAL) if queries.trial_outcome(t) is None)
    if not ids:
        raise SystemExit("the graph has no unlabelled trials to predict")
    step = max(1, len(ids) // max(n, 1))
    chosen = ids[::step][:n]
    return [TrialSpec.from_graph(store, tid) for tid in chosen]


def run_predictions(store: Any, operator: Any, specs: list[Any], *, k: int, index: Any) -> dict[str, Any]:
    from kgimagine.reasoning.predictor import Predictor

    rec_op = RecordingOperator(operator)
    predictor = Predictor(store, rec_op, k=k, index=index)
    walls, steps, supported = [], 0, 0
    node_seconds: dict[str, float] = {}
    with Recorder() as rec:
        for spec in specs:
            t0 = time.perf_counter()
            pred = predictor.predict(spec)
            walls.append(time.perf_counter() - t0)
            steps += pred.steps_total
            supported += pred.steps_supported
            for key, v in pred.timings.items():
                node_seconds[key] = node_seconds.get(key, 0.0) + v
    total = sum(walls)
    return {
        "walls": walls, "total": total, "steps": steps, "supported": supported,
        "operator_s": rec_op.seconds, "step_inputs": rec_op.steps,
        "calls": rec.calls, "fact_s": rec.seconds, "node_seconds": node_seconds,
        "trials_per_min": 60 * len(specs) / total if total else float("nan"),
    }


def json_quality(op: Any, steps: list[StepInput], *, constrained: bool) -> dict[str, Any]:
    op.constrained = constrained
    before = dict(op.stats)
    valid = grounded = 0
    errors: list[str] = []
    for step in steps:
        raw = op.imagine(step)
        try:
            ans = parse_step_answer(raw)
        except ValueError as exc:
            errors.append(str(exc)[:90])
            continue
        valid += 1
        if ans.cited and set(ans.cited) <= {f.fact_id for f in step.facts}:
            grounded += 1
    d = {k: op.stats[k] - before[k] for k in ("calls", "generated_tokens", "forced_tokens", "prompt_tokens", "seconds")}
    emitted = d["generated_tokens"] + d["forced_tokens"]
    return {
        "n": len(steps), "valid": valid, "grounded": grounded, "errors": errors,
        "s_per_step": d["seconds"] / max(1, d["calls"]),
        "tok_s": emitted / d["seconds"] if d["seconds"] else float("nan"),
        "chosen_tok_s": d["generated_tokens"] / d["seconds"] if d["seconds"] else float("nan"),
        "prompt_tokens": d["prompt_tokens"] / max(1, d["calls"]),
    }


# -- Neo4j -------------------------------------------------------------------------------------
def neo4j_script(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"scripts/neo4j {' '.join(args)} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")


def neo4j_measure(store: Any, calls: list, target: str, home: Path, port: int) -> dict[str, Any]:
    from kgimagine.kg.neo4j_store import Neo4jGraphStore

    out: dict[str, Any] = {}
    env = None
    if target == "spawn":
        env = dict(os.environ)
        env.update(KGIMAGINE_NEO4J_HOME=str(home), KGIMAGINE_NEO4J_BOLT_PORT=str(port), KGIMAGINE_NEO4J_HTTP_PORT="off")
        t0 = time.perf_counter()
        neo4j_script(env, "start")
        out["start_s"] = time.perf_counter() - t0
        uri = f"bolt://127.0.0.1:{port}"
    else:
        uri = target
    password = os.environ.get("NEO4J_PASSWORD", "kgimagine-dev")
    try:
        neo = Neo4jGraphStore(uri, user=os.environ.get("NEO4J_USER", "neo4j"), password=password)
        try:
            stats = neo.stats()
            # a server kept from an earlier run may hold an older build: replaced, never measured
            if stats.edge_count == 0 or neo.graph_version() != store.graph_version():
                t0 = time.perf_counter()
                if stats.edge_count:
                    neo.clear()
                neo.write_graph(store.iter_nodes(), store.iter_edges())
                out["load_s"] = time.perf_counter() - t0
            out["same_version"] = neo.graph_version() == store.graph_version()
            if not out["same_version"]:
                raise SystemExit(f"Neo4j at {uri} does not hold {store.graph_version()} after loading it; not measured")
            out["uri"] = uri
            # a long-running server is the normal case: the first pass over the calls (a freshly
            # started JVM: query planning, JIT, page cache) is reported separately, the second measured
            out["first_pass"] = replay(neo, calls)
            out["seconds"], out["runs"] = replay_passes(neo, calls)
        finally:
            neo.close()
    finally:
        if env is not None:
            neo4j_script(env, "stop")
    return out


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graph", type=Path, required=True, help="embedded graph directory (kgimagine kg build)")
    ap.add_argument("--trials", type=int, default=20, help="trials predicted with the statistical operator")
    ap.add_argument("--local-steps", type=int, default=10, help="recorded steps answered by SmolLM2 per mode")
    ap.add_argument("--local-trials", type=int, default=3, help="trials predicted end to end with SmolLM2 (k=2)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kgimagine", help="model cache")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 was fastest on the shared 2-core box)")
    ap.add_argument("--neo4j", default="none", help="'spawn' (second instance via scripts/neo4j), a bolt URI, or 'none'")
    ap.add_argument("--neo4j-home", type=Path, default=Path("/tmp/kgimagine-bench-reasoning-neo4j"))
    ap.add_argument("--neo4j-port", type=int, default=7697)
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.reasoning.operators.local import LocalOperator
    from kgimagine.reasoning.operators.statistical import StatisticalOperator
    from kgimagine.reasoning.retrieval import AnchorIndex

    run = RunRecord()
    if args.neo4j == "spawn":
        run.track_pid_file(args.neo4j_home / "run" / "neo4j.pid")
    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    t0 = time.perf_counter()
    store = NetworkXGraphStore(args.graph)
    load_s = time.perf_counter() - t0
    st = store.stats()
    t0 = time.perf_counter()
    index = AnchorIndex.build(store)
    index_s = time.perf_counter() - t0
    specs = target_specs(store, args.trials)

    say("# Reasoning benchmark (`benchmarks/reasoning.py`)")
    say()
    for line in command_lines(graph_version=store.graph_version(), graph_build=graph_recipe_of(args.graph)):
        say(line)
    run_at = len(lines)  # the Run: line goes here once the run is over
    say(f"Machine: {os.cpu_count()} cores (load average "
        f"{os.getloadavg()[0]:.1f} at start), no GPU, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__} with {args.threads} thread(s).")
    say(f"Graph: `{args.graph}` {store.graph_version()}: {st.node_count:,} nodes, {st.edge_count:,} edges "
        f"(loaded in {load_s:.1f} s; anchor index of {len(index.trials):,} labelled trials built in {index_s:.1f} s, "
        "text embeddings off).")
    say(f"Targets: {len(specs)} unlabelled (evaluation-split) trials of the graph, evenly spread by id.")
    say()

    stat5 = run_predictions(store, StatisticalOperator(store), specs, k=5, index=index)
    stat2 = run_predictions(store, StatisticalOperator(store), specs, k=2, index=index)
    calls = stat5["calls"]
    insitu = stat5["fact_s"]
    warm, warm_runs = replay_passes(store, calls)

    say("## Fact retrieval per step (`kg.queries.facts_for_change`)")
    say()
    say("| store | calls | p50 ms | p95 ms | max ms | target |")
    say("|---|---:|---:|---:|---:|---|")
    say(f"| embedded, inside the runs | {len(insitu)} | {ms(pct(insitu, 50))} | {ms(pct(insitu, 95))} | {ms(max(insitu))} | <= 5 ms |")
    say(f"| embedded, replayed ({PASSES} passes, per-call median) | {len(warm)} | {ms(pct(warm, 50))} | {ms(pct(warm, 95))} | {ms(max(warm))} | <= 5 ms |")
    neo_note = ""
    if args.neo4j != "none":
        try:
            neo = neo4j_measure(store, calls, args.neo4j, args.neo4j_home, args.neo4j_port)
            ns = neo["seconds"]
            fp = neo["first_pass"]
            say(f"| Neo4j 5.26 ({neo['uri']}), first pass after start and load | {len(fp)} | {ms(pct(fp, 50))} | {ms(pct(fp, 95))} | {ms(max(fp))} | (not the target) |")
            say(f"| Neo4j 5.26 ({neo['uri']}), replayed ({PASSES} more passes, per-call median) | {len(ns)} | {ms(pct(ns, 50))} | {ms(pct(ns, 95))} | {ms(max(ns))} | <= 25 ms |")
            neo_by: dict[str, list[float]] = {}
            for (fargs, _), sec in zip(calls, ns):
                neo_by.setdefault(str(getattr(fargs[0], "value", fargs[0])), []).append(sec)
            neo_note = (f"Neo4j: same graph_version as the embedded store: {neo['same_version']}; "
                        + (f"started in {neo['start_s']:.0f} s; " if "start_s" in neo else "")
                        + (f"loaded from the embedded graph in {neo['load_s']:.0f} s (write_graph); " if "load_s" in neo else "")
                        + "the first pass over the calls warms the freshly started server (query plans, JIT, page "
                        f"cache) and is not the figure; p95 of each measured pass: {pass_p95s(neo['runs'])} ms; "
                        "by factor, per-call medians (ms): " + "; ".join(
                            f"{f} n={len(v)} p50 {ms(pct(v, 50))} p95 {ms(pct(v, 95))}" for f, v in sorted(neo_by.items())) + ".")
        except (SystemExit, KgimagineError, OSError) as exc:
            neo_note = f"Neo4j not measured: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
    say()
    by_factor: dict[str, list[float]] = {}
    for (fargs, _), sec in zip(calls, warm):
        by_factor.setdefault(str(getattr(fargs[0], "value", fargs[0])), []).append(sec)
    say(f"Embedded, p95 of each pass: {pass_p95s(warm_runs)} ms; by factor, per-call medians (ms): " + "; ".join(
        f"{f} n={len(v)} p50 {ms(pct(v, 50))} p95 {ms(pct(v, 95))}" for f, v in sorted(by_factor.items())) + ".")
    say()
    if neo_note:
        say(neo_note)
        say()

    say("## Trials per minute, statistical operator")
    say()
    say("| k | trials | steps | supported | s/trial p50 | trials/min | operator share of wall time |")
    say("|---:|---:|---:|---:|---:|---:|---:|")
    for k, r in ((5, stat5), (2, stat2)):
        say(f"| {k} | {len(specs)} | {r['steps']} | {r['supported']} | {pct(r['walls'], 50):.3f} | "
            f"{r['trials_per_min']:.0f} | {100 * r['operator_s'] / r['total']:.0f} % |")
    say()

    # -- local model --------------------------------------------------------------------------
    op = LocalOperator(cache_dir=args.cache, max_new_tokens=96, device="cpu")
    t0 = time.perf_counter()
    op.load()
    op_load = time.perf_counter() - t0
    pool = [s for s in stat5["step_inputs"] if s.facts]
    sample = pool[:: max(1, len(pool) // max(1, args.local_steps))][: args.local_steps]
    q_con = json_quality(op, sample, constrained=True)
    q_free = json_quality(op, sample, constrained=False)
    op.constrained = True
    say("## SmolLM2-135M-Instruct (`LocalOperator`) on real recorded steps")
    say()
    say(f"Model load {op_load:.1f} s (converted base in the cache). {len(sample)} steps taken from the statistical run "
        f"({q_con['prompt_tokens']:.0f} prompt tokens per step on average), greedy, max_new_tokens=96.")
    say()
    say("| decoding | valid answers | grounded (cites only shown ids) | s/step | emitted tokens/s | model-chosen tokens/s |")
    say("|---|---:|---:|---:|---:|---:|")
    for label, q in (("constrained (default)", q_con), ("unconstrained (prefill only)", q_free)):
        say(f"| {label} | {q['valid']}/{q['n']} | {q['grounded']}/{q['n']} | {q['s_per_step']:.2f} | "
            f"{q['tok_s']:.1f} | {q['chosen_tok_s']:.1f} |")
    say()
    say("s/step includes the prompt prefill (one forward pass over the whole prompt); tokens/s = answer tokens "
        "(model-chosen + forced) per second of step time; model-chosen tokens/s counts only the tokens the model "
        "picked (the constrained decoder forces the template, the shared stretches of fact ids and the only "
        "remaining id).")
    if q_free["errors"]:
        say()
        say(f"Unconstrained failures, e.g.: `{q_free['errors'][0]}`")
    say()

    local_specs = specs[: args.local_trials]
    loc = run_predictions(store, op, local_specs, k=2, index=index)
    stat_same = run_predictions(store, StatisticalOperator(store), local_specs, k=2, index=index)
    outside = loc["total"] - loc["operator_s"]
    say("## Trials per minute and state-machine overhead, local operator (k=2)")
    say()
    say("| operator | trials | steps | supported | s/trial p50 | trials/min | time outside the operator |")
    say("|---|---:|---:|---:|---:|---:|---:|")
    say(f"| local (SmolLM2, constrained) | {len(local_specs)} | {loc['steps']} | {loc['supported']} | "
        f"{pct(loc['walls'], 50):.1f} | {loc['trials_per_min']:.2f} | {100 * outside / max(loc['total'], 1e-9):.1f} % "
        f"({outside:.2f} s of {loc['total']:.1f} s) |")
    say(f"| statistical, same trials | {len(local_specs)} | {stat_same['steps']} | {stat_same['supported']} | "
        f"{pct(stat_same['walls'], 50):.3f} | {stat_same['trials_per_min']:.0f} | "
        f"{100 * (stat_same['total'] - stat_same['operator_s']) / max(stat_same['total'], 1e-9):.0f} % |")
    say()
    node = {k: round(v, 2) for k, v in sorted(loc["node_seconds"].items(), key=lambda kv: -kv[1])}
    say(f"Per-node seconds in the local run (from `Prediction.timings`): {node}.")
    say("Overhead target (graph + state machine <= 10 % of step time with the local model): "
        + ("met." if outside / max(loc["total"], 1e-9) <= 0.10 else "NOT met."))
    say()
    say(f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    lines.insert(run_at, run.line())
    print(lines[run_at])

    if not args.no_write_results:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
