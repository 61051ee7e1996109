"""Neo4jGraphStore against a real server (scripts/neo4j start): faults, security, crash safety.

The contract suite (tests/contracts) covers the shared semantics; this file covers what only a
real server shows. Every test uses the ``neo4j_store_factory`` fixture or needs no server, so in
CI a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgimagine.errors import GraphStoreError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.types import Direction, NodeLabel, RelationType
from tests.conftest import neo4j_settings

pytestmark = pytest.mark.neo4j

REPO = Path(__file__).resolve().parents[2]
CHUNK = 100  # edges per write transaction / per embedded save in the crash tests


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a generated graph, shared by the test and its loader subprocess -----------------------------
def generate(n_edges: int = 3000, seed: int = 11) -> tuple[list[Node], list[Edge]]:
    rnd = random.Random(seed)
    drugs = [Node(f"drugbank:DB{i:05d}", NodeLabel.DRUG, f"drug {i}", {"mw": rnd.uniform(100, 900)}) for i in range(300)]
    genes = [Node(f"ncbigene:{i}", NodeLabel.GENE, f"G{i}", {"tags": ["a", "b"]}) for i in range(1, 401)]
    nodes = drugs + genes
    edges: dict[str, Edge] = {}
    row = 0
    while len(edges) < n_edges:
        row += 1
        prov = Provenance(source="gen", source_version="1", licence="CC0-1.0", record_id=f"row {row}")
        e = Edge(rnd.choice(drugs).id, RelationType.TARGETS, rnd.choice(genes).id, prov, {"score": row}, key=str(row % 3))
        edges.setdefault(e.fact_id, e)
    return nodes, list(edges.values())


def loader_main(kind: str, target: str) -> None:
    """Run in a subprocess: write the generated graph in chunks, reporting each committed chunk."""
    nodes, edges = generate()
    if kind == "neo4j":
        from kgimagine.kg.neo4j_store import Neo4jGraphStore

        cfg = neo4j_settings()
        store = Neo4jGraphStore(cfg["uri"], user=cfg["user"], password=cfg["password"])
        store.upsert_nodes(nodes, batch_size=CHUNK)
        for i in range(0, len(edges), CHUNK):
            store.upsert_edges(edges[i : i + CHUNK], batch_size=CHUNK)
            print(f"committed {i // CHUNK + 1}", flush=True)
        store.close()
    else:
        store = NetworkXGraphStore(target)
        store.upsert_nodes(nodes)
        store.save()
        for i in range(0, len(edges), CHUNK):
            store.upsert_edges(edges[i : i + CHUNK])
            store.save()
            print(f"committed {i // CHUNK + 1}", flush=True)
    print("done", flush=True)


class GeneratedLoader:
    """The generated graph as a build_graph source."""

    name = "generated"

    def __init__(self) -> None:
        from kgimagine.loaders.base import SourceSpec

        self.spec = SourceSpec("generated", "1", "CC0-1.0", "https://example.org", ())

    def iter_records(self, ctx):
        nodes, edges = generate()
        yield from nodes
        yield from edges


def build_main(kind: str, state_path: str) -> None:
    """Run in a subprocess: build_graph into Neo4j with a checkpoint, write_graph in chunks of
    CHUNK rows, reporting each committed write transaction."""
    from kgimagine.kg.neo4j_store import Neo4jGraphStore
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import build_graph

    cfg = neo4j_settings()
    store = Neo4jGraphStore(cfg["uri"], user=cfg["user"], password=cfg["password"])
    run, write_graph, committed = store._run, store.write_graph, [0]

    def counting_run(mode, work):
        out = run(mode, work)
        if mode == "w":
            committed[0] += 1
            print(f"committed {committed[0]}", flush=True)
        return out

    store._run = counting_run  # type: ignore[method-assign]
    store.write_graph = lambda nodes, edges: write_graph(nodes, edges, batch_size=CHUNK)  # type: ignore[method-assign]
    ctx = LoadContext(data_dir=None, cache_dir=Path(state_path).parent)
    build_graph(store, ctx, [GeneratedLoader()], checkpoint=state_path, compute_coverage=False)
    store.close()
    print("done", flush=True)


def _start_loader(kind: str, target: str, main: str = "loader_main") -> subprocess.Popen[str]:
    code = f"from tests.integration.test_neo4j_store import {main}; {main}({kind!r}, {target!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_after(proc: subprocess.Popen[str], committed: int, extra_sleep: float) -> int:
    """SIGKILL the loader once it reported ``committed`` chunks (plus a short random delay)."""
    assert proc.stdout is not None
    last = 0
    for line in proc.stdout:
        if line.startswith("committed"):
            last = int(line.split()[1])
            if last >= committed:
                time.sleep(extra_sleep)
                break
        if line.startswith("done"):
            pytest.fail("the loader finished before it could be killed; make the graph larger")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return last


def _run_loader_to_end(kind: str, target: str) -> None:
    proc = _start_loader(kind, target)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert out.rstrip().endswith("done")


def _reference() -> NetworkXGraphStore:
    ref = NetworkXGraphStore()
    nodes, edges = generate()
    ref.upsert_nodes(nodes)
    ref.upsert_edges(edges)
    return ref


# -- connection faults ----------------------------------------------------------------------
def test_wrong_password_is_a_one_line_error(neo4j_store_factory):
    neo4j_store_factory()  # the server must be up (CI fails otherwise)
    from kgimagine.kg.neo4j_store import Neo4jGraphStore

    cfg = neo4j_settings()
    with pytest.raises(GraphStoreError, match="refused user 'neo4j'") as info:
        Neo4jGraphStore(cfg["uri"], user=cfg["user"], password="not-the-password-4711")
    msg = str(info.value)
    assert cfg["uri"] in msg and "\n" not in msg and "not-the-password-4711" not in msg


def test_missing_database_is_named(neo4j_store_factory):
    neo4j_store_factory()
    from kgimagine.kg.neo4j_store import Neo4jGraphStore

    cfg = neo4j_settings()
    with pytest.raises(GraphStoreError, match="no database 'nosuchdb'"):
        Neo4jGraphStore(cfg["uri"], user=cfg["user"], password=cfg["password"], database="nosuchdb")


def test_server_not_listening_is_a_one_line_error():
    from kgimagine.kg.neo4j_store import Neo4jGraphStore

    uri = f"bolt://127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    with pytest.raises(GraphStoreError, match="cannot reach Neo4j at " + uri) as info:
        Neo4jGraphStore(uri, user="neo4j", password="secret-pw-0815")
    assert time.perf_counter() - t0 < 20
    assert "\n" not in str(info.value) and "secret-pw-0815" not in str(info.value)


def test_cli_stats_on_closed_port_exits_1_with_one_line():
    uri = f"bolt://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "NEO4J_PASSWORD": "secret-pw-0815"}
    proc = subprocess.run(
        [sys.executable, "-m", "kgimagine.cli.app", "kg", "stats", "--store", uri],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kgimagine: error: cannot reach Neo4j at " + uri), proc.stderr
    assert "Traceback" not in proc.stderr and "secret-pw-0815" not in proc.stderr + proc.stdout


# -- crash safety ---------------------------------------------------------------------------
def test_kill_9_mid_load_then_rerun_equals_clean_load_neo4j(neo4j_store_factory):
    store = neo4j_store_factory()  # empty
    proc = _start_loader("neo4j", "")
    committed = _kill_after(proc, committed=5, extra_sleep=0.0)
    partial = store.stats().edge_count
    total = len(generate()[1])
    # each chunk is one transaction: the killed run left whole chunks only
    assert committed * CHUNK <= partial < total and partial % CHUNK == 0
    _run_loader_to_end("neo4j", "")
    ref = _reference()
    assert store.stats() == ref.stats()
    assert store.graph_version() == ref.graph_version()


def test_kill_9_mid_build_graph_then_rerun_resumes_and_equals_clean_build_neo4j(neo4j_store_factory, tmp_path, monkeypatch):
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import build_graph

    store = neo4j_store_factory()  # empty
    state = tmp_path / "build-state.json"
    proc = _start_loader("neo4j", str(state), main="build_main")
    # 1 clear, 7 node batches (300 drugs, 400 genes), then 30 edge batches: kill among the edges
    _kill_after(proc, committed=15, extra_sleep=0.0)
    partial = store.stats()
    total = len(generate()[1])
    assert partial.node_count == 700 and 0 < partial.edge_count < total
    monkeypatch.setattr(store, "clear", lambda: pytest.fail("a resumed build must not clear the store"))
    ctx = LoadContext(data_dir=None, cache_dir=tmp_path)
    rep = build_graph(store, ctx, [GeneratedLoader()], checkpoint=state)
    assert rep.resumed
    ref = _reference()
    assert store.stats() == ref.stats()
    assert store.graph_version() == ref.graph_version() == rep.graph_version


def test_kill_9_mid_save_then_rerun_equals_clean_load_embedded(tmp_path):
    target = str(tmp_path / "graph")
    rnd = random.Random()
    for _ in range(3):  # a few kills at random moments, some inside save()
        proc = _start_loader("embedded", target)
        committed = _kill_after(proc, committed=rnd.randint(1, 6), extra_sleep=rnd.uniform(0, 0.05))
        st = NetworkXGraphStore(target)  # must load: a kill never leaves a half-written graph
        # atomic save: at least the state of the last completed save, whole chunks only
        assert st.stats().edge_count >= min(committed * CHUNK, len(generate()[1]))
        assert st.stats().edge_count % CHUNK == 0
    _run_loader_to_end("embedded", target)
    st = NetworkXGraphStore(target)
    ref = _reference()
    assert st.stats() == ref.stats()
    assert st.graph_version() == ref.graph_version()


# -- exact round trips beyond the contract suite ------------------------------------------------
ODD_PROPS = {
    "weird key with spaces`and) backticks\n": "v",
    "p_x": 1,
    "j_y": "z",
    "mixed": [1, "a", 2.5, True],
    "ints_and_floats": [1, 2.0],
    "big": 2**63 - 1,
    "empty": [],
    "float_int": 3.0,
    "ünï💊": "line1\nline2",
}


def test_ints_beyond_64_bits_are_refused_by_the_model():
    from kgimagine.errors import SchemaError

    with pytest.raises(SchemaError, match="64 bits"):
        Node("drugbank:DB1", NodeLabel.DRUG, "d", {"big": 2**63})
    with pytest.raises(SchemaError, match="64 bits"):
        Node("drugbank:DB1", NodeLabel.DRUG, "d", {"bigs": [1, -(2**63) - 1]})


def test_hostile_property_keys_and_odd_values_round_trip(neo4j_store_factory):
    store = neo4j_store_factory()
    ref = NetworkXGraphStore()
    nodes = [Node("drugbank:DB1", NodeLabel.DRUG, "d", ODD_PROPS), Node("ncbigene:1", NodeLabel.GENE, "g")]
    edge = Edge("drugbank:DB1", RelationType.TARGETS, "ncbigene:1",
                Provenance(source="s", source_version="v", licence="l", record_id="r"), ODD_PROPS)
    for st in (store, ref):
        st.upsert_nodes(nodes)
        st.upsert_edges([edge])
    got = store.get_node("drugbank:DB1")
    assert got == nodes[0]
    assert {k: type(v) for k, v in got.properties.items()} == {k: type(v) for k, v in ODD_PROPS.items()}
    assert store.get_edges([edge.fact_id])[edge.fact_id] == edge
    assert store.graph_version() == ref.graph_version()
    # a key changes type between upserts: the later value wins, whatever its encoding
    for st in (store, ref):
        st.upsert_nodes([Node("drugbank:DB1", NodeLabel.DRUG, "", {"mixed": "now a string", "big": 1})])
    assert store.get_node("drugbank:DB1") == ref.get_node("drugbank:DB1")
    assert store.graph_version() == ref.graph_version()


def test_ids_that_sort_differently_in_neo4j_still_come_in_python_order(neo4j_store_factory):
    store = neo4j_store_factory()
    ref = NetworkXGraphStore()
    # U+E000 sorts after U+1F48A in Python (code points) but before it in Neo4j (UTF-16 units)
    ids = ["drugbank:X\ue000", "drugbank:X\U0001F48A", "drugbank:Xa", "drugbank:X\uffff"]
    prov = Provenance(source="s", source_version="v", licence="l", record_id="r")
    for st in (store, ref):
        st.upsert_nodes([Node(i, NodeLabel.DRUG, i) for i in ids] + [Node("ncbigene:7", NodeLabel.GENE, "g")])
        st.upsert_edges([Edge(i, RelationType.TARGETS, "ncbigene:7", prov) for i in ids])
    assert [n.id for n in store.iter_nodes(NodeLabel.DRUG)] == [n.id for n in ref.iter_nodes(NodeLabel.DRUG)]
    for limit in (2, 100):
        got = [(n.edge.fact_id, n.node.id) for n in store.neighbours("ncbigene:7", limit=limit)]
        assert got == [(n.edge.fact_id, n.node.id) for n in ref.neighbours("ncbigene:7", limit=limit)]
    assert [(n.node.id) for n in store.neighbours("ncbigene:7", direction=Direction.OUT)] == []


def test_graph_version_cache_notices_writes(neo4j_store_factory):
    store = neo4j_store_factory()
    ref = NetworkXGraphStore()
    nodes, edges = generate(200)
    for st in (store, ref):
        st.upsert_nodes(nodes)
        st.upsert_edges(edges)
    v1 = store.graph_version()
    assert v1 == ref.graph_version() == store.graph_version()  # second call: from the cache
    extra = Node("drugbank:DB99999", NodeLabel.DRUG, "late")
    for st in (store, ref):
        st.upsert_nodes([extra])
    assert store.graph_version() == ref.graph_version() != v1
    # a write made outside kgimagine (raw Cypher) changes the counts: the cache is not used
    store._run("w", lambda tx: tx.run("CREATE (:Entity:Gene {id: 'ncbigene:424242', name: 'raw'})").consume())
    ref.upsert_nodes([Node("ncbigene:424242", NodeLabel.GENE, "raw")])
    assert store.graph_version() == ref.graph_version()


def test_paths_and_budget_match_the_embedded_store(neo4j_store_factory, monkeypatch):
    import kgimagine.kg.neo4j_store as neo4j_module
    import kgimagine.kg.networkx_store as nx_module

    store = neo4j_store_factory()
    ref = NetworkXGraphStore()
    nodes, edges = generate(1500)
    for st in (store, ref):
        st.upsert_nodes(nodes)
        st.upsert_edges(edges)
    src, dst = edges[0].source, edges[1].source
    for hops in (1, 2, 3):
        assert store.paths(src, dst, max_hops=hops, limit=25) == ref.paths(src, dst, max_hops=hops, limit=25)
    # the exploration budget trips at exactly the same point in both stores
    outcomes = []
    for budget in (10, 60, 300, 1500, 8000):
        monkeypatch.setattr(neo4j_module, "MAX_PATHS_EXPLORED", budget)
        monkeypatch.setattr(nx_module, "MAX_PATHS_EXPLORED", budget)
        results = []
        for st in (ref, store):
            try:
                results.append(len(st.paths(src, dst, max_hops=3, limit=1000)))
            except GraphStoreError as exc:
                assert "explored over" in str(exc)
                results.append("over budget")
        assert results[0] == results[1], budget
        outcomes.append(results[0])
    assert "over budget" in outcomes and outcomes[-1] != "over budget"  # both branches were exercised
