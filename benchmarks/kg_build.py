"""Full graph build from the shared sources: wall time, CPU time, peak memory, counts, coverage.

    python benchmarks/kg_build.py [--data-dir D] [--neo4j bolt://127.0.0.1:7687 [--neo4j-home H]] [--out benchmarks/results/kg_build.md]

Each build runs in its own child process, so its peak RSS (``resource.getrusage``) is its
own. The embedded build writes a checkpointed graph to a temporary directory (journal + one
final save, as ``kgimagine kg build`` does); the Neo4j build (``--neo4j``; password from
NEO4J_PASSWORD, default kgimagine-dev) CLEARS that database first; ``--neo4j-home`` (the
``scripts/neo4j`` home of that server) counts the server's CPU as the benchmark's in the Run line.
Both builds use ``--labels-from phase_I_train`` (the CLI default; recorded as the results'
``Graph build:`` recipe). Targets here: embedded <= 20 s, Neo4j <= 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines  # noqa: E402  (benchmarks/provenance.py)

HERE = Path(__file__).resolve().parent
LABELS_FROM = "phase_I_train"


def child(mode: str, data_dir: Path, target: str) -> dict:
    t_import = time.perf_counter()
    from kgimagine.kg.connect import open_store
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import build_graph, default_loaders

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if mode == "neo4j":
        store = open_store(target, password=os.environ.get("NEO4J_PASSWORD", "kgimagine-dev"))
        checkpoint = Path(tempfile.mkdtemp()) / "build-state.json"
    else:
        store = open_store(target)
        checkpoint = Path(target) / "build-state.json"
    ctx = LoadContext(data_dir=data_dir, cache_dir=checkpoint.parent / "cache", labels_from=frozenset({LABELS_FROM}))
    times: dict[str, float] = {}
    report = build_graph(store, ctx, default_loaders(data_dir), checkpoint=checkpoint)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    store.close()
    times.update(wall=wall, cpu=cpu, import_s=t0 - t_import)
    return {
        "mode": mode,
        "times": times,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_build_mib": rss0 / 1024,
        "report": report.to_dict(),
    }


def run_child(mode: str, data_dir: Path, target: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir), "--target", target],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} build failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pct(block: dict) -> str:
    return f"{block['count']} ({100 * block['share']:.1f} %)"


def to_markdown(results: list[dict], machine: str, run_line: str = "") -> str:
    versions = sorted({r["report"]["graph_version"] for r in results})
    lines = ["# Knowledge-graph build (benchmarks/kg_build.py)", "",
             *command_lines(graph_version=", ".join(versions) or None, graph_build=f"--labels-from {LABELS_FROM}"),
             *([run_line] if run_line else []), "", f"Machine: {machine}", "",
             "Wall times include waiting for the shared cores; CPU s is the build process's own CPU time "
             "(for Neo4j the Python client only: the server's CPU is not counted). Peak RSS is the build "
             "process's (Neo4j server memory not included).", ""]
    lines += ["| store | wall s | CPU s | peak RSS MiB | nodes | edges | graph version | target |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        rep = r["report"]
        target = "<= 20 s" if r["mode"] == "embedded" else "<= 90 s"
        lines.append(f"| {r['mode']} | {r['times']['wall']:.1f} | {r['times']['cpu']:.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{rep['node_count']:,} | {rep['edge_count']:,} | {rep['graph_version']} | {target} |")
    rep = results[0]["report"]
    lines += ["", "## Per source (embedded build)", "", "| source | nodes | edges | rejects | unknowns | seconds |",
              "|---|---|---|---|---|---|"]
    for s in rep["sources"]:
        lines.append(f"| {s['name']} | {s['nodes']:,} | {s['edges']:,} | {s['rejects']:,} | {s['unknowns']:,} | "
                     f"{s['seconds']:.1f} |")
    lines += ["", "Nodes by label: " + ", ".join(f"{k} {v:,}" for k, v in rep["nodes_by_label"].items()),
              "", "Edges by type: " + ", ".join(f"{k} {v:,}" for k, v in rep["edges_by_type"].items())]
    for name in ("top", "repodb"):
        st = next((s["stats"] for s in rep["sources"] if s["name"] == name), None)
        if st:
            lines += ["", f"{name} loader: " + ", ".join(f"{k} {v:,}" for k, v in st.items())]
    cov = rep["coverage"]
    sources = sorted(cov["targeted_drug_by_source"])
    lines += ["", f"## Coverage of the TOP trials (labels_from = {LABELS_FROM})", "",
              "| split | trials | >=1 drug with >=1 target (target 65 %) | >=1 mapped disease (target 80 %) | "
              + " | ".join(f"targets via {s}" for s in sources) + " |",
              "|---|---|---|---|" + "---|" * len(sources)]
    for name, block in [("all", cov)] + sorted(cov["by_split"].items()):
        lines.append(f"| {name} | {block['trials']} | {pct(block['with_targeted_drug'])} | {pct(block['with_disease'])} | "
                     + " | ".join(pct(block["targeted_drug_by_source"].get(s, {"count": 0, "share": 0.0}))
                                  for s in sources) + " |")
    lines += ["", "A trial listed in several splits counts in each of them (38 trials; 1,951 rows -> 1,913 trials).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--neo4j", default=None, help="bolt:// URI of a server this benchmark may clear")
    ap.add_argument("--neo4j-home", type=Path, default=None,
                    help="scripts/neo4j home of that server (its CPU is counted as the benchmark's)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "kg_build.md")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--target", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.data_dir is None:
        from kgimagine.config import find_shared_data_dir

        args.data_dir = find_shared_data_dir(HERE)
        if args.data_dir is None:
            raise SystemExit("no shared/data folder found; pass --data-dir")
    if args.child:
        print(json.dumps(child(args.child, args.data_dir, args.target)))
        return
    run = RunRecord()
    if args.neo4j and args.neo4j_home:
        run.track_pid_file(args.neo4j_home / "run" / "neo4j.pid")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_child("embedded", args.data_dir, str(Path(tmp) / "graph")))
    if args.neo4j:
        results.append(run_child("neo4j", args.data_dir, args.neo4j))
        a, b = results[0]["report"], results[1]["report"]
        same = (a["nodes_by_label"], a["edges_by_type"], a["graph_version"]) == (
            b["nodes_by_label"], b["edges_by_type"], b["graph_version"])
        machine += f"; Neo4j build identical to embedded (counts per label/type and graph version): {same}"
    md = to_markdown(results, machine, run.line())
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
