"""Graph records: nodes, edges with required provenance, stable fact ids.

Records are frozen. Property values are JSON scalars or lists of scalars, so that the
embedded store, Neo4j and RDF all hold them identically.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import orjson

from kgimagine.errors import ProvenanceError, SchemaError
from kgimagine.kg.schema import (
    RESERVED_EDGE_PROPERTIES,
    RESERVED_NODE_PROPERTIES,
    check_label,
    check_relation,
)
from kgimagine.types import NodeLabel, RelationType, parse_curie

Scalar = str | int | float | bool
PropertyValue = Scalar | list[Scalar] | None


def _check_storable(value: Any, key: str, where: str) -> None:
    """Integers must fit in 64 bits and floats be finite: JSON (persistence, content hash, RDF)
    and Neo4j hold nothing else identically."""
    if type(value) is int and not -(2**63) <= value < 2**63:
        raise SchemaError(f"{where}: property {key!r} value {value} does not fit in 64 bits; store it as a string")
    if type(value) is float and not math.isfinite(value):
        raise SchemaError(f"{where}: property {key!r} value {value} is not a finite number; leave it out or use a string")


def _check_properties(props: Mapping[str, Any], reserved: frozenset[str], where: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in props.items():
        if not isinstance(key, str) or not key or key in reserved:
            raise SchemaError(f"{where}: property name {key!r} is empty or reserved")
        if value is None:
            continue  # absent and None are the same thing in every store
        if isinstance(value, (str, bool, int, float)):
            _check_storable(value, key, where)
            clean[key] = value
        elif isinstance(value, (list, tuple)):
            if not all(isinstance(v, (str, bool, int, float)) for v in value):
                raise SchemaError(f"{where}: property {key!r} must be a list of scalars")
            for v in value:
                _check_storable(v, key, where)
            clean[key] = list(value)
        else:
            raise SchemaError(
                f"{where}: property {key!r} has type {type(value).__name__}; use str/int/float/bool or a list of them"
            )
    return clean


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact comes from. Every field is required and non-empty."""

    source: str  # e.g. "drugbank"
    source_version: str  # e.g. "4.2 (dhimmel/drugbank 6b9ae38)"
    licence: str  # e.g. "CC BY-NC 4.0"
    record_id: str  # original record, e.g. "drugbank.tsv:line 12" or the source's row id

    def __post_init__(self) -> None:
        for name in ("source", "source_version", "licence", "record_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ProvenanceError(
                    f"provenance field {name!r} is required and must be a non-empty string (got {value!r})"
                )


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: NodeLabel
    name: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            parse_curie(self.id)
        except ValueError as exc:
            raise SchemaError(f"node id: {exc}") from None
        object.__setattr__(self, "label", check_label(self.label))
        object.__setattr__(self, "name", self.name or "")
        object.__setattr__(
            self, "properties", _check_properties(self.properties, RESERVED_NODE_PROPERTIES, f"node {self.id}")
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label.value, "name": self.name, "properties": dict(self.properties)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Node":
        return cls(id=d["id"], label=NodeLabel(d["label"]), name=d.get("name", ""), properties=d.get("properties", {}))


def compute_fact_id(source: str, rel: RelationType | str, target: str, prov_source: str, key: str = "") -> str:
    """Stable id of a fact: same endpoints, type, source and key => same id, in every store and run."""
    raw = "\x1f".join((source, str(rel), target, prov_source, key)).encode("utf-8")
    return "fact:" + hashlib.blake2b(raw, digest_size=10).hexdigest()


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed, typed fact. ``key`` separates several records of one source on the same pair."""

    source: str
    type: RelationType
    target: str
    provenance: Provenance
    properties: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""
    fact_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", check_relation(self.type))
        if not isinstance(self.provenance, Provenance):
            raise ProvenanceError(
                f"edge {self.source} -{self.type}-> {self.target}: provenance is required "
                "(source, source_version, licence, record_id)"
            )
        for end in (self.source, self.target):
            try:
                parse_curie(end)
            except ValueError as exc:
                raise SchemaError(f"edge endpoint: {exc}") from None
        object.__setattr__(
            self,
            "properties",
            _check_properties(self.properties, RESERVED_EDGE_PROPERTIES, f"edge {self.source}->{self.target}"),
        )
        object.__setattr__(
            self, "fact_id", compute_fact_id(self.source, self.type, self.target, self.provenance.source, self.key)
        )

    def to_dict(self) -> dict[str, Any]:
        p = self.provenance
        return {
            "fact_id": self.fact_id,
            "source": self.source,
            "type": self.type.value,
            "target": self.target,
            "key": self.key,
            "provenance": {
                "source": p.source,
                "source_version": p.source_version,
                "licence": p.licence,
                "record_id": p.record_id,
            },
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Edge":
        return cls(
            source=d["source"],
            type=RelationType(d["type"]),
            target=d["target"],
            provenance=Provenance(**d["provenance"]),
            properties=d.get("properties", {}),
            key=d.get("key", ""),
        )


@dataclass(frozen=True, slots=True)
class Neighbour:
    edge: Edge
    node: Node


@dataclass(frozen=True, slots=True)
class GraphStats:
    nodes_by_label: Mapping[str, int]
    edges_by_type: Mapping[str, int]

    @property
    def node_count(self) -> int:
        return sum(self.nodes_by_label.values())

    @property
    def edge_count(self) -> int:
        return sum(self.edges_by_type.values())


def canonical_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def node_record_bytes(node: Node) -> bytes:
    """The canonical one-line encoding of a node: ``[id, label, name, properties]``.

    It is both the embedded store's file line and the input of the content hash."""
    return orjson.dumps([node.id, node.label.value, node.name, node.properties], option=orjson.OPT_SORT_KEYS)


def edge_record_bytes(edge: Edge) -> bytes:
    """``[fact_id, source, type, target, key, [prov source, version, licence, record], properties]``."""
    p = edge.provenance
    return orjson.dumps(
        [edge.fact_id, edge.source, edge.type.value, edge.target, edge.key,
         [p.source, p.source_version, p.licence, p.record_id], edge.properties],
        option=orjson.OPT_SORT_KEYS,
    )


def _hash_int(raw: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(raw, digest_size=16).digest(), "big")


class ContentHash:
    """Order-independent hash of a graph's content (sum of item hashes mod 2**128).

    Items are hashed from their canonical record bytes, so any store that holds the same nodes
    and edges gets the same version, whatever the insertion order."""

    __slots__ = ("_acc", "_n")
    MOD = 1 << 128

    def __init__(self) -> None:
        self._acc = 0
        self._n = 0

    def add_bytes(self, kind: bytes, raw: bytes) -> None:
        self._acc = (self._acc + _hash_int(kind + raw)) % self.MOD
        self._n += 1

    def add_node(self, node: Node) -> None:
        self.add_bytes(b"n", node_record_bytes(node))

    def add_edge(self, edge: Edge) -> None:
        self.add_bytes(b"e", edge_record_bytes(edge))

    def hexdigest(self) -> str:
        digest = hashlib.blake2b(f"{self._n}:{self._acc}".encode(), digest_size=8).hexdigest()
        return f"kg-{digest}"


_LABEL_BY_VALUE: dict[str, NodeLabel] = {m.value: m for m in NodeLabel}
_REL_BY_VALUE: dict[str, RelationType] = {m.value: m for m in RelationType}


def trusted_node(node_id: str, label: str, name: str, properties: dict[str, Any]) -> Node:
    """Rebuild a node that a store already validated (skips checks; used on reload)."""
    node = object.__new__(Node)
    object.__setattr__(node, "id", node_id)
    object.__setattr__(node, "label", _LABEL_BY_VALUE[label] if label in _LABEL_BY_VALUE else NodeLabel(label))
    object.__setattr__(node, "name", name)
    object.__setattr__(node, "properties", properties)
    return node


def trusted_edge(
    fact_id: str, source: str, rel: str, target: str, key: str, prov: Sequence[str], properties: dict[str, Any]
) -> Edge:
    """Rebuild an edge that a store already validated (skips checks and hashing; used on reload)."""
    p = object.__new__(Provenance)
    object.__setattr__(p, "source", prov[0])
    object.__setattr__(p, "source_version", prov[1])
    object.__setattr__(p, "licence", prov[2])
    object.__setattr__(p, "record_id", prov[3])
    edge = object.__new__(Edge)
    object.__setattr__(edge, "source", source)
    object.__setattr__(edge, "type", _REL_BY_VALUE[rel] if rel in _REL_BY_VALUE else RelationType(rel))
    object.__setattr__(edge, "target", target)
    object.__setattr__(edge, "provenance", p)
    object.__setattr__(edge, "properties", properties)
    object.__setattr__(edge, "key", key)
    object.__setattr__(edge, "fact_id", fact_id)
    return edge
