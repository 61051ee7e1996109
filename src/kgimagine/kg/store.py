"""The ``GraphStore`` protocol: one API for the embedded store and Neo4j.

Result ordering is part of the contract, so that limits cut the same results in every store:
neighbours sort by (relation type, neighbour id, fact id); facts by fact id; paths by
(length, fact ids).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol, Sequence, runtime_checkable

from kgimagine.kg.model import Edge, GraphStats, Neighbour, Node
from kgimagine.types import Direction, NodeLabel, RelationType

DEFAULT_BATCH_SIZE = 5_000
MAX_PATH_HOPS = 4
MAX_PATHS_EXPLORED = 50_000


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

    def iter_nodes(self, label: NodeLabel | None = None) -> Iterator[Node]: ...

    def iter_edges(self, rel_type: RelationType | None = None) -> Iterator[Edge]: ...

    def stats(self) -> GraphStats: ...

    def graph_version(self) -> str:
        """Content hash of the graph; equal content gives an equal version in every store."""

    def close(self) -> None: ...
