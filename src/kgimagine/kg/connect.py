"""Open a graph store from a target string: a directory (embedded) or a Neo4j URI."""

from __future__ import annotations

from pathlib import Path

from kgimagine.kg.store import GraphStore

NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def is_neo4j_uri(target: str) -> bool:
    return str(target).startswith(NEO4J_SCHEMES)


def open_store(
    target: str | Path,
    *,
    user: str = "neo4j",
    password: str | None = None,
    database: str | None = None,
) -> GraphStore:
    """``/path/to/dir`` → ``NetworkXGraphStore``; ``bolt://``/``neo4j://``/``neo4j+s://`` → ``Neo4jGraphStore``."""
    if is_neo4j_uri(str(target)):
        from kgimagine.kg.neo4j_store import Neo4jGraphStore  # lazy: the driver is an extra

        return Neo4jGraphStore(str(target), user=user, password=password or "", database=database)
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    return NetworkXGraphStore(Path(target))
