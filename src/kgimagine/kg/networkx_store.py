"""``NetworkXGraphStore``: the embedded default store.

In memory: a node table (id -> ``Node``), an edge table (fact id -> ``Edge``) and a typed
adjacency index (node id -> relation type -> fact ids, one for each direction), so that a read
touches only the edges of the relation types it asks for. ``graph`` gives the same content as a
``networkx.MultiDiGraph`` (edges keyed by fact id) for networkx's algorithms.

Persisted to a directory as JSON Lines (no pickle)::

    <dir>/manifest.json        format, schema version, graph version, counts, data file names
    <dir>/nodes-<gen>.jsonl    one node per line: [id, label, name, {properties}]
    <dir>/edges-<gen>.jsonl    one edge per line:
                               [fact_id, source, type, target, key, [source, version, licence, record], {properties}]

A save writes the data files of a new generation, fsyncs them, then atomically replaces
``manifest.json`` (``os.replace``), which names the generation to read; only then are the
previous generation's files deleted. A process killed at any point leaves a loadable graph:
the old one or the new one, never a mix. Each line is also the input of the content hash
(``kgimagine.kg.model.ContentHash``), so a save computes the graph version in the same pass.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

import orjson

from kgimagine.errors import EdgeNotFoundError, GraphStoreError, NodeNotFoundError, SchemaError
from kgimagine.kg.model import (
    ContentHash,
    Edge,
    GraphStats,
    Neighbour,
    Node,
    edge_record_bytes,
    node_record_bytes,
    trusted_edge,
    trusted_node,
)
from kgimagine.kg.schema import RELATIONS, SCHEMA_VERSION, check_endpoints, check_label, check_relation
from kgimagine.kg.store import (
    DEFAULT_BATCH_SIZE,
    MAX_PATH_HOPS,
    MAX_PATHS_EXPLORED,
    Expansion,
    Hop,
    project_node,
)
from kgimagine.types import Direction, NodeLabel, RelationType

if TYPE_CHECKING:
    import networkx as nx

FORMAT = "kgimagine-embedded-jsonl"
FORMAT_VERSION = 2

#: node id -> relation type -> fact ids (insertion order)
_Adjacency = dict[str, dict[RelationType, list[str]]]


def _edge_sort_key(rel: RelationType, other_id: str, fact_id: str) -> tuple[str, str, str]:
    return (rel.value, other_id, fact_id)


class _NodeView(Mapping[str, Node]):
    """Read-only node mapping of an ``Expansion``: projects a node when it is first read, so a
    caller that reads a few of many returned nodes pays for those few."""

    __slots__ = ("_ids", "_table", "_keep", "_done")

    def __init__(self, ids: dict[str, None], table: dict[str, Node], keep: frozenset[str] | None) -> None:
        self._ids, self._table, self._keep = ids, table, keep
        self._done: dict[str, Node] = {}

    def __getitem__(self, node_id: str) -> Node:
        node = self._done.get(node_id)
        if node is None:
            if node_id not in self._ids:
                raise KeyError(node_id)
            node = self._done[node_id] = project_node(self._table[node_id], self._keep)
        return node

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class NetworkXGraphStore:
    """Embedded graph store. ``path`` (optional) is the directory it loads from and saves to."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._nodes: dict[str, Node] = {}
        self._edges: dict[str, Edge] = {}
        self._out: _Adjacency = {}
        self._in: _Adjacency = {}
        self._node_counts: Counter[str] = Counter()
        self._edge_counts: Counter[str] = Counter()
        self._version: str | None = None
        self._nx: nx.MultiDiGraph | None = None
        self._dirty = False
        if self._path is not None and (self._path / "manifest.json").exists():
            self._load(self._path)

    # -- persistence ---------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self._path

    def _load(self, path: Path) -> None:
        try:
            manifest = orjson.loads((path / "manifest.json").read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise GraphStoreError(f"cannot read embedded graph manifest in {path}: {exc}") from exc
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise GraphStoreError(
                f"{path} is not a kgimagine embedded graph of format v{FORMAT_VERSION} (found {manifest.get('format')!r} "
                f"v{manifest.get('format_version')}); rebuild it with `kgimagine kg build`"
            )
        nodes, edges, node_counts = self._nodes, self._edges, self._node_counts
        loads = orjson.loads
        try:
            with open(path / manifest["nodes_file"], "rb") as fh:
                for line in fh:
                    i, label, name, props = loads(line)
                    nodes[i] = trusted_node(i, label, name, props)
                    node_counts[label] += 1
            with open(path / manifest["edges_file"], "rb") as fh:
                for line in fh:
                    f, src, rel, tgt, key, prov, props = loads(line)
                    edge = trusted_edge(f, src, rel, tgt, key, prov, props)
                    edges[f] = edge
                    self._index(f, src, edge.type, tgt)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GraphStoreError(f"embedded graph in {path} is unreadable ({exc}); rebuild it") from exc
        if len(nodes) != manifest["nodes"] or len(edges) != manifest["edges"]:
            raise GraphStoreError(
                f"embedded graph in {path} is incomplete: manifest says {manifest['nodes']} nodes/"
                f"{manifest['edges']} edges, files hold {len(nodes)}/{len(edges)}; rebuild it"
            )
        self._version = manifest.get("graph_version")
        self._dirty = False

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the graph to ``path`` (default: the store's own directory); crash-safe (see module doc)."""
        target = Path(path) if path is not None else self._path
        if target is None:
            raise GraphStoreError("this embedded store has no directory; pass save(path)")
        target = target.resolve()
        target.mkdir(parents=True, exist_ok=True)
        old_files: set[str] = set()
        if (target / "manifest.json").is_file():
            try:
                old = orjson.loads((target / "manifest.json").read_bytes())
                old_files = {old.get("nodes_file", ""), old.get("edges_file", "")} - {""}
            except (OSError, orjson.JSONDecodeError):
                pass
        gen = f"{time.time_ns():x}-{os.getpid()}"
        nodes_file, edges_file = f"nodes-{gen}.jsonl", f"edges-{gen}.jsonl"
        h = ContentHash()
        for name, kind, items, encode in (
            (nodes_file, b"n", self._nodes.values(), node_record_bytes),
            (edges_file, b"e", self._edges.values(), edge_record_bytes),
        ):
            with open(target / name, "wb", buffering=1 << 20) as fh:
                write = fh.write
                for item in items:
                    raw = encode(item)  # type: ignore[operator]
                    h.add_bytes(kind, raw)
                    write(raw)
                    write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        self._version = h.hexdigest()
        stats = self.stats()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "graph_version": self._version,
            "nodes": stats.node_count,
            "edges": stats.edge_count,
            "nodes_file": nodes_file,
            "edges_file": edges_file,
            "nodes_by_label": dict(stats.nodes_by_label),
            "edges_by_type": dict(stats.edges_by_type),
        }
        tmp_manifest = target / f".manifest-{gen}.json"
        with open(tmp_manifest, "wb") as fh:
            fh.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_manifest, target / "manifest.json")
        # the new generation is live: remove the previous one and leftovers of killed saves
        keep = {nodes_file, edges_file, "manifest.json"}
        for leftover in target.iterdir():
            name = leftover.name
            if name in keep or not leftover.is_file():
                continue
            if name in old_files or name.startswith((".manifest-", "nodes-", "edges-")):
                leftover.unlink(missing_ok=True)
        if self._path is None or self._path.resolve() == target:
            self._dirty = False
        return target

    # -- writes --------------------------------------------------------------------------
    def upsert_nodes(self, nodes: Iterable[Node], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        table = self._nodes
        counts = self._node_counts
        n = 0
        for node in nodes:
            label = check_label(node.label)
            old = table.get(node.id)
            if old is None:
                table[node.id] = node
                counts[label.value] += 1
            else:
                if old.label is not label:
                    raise SchemaError(
                        f"node {node.id} exists as {old.label.value}; cannot upsert it as {label.value}"
                    )
                if node.properties or (node.name and node.name != old.name):
                    merged = {**old.properties, **node.properties}
                    table[node.id] = trusted_node(node.id, label.value, node.name or old.name, merged)
            n += 1
        if n:
            self._touch()
        return n

    def upsert_edges(self, edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        nodes, table = self._nodes, self._edges
        n = 0
        try:
            for edge in edges:
                rel = check_relation(edge.type)
                spec = RELATIONS[rel]
                src, tgt = edge.source, edge.target
                s_node = nodes.get(src)
                t_node = nodes.get(tgt)
                if s_node is None or t_node is None:
                    missing = [i for i, x in ((src, s_node), (tgt, t_node)) if x is None]
                    raise NodeNotFoundError(
                        f"edge {rel.value} {src} -> {tgt}: unknown node(s) {', '.join(missing)}; "
                        "upsert the nodes first"
                    )
                if s_node.label is not spec.domain or t_node.label is not spec.range:
                    check_endpoints(rel, s_node.label, t_node.label)
                fid = edge.fact_id
                if fid not in table:  # a fact id fixes the endpoints and type: index it once
                    self._index(fid, src, rel, tgt)
                table[fid] = edge
                n += 1
        finally:  # edges written before an error stay written
            if n:
                self._touch()
        return n

    def _index(self, fact_id: str, source: str, rel: RelationType, target: str) -> None:
        """Add a new fact to the typed adjacency index (both directions) and the counts."""
        for adj, node_id in ((self._out, source), (self._in, target)):
            adj.setdefault(node_id, {}).setdefault(rel, []).append(fact_id)
        self._edge_counts[rel.value] += 1

    def write_graph(
        self, nodes: Iterable[Node], edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[int, int]:
        """Upsert a whole graph (for the embedded store: ``upsert_nodes`` then ``upsert_edges``)."""
        return self.upsert_nodes(nodes, batch_size=batch_size), self.upsert_edges(edges, batch_size=batch_size)

    def clear(self) -> None:
        self._nodes.clear()
        self._edges.clear()
        self._out.clear()
        self._in.clear()
        self._node_counts.clear()
        self._edge_counts.clear()
        self._touch()

    def _touch(self) -> None:
        self._version = None
        self._nx = None
        self._dirty = True

    # -- reads ---------------------------------------------------------------------------
    @property
    def graph(self) -> "nx.MultiDiGraph":
        """The graph as a ``networkx.MultiDiGraph`` (node attribute ``node``, edges keyed by fact id
        with attribute ``edge``), built on first use and kept until the next write. Read-only:
        changing it does not change the store."""
        if self._nx is None:
            import networkx as nx

            g = nx.MultiDiGraph()
            g.add_nodes_from((i, {"node": n}) for i, n in self._nodes.items())
            g.add_edges_from((e.source, e.target, f, {"edge": e}) for f, e in self._edges.items())
            self._nx = g
        return self._nx

    def get_node(self, node_id: str) -> Node:
        node = self._nodes.get(node_id)
        if node is None:
            raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        return node

    def get_nodes(self, node_ids: Iterable[str]) -> dict[str, Node]:
        table = self._nodes
        out: dict[str, Node] = {}
        for node_id in node_ids:
            node = table.get(node_id)
            if node is not None:
                out[node_id] = node
        return out

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def get_edge(self, fact_id: str) -> Edge:
        edge = self._edges.get(fact_id)
        if edge is None:
            raise EdgeNotFoundError(f"no fact with id {fact_id!r} in the graph")
        return edge

    def get_edges(self, fact_ids: Iterable[str]) -> dict[str, Edge]:
        table = self._edges
        out: dict[str, Edge] = {}
        for fid in fact_ids:
            edge = table.get(fid)
            if edge is not None:
                out[fid] = edge
        return out

    def _fids(self, adj: _Adjacency, node_id: str, rel_set: frozenset[RelationType] | None) -> Iterator[str]:
        by_rel = adj.get(node_id)
        if not by_rel:
            return
        if rel_set is None:
            for fids in by_rel.values():
                yield from fids
        else:
            for rel in rel_set:
                fids = by_rel.get(rel)
                if fids:
                    yield from fids

    def _incident(
        self, node_id: str, rel_set: frozenset[RelationType] | None, direction: Direction
    ) -> Iterator[tuple[Edge, str]]:
        table = self._edges
        if direction in (Direction.OUT, Direction.BOTH):
            for fid in self._fids(self._out, node_id, rel_set):
                edge = table[fid]
                yield edge, edge.target
        if direction in (Direction.IN, Direction.BOTH):
            for fid in self._fids(self._in, node_id, rel_set):
                edge = table[fid]
                # a self-loop is already yielded as an out-edge
                if direction is Direction.BOTH and edge.source == node_id:
                    continue
                yield edge, edge.source

    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Sequence[RelationType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 100,
    ) -> list[Neighbour]:
        direction = Direction(direction)
        rel_set = frozenset(check_relation(r) for r in rel_types) if rel_types is not None else None
        if node_id not in self._nodes:
            raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        found = sorted(
            self._incident(node_id, rel_set, direction),
            key=lambda eo: _edge_sort_key(eo[0].type, eo[1], eo[0].fact_id),
        )
        nodes = self._nodes
        return [Neighbour(edge=e, node=nodes[o]) for e, o in found[: max(limit, 0)]]

    def facts(
        self,
        node_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        limit: int | None = None,
    ) -> list[Edge]:
        rel_set = frozenset(check_relation(r) for r in rel_types) if rel_types is not None else None
        seen: dict[str, Edge] = {}
        for node_id in set(node_ids):
            if node_id not in self._nodes:
                continue
            for edge, _ in self._incident(node_id, rel_set, Direction.BOTH):
                seen[edge.fact_id] = edge
        out = [seen[k] for k in sorted(seen)]
        return out if limit is None else out[: max(limit, 0)]

    def expand(self, hops: Sequence[Hop], *, node_properties: Sequence[str] | None = None) -> Expansion:
        keep = frozenset(node_properties) if node_properties is not None else None
        table, nodes = self._edges, self._nodes
        want: dict[str, None] = {}
        answers: list[tuple[Edge, ...]] = []
        for hop in hops:
            rel_set = frozenset(hop.rel_types)
            fids: set[str] = set()
            for node_id in hop.node_ids:
                if node_id not in nodes:
                    continue
                want[node_id] = None
                if hop.direction is not Direction.IN:
                    fids.update(self._fids(self._out, node_id, rel_set))
                if hop.direction is not Direction.OUT:
                    fids.update(self._fids(self._in, node_id, rel_set))
            ordered = sorted(fids)
            if hop.limit is not None:
                ordered = ordered[: hop.limit]
            edges = tuple(table[f] for f in ordered)  # an Edge is also a fine EdgeRef
            if hop.detail:
                for e in edges:
                    want[e.source] = None
                    want[e.target] = None
            answers.append(edges)
        return Expansion(edges=tuple(answers), nodes=_NodeView(want, nodes, keep))

    def get_facts(
        self,
        fact_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        node_properties: Sequence[str] | None = None,
    ) -> Expansion:
        keep = frozenset(node_properties) if node_properties is not None else None
        rels = frozenset(check_relation(r) for r in rel_types) if rel_types is not None else None
        table = self._edges
        found = [table[f] for f in dict.fromkeys(fact_ids) if f in table]
        if rels is not None:
            found = [e for e in found if e.type in rels]
        want = {i: None for e in found for i in (e.source, e.target)}
        return Expansion(edges=(tuple(found),), nodes=_NodeView(want, self._nodes, keep))

    def paths(
        self,
        source_id: str,
        target_id: str,
        *,
        max_hops: int = 3,
        rel_types: Sequence[RelationType] | None = None,
        limit: int = 10,
    ) -> list[list[Edge]]:
        if not 1 <= max_hops <= MAX_PATH_HOPS:
            raise GraphStoreError(f"max_hops must be between 1 and {MAX_PATH_HOPS}, got {max_hops}")
        rel_set = frozenset(check_relation(r) for r in rel_types) if rel_types is not None else None
        for node_id in (source_id, target_id):
            if node_id not in self._nodes:
                raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        found: list[list[Edge]] = []
        explored = 0
        # depth-first over simple paths; edges may be walked in either direction
        stack: list[tuple[str, list[Edge], frozenset[str]]] = [(source_id, [], frozenset({source_id}))]
        while stack:
            node_id, path, visited = stack.pop()
            for edge, other in self._incident(node_id, rel_set, Direction.BOTH):
                explored += 1
                if explored > MAX_PATHS_EXPLORED:
                    raise GraphStoreError(
                        f"path search {source_id} -> {target_id} explored over {MAX_PATHS_EXPLORED} edges; "
                        "lower max_hops or restrict rel_types"
                    )
                if other == target_id:
                    found.append(path + [edge])
                elif other not in visited and len(path) + 1 < max_hops:
                    stack.append((other, path + [edge], visited | {other}))
        found.sort(key=lambda p: (len(p), [e.fact_id for e in p]))
        return found[: max(limit, 0)]

    def iter_nodes(self, label: NodeLabel | None = None) -> Iterator[Node]:
        want = check_label(label) if label is not None else None
        table = self._nodes
        for node_id in sorted(table):
            node = table[node_id]
            if want is None or node.label is want:
                yield node

    def iter_edges(self, rel_type: RelationType | None = None) -> Iterator[Edge]:
        want = check_relation(rel_type) if rel_type is not None else None
        table = self._edges
        for fid in sorted(table):
            edge = table[fid]
            if want is None or edge.type is want:
                yield edge

    def stats(self) -> GraphStats:
        nodes = {k: v for k, v in sorted(self._node_counts.items()) if v}
        edges = {k: v for k, v in sorted(self._edge_counts.items()) if v}
        return GraphStats(nodes_by_label=nodes, edges_by_type=edges)

    def graph_version(self) -> str:
        if self._version is None:
            h = ContentHash()
            for node in self._nodes.values():
                h.add_node(node)
            for edge in self._edges.values():
                h.add_edge(edge)
            self._version = h.hexdigest()
        return self._version

    def close(self) -> None:
        if self._dirty and self._path is not None:
            self.save()

    def __enter__(self) -> "NetworkXGraphStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
