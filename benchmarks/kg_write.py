"""Write throughput of the graph stores on a synthetic graph of realistic shape.

Measures, on the same generated graph (default ~32k nodes, ~214k edges with provenance):

(a) the embedded store: ``NetworkXGraphStore.upsert_nodes/upsert_edges`` + ``save()``;
(b) ``Neo4jGraphStore`` batched writes (``UNWIND $rows`` upserts) into an empty database;
(c) the ceiling: ``neo4j-admin database import full`` of the same graph written as CSV in the
    store's own layout (plus the time to build the store's indexes afterwards).

Neo4j runs as a *second* instance (own home and ports, started with ``scripts/neo4j``), so the
shared development server is never stopped or cleared; the script stops that instance at the end
if it started it. Each Neo4j result is checked: the stats and the ``graph_version()`` read back
must equal the embedded store's.

    python benchmarks/kg_write.py                       # full run, writes benchmarks/results/kg_write.md
    python benchmarks/kg_write.py --edges 20000 --skip-import --no-write-results   # quick look
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines  # noqa: E402  (benchmarks/provenance.py)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from kgimagine.kg.model import Edge, Node, Provenance  # noqa: E402
from kgimagine.kg.networkx_store import NetworkXGraphStore  # noqa: E402
from kgimagine.types import NodeLabel as L  # noqa: E402
from kgimagine.types import RelationType as R  # noqa: E402

SCRIPT = REPO / "scripts" / "neo4j"

# edge mix per 214k edges (scaled with --edges): relation -> (domain pool, range pool, count, source)
MIX = [
    (R.TARGETS, "drug", "gene", 80_000, "drugbank"),
    (R.ASSOCIATED_WITH, "disease", "gene", 60_000, "disgenet"),
    (R.CAUSES, "drug", "side_effect", 30_000, "sider"),
    (R.TREATS, "drug", "disease", 8_000, "pharmacotherapydb"),
    (R.PALLIATES, "drug", "disease", 4_000, "pharmacotherapydb"),
    (R.TESTS, "trial", "drug", 8_000, "top"),
    (R.STUDIES, "trial", "disease", 8_000, "top"),
    (R.SUBCLASS_OF, "disease", "disease", 6_000, "disease-ontology"),
    (R.TRIALLED_FOR, "drug", "disease", 6_000, "repodb"),
    (R.APPROVED_FOR, "drug", "disease", 4_000, "repodb"),
]
BASE_EDGES = sum(m[3] for m in MIX)
POOLS = {"drug": 8_000, "gene": 12_000, "disease": 6_000, "side_effect": 2_000, "trial": 4_000}
LICENCE = {"drugbank": "CC BY-NC 4.0", "disgenet": "CC BY-NC-SA 4.0", "sider": "CC BY-NC-SA 4.0",
           "pharmacotherapydb": "CC0 1.0", "top": "MIT", "disease-ontology": "CC0 1.0", "repodb": "CC BY 4.0"}


def generate(n_edges: int, seed: int = 7) -> tuple[list[Node], list[Edge]]:
    """A deterministic graph: hub-heavy (Zipf-like) gene and disease degrees, two edge props."""
    rnd = random.Random(seed)
    scale = n_edges / BASE_EDGES
    sizes = {k: max(50, int(v * min(1.0, scale * 1.2))) for k, v in POOLS.items()}
    ids = {
        "drug": [f"drugbank:DB{i:05d}" for i in range(sizes["drug"])],
        "gene": [f"ncbigene:{1000 + i}" for i in range(sizes["gene"])],
        "disease": [f"doid:{20000 + i}" for i in range(sizes["disease"])],
        "side_effect": [f"umls:C{i:07d}" for i in range(sizes["side_effect"])],
        "trial": [f"clinicaltrials:NCT{i:08d}" for i in range(sizes["trial"])],
    }
    label = {"drug": L.DRUG, "gene": L.GENE, "disease": L.DISEASE, "side_effect": L.SIDE_EFFECT, "trial": L.TRIAL}
    nodes: list[Node] = []
    for i, nid in enumerate(ids["drug"]):
        nodes.append(Node(nid, L.DRUG, f"drug-{i}", {"groups": rnd.sample(["approved", "experimental", "investigational", "withdrawn"], k=rnd.randint(1, 2)), "mw": round(rnd.uniform(100, 900), 2)}))
    for i, nid in enumerate(ids["gene"]):
        nodes.append(Node(nid, L.GENE, f"GENE{i}", {"chromosome": str(rnd.randint(1, 22))}))
    for i, nid in enumerate(ids["disease"]):
        nodes.append(Node(nid, L.DISEASE, f"disease {i}"))
    for i, nid in enumerate(ids["side_effect"]):
        nodes.append(Node(nid, L.SIDE_EFFECT, f"side effect {i}"))
    for i, nid in enumerate(ids["trial"]):
        nodes.append(Node(nid, L.TRIAL, f"trial {i}", {"phase": rnd.choice(["phase 1", "phase 2", "phase 3"]), "enrollment": rnd.randint(10, 3000)}))

    def pick(pool: str) -> str:
        xs = ids[pool]
        # Zipf-like: a few hubs, a long tail
        return xs[min(len(xs) - 1, int(len(xs) * rnd.random() ** 2.5))]

    edges: list[Edge] = []
    seen: set[str] = set()
    for rel, dom, rng, count, source in MIX:
        want = max(1, int(count * scale))
        made = 0
        row = 0
        while made < want:
            row += 1
            s, t = rnd.choice(ids[dom]), pick(rng)
            if s == t:
                continue
            prov = Provenance(source=source, source_version="synthetic-1", licence=LICENCE[source], record_id=f"{source}.tsv:{row}")
            props = {"score": round(rnd.random(), 4)}
            if rel is R.TARGETS:
                props["actions"] = rnd.sample(["inhibitor", "agonist", "antagonist", "binder"], k=rnd.randint(1, 2))
            e = Edge(s, rel, t, prov, props, key=str(row) if rel in (R.TRIALLED_FOR, R.APPROVED_FOR) else "")
            if e.fact_id in seen:
                continue
            seen.add(e.fact_id)
            edges.append(e)
            made += 1
    return nodes, edges


# -- Neo4j second instance ------------------------------------------------------------------
def neo4j_env(home: Path, bolt: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KGIMAGINE_NEO4J_HOME=str(home), KGIMAGINE_NEO4J_BOLT_PORT=str(bolt), KGIMAGINE_NEO4J_HTTP_PORT="off")
    return env


def script(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"scripts/neo4j {' '.join(args[:3])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


def write_import_csv(nodes: list[Node], edges: list[Edge], out: Path) -> tuple[list[str], list[str]]:
    """The graph as neo4j-admin CSV in Neo4jGraphStore's layout; returns --nodes/--relationships args."""
    from kgimagine.kg.neo4j_store import encode_properties

    def header_type(v: object) -> str:
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "long"
        if isinstance(v, float):
            return "double"
        return "string"

    def columns(props_list: list[dict]) -> list[tuple[str, str]]:
        cols: dict[str, str] = {}
        for props in props_list:
            for k, v in props.items():
                if v is None:
                    continue
                t = (header_type(v[0]) + "[]") if isinstance(v, list) else header_type(v)
                cols.setdefault(k, t)
        return sorted(cols.items())

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, list):
            return ";".join(str(x).lower() if isinstance(x, bool) else repr(x) if isinstance(x, float) else str(x) for x in v)
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float):
            return repr(v)
        return str(v)

    node_args, rel_args = [], []
    by_label: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        by_label[n.label.value].append(n)
    for lab, group in by_label.items():
        encoded = [encode_properties(n.properties, clear_other=False) for n in group]
        cols = columns(encoded)
        path = out / f"nodes_{lab}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id:ID", "name:string"] + [f"{k}:{t}" for k, t in cols])
            for n, props in zip(group, encoded):
                w.writerow([n.id, n.name] + [cell(props.get(k)) for k, _ in cols])
        node_args.append(f"--nodes=Entity:{lab}={path}")
    by_rel: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        by_rel[e.type.value].append(e)
    fixed = ["fact_id", "key", "prov_source", "prov_version", "prov_licence", "prov_record"]
    for rel, group in by_rel.items():
        encoded = [encode_properties(e.properties, clear_other=False) for e in group]
        cols = columns(encoded)
        path = out / f"rels_{rel}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([":START_ID", ":END_ID"] + [f"{k}:string" for k in fixed] + [f"{k}:{t}" for k, t in cols])
            for e, props in zip(group, encoded):
                p = e.provenance
                w.writerow([e.source, e.target, e.fact_id, e.key, p.source, p.source_version, p.licence, p.record_id]
                           + [cell(props.get(k)) for k, _ in cols])
        rel_args.append(f"--relationships={rel}={path}")
    return node_args, rel_args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edges", type=int, default=BASE_EDGES, help=f"edges to generate (default {BASE_EDGES})")
    ap.add_argument("--batch-size", type=int, default=5_000, help="rows per UNWIND / write transaction")
    ap.add_argument("--bolt-port", type=int, default=17697, help="Bolt port of the benchmark's own Neo4j instance")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "kgimagine-bench-neo4j",
                    help="home of the benchmark's Neo4j instance (its data is overwritten)")
    ap.add_argument("--repeat", type=int, default=3, help="embedded runs (the median is reported)")
    ap.add_argument("--skip-neo4j", action="store_true")
    ap.add_argument("--skip-import", action="store_true")
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()

    run = RunRecord()
    run.track_pid_file(args.home / "run" / "neo4j.pid")  # the benchmark's own Neo4j server counts as its CPU
    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    nodes, edges = generate(args.edges)
    gen_s = time.perf_counter() - t
    n_nodes, n_edges = len(nodes), len(edges)
    print(f"generated {n_nodes} nodes, {n_edges} edges in {gen_s:.1f}s (not timed below)")
    rows: list[tuple[str, int, int, float, str]] = []

    # (a) embedded: several runs (this box's run-to-run variation is large); the median is reported
    emb_runs: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        tmp = Path(tempfile.mkdtemp(prefix="kgimagine-bench-"))
        try:
            t = time.perf_counter()
            emb = NetworkXGraphStore(tmp / "graph")
            emb.upsert_nodes(nodes)
            emb.upsert_edges(edges)
            t_up = time.perf_counter() - t
            emb.save()
            t_all = time.perf_counter() - t
            ref_stats, ref_version = emb.stats(), emb.graph_version()
            emb_runs.append((t_up, t_all))
            print(f"(a) embedded upsert {t_up:.2f}s, upsert+save {t_all:.2f}s -> {n_edges / t_all:,.0f} edges/s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    t_up = statistics.median(r[0] for r in emb_runs)
    t_all = statistics.median(r[1] for r in emb_runs)
    runs = ", ".join(f"{n_edges / r[1] / 1000:.0f}k" for r in emb_runs)
    rows.append(("embedded: upsert (in memory)", n_nodes, n_edges, t_up, f"median of {len(emb_runs)} runs"))
    rows.append(("embedded: upsert + save", n_nodes, n_edges, t_all,
                 f"median of {len(emb_runs)} runs (edges/s per run: {runs}); saved {ref_version}"))

    started_here = False
    env = neo4j_env(args.home, args.bolt_port)
    uri = f"bolt://127.0.0.1:{args.bolt_port}"
    password = os.environ.get("NEO4J_PASSWORD", "kgimagine-dev")
    neo4j_rate = bulk_rate = write_graph_rate = None
    if not args.skip_neo4j:
        from kgimagine.kg.neo4j_store import Neo4jGraphStore

        if script(env, "status", check=False).returncode != 0:
            print(f"starting a second Neo4j instance on {uri} (home {args.home})")
            script(env, "start")
            started_here = True
        try:
            with Neo4jGraphStore(uri, user="neo4j", password=password) as st:
                # a long-running server is the normal case: warm its JIT and query cache on a small,
                # different graph first (not timed), then start from an empty database
                warm_nodes, warm_edges = generate(10_000, seed=99)
                st.upsert_nodes(warm_nodes, batch_size=args.batch_size)
                st.upsert_edges(warm_edges, batch_size=args.batch_size)
                st.clear()
                t = time.perf_counter()
                st.upsert_nodes(nodes, batch_size=args.batch_size)
                t_nodes = time.perf_counter() - t
                st.upsert_edges(edges, batch_size=args.batch_size)
                t_all = time.perf_counter() - t
                ok = st.stats() == ref_stats and st.graph_version() == ref_version
                neo4j_rate = (n_nodes + n_edges) / t_all
                rows.append((f"Neo4jGraphStore: batched UNWIND upserts ({args.batch_size} rows/tx)", n_nodes, n_edges, t_all,
                             f"nodes {t_nodes:.1f}s; read-back {'equal' if ok else 'DIFFERENT'}"))
                print(f"(b) Neo4jGraphStore {t_all:.1f}s (nodes {t_nodes:.1f}s) -> {n_edges / t_all:,.0f} edges/s; read-back equal: {ok}")
                if not ok:
                    raise SystemExit("Neo4j content differs from the embedded store's")
                # write_graph into the emptied database: CREATE for every absent id
                st.clear()
                t = time.perf_counter()
                st.write_graph(nodes, edges)
                t_wg = time.perf_counter() - t
                ok = st.stats() == ref_stats and st.graph_version() == ref_version
                write_graph_rate = (n_nodes + n_edges) / t_wg
                rows.append(("Neo4jGraphStore.write_graph into an empty database (10000 rows/tx)", n_nodes, n_edges, t_wg,
                             f"read-back {'equal' if ok else 'DIFFERENT'}"))
                print(f"(b2) write_graph {t_wg:.1f}s -> {n_edges / t_wg:,.0f} edges/s; read-back equal: {ok}")
                if not ok:
                    raise SystemExit("Neo4j content differs from the embedded store's")
            if not args.skip_import:
                csv_dir = Path(tempfile.mkdtemp(prefix="kgimagine-bench-csv-"))
                try:
                    t = time.perf_counter()
                    node_args, rel_args = write_import_csv(nodes, edges, csv_dir)
                    t_csv = time.perf_counter() - t
                    script(env, "stop")
                    t = time.perf_counter()
                    script(env, "admin", "database", "import", "full", "neo4j", "--overwrite-destination",
                           "--array-delimiter=;", *node_args, *rel_args)
                    t_import = time.perf_counter() - t
                    script(env, "start")
                    t = time.perf_counter()
                    with Neo4jGraphStore(uri, user="neo4j", password=password) as st:  # creates the indexes
                        st._run("w", lambda tx: tx.run("CALL db.awaitIndexes(600)").consume())
                        t_index = time.perf_counter() - t
                        ok = st.stats() == ref_stats and st.graph_version() == ref_version
                    bulk_s = t_import + t_index
                    bulk_rate = (n_nodes + n_edges) / bulk_s
                    rows.append(("neo4j-admin import full (+ indexes)", n_nodes, n_edges, bulk_s,
                                 f"import {t_import:.1f}s, indexes {t_index:.1f}s, CSV writing {t_csv:.1f}s not counted; "
                                 f"read-back {'equal' if ok else 'DIFFERENT'}"))
                    print(f"(c) neo4j-admin import {t_import:.1f}s + indexes {t_index:.1f}s -> {n_edges / bulk_s:,.0f} edges/s; read-back equal: {ok}")
                finally:
                    shutil.rmtree(csv_dir, ignore_errors=True)
        finally:
            if started_here:
                script(env, "stop", check=False)

    machine = f"{os.cpu_count()} cores (shared with other jobs), {platform.system()} {platform.machine()}, Python {platform.python_version()}"
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            rust = f"neo4j-rust-ext {version('neo4j-rust-ext')}"
        except PackageNotFoundError:
            rust = "no neo4j-rust-ext (pure-Python Bolt encoding)"
        machine += f", neo4j driver {version('neo4j')} with {rust}"
    except PackageNotFoundError:
        pass
    lines = [
        "# Graph store write throughput (`benchmarks/kg_write.py`)",
        "",
        *command_lines(),
        run.line(),
        "",
        f"Machine: {machine}; load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        "Neo4j 5.26 community, 1 GiB heap, 512 MiB page cache (scripts/neo4j defaults).",
        f"Synthetic graph: {n_nodes:,} nodes, {n_edges:,} edges (10 relation types, provenance + 1-2 properties each,",
        "Zipf-like hubs on genes and diseases). Generation time excluded. The Neo4j server is warmed up on a",
        "small different graph (then cleared) before (b); (c) runs neo4j-admin in a fresh JVM as always.",
        "",
        "| store / method | nodes | edges | seconds | nodes+edges/s | edges/s | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, nn, ne, secs, note in rows:
        lines.append(f"| {name} | {nn:,} | {ne:,} | {secs:.2f} | {(nn + ne) / secs:,.0f} | {ne / secs:,.0f} | {note} |")
    lines.append("")
    emb_rate = next(ne / s for name, _, ne, s, _ in rows if name == "embedded: upsert + save")
    lines.append(f"- Embedded store, upsert + save: **{emb_rate:,.0f} edges/s** (target ≥ 100,000).")
    if neo4j_rate and bulk_rate:
        lines.append(f"- Neo4jGraphStore batched upserts / bulk import (nodes+edges/s): **{neo4j_rate / bulk_rate:.2f}** (target ≥ 0.33).")
    if write_graph_rate and bulk_rate:
        lines.append(f"- Neo4jGraphStore.write_graph (empty database) / bulk import: **{write_graph_rate / bulk_rate:.2f}**.")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not args.no_write_results:
        out = REPO / "benchmarks" / "results" / "kg_write.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
