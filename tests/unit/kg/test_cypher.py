"""Cypher text and the Neo4j store's input checks, without a server.

A hostile label or relation type must be refused before any query exists: the store is built on
a driver whose ``session()`` fails the test if it is ever called.
"""

from __future__ import annotations

import re

import pytest

from kgimagine.errors import GraphStoreError, SchemaError
from kgimagine.kg import cypher
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.types import NodeLabel, RelationType

neo4j = pytest.importorskip("neo4j", reason="the neo4j driver extra is not installed")

from kgimagine.kg.neo4j_store import (  # noqa: E402
    Neo4jGraphStore,
    decode_properties,
    encode_properties,
)

HOSTILE_LABELS = ["Drug`) DETACH DELETE n //", "Drug:Gene", "drug", "", "Person"]
HOSTILE_TYPES = ["TARGETS]->() DELETE x //", "TARGETS|TREATS", "targets", "", "KNOWS"]


class ExplodingDriver:
    """A driver whose every use fails: proves nothing was sent."""

    def session(self, *a, **k):
        raise AssertionError("a query was about to be sent")

    def close(self) -> None:
        pass


@pytest.fixture
def offline_store():
    return Neo4jGraphStore.from_driver(ExplodingDriver(), ensure_schema=False)


def _prov() -> Provenance:
    return Provenance(source="x", source_version="1", licence="CC0-1.0", record_id="r")


def _forced_node(label: str) -> Node:
    node = Node("drugbank:DB00001", NodeLabel.DRUG, "n")
    object.__setattr__(node, "label", label)  # bypass the model's own check
    return node


def _forced_edge(rel: str) -> Edge:
    edge = Edge("drugbank:DB00001", RelationType.TARGETS, "ncbigene:1", _prov())
    object.__setattr__(edge, "type", rel)
    return edge


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_query_builders_refuse_hostile_labels(label):
    for build in (cypher.upsert_nodes, cypher.create_nodes, cypher.node_page, cypher.count_label, cypher.label_id_index):
        with pytest.raises(SchemaError, match="unknown node label"):
            build(label)


@pytest.mark.parametrize("rel", HOSTILE_TYPES)
def test_query_builders_refuse_hostile_types(rel):
    for build in (cypher.upsert_edges, cypher.create_edges, cypher.present_fact_ids, cypher.edge_page,
                  cypher.count_relation, cypher.relation_fact_index):
        with pytest.raises(SchemaError, match="unknown relation type"):
            build(rel)


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_store_refuses_hostile_label_before_any_query(offline_store, label):
    with pytest.raises(SchemaError, match="unknown node label"):
        offline_store.upsert_nodes([_forced_node(label)])
    with pytest.raises(SchemaError, match="unknown node label"):
        list(offline_store.iter_nodes(label))  # type: ignore[arg-type]


@pytest.mark.parametrize("rel", HOSTILE_TYPES)
def test_store_refuses_hostile_type_before_any_query(offline_store, rel):
    with pytest.raises(SchemaError, match="unknown relation type"):
        offline_store.upsert_edges([_forced_edge(rel)])
    with pytest.raises(SchemaError, match="unknown relation type"):
        offline_store.neighbours("drugbank:DB00001", rel_types=[rel])  # type: ignore[list-item]
    with pytest.raises(SchemaError, match="unknown relation type"):
        offline_store.facts(["drugbank:DB00001"], rel_types=[rel])  # type: ignore[list-item]
    with pytest.raises(SchemaError, match="unknown relation type"):
        offline_store.paths("drugbank:DB00001", "ncbigene:1", rel_types=[rel])  # type: ignore[list-item]
    with pytest.raises(SchemaError, match="unknown relation type"):
        list(offline_store.iter_edges(rel))  # type: ignore[arg-type]


def test_values_never_enter_query_text():
    """Every builder's output is free of the values it is used with: only $parameters."""
    texts = [cypher.upsert_nodes(l) for l in NodeLabel] + [cypher.upsert_edges(r) for r in RelationType]
    texts += [cypher.create_nodes(l) for l in NodeLabel] + [cypher.create_edges(r) for r in RelationType]
    texts += [cypher.CLEAR_RELATIONSHIPS, cypher.CLEAR_NODES, cypher.PRESENT_NODE_IDS]
    texts += [cypher.incident(d, has_types=t, ordered=o) for d in ("out", "in", "both") for t in (0, 1) for o in (0, 1)]
    texts += [cypher.facts(has_types=t, has_limit=l) for t in (0, 1) for l in (0, 1)]
    texts += [cypher.get_edges(), cypher.GET_NODES, cypher.NODE_LABEL_CONFLICTS, cypher.frontier_edges(has_types=True)]
    for text in texts:
        assert "drugbank:" not in text and "fact:" not in text
        # identifiers in the text are only our labels/types and fixed names
        for ident in re.findall(r":`?([A-Za-z_]+)", text):
            assert ident in {l.value for l in NodeLabel} | {r.value for r in RelationType} | {cypher.ENTITY, cypher.META}, ident


