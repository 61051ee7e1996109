"""``Neo4jGraphStore``: the ``GraphStore`` protocol on a real Neo4j 5 server.

Same answers as ``NetworkXGraphStore`` for the same content (the contract suite runs unchanged
against both). All Cypher text lives in :mod:`kgimagine.kg.cypher`; the storage layout is
described there and in docs/graph-stores.md.

Writes are idempotent ``UNWIND $rows ... MERGE`` batches, one explicit write transaction per
batch (``session.execute_write``), grouped per label / relation type. A batch that would break
the schema (a node id under another label, an edge whose endpoints are missing or have the
wrong labels) raises and is rolled back as a whole; batches committed before it stay.
``write_graph`` (a whole graph, as ``build_graph`` writes it) uses plain ``CREATE`` batches for
the ids that are absent and these upserts for the ones present.

Transient failures (``TransientError``, ``ServiceUnavailable``, ``SessionExpired``) are retried
``max_retries`` times with exponential backoff; the driver's own retry loop is switched off so
that the bound is ours. Every batch is an idempotent upsert (a retried ``CREATE`` batch runs
as one), so a retried batch cannot double anything.

``graph_version()`` reads every node and edge back and hashes them with ``ContentHash`` (equal to
the embedded store's for equal content). The result is cached in a ``:KgMeta`` node together
with a write counter that every write transaction of this class bumps (and the node/edge counts,
so that most writes made outside this class are noticed too); a cached version is used only
while the counter and the counts are unchanged.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from kgimagine.errors import EdgeNotFoundError, GraphStoreError, NodeNotFoundError, SchemaError
from kgimagine.kg import cypher
from kgimagine.kg.model import (
    _REL_BY_VALUE,
    ContentHash,
    Edge,
    GraphStats,
    Neighbour,
    Node,
    trusted_edge,
    trusted_node,
)
from kgimagine.kg.schema import RELATIONS, check_endpoints, check_label, check_relation
from kgimagine.kg.store import DEFAULT_BATCH_SIZE, MAX_PATH_HOPS, MAX_PATHS_EXPLORED, EdgeRef, Expansion, Hop
from kgimagine.types import Direction, NodeLabel, RelationType

log = logging.getLogger(__name__)

T = TypeVar("T")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PAGE = 10_000
_CLEAR_BATCH = 10_000
_WRITE_GRAPH_BATCH = 10_000
_CONSTRAINT_FAILED = "Neo.ClientError.Schema.ConstraintValidationFailed"
_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
_LABELS = frozenset(label.value for label in NodeLabel)
_SCHEMA_RACE_CODES = (
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
)


# -- property encoding ----------------------------------------------------------------------
def _native(value: Any) -> bool:
    """True when Neo4j stores ``value`` and gives back an equal value of the same Python type."""
    t = type(value)
    if t is str or t is bool or t is float:
        return True
    if t is int:
        return _INT64_MIN <= value <= _INT64_MAX
    if t is list:
        if not value:
            return True
        first = type(value[0])
        if first not in (str, bool, int, float) or any(type(v) is not first for v in value):
            return False  # Neo4j lists are homogeneous; mixed lists go to JSON
        return first is not int or all(_INT64_MIN <= v <= _INT64_MAX for v in value)
    return False


def encode_properties(props: Mapping[str, Any], *, clear_other: bool) -> dict[str, Any]:
    """User properties → stored properties (``p_<key>`` native, ``j_<key>`` JSON text).

    With ``clear_other`` the other encoding of each key is set to ``None`` so that
    ``SET n += $props`` removes it (a key's type may change between upserts).
    """
    out: dict[str, Any] = {}
    for key, value in props.items():
        if _native(value):
            out[cypher.USER_PREFIX + key] = value
            if clear_other:
                out[cypher.JSON_PREFIX + key] = None
        else:
            out[cypher.JSON_PREFIX + key] = json.dumps(value, ensure_ascii=False, allow_nan=True)
            if clear_other:
                out[cypher.USER_PREFIX + key] = None
    return out


def decode_properties(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored properties → user properties (reserved fields dropped)."""
    out: dict[str, Any] = {}
    user, as_json = cypher.USER_PREFIX, cypher.JSON_PREFIX  # both two characters long
    for key, value in stored.items():
        head = key[:2]
        if head == user:
            out[key[2:]] = value
        elif head == as_json:
            out[key[2:]] = json.loads(value)
    return out


def _edge_row(edge: Edge) -> dict[str, Any]:
    p = edge.provenance
    props = encode_properties(edge.properties, clear_other=False)
    props.update(
        fact_id=edge.fact_id,
        key=edge.key,
        prov_source=p.source,
        prov_version=p.source_version,
        prov_licence=p.licence,
        prov_record=p.record_id,
    )
    return {"s": edge.source, "t": edge.target, "f": edge.fact_id, "props": props}


def _node_from(node_id: str, labels: Sequence[str], props: Mapping[str, Any]) -> Node:
    label = next((lab for lab in labels if lab in _LABELS), None)
    if label is None:
        raise GraphStoreError(
            f"node {node_id!r} in Neo4j has no kgimagine label (labels {list(labels)}); "
            "it was not written by kgimagine: remove it or use another database"
        )
    return trusted_node(node_id, label, props.get("name") or "", decode_properties(props))


def _edge_from(s: str, y: str, t: str, props: Mapping[str, Any]) -> Edge:
    return trusted_edge(
        props["fact_id"],
        s,
        y,
        t,
        props.get("key") or "",
        (props["prov_source"], props["prov_version"], props["prov_licence"], props["prov_record"]),
        decode_properties(props),
    )


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise GraphStoreError(f"batch_size must be at least 1, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Neo4jGraphStore:
    """Graph store on a Neo4j 5 server (``bolt://``, ``neo4j://``, ``neo4j+s://`` …).

    ``database`` selects a database (``None``: the server's default). The password is used to
    connect and never appears in a message or log line.
    """

    def __init__(
        self,
        uri: str,
        *,
        user: str,
        password: str,
        database: str | None = None,
        max_retries: int = 3,
        connection_timeout: float = 15.0,
        retry_backoff: float = 0.5,
    ) -> None:
        try:
            import neo4j
            from neo4j.exceptions import AuthError, ConfigurationError, DriverError, Neo4jError
        except ModuleNotFoundError as exc:  # the extra is not installed
            raise GraphStoreError(
                "the Neo4j driver is not installed; install it with `pip install 'kgimagine[neo4j]'`"
            ) from exc
        self._uri = uri
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme not in _SCHEMES:
            raise GraphStoreError(
                f"cannot use Neo4j URI {uri!r}: scheme {scheme or '(none)'!r} is not one of "
                f"{', '.join(_SCHEMES)}; expected e.g. bolt://host:7687 or neo4j+s://xxxx.databases.neo4j.io"
            )
        try:
            driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                connection_timeout=connection_timeout,
                max_transaction_retry_time=-1,  # no driver-side retries: ours are bounded below
                notifications_min_severity="OFF",  # no server notices logged on the user's stderr
                user_agent="kgimagine",
            )
        except (ConfigurationError, ValueError) as exc:
            raise GraphStoreError(
                f"cannot use Neo4j URI {uri!r}: {exc}; expected bolt://host:7687, neo4j://host or neo4j+s://host"
            ) from exc
        try:
            driver.verify_connectivity()
        except AuthError as exc:
            driver.close()
            raise GraphStoreError(
                f"Neo4j at {uri} refused user {user!r}: wrong user or password "
                "(check the password the server was set up with)"
            ) from exc
        except (DriverError, Neo4jError, OSError) as exc:
            driver.close()
            raise GraphStoreError(
                f"cannot reach Neo4j at {uri} ({type(exc).__name__}); start the server "
                "(`scripts/neo4j start`, or `docker compose up -d neo4j`) or fix the URI"
            ) from exc
        self._init(driver, uri=uri, database=database, max_retries=max_retries, retry_backoff=retry_backoff)
        self._ensure_schema()

    @classmethod
    def from_driver(
        cls,
        driver: Any,
        *,
        database: str | None = None,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        uri: str = "<driver>",
        ensure_schema: bool = True,
    ) -> "Neo4jGraphStore":
        """Wrap an existing ``neo4j.Driver`` (the caller keeps ownership of its settings)."""
        store = cls.__new__(cls)
        store._init(driver, uri=uri, database=database, max_retries=max_retries, retry_backoff=retry_backoff)
        if ensure_schema:
            store._ensure_schema()
        return store

    def _init(self, driver: Any, *, uri: str, database: str | None, max_retries: int, retry_backoff: float) -> None:
        if max_retries < 0:
            raise GraphStoreError(f"max_retries must be 0 or more, got {max_retries}")
        self._driver = driver
        self._uri = uri
        self._database = database
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._closed = False

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def database(self) -> str | None:
        return self._database

    # -- plumbing ------------------------------------------------------------------------
    def _run(self, mode: str, work: Callable[[Any], T]) -> T:
        """Run ``work(tx)`` in one managed transaction (``mode`` ``"r"`` or ``"w"``), or
        ``work(session)`` for auto-commit queries (``"auto"``; ``"q"`` for a single read query,
        which saves the BEGIN/COMMIT round trip), retrying transient failures."""
        from neo4j.exceptions import ClientError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired, TransientError

        if self._closed:
            raise GraphStoreError(f"the Neo4j store for {self._uri} is closed")
        attempt = 0
        while True:
            try:
                if mode == "q":  # one read query, auto-commit: no BEGIN/COMMIT round trip
                    with self._driver.session(database=self._database, default_access_mode="READ") as session:
                        return work(session)
                with self._driver.session(database=self._database) as session:
                    if mode == "w":
                        return session.execute_write(work)
                    if mode == "auto":
                        return work(session)
                    return session.execute_read(work)
            except (TransientError, ServiceUnavailable, SessionExpired) as exc:
                if attempt >= self._max_retries:
                    raise GraphStoreError(
                        f"Neo4j at {self._uri} kept failing after {attempt + 1} attempts "
                        f"({type(exc).__name__}: {getattr(exc, 'message', None) or exc}); "
                        "check the server's health and retry"
                    ) from exc
                delay = self._retry_backoff * (2**attempt)
                attempt += 1
                log.warning(
                    "Neo4j at %s: %s, retry %d/%d in %.1fs", self._uri, type(exc).__name__, attempt, self._max_retries, delay
                )
                time.sleep(delay)
            except ClientError as exc:
                code = exc.code or ""
                if code.endswith("DatabaseNotFound"):
                    raise GraphStoreError(
                        f"Neo4j at {self._uri} has no database {self._database!r}; create it or pass another "
                        "database name (Community edition has only 'neo4j')"
                    ) from exc
                if code.startswith("Neo.ClientError.Security"):
                    raise GraphStoreError(
                        f"Neo4j at {self._uri} refused the operation ({code}); the user lacks the right"
                    ) from exc
                raise GraphStoreError(f"Neo4j at {self._uri} rejected a query: {code}: {exc.message}") from exc
            except (DriverError, Neo4jError) as exc:
                raise GraphStoreError(f"Neo4j at {self._uri} failed: {type(exc).__name__}: {exc}") from exc

    def _ensure_schema(self) -> None:
        """Create the constraints and indexes that are missing (idempotent, safe to race)."""
        from neo4j.exceptions import ClientError

        wanted = {"kg_entity_id": cypher.ENTITY_ID_CONSTRAINT, "kg_meta_key": cypher.META_KEY_CONSTRAINT}
        wanted.update({cypher.label_id_index_name(label): cypher.label_id_index(label) for label in NodeLabel})
        wanted.update({cypher.relation_fact_index_name(rel): cypher.relation_fact_index(rel) for rel in RelationType})
        existing = set(self._run("r", lambda tx: tx.run(cypher.SHOW_INDEX_NAMES).single(strict=True)["names"]))
        for name, statement in wanted.items():
            if name in existing:
                continue
            try:
                self._run("w", lambda tx, q=statement: tx.run(q).consume())
            except GraphStoreError as exc:
                cause = exc.__cause__
                if isinstance(cause, ClientError) and (cause.code or "") in _SCHEMA_RACE_CODES:
                    continue  # another client created it at the same moment
                raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._driver.close()

    def __enter__(self) -> "Neo4jGraphStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------
    def upsert_nodes(self, nodes: Iterable[Node], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        n = 0
        for batch in _batches(nodes, batch_size):
            # merge repeats inside the batch in order, as the embedded store would
            merged: dict[str, list[Any]] = {}  # id -> [label, name, props]
            for node in batch:
                label = check_label(node.label)
                cur = merged.get(node.id)
                if cur is None:
                    merged[node.id] = [label, node.name, dict(node.properties)]
                else:
                    if cur[0] is not label:
                        raise SchemaError(
                            f"node {node.id} exists as {cur[0].value}; cannot upsert it as {label.value}"
                        )
                    if node.name:
                        cur[1] = node.name
                    cur[2].update(node.properties)
            by_label: dict[NodeLabel, list[dict[str, Any]]] = {}
            for node_id, (label, name, props) in merged.items():
                by_label.setdefault(label, []).append(
                    {"id": node_id, "name": name, "props": encode_properties(props, clear_other=True)}
                )
            checks = [{"id": i, "label": v[0].value} for i, v in merged.items()]
            queries = [(cypher.upsert_nodes(label), rows) for label, rows in by_label.items()]

            def work(tx: Any, checks: list[dict[str, Any]] = checks, queries: list[Any] = queries, merged: dict = merged) -> None:
                conflicts = {r["id"]: r["labels"] for r in tx.run(cypher.NODE_LABEL_CONFLICTS, rows=checks)}
                if conflicts:
                    first = next(i for i in merged if i in conflicts)
                    old = ", ".join(conflicts[first]) or "an unlabelled node"
                    raise SchemaError(
                        f"node {first} exists as {old}; cannot upsert it as {merged[first][0].value}"
                    )
                for query, rows in queries:
                    tx.run(query, rows=rows).consume()
                tx.run(cypher.TOUCH_META).consume()

            self._run("w", work)
            n += len(batch)
        return n

    def upsert_edges(self, edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        n = 0
        for batch in _batches(edges, batch_size):
            latest: dict[str, Edge] = {}
            for edge in batch:
                check_relation(edge.type)
                latest[edge.fact_id] = edge  # a repeated fact id: the later record wins
            by_rel: dict[RelationType, list[dict[str, Any]]] = {}
            for edge in sorted(latest.values(), key=lambda e: e.source):  # one lock order: fewer deadlocks
                by_rel.setdefault(check_relation(edge.type), []).append(_edge_row(edge))
            queries = [(cypher.upsert_edges(rel), rows) for rel, rows in by_rel.items()]

            def work(tx: Any, queries: list[Any] = queries, batch: list[Edge] = batch) -> None:
                for query, rows in queries:
                    self._write_edge_rows(tx, query, rows, batch)
                tx.run(cypher.TOUCH_META).consume()

            self._run("w", work)
            n += len(batch)
        return n

    def _write_edge_rows(self, tx: Any, query: str, rows: list[dict[str, Any]], batch: list[Edge]) -> None:
        """Run an edge write; if it wrote fewer rows than given, raise what the embedded store raises."""
        written = tx.run(query, rows=rows).single(strict=True)["written"]
        if written != len(rows):
            self._explain_short_write(tx, batch)
            raise GraphStoreError(  # pragma: no cover - the check above always raises
                f"Neo4j at {self._uri} wrote {written} of {len(rows)} edges for an unknown reason"
            )

    def _explain_short_write(self, tx: Any, batch: list[Edge]) -> None:
        """Raise the error the embedded store raises for the first bad edge of ``batch``."""
        ids = sorted({e.source for e in batch} | {e.target for e in batch})
        labels: dict[str, NodeLabel | None] = {}
        for rec in tx.run(cypher.NODE_LABELS, ids=ids):
            labels[rec["id"]] = next((NodeLabel(x) for x in rec["labels"] if x in _LABELS), None)
        for edge in batch:
            missing = [i for i in (edge.source, edge.target) if i not in labels]
            if missing:
                raise NodeNotFoundError(
                    f"edge {edge.type.value} {edge.source} -> {edge.target}: unknown node(s) {', '.join(missing)}; "
                    "upsert the nodes first"
                )
            s_label, t_label = labels[edge.source], labels[edge.target]
            if s_label is None or t_label is None:
                raise SchemaError(
                    f"edge {edge.type.value} {edge.source} -> {edge.target}: an endpoint has no kgimagine label"
                )
            spec = RELATIONS[edge.type]
            if s_label is not spec.domain or t_label is not spec.range:
                check_endpoints(edge.type, s_label, t_label)

    def write_graph(
        self, nodes: Iterable[Node], edges: Iterable[Edge], *, batch_size: int = _WRITE_GRAPH_BATCH
    ) -> tuple[int, int]:
        """Upsert a whole graph: the result of ``upsert_nodes(nodes)`` then ``upsert_edges(edges)``,
        several times faster when most ids are absent. Returns (nodes, edges) processed.

        The node ids and fact ids already present are read first (only when the database holds
        nodes / relationships of that type: the counts are constant time); the absent ones are
        written with plain ``CREATE`` in batches of ``batch_size`` per label / relation type, the
        present ones go through ``upsert_nodes`` / ``upsert_edges``. Every batch is one write
        transaction; a created edge still needs both endpoints with the labels its relation
        requires (``NodeNotFoundError`` / ``SchemaError``, as ``upsert_edges``). A batch retried
        after a transient failure runs as an upsert, so a commit whose answer was lost cannot
        double anything.

        Assumes no concurrent writer of the same graph while it runs: a node created meanwhile
        is refused by the id constraint (``GraphStoreError``; run it again), but relationship
        fact ids have no constraint, so an edge created meanwhile would exist twice.
        """
        if batch_size < 1:
            raise GraphStoreError(f"batch_size must be at least 1, got {batch_size}")
        node_list = list(nodes)
        edge_list = list(edges)
        merged: dict[str, list[Any]] = {}  # id -> [label, name, props]; repeats merge in order
        for node in node_list:
            label = check_label(node.label)
            cur = merged.get(node.id)
            if cur is None:
                merged[node.id] = [label, node.name, dict(node.properties)]
                continue
            if cur[0] is not label:
                raise SchemaError(f"node {node.id} exists as {cur[0].value}; cannot upsert it as {label.value}")
            if node.name:
                cur[1] = node.name
            cur[2].update(node.properties)
        latest: dict[str, Edge] = {}
        for edge in edge_list:
            check_relation(edge.type)
            latest[edge.fact_id] = edge  # a repeated fact id: the later record wins
        rels = sorted({edge.type for edge in latest.values()}, key=lambda r: r.value)

        def read_present(tx: Any) -> tuple[set[str], set[str]]:
            node_ids: set[str] = set()
            if merged and tx.run(cypher.COUNT_ENTITIES).single(strict=True)["n"]:
                node_ids = {r["id"] for r in tx.run(cypher.PRESENT_NODE_IDS)}
            fact_ids: set[str] = set()
            for rel in rels:
                if tx.run(cypher.count_relation(rel)).single(strict=True)["n"]:
                    fact_ids.update(r["f"] for r in tx.run(cypher.present_fact_ids(rel)))
            return node_ids, fact_ids

        present_nodes, present_facts = self._run("r", read_present)

        by_label: dict[NodeLabel, list[dict[str, Any]]] = {}
        for node_id, (label, name, props) in merged.items():
            if node_id not in present_nodes:
                by_label.setdefault(label, []).append(
                    {"id": node_id, "name": name, "props": encode_properties(props, clear_other=False)}
                )
        for label, rows in by_label.items():
            for chunk in _batches(rows, batch_size):
                self._create_nodes(label, chunk)
        if present_nodes:
            self.upsert_nodes((n for n in node_list if n.id in present_nodes), batch_size=batch_size)

        by_rel: dict[RelationType, list[Edge]] = {}
        for edge in sorted(latest.values(), key=lambda e: e.source):  # one lock order, as upsert_edges
            if edge.fact_id not in present_facts:
                by_rel.setdefault(edge.type, []).append(edge)
        for rel, rel_edges in by_rel.items():
            for chunk in _batches(rel_edges, batch_size):
                self._create_edges(rel, chunk)
        if present_facts:
            self.upsert_edges((e for e in edge_list if e.fact_id in present_facts), batch_size=batch_size)
        return len(node_list), len(edge_list)

    def _create_nodes(self, label: NodeLabel, rows: list[dict[str, Any]]) -> None:
        """One write transaction: CREATE ``rows`` (a retry MERGEs them instead)."""
        attempts = [0]

        def work(tx: Any) -> None:
            attempts[0] += 1
            if attempts[0] == 1:
                tx.run(cypher.create_nodes(label), rows=rows).consume()
            else:  # the first attempt may have committed before its answer was lost
                checks = [{"id": row["id"], "label": label.value} for row in rows]
                conflicts = {r["id"]: r["labels"] for r in tx.run(cypher.NODE_LABEL_CONFLICTS, rows=checks)}
                if conflicts:
                    first = next(row["id"] for row in rows if row["id"] in conflicts)
                    old = ", ".join(conflicts[first]) or "an unlabelled node"
                    raise SchemaError(f"node {first} exists as {old}; cannot upsert it as {label.value}")
                tx.run(cypher.upsert_nodes(label), rows=rows).consume()
            tx.run(cypher.TOUCH_META).consume()

        try:
            self._run("w", work)
        except GraphStoreError as exc:
            cause = exc.__cause__
            if getattr(cause, "code", None) != _CONSTRAINT_FAILED:
                raise
            raise GraphStoreError(
                f"write_graph into Neo4j at {self._uri}: a {label.value} node it was creating was created "
                f"meanwhile by another client ({getattr(cause, 'message', None) or cause}); write_graph "
                "assumes no concurrent writer: run it again when the other writer is done"
            ) from cause

    def _create_edges(self, rel: RelationType, batch: list[Edge]) -> None:
        """One write transaction: CREATE ``batch`` (a retry upserts it instead)."""
        rows = [_edge_row(edge) for edge in batch]
        attempts = [0]

        def work(tx: Any) -> None:
            attempts[0] += 1
            # the first attempt may have committed before its answer was lost: a retry upserts
            query = cypher.create_edges(rel) if attempts[0] == 1 else cypher.upsert_edges(rel)
            self._write_edge_rows(tx, query, rows, batch)
            tx.run(cypher.TOUCH_META).consume()

        self._run("w", work)

    def clear(self) -> None:
        """Remove every ``:Entity`` node and its relationships and reset the meta node.

        The server deletes in transactions of ``_CLEAR_BATCH`` rows; after a failure part of the
        graph may be gone (a retry, or calling ``clear`` again, deletes the rest).
        """
        self._run_autocommit(cypher.CLEAR_RELATIONSHIPS, batch=_CLEAR_BATCH)
        self._run_autocommit(cypher.CLEAR_NODES, batch=_CLEAR_BATCH)
        self._run("w", lambda tx: tx.run(cypher.TOUCH_META).consume())

    def _run_autocommit(self, query: str, **params: Any) -> None:
        """Run ``query`` in an auto-commit transaction (``session.run``; ``CALL { } IN
        TRANSACTIONS`` refuses a managed one), with ``_run``'s bounded retries and error messages.
        Only for queries that are safe to repeat after a partial run."""
        self._run("auto", lambda session: session.run(query, **params).consume())

    # -- reads ---------------------------------------------------------------------------
    def _read(self, query: str, **params: Any) -> list[Any]:
        return self._run("q", lambda session: list(session.run(query, **params)))

    def get_node(self, node_id: str) -> Node:
        found = self.get_nodes([node_id])
        if node_id not in found:
            raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        return found[node_id]

    def get_nodes(self, node_ids: Iterable[str]) -> dict[str, Node]:
        ids = list(dict.fromkeys(node_ids))
        got = {r["id"]: _node_from(r["id"], r["labels"], r["props"]) for r in self._read(cypher.GET_NODES, ids=ids)}
        return {i: got[i] for i in ids if i in got}

    def has_node(self, node_id: str) -> bool:
        return bool(self._read(cypher.HAS_NODE, id=node_id)[0]["found"])

    def get_edge(self, fact_id: str) -> Edge:
        found = self.get_edges([fact_id])
        if fact_id not in found:
            raise EdgeNotFoundError(f"no fact with id {fact_id!r} in the graph")
        return found[fact_id]

    def get_edges(self, fact_ids: Iterable[str]) -> dict[str, Edge]:
        ids = list(dict.fromkeys(fact_ids))
        got = {}
        for r in self._read(cypher.get_edges(), ids=ids):
            edge = _edge_from(r["s"], r["y"], r["t"], r["props"])
            got[edge.fact_id] = edge
        return {i: got[i] for i in ids if i in got}

    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Sequence[RelationType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 100,
    ) -> list[Neighbour]:
        direction = Direction(direction)
        types = sorted({check_relation(r).value for r in rel_types}) if rel_types is not None else None
        has_types = types is not None
        params = {"id": node_id, "types": types, "plain": cypher.PLAIN_ID_REGEX, "limit": max(limit, 0)}

        def work(tx: Any) -> list[Any]:
            head = tx.run(cypher.incident_non_plain(direction.value, has_types=has_types), **params).single(strict=True)
            if not head["found"]:
                raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
            if head["odd"] == 0:  # Neo4j's order is Python's: let the server sort and cut
                return list(tx.run(cypher.incident(direction.value, has_types=has_types, ordered=True), **params))
            rows = list(tx.run(cypher.incident(direction.value, has_types=has_types, ordered=False), **params))
            rows.sort(key=lambda r: (r["y"], r["mid"], r["props"]["fact_id"]))
            return rows[: max(limit, 0)]

        rows = self._run("r", work)
        return [
            Neighbour(
                edge=_edge_from(r["s"], r["y"], r["t"], r["props"]),
                node=_node_from(r["mid"], r["mlabels"], r["mprops"]),
            )
            for r in rows
        ]

    def facts(
        self,
        node_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        limit: int | None = None,
    ) -> list[Edge]:
        types = sorted({check_relation(r).value for r in rel_types}) if rel_types is not None else None
        params: dict[str, Any] = {"ids": sorted(set(node_ids)), "types": types}
        if limit is not None:
            params["limit"] = max(limit, 0)
        query = cypher.facts(has_types=types is not None, has_limit=limit is not None)
        return [_edge_from(r["s"], r["y"], r["t"], r["props"]) for r in self._read(query, **params)]

    def _keys(self, node_properties: Sequence[str] | None) -> list[str] | None:
        """Stored keys of the user properties ``node_properties`` (None: all properties)."""
        if node_properties is None:
            return None
        return ["name"] + [p + k for k in sorted(set(node_properties)) for p in (cypher.USER_PREFIX, cypher.JSON_PREFIX)]

    @staticmethod
    def _nodes_from_rows(rows: Iterable[Any], keys: list[str] | None) -> dict[str, Node]:
        got: dict[str, Node] = {}
        for node_id, labels, props in rows:
            if node_id not in got:
                if keys is not None:
                    props = {k: v for k, v in zip(keys, props) if v is not None}
                got[node_id] = _node_from(node_id, labels, props)
        return got

    def expand(self, hops: Sequence[Hop], *, node_properties: Sequence[str] | None = None) -> Expansion:
        """All hops in one query (one round trip); see ``GraphStore.expand``."""
        hops = list(hops)
        if not any(hop.node_ids for hop in hops):
            return Expansion(edges=tuple(() for _ in hops), nodes={})
        # empty hops stay in the query (they read nothing) so that one call site sends one query
        # text, planned once by the server
        keys = self._keys(node_properties)
        shape = [(hop.rel_types, hop.direction.value, hop.limit is not None, hop.detail) for hop in hops]
        params: dict[str, Any] = {"asked": sorted({i for hop in hops for i in hop.node_ids})}
        for j, hop in enumerate(hops):
            params[f"ids{j}"] = list(hop.node_ids)
            if hop.limit is not None:
                params[f"lim{j}"] = hop.limit
        if keys is not None:
            params["keys"] = keys
        query = cypher.expand(shape, projected=keys is not None)
        row = self._run("q", lambda session: session.run(query, **params).single(strict=True))
        per_hop: list[dict[str, Edge | EdgeRef]] = [{} for _ in hops]
        for j, s, y, t, last in row["edges"]:
            found = per_hop[j]
            if hops[j].detail:
                if last["fact_id"] not in found:
                    found[last["fact_id"]] = _edge_from(s, y, t, last)
            elif last not in found:
                found[last] = EdgeRef(last, s, _REL_BY_VALUE[y], t)
        answers: list[tuple[Edge | EdgeRef, ...]] = []
        for hop, found in zip(hops, per_hop):
            ordered = [found[f] for f in sorted(found)]
            answers.append(tuple(ordered if hop.limit is None else ordered[: hop.limit]))
        got = self._nodes_from_rows(row["nodes"], keys)
        # the same node set as the embedded store: requested ids that exist, ends of detail edges
        want = [i for i in params["asked"] if i in got]
        want += [i for hop, edges in zip(hops, answers) if hop.detail for e in edges for i in (e.source, e.target)]
        return Expansion(edges=tuple(answers), nodes={i: got[i] for i in dict.fromkeys(want)})

    def get_facts(
        self,
        fact_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        node_properties: Sequence[str] | None = None,
    ) -> Expansion:
        """One query: an index seek per relation type, the edges' ends with them."""
        ids = list(dict.fromkeys(fact_ids))
        if not ids:
            return Expansion(edges=((),), nodes={})
        rels = sorted({check_relation(r) for r in rel_types} if rel_types is not None else set(RelationType),
                      key=lambda r: r.value)
        if not rels:
            return Expansion(edges=((),), nodes={})
        keys = self._keys(node_properties)
        params: dict[str, Any] = {"ids": ids}
        if keys is not None:
            params["keys"] = keys
        query = cypher.get_facts(rels, projected=keys is not None)
        row = self._run("q", lambda session: session.run(query, **params).single(strict=True))
        by_id = {props["fact_id"]: _edge_from(s, y, t, props) for s, y, t, props in row["edges"]}
        edges = tuple(by_id[f] for f in ids if f in by_id)
        got = self._nodes_from_rows(row["nodes"], keys)
        return Expansion(edges=(edges,), nodes={i: got[i] for e in edges for i in (e.source, e.target)})

    def paths(
        self,
        source_id: str,
        target_id: str,
        *,
        max_hops: int = 3,
        rel_types: Sequence[RelationType] | None = None,
        limit: int = 10,
    ) -> list[list[Edge]]:
        """The embedded store's search, run level by level: one query per hop fetches the edges
        at every node on the frontier, so the results (and the exploration budget) are identical."""
        if not 1 <= max_hops <= MAX_PATH_HOPS:
            raise GraphStoreError(f"max_hops must be between 1 and {MAX_PATH_HOPS}, got {max_hops}")
        types = sorted({check_relation(r).value for r in rel_types}) if rel_types is not None else None
        has_types = types is not None

        def work(tx: Any) -> list[list[Edge]]:
            present = {r["id"] for r in tx.run(cypher.GET_NODES, ids=[source_id, target_id])}
            for node_id in (source_id, target_id):
                if node_id not in present:
                    raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
            found: list[list[Edge]] = []
            explored = 0
            # partial paths: (end node, edges so far, nodes visited)
            frontier: list[tuple[str, list[Edge], frozenset[str]]] = [(source_id, [], frozenset({source_id}))]
            edge_cache: dict[str, Edge] = {}
            while frontier:
                ends = sorted({end for end, _, _ in frontier})
                degrees = {
                    r["id"]: r["degree"]
                    for r in tx.run(cypher.frontier_degrees(has_types=has_types), ids=ends, types=types)
                }
                explored += sum(degrees.get(end, 0) for end, _, _ in frontier)
                if explored > MAX_PATHS_EXPLORED:
                    raise GraphStoreError(
                        f"path search {source_id} -> {target_id} explored over {MAX_PATHS_EXPLORED} edges; "
                        "lower max_hops or restrict rel_types"
                    )
                incident: dict[str, list[tuple[Edge, str]]] = {}
                for r in tx.run(cypher.frontier_edges(has_types=has_types), ids=ends, types=types):
                    fid = r["props"]["fact_id"]
                    edge = edge_cache.get(fid)
                    if edge is None:
                        edge = edge_cache[fid] = _edge_from(r["s"], r["y"], r["t"], r["props"])
                    incident.setdefault(r["at"], []).append((edge, r["other"]))
                nxt: list[tuple[str, list[Edge], frozenset[str]]] = []
                for end, path, visited in frontier:
                    for edge, other in incident.get(end, ()):
                        if other == target_id:
                            found.append(path + [edge])
                        elif other not in visited and len(path) + 1 < max_hops:
                            nxt.append((other, path + [edge], visited | {other}))
                frontier = nxt
            return found

        found = self._run("r", work)
        found.sort(key=lambda p: (len(p), [e.fact_id for e in p]))
        return found[: max(limit, 0)]

    def iter_nodes(self, label: NodeLabel | None = None) -> Iterator[Node]:
        """Nodes in id order (Python's string order), read in pages of 10,000."""
        want = check_label(label) if label is not None else None
        odd = self._read(cypher.count_non_plain_ids(want), plain=cypher.PLAIN_ID_REGEX)[0]["odd"]
        if odd:
            # some ids sort differently in Neo4j (UTF-16) and Python (code points): sort here
            ids = sorted(r["id"] for r in self._read(cypher.node_ids(want)))
            for start in range(0, len(ids), _PAGE):
                chunk = ids[start : start + _PAGE]
                got = self.get_nodes(chunk)
                for node_id in chunk:
                    if node_id in got:
                        yield got[node_id]
            return
        query = cypher.node_page(want)
        after = ""
        while True:
            rows = self._read(query, after=after, limit=_PAGE)
            for r in rows:
                yield _node_from(r["id"], r["labels"], r["props"])
            if len(rows) < _PAGE:
                return
            after = rows[-1]["id"]

    def _iter_edges_of(self, rel: RelationType) -> Iterator[tuple[str, Edge]]:
        query = cypher.edge_page(rel)
        after = ""
        while True:
            rows = self._read(query, after=after, limit=_PAGE)
            for r in rows:
                edge = _edge_from(r["s"], r["y"], r["t"], r["props"])
                yield edge.fact_id, edge
            if len(rows) < _PAGE:
                return
            after = rows[-1]["props"]["fact_id"]

    def iter_edges(self, rel_type: RelationType | None = None) -> Iterator[Edge]:
        """Edges in fact-id order, read in pages of 10,000 per relation type."""
        if rel_type is not None:
            for _, edge in self._iter_edges_of(check_relation(rel_type)):
                yield edge
            return
        for _, edge in heapq.merge(*(self._iter_edges_of(rel) for rel in RelationType), key=lambda fe: fe[0]):
            yield edge

    def stats(self) -> GraphStats:
        def work(tx: Any) -> GraphStats:
            nodes = {lab.value: tx.run(cypher.count_label(lab)).single(strict=True)["n"] for lab in NodeLabel}
            edges = {rel.value: tx.run(cypher.count_relation(rel)).single(strict=True)["n"] for rel in RelationType}
            return GraphStats(
                nodes_by_label={k: v for k, v in sorted(nodes.items()) if v},
                edges_by_type={k: v for k, v in sorted(edges.items()) if v},
            )

        return self._run("r", work)

    def graph_version(self) -> str:
        def read_meta(tx: Any) -> tuple[int, str | None, int, int, int | None, int | None]:
            m = tx.run(cypher.READ_META).single(strict=True)
            nodes = tx.run(cypher.COUNT_ENTITIES).single(strict=True)["n"]
            edges = tx.run(cypher.COUNT_RELATIONSHIPS).single(strict=True)["n"]
            return (m["seq"] or 0, m["version"], nodes, edges, m["nodes"], m["edges"])

        seq, version, nodes, edges, cached_nodes, cached_edges = self._run("r", read_meta)
        if version is not None and (cached_nodes, cached_edges) == (nodes, edges):
            return version

        def compute(tx: Any) -> str:
            h = ContentHash()
            for r in tx.run(cypher.ALL_NODES_STREAM):
                h.add_node(_node_from(r["id"], r["labels"], r["props"]))
            for r in tx.run(cypher.ALL_EDGES_STREAM):
                h.add_edge(_edge_from(r["s"], r["y"], r["t"], r["props"]))
            return h.hexdigest()

        version = self._run("r", compute)
        try:  # cache it unless a write happened meanwhile (the counter moved)
            self._run(
                "w",
                lambda tx: tx.run(
                    cypher.WRITE_META_VERSION, seq=seq, version=version, nodes=nodes, edges=edges
                ).consume(),
            )
        except GraphStoreError as exc:  # e.g. a read-only user: the version is right, just not cached
            log.info("graph version not cached in Neo4j at %s: %s", self._uri, exc)
        return version
