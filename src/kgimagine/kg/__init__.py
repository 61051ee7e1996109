"""Knowledge-graph layer: records, schema, the ``GraphStore`` protocol and its backends.

Importing this package loads neither torch nor langgraph nor the Neo4j driver.
"""

from kgimagine.kg.connect import open_store
from kgimagine.kg.model import Edge, GraphStats, Neighbour, Node, Provenance, compute_fact_id
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.kg.store import GraphStore

__all__ = [
    "Edge",
    "GraphStats",
    "GraphStore",
    "Neighbour",
    "NetworkXGraphStore",
    "Node",
    "Provenance",
    "compute_fact_id",
    "open_store",
]