def test_incident_direction_is_checked():
    from kgimagine.errors import QueryError

    with pytest.raises(QueryError, match="direction"):
        cypher.incident("sideways", has_types=False, ordered=True)


def test_library_errors_are_ours():
    from kgimagine.errors import KgimagineError, SchemaError
    from kgimagine.types import parse_curie

    for bad in ("nocolon", "zz:1"):
        with pytest.raises(SchemaError):
            parse_curie(bad)
    with pytest.raises(KgimagineError, match="at least one hop"):
        cypher.expand([], projected=False)


@pytest.mark.parametrize(
    "props",
    [
        {"a": "x", "b": 1, "c": 1.0, "d": True, "e": ["x", "y"], "f": [1, 2], "g": [1.5], "h": [True, False]},
        {"mixed": [1, "a"], "ints_and_floats": [1, 2.0], "bool_and_int": [True, 1], "empty": []},
        {"big": 2**63 - 1, "bigs": [2**63 - 1, 1], "neg": -(2**63)},
        {"weird key with spaces`and backticks\n": "v", "ünï": "💊\n\r", "p_x": 1, "j_y": "z"},
    ],
)
def test_property_encoding_round_trips_exactly(props):
    stored = encode_properties(props, clear_other=False)
    for key, value in stored.items():
        assert key.startswith(("p_", "j_"))
        if key.startswith("j_"):
            assert isinstance(value, str)
    back = decode_properties({**stored, "id": "drugbank:DB1", "name": "n", "fact_id": "f", "prov_source": "s"})
    assert back == props
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in props.items()}
    for k in props:
        if isinstance(props[k], list):
            assert [type(x) for x in back[k]] == [type(x) for x in props[k]]


def test_encoding_clears_the_other_form_of_a_key():
    stored = encode_properties({"a": [1, "x"], "b": 3}, clear_other=True)
    assert stored["p_a"] is None and isinstance(stored["j_a"], str)
    assert stored["p_b"] == 3 and stored["j_b"] is None


class Done:
    def consume(self) -> None:
        pass


class FlakyDriver:
    """Fails ``fails`` times with ``exc`` then answers; counts sessions opened."""

    def __init__(self, exc: Exception, fails: int) -> None:
        self.exc, self.fails, self.calls = exc, fails, 0

    def session(self, **kw):
        driver = self

        class Session:
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            def execute_read(self, work):
                driver.calls += 1
                if driver.calls <= driver.fails:
                    raise driver.exc
                return "ok"

            execute_write = execute_read

            def run(self, query, **params):  # auto-commit
                return self.execute_read(None) and Done()

        return Session()

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "exc",
    [
        neo4j.exceptions.ServiceUnavailable("gone"),
        neo4j.exceptions.SessionExpired("expired"),
        neo4j.exceptions.TransientError._hydrate_neo4j(code="Neo.TransientError.Transaction.DeadlockDetected", message="deadlock"),
    ],
)
def test_transient_errors_are_retried_a_bounded_number_of_times(exc):
    drv = FlakyDriver(exc, fails=2)
    store = Neo4jGraphStore.from_driver(drv, max_retries=3, retry_backoff=0.0, ensure_schema=False)
    assert store._run("r", lambda tx: None) == "ok"
    assert drv.calls == 3

    drv = FlakyDriver(exc, fails=100)
    store = Neo4jGraphStore.from_driver(drv, max_retries=2, retry_backoff=0.0, uri="bolt://db:7687", ensure_schema=False)
    with pytest.raises(GraphStoreError, match=r"bolt://db:7687 kept failing after 3 attempts"):
        store._run("w", lambda tx: None)
    assert drv.calls == 3


def test_client_errors_are_not_retried():
    err = neo4j.exceptions.ClientError._hydrate_neo4j(code="Neo.ClientError.Statement.SyntaxError", message="bad")
    drv = FlakyDriver(err, fails=100)
    store = Neo4jGraphStore.from_driver(drv, max_retries=5, retry_backoff=0.0, ensure_schema=False)
    with pytest.raises(GraphStoreError, match="SyntaxError"):
        store._run("r", lambda tx: None)
    assert drv.calls == 1


def test_bad_uri_is_a_one_line_graph_store_error():
    with pytest.raises(GraphStoreError, match="cannot use Neo4j URI") as info:
        Neo4jGraphStore("http://127.0.0.1:7474", user="neo4j", password="secret-pw-123")
    assert "\n" not in str(info.value) and "secret-pw-123" not in str(info.value)


