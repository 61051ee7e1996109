"""Source loaders on the real shared data, and RDF export of the resulting graph.

(a) each loader of ``kgimagine.loaders.registry`` over ``shared/data``: records, time, rejects;
(b) ``kgimagine.kg.rdf.export_graph`` (streaming writer) of that graph — padded with synthetic
    copies of real edges (provenance source ``synthetic-copy-N``) up to ``--min-edges`` — to
    N-Triples and Turtle: time, triples, file size; every output is re-counted with ``rapper``
    when it is installed;
(c) the rdflib route for comparison: build an ``rdflib.Graph`` of the same triples and serialise
    it to N-Triples (the first ``--rdflib-triples`` triples; 0: all).

    python benchmarks/sources_rdf.py                     # writes benchmarks/results/sources_rdf.md
    python benchmarks/sources_rdf.py --min-edges 0 --rdflib-triples 20000 --no-write-results
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines  # noqa: E402  (benchmarks/provenance.py)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from kgimagine.config import find_shared_data_dir  # noqa: E402
from kgimagine.kg.model import Edge, Node, Provenance  # noqa: E402
from kgimagine.kg.networkx_store import NetworkXGraphStore  # noqa: E402
from kgimagine.kg.rdf import export_graph, iter_triples  # noqa: E402
from kgimagine.loaders.base import LoadContext  # noqa: E402
from kgimagine.loaders.registry import ALL_LOADERS, get_loader  # noqa: E402


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--min-edges", type=int, default=300_000)
    ap.add_argument("--rdflib-triples", type=int, default=300_000,
                    help="triples for the rdflib comparison (the first N of the export; 0: all)")
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()
    data_dir = args.data_dir or find_shared_data_dir(REPO)
    if data_dir is None:
        sys.exit("shared/data not found; pass --data-dir")

    run = RunRecord()
    lines: list[str] = []

    def out(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    out("# Source loaders and RDF export (real shared data)")
    out()
    for line in command_lines():
        out(line)
    run_at = len(lines)  # the Run: line goes here once the run is over
    out(f"Machine: {os.cpu_count()} CPU cores (shared with other jobs), {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}; wall-clock times, one run each.")
    out()
    out("## Loaders")
    out()
    out("| loader | nodes | edges | rejects | load s | store s |")
    out("|---|---:|---:|---:|---:|---:|")
    tmp = Path(tempfile.mkdtemp(prefix="kgi-bench-"))
    ctx = LoadContext(data_dir=data_dir, cache_dir=tmp / "cache")
    store = NetworkXGraphStore()
    all_edges: list[Edge] = []
    for name in ALL_LOADERS:
        before = ctx.rejects.count()
        t0 = time.perf_counter()
        records = list(get_loader(name).iter_records(ctx))
        t1 = time.perf_counter()
        nodes = [r for r in records if isinstance(r, Node)]
        edges = [r for r in records if isinstance(r, Edge)]
        store.upsert_nodes(nodes)
        store.upsert_edges(edges)
        t2 = time.perf_counter()
        all_edges.extend(edges)
        out(f"| {name} | {len(nodes):,} | {len(edges):,} | {ctx.rejects.count() - before} | {t1 - t0:.1f} | {t2 - t1:.1f} |")
    stats = store.stats()
    out()
    out(f"Graph: {stats.node_count:,} nodes ({', '.join(f'{k} {v:,}' for k, v in stats.nodes_by_label.items())}); "
        f"{stats.edge_count:,} edges ({', '.join(f'{k} {v:,}' for k, v in stats.edges_by_type.items())}).")
    unknown = {k: len(v) for k, v in ctx.unknown.items()}
    out(f"Unresolved ids reported: {unknown}.")

    real_edges = stats.edge_count
    copy = 0
    while stats.edge_count < args.min_edges:
        copy += 1
        need = args.min_edges - stats.edge_count
        pad = [
            Edge(e.source, e.type, e.target,
                 Provenance(f"synthetic-copy-{copy}", "bench", e.provenance.licence, e.provenance.record_id),
                 e.properties, e.key)
            for e in all_edges[:need]
        ]
        store.upsert_edges(pad)
        stats = store.stats()
    out()
    out("## RDF export")
    out()
    out(f"Exported graph: {stats.node_count:,} nodes, {stats.edge_count:,} edges "
        f"({real_edges:,} real + {stats.edge_count - real_edges:,} synthetic copies of real edges under other "
        "provenance sources, to reach the target size).")
    out()
    out("| writer | format | triples | wall s | triples/s (wall) | CPU s | file MiB | check |")
    out("|---|---|---:|---:|---:|---:|---:|---|")
    total_triples = 0
    rapper = shutil.which("rapper")
    for fmt, rfmt in (("nt", "ntriples"), ("ttl", "turtle")):
        path = tmp / f"graph.{fmt}"
        c0, t0 = time.process_time(), time.perf_counter()
        n = export_graph(store, path, format=fmt)  # type: ignore[arg-type]
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        total_triples = n
        check = "rapper not installed"
        if rapper:
            done = subprocess.run([rapper, "-i", rfmt, "-c", str(path)], capture_output=True, text=True)
            check = ("rapper: same count" if done.returncode == 0 and f"returned {n} triples" in done.stderr
                     else f"rapper FAILED: {done.stderr[-200:]}")
        out(f"| kgimagine streaming | {fmt} | {n:,} | {dt:.1f} | {n / dt:,.0f} | {cpu:.1f} | "
            f"{path.stat().st_size / 2**20:.0f} | {check} |")
        path.unlink()

    import rdflib
    from rdflib.namespace import XSD

    def term(o):
        if o[0] == "iri":
            return rdflib.URIRef(o[1])
        v = o[1]
        return rdflib.Literal(v, datatype=XSD.double) if isinstance(v, float) else rdflib.Literal(v)

    rss0 = rss_mib()
    c0, t0 = time.process_time(), time.perf_counter()
    g = rdflib.Graph()
    for i, (s, p, o) in enumerate(iter_triples(store.iter_nodes(), store.iter_edges())):
        if args.rdflib_triples and i >= args.rdflib_triples:
            break
        g.add((rdflib.URIRef(s), rdflib.URIRef(p), term(o)))
    c1, t1 = time.process_time(), time.perf_counter()
    g.serialize(destination=str(tmp / "rdflib.nt"), format="nt", encoding="utf-8")
    c2, t2 = time.process_time(), time.perf_counter()
    out(f"| rdflib Graph.add + serialize (first {len(g):,} triples) | nt | {len(g):,} | "
        f"{t2 - t0:.1f} (build {t1 - t0:.1f} + write {t2 - t1:.1f}) | {len(g) / (t2 - t0):,.0f} | {c2 - c0:.1f} | "
        f"{(tmp / 'rdflib.nt').stat().st_size / 2**20:.0f} | peak RSS +{rss_mib() - rss0:,.0f} MiB |")
    if total_triples > len(g):
        out()
        out(f"rdflib for all {total_triples:,} triples, extrapolated linearly: "
            f"~{(t2 - t0) * total_triples / len(g):,.0f} s wall, ~{(c2 - c0) * total_triples / len(g):,.0f} s CPU, "
            f"~{(rss_mib() - rss0) * total_triples / len(g) / 1024:,.1f} GiB more memory.")
    out()
    out("The streaming writer keeps one 12-byte digest per distinct (source, type, target) to write each "
        "direct triple once; nothing else grows with the graph.")
    shutil.rmtree(tmp, ignore_errors=True)
    lines.insert(run_at, run.line())
    print(lines[run_at])
    if not args.no_write_results:
        dest = REPO / "benchmarks" / "results" / "sources_rdf.md"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {dest}")


if __name__ == "__main__":
    main()
