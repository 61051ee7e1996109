"""The ``GraphStore`` protocol: one API for the embedded store and Neo4j.

Result ordering is part of the contract, so that limits cut the same results in every store:
neighbours sort by (relation type, neighbour id, fact id); facts by fact id; paths by
(length, fact ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

from kgimagine.errors import GraphStoreError
from kgimagine.kg.model import Edge, GraphStats, Neighbour, Node, trusted_node
from kgimagine.kg.schema import check_relation
from kgimagine.types import Direction, NodeLabel, RelationType

DEFAULT_BATCH_SIZE = 5_000
MAX_PATH_HOPS = 4
MAX_PATHS_EXPLORED = 50_000


@dataclass(frozen=True, slots=True)
class Hop:
    """One typed one-hop read of :meth:`GraphStore.expand`.

    The edges of ``rel_types`` at any of ``node_ids`` in ``direction`` (``OUT``: edges leaving
    them, ``IN``: edges entering them, ``BOTH``: either), each edge once, sorted by fact id, at
    most ``limit`` (``None``: all). Ids that are not in the graph are ignored.

    ``detail=False`` asks only for what identifies each edge: a store may answer with
    :class:`EdgeRef` (fact id, source, type, target; no provenance or properties) and does not add
    the far ends to ``Expansion.nodes``. For selecting among many edges before fetching the chosen
    few with :meth:`GraphStore.get_facts` (on Neo4j most of a large read's time is its payload).
    """

    node_ids: tuple[str, ...]
    rel_types: tuple[RelationType, ...]
    direction: Direction = Direction.OUT
    limit: int | None = None
    detail: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.node_ids, str):
            raise GraphStoreError(f"Hop.node_ids must be a sequence of ids, got the string {self.node_ids!r}")
        object.__setattr__(self, "node_ids", tuple(dict.fromkeys(self.node_ids)))
        rels = tuple(sorted({check_relation(r) for r in self.rel_types}, key=lambda r: r.value))
        if not rels:
            raise GraphStoreError("a Hop needs at least one relation type")
        object.__setattr__(self, "rel_types", rels)
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.limit is not None and self.limit < 0:
            raise GraphStoreError(f"Hop.limit must be 0 or more, got {self.limit}")


class EdgeRef(NamedTuple):
    """An edge's identity without its provenance and properties (see ``Hop.detail``)."""

    fact_id: str
    source: str
    type: RelationType
    target: str


@dataclass(frozen=True, slots=True)
class Expansion:
    """What :meth:`GraphStore.expand` read: ``edges[i]`` answers ``hops[i]``; ``nodes`` holds every
    requested id that exists and both ends of every edge of a ``detail`` hop."""

    edges: tuple[tuple[Edge | EdgeRef, ...], ...]
    nodes: Mapping[str, Node] = field(default_factory=dict)


def project_node(node: Node, keep: frozenset[str] | None) -> Node:
    """``node`` with only the user properties in ``keep`` (all when ``keep`` is None)."""
    if keep is None:
        return node
    props = {k: v for k, v in node.properties.items() if k in keep}
    return trusted_node(node.id, node.label.value, node.name, props)


@runtime_checkable
class GraphStore(Protocol):
    """What every graph backend provides. Writes are idempotent upserts."""

    # -- writes --------------------------------------------------------------------------
    def upsert_nodes(self, nodes: Iterable[Node], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Create or update nodes (properties merge, later values win). Returns nodes processed.

        A node id already present under another label raises ``SchemaError``.
        """

    def upsert_edges(self, edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
        """Create or update edges keyed by fact id. Endpoints must exist with the labels the
        relation's domain/range require (``NodeNotFoundError`` / ``SchemaError`` otherwise)."""

    def write_graph(
        self, nodes: Iterable[Node], edges: Iterable[Edge], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[int, int]:
        """Upsert a whole graph: same result as upsert_nodes then upsert_edges; stores may take a
        faster path for ids that are absent. Returns (nodes, edges) processed."""

    def clear(self) -> None:
        """Remove every node and edge."""

    # -- reads ---------------------------------------------------------------------------
    def get_node(self, node_id: str) -> Node:
        """The node, or ``NodeNotFoundError``."""

    def get_nodes(self, node_ids: Iterable[str]) -> dict[str, Node]:
        """The nodes that exist among ``node_ids`` (missing ids are absent from the result)."""

    def has_node(self, node_id: str) -> bool: ...

    def get_edges(self, fact_ids: Iterable[str]) -> dict[str, Edge]:
        """The edges that exist among ``fact_ids``."""

    def neighbours(
        self,
        node_id: str,
        *,
        rel_types: Sequence[RelationType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 100,
    ) -> list[Neighbour]:
        """Edges at ``node_id`` with the node at their other end, sorted, at most ``limit``."""

    def facts(
        self,
        node_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        limit: int | None = None,
    ) -> list[Edge]:
        """Edges touching any of ``node_ids`` (either end), sorted by fact id."""

    def paths(
        self,
        source_id: str,
        target_id: str,
        *,
        max_hops: int = 3,
        rel_types: Sequence[RelationType] | None = None,
        limit: int = 10,
    ) -> list[list[Edge]]:
        """Simple paths (edges taken in either direction) of 1..max_hops edges, sorted."""

    def expand(self, hops: Sequence[Hop], *, node_properties: Sequence[str] | None = None) -> Expansion:
        """Several typed one-hop reads at once (one round trip on Neo4j).

        With ``node_properties`` the returned nodes carry only those user properties (id, label
        and name always), which keeps large texts such as eligibility criteria off the wire.
        """

    def get_facts(
        self,
        fact_ids: Iterable[str],
        *,
        rel_types: Sequence[RelationType] | None = None,
        node_properties: Sequence[str] | None = None,
    ) -> Expansion:
        """The edges among ``fact_ids`` that exist (``edges[0]``, in the order given) and both ends
        of each (``nodes``, projected as in :meth:`expand`), in one read. ``rel_types``, when the
        caller knows them, narrows the lookup."""

    def iter_nodes(self, label: NodeLabel | None = None) -> Iterator[Node]: ...

    def iter_edges(self, rel_type: RelationType | None = None) -> Iterator[Edge]: ...

    def stats(self) -> GraphStats: ...

    def graph_version(self) -> str:
        """Content hash of the graph; equal content gives an equal version in every store."""

    def close(self) -> None: ...
