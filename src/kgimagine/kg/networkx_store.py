"""``NetworkXGraphStore``: the embedded default store.

In memory (a ``networkx.MultiDiGraph`` keyed by fact id), persisted to a directory as
JSON Lines (no pickle)::

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
from typing import Iterable, Iterator, Sequence

import networkx as nx
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
from kgimagine.kg.store import DEFAULT_BATCH_SIZE, MAX_PATH_HOPS, MAX_PATHS_EXPLORED
from kgimagine.types import Direction, NodeLabel, RelationType

FORMAT = "kgimagine-embedded-jsonl"
FORMAT_VERSION = 2


def _edge_sort_key(rel: RelationType, other_id: str, fact_id: str) -> tuple[str, str, str]:
    return (rel.value, other_id, fact_id)


class NetworkXGraphStore:
    """Embedded graph store. ``path`` (optional) is the directory it loads from and saves to."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else None
        self._g = nx.MultiDiGraph()
        self._facts: dict[str, tuple[str, str]] = {}
        self._node_counts: Counter[str] = Counter()
        self._edge_counts: Counter[str] = Counter()
        self._version: str | None = None
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
        g = self._g
        node_counts = self._node_counts
        try:
            with open(path / manifest["nodes_file"], "rb") as fh:
                for line in fh:
                    i, label, name, props = orjson.loads(line)
                    g.add_node(i, node=trusted_node(i, label, name, props))
                    node_counts[label] += 1
            facts = self._facts
            edge_counts = self._edge_counts
            with open(path / manifest["edges_file"], "rb") as fh:
                for line in fh:
                    f, src, rel, tgt, key, prov, props = orjson.loads(line)
                    g.add_edge(src, tgt, key=f, edge=trusted_edge(f, src, rel, tgt, key, prov, props))
                    facts[f] = (src, tgt)
                    edge_counts[rel] += 1
        except (OSError, ValueError, KeyError) as exc:
            raise GraphStoreError(f"embedded graph in {path} is unreadable ({exc}); rebuild it") from exc
        if g.number_of_nodes() != manifest["nodes"] or len(self._facts) != manifest["edges"]:
            raise GraphStoreError(
                f"embedded graph in {path} is incomplete: manifest says {manifest['nodes']} nodes/"
                f"{manifest['edges']} edges, files hold {g.number_of_nodes()}/{len(self._facts)}; rebuild it"
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
        nl = b"\n"
        with open(target / nodes_file, "wb") as fh:
            for _, node in self._g.nodes(data="node"):
                raw = node_record_bytes(node)
                h.add_bytes(b"n", raw)
                fh.write(raw + nl)
            fh.flush()
            os.fsync(fh.fileno())
        with open(target / edges_file, "wb") as fh:
            for _, _, edge in self._g.edges(data="edge"):
                raw = edge_record_bytes(edge)
                h.add_bytes(b"e", raw)
                fh.write(raw + nl)
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
        g = self._g
        n = 0
        for node in nodes:
            check_label(node.label)
            attrs = g.nodes.get(node.id)
            if attrs is None:
                g.add_node(node.id, node=node)
                self._node_counts[node.label.value] += 1
            else:
                old: Node = attrs["node"]
                if old.label != node.label:
                    raise SchemaError(
                        f"node {node.id} exists as {old.label.value}; cannot upsert it as {node.label.value}"
                    )
                if node.properties or (node.name and node.name != old.name):
                    merged = {**old.properties, **node.properties}
                    attrs["node"] = trusted_node(node.id, node.label.value, node.name or old.name, merged)
            n += 1
        if n:
            self._touch()
        return n

    def upsert_edges(self, edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        g = self._g
        facts = self._facts
        nodes = g.nodes
        n = 0
        for edge in edges:
            spec = RELATIONS[check_relation(edge.type)]
            s_attrs = nodes.get(edge.source)
            t_attrs = nodes.get(edge.target)
            if s_attrs is None or t_attrs is None:
                missing = [i for i, a in ((edge.source, s_attrs), (edge.target, t_attrs)) if a is None]
                raise NodeNotFoundError(
                    f"edge {edge.type.value} {edge.source} -> {edge.target}: unknown node(s) {', '.join(missing)}; "
                    "upsert the nodes first"
                )
            s_label = s_attrs["node"].label
            t_label = t_attrs["node"].label
            if s_label is not spec.domain or t_label is not spec.range:
                check_endpoints(edge.type, s_label, t_label)
            if edge.fact_id in facts:
                g.edges[edge.source, edge.target, edge.fact_id]["edge"] = edge
            else:
                g.add_edge(edge.source, edge.target, key=edge.fact_id, edge=edge)
                facts[edge.fact_id] = (edge.source, edge.target)
                self._edge_counts[edge.type.value] += 1
            n += 1
        if n:
            self._touch()
        return n

    def clear(self) -> None:
        self._g.clear()
        self._facts.clear()
        self._node_counts.clear()
        self._edge_counts.clear()
        self._touch()

    def _touch(self) -> None:
        self._version = None
        self._dirty = True

    # -- reads ---------------------------------------------------------------------------
    def get_node(self, node_id: str) -> Node:
        attrs = self._g.nodes.get(node_id)
        if attrs is None:
            raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        return attrs["node"]

    def get_nodes(self, node_ids: Iterable[str]) -> dict[str, Node]:
        nodes = self._g.nodes
        out: dict[str, Node] = {}
        for node_id in node_ids:
            attrs = nodes.get(node_id)
            if attrs is not None:
                out[node_id] = attrs["node"]
        return out

    def has_node(self, node_id: str) -> bool:
        return node_id in self._g

    def get_edge(self, fact_id: str) -> Edge:
        ends = self._facts.get(fact_id)
        if ends is None:
            raise EdgeNotFoundError(f"no fact with id {fact_id!r} in the graph")
        return self._g.edges[ends[0], ends[1], fact_id]["edge"]

    def get_edges(self, fact_ids: Iterable[str]) -> dict[str, Edge]:
        out: dict[str, Edge] = {}
        for fid in fact_ids:
            ends = self._facts.get(fid)
            if ends is not None:
                out[fid] = self._g.edges[ends[0], ends[1], fid]["edge"]
        return out

    def _incident(
        self, node_id: str, rel_set: frozenset[RelationType] | None, direction: Direction
    ) -> Iterator[tuple[Edge, str]]:
        g = self._g
        if direction in (Direction.OUT, Direction.BOTH):
            for _, other, data in g.out_edges(node_id, data="edge"):
                if rel_set is None or data.type in rel_set:
                    yield data, other
        if direction in (Direction.IN, Direction.BOTH):
            for other, _, data in g.in_edges(node_id, data="edge"):
                if rel_set is None or data.type in rel_set:
                    # a self-loop is already yielded as an out-edge
                    if direction is Direction.BOTH and other == node_id:
                        continue
                    yield data, other

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
        if node_id not in self._g:
            raise NodeNotFoundError(f"no node with id {node_id!r} in the graph")
        found = sorted(
            self._incident(node_id, rel_set, direction),
            key=lambda eo: _edge_sort_key(eo[0].type, eo[1], eo[0].fact_id),
        )
        nodes = self._g.nodes
        return [Neighbour(edge=e, node=nodes[o]["node"]) for e, o in found[: max(limit, 0)]]

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
            if node_id not in self._g:
                continue
            for edge, _ in self._incident(node_id, rel_set, Direction.BOTH):
                seen[edge.fact_id] = edge
        out = [seen[k] for k in sorted(seen)]
        return out if limit is None else out[: max(limit, 0)]

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
            if node_id not in self._g:
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
        for node_id in sorted(self._g.nodes):
            node: Node = self._g.nodes[node_id]["node"]
            if want is None or node.label is want:
                yield node

    def iter_edges(self, rel_type: RelationType | None = None) -> Iterator[Edge]:
        want = check_relation(rel_type) if rel_type is not None else None
        g = self._g
        for fid in sorted(self._facts):
            s, t = self._facts[fid]
            edge: Edge = g.edges[s, t, fid]["edge"]
            if want is None or edge.type is want:
                yield edge

    def stats(self) -> GraphStats:
        nodes = {k: v for k, v in sorted(self._node_counts.items()) if v}
        edges = {k: v for k, v in sorted(self._edge_counts.items()) if v}
        return GraphStats(nodes_by_label=nodes, edges_by_type=edges)

    def graph_version(self) -> str:
        if self._version is None:
            h = ContentHash()
            for _, node in self._g.nodes(data="node"):
                h.add_node(node)
            for _, _, edge in self._g.edges(data="edge"):
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