def test_auto_commit_clear_is_retried_and_translated_like_managed_transactions():
    exc = neo4j.exceptions.TransientError._hydrate_neo4j(code="Neo.TransientError.General.MemoryPoolOutOfMemoryError", message="oom")
    drv = FlakyDriver(exc, fails=2)
    store = Neo4jGraphStore.from_driver(drv, max_retries=3, retry_backoff=0.0, ensure_schema=False)
    store.clear()  # two auto-commit deletes (one retried twice) and the meta touch
    assert drv.calls == 5
    drv = FlakyDriver(exc, fails=100)
    store = Neo4jGraphStore.from_driver(drv, max_retries=1, retry_backoff=0.0, uri="bolt://db:7687", ensure_schema=False)
    with pytest.raises(GraphStoreError, match=r"bolt://db:7687 kept failing after 2 attempts"):
        store.clear()
    err = neo4j.exceptions.ClientError._hydrate_neo4j(code="Neo.ClientError.Security.Forbidden", message="no")
    drv = FlakyDriver(err, fails=100)
    store = Neo4jGraphStore.from_driver(drv, max_retries=5, retry_backoff=0.0, ensure_schema=False)
    with pytest.raises(GraphStoreError, match="lacks the right"):
        store.clear()
    assert drv.calls == 1


class ScriptedTx:
    """Records queries; answers an empty database (counts 0, every row written)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def run(self, query, **params):
        self.log.append(query)
        rows = params.get("rows", [])

        class Result:
            def single(self, strict=False):
                return {"n": 0, "written": len(rows)}

            def consume(self):
                pass

            def __iter__(self):
                return iter(())

        return Result()


class LostCommitDriver:
    """Runs every transaction function; the write transactions numbered in ``lose`` then fail
    as if the commit's answer was lost (the work ran, the client cannot know it committed)."""

    def __init__(self, lose: set[int], exc: Exception | None = None) -> None:
        self.lose, self.exc, self.writes, self.log = lose, exc, 0, []

    def session(self, **kw):
        driver = self

        class Session:
            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            def execute_read(self, work):
                return work(ScriptedTx(driver.log))

            def execute_write(self, work):
                driver.writes += 1
                driver.log.append(f"-- write {driver.writes}")
                out = work(ScriptedTx(driver.log))
                if driver.writes in driver.lose:
                    raise driver.exc or neo4j.exceptions.ServiceUnavailable("connection lost at commit")
                return out

        return Session()

    def close(self) -> None:
        pass


def _small_graph() -> tuple[list[Node], list[Edge]]:
    nodes = [Node("drugbank:DB00001", NodeLabel.DRUG, "d"), Node("ncbigene:1", NodeLabel.GENE, "g")]
    return nodes, [Edge("drugbank:DB00001", RelationType.TARGETS, "ncbigene:1", _prov())]


def test_write_graph_retries_a_batch_as_an_upsert():
    """A CREATE batch whose commit answer was lost is retried with the idempotent upsert query."""
    drv = LostCommitDriver(lose={1, 4})  # the Drug batch and the TARGETS batch (write 3: Gene)
    store = Neo4jGraphStore.from_driver(drv, retry_backoff=0.0, ensure_schema=False)
    assert store.write_graph(*_small_graph()) == (2, 1)
    writes = "\n".join(drv.log).split("-- write ")[1:]
    assert [w.split("\n")[0] for w in writes] == ["1", "2", "3", "4", "5"]
    assert "CREATE (n:Entity:Drug" in writes[0] and "MERGE (n:Entity" in writes[1]
    assert cypher.NODE_LABEL_CONFLICTS in writes[1]  # the retry checks labels as upsert_nodes does
    assert "CREATE (n:Entity:Gene" in writes[2]
    assert cypher.create_edges(RelationType.TARGETS) in writes[3]
    assert cypher.upsert_edges(RelationType.TARGETS) in writes[4]
    assert all(cypher.TOUCH_META in w for w in writes)


def test_write_graph_names_a_concurrent_writer():
    err = neo4j.exceptions.ClientError._hydrate_neo4j(
        code="Neo.ClientError.Schema.ConstraintValidationFailed",
        message="Node(7) already exists with label `Entity` and property `id` = 'drugbank:DB00001'",
    )
    drv = LostCommitDriver(lose={1}, exc=err)
    store = Neo4jGraphStore.from_driver(drv, retry_backoff=0.0, ensure_schema=False)
    with pytest.raises(GraphStoreError, match="assumes no concurrent writer") as info:
        store.write_graph(*_small_graph())
    assert "drugbank:DB00001" in str(info.value) and drv.writes == 1
