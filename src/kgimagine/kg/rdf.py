"""RDF export of a graph store, and import of OWL disease ontologies as records.

Export (``export_graph``) writes Turtle or N-Triples by streaming, one node or edge at a time,
so a graph of any size is written in constant memory (no rdflib ``Graph`` is built). The shape:

* a node is ``<iri>`` (from its CURIE via ``curie_to_iri``) with ``rdf:type`` its Biolink class
  and our label class (``kgi:Drug`` …), ``rdfs:label`` its name, ``kgi:id`` its CURIE and one
  ``kgi:<property>`` literal per property value (a list gives one triple per element);
* an edge is a direct triple ``<s> kgi:TARGETS <o>`` *and* a fact resource
  ``<https://w3id.org/kgimagine/fact/<hash>>`` typed ``kgi:Fact`` and ``rdf:Statement`` with
  ``rdf:subject``/``rdf:predicate``/``rdf:object`` (standard reification, no RDF-star),
  ``kgi:factId``, ``kgi:source``, ``kgi:sourceVersion``, ``kgi:licence``, ``kgi:record``,
  ``kgi:key`` and the edge properties;
* a header maps each ``kgi:`` relation to its Biolink predicate (``rdfs:subPropertyOf``) and each
  ``kgi:`` label class to its Biolink class (``rdfs:subClassOf``).

``kgi:`` is ``https://w3id.org/kgimagine/vocab/``; Biolink is ``https://w3id.org/biolink/vocab/``.

Import (``import_ontology``) parses an OWL file (RDF/XML or Turtle) with rdflib and yields
``Disease`` nodes for its ``DOID_*`` classes (name, ``icd10``/``umls``/``mesh`` from
``oboInOwl:hasDbXref``, ``aliases`` from exact synonyms) and ``SUBCLASS_OF`` edges for named
``rdfs:subClassOf`` parents, with provenance naming the file.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Literal

from kgimagine.errors import GraphStoreError, LoaderError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.schema import BIOLINK_CLASS, RELATIONS
from kgimagine.kg.store import GraphStore
from kgimagine.types import NodeLabel, RelationType, curie_to_iri

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OWL = "http://www.w3.org/2002/07/owl#"
BIOLINK = "https://w3id.org/biolink/vocab/"
KGI = "https://w3id.org/kgimagine/vocab/"
FACT_BASE = "https://w3id.org/kgimagine/fact/"
OBO = "http://purl.obolibrary.org/obo/"
OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"

PREFIXES = {"rdf": RDF, "rdfs": RDFS, "xsd": XSD, "owl": OWL, "biolink": BIOLINK, "kgi": KGI}

RdfFormat = Literal["ttl", "nt"]
Term = tuple[str, Any]  # ("iri", iri) or ("lit", scalar value)

_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_LOCAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ECHAR = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_LIT_UNSAFE = re.compile(r'[\\"\x00-\x1f\x7f]')


# --- term serialisation ------------------------------------------------------------------
def _escape_iri(iri: str) -> str:
    return _IRI_UNSAFE.sub(lambda m: "%{:02X}".format(ord(m.group(0))), iri)


def _escape_literal(text: str) -> str:
    return _LIT_UNSAFE.sub(lambda m: _ECHAR.get(m.group(0)) or "\\u{:04X}".format(ord(m.group(0))), text)


def literal(value: str | int | float | bool) -> str:
    """The N-Triples/Turtle form of a scalar: plain string, or typed xsd:boolean/integer/double."""
    if isinstance(value, bool):
        return f'"{"true" if value else "false"}"^^<{XSD}boolean>'
    if isinstance(value, int):
        return f'"{value}"^^<{XSD}integer>'
    if isinstance(value, float):
        if math.isnan(value):
            text = "NaN"
        elif math.isinf(value):
            text = "INF" if value > 0 else "-INF"
        else:
            text = repr(value)
        return f'"{text}"^^<{XSD}double>'
    return f'"{_escape_literal(str(value))}"'


def node_iri(node_id: str) -> str:
    return _escape_iri(curie_to_iri(node_id))


def fact_iri(fact_id: str) -> str:
    return FACT_BASE + _escape_iri(fact_id.removeprefix("fact:"))


def vocab_iri(name: str) -> str:
    return KGI + _escape_iri(name)


def biolink_iri(curie: str) -> str:
    return BIOLINK + curie.removeprefix("biolink:")


# --- triples -----------------------------------------------------------------------------
def _iri(value: str) -> Term:
    return ("iri", value)


def _lit(value: str | int | float | bool) -> Term:
    return ("lit", value)


def _property_terms(props: Any) -> Iterator[tuple[str, Term]]:
    for key in sorted(props):
        value = props[key]
        values = value if isinstance(value, list) else [value]
        p = vocab_iri(key)
        # equal values give equal triples: keep one (a list may repeat a value)
        for v in {literal(v): v for v in values if v is not None}.values():
            yield p, ("lit", v)


def header_triples() -> Iterator[tuple[str, str, Term]]:
    """Vocabulary: our label classes and relations, mapped to Biolink."""
    for label in NodeLabel:
        cls = vocab_iri(label.value)
        yield cls, RDF + "type", _iri(OWL + "Class")
        yield cls, RDFS + "subClassOf", _iri(biolink_iri(BIOLINK_CLASS[label]))
        yield cls, RDFS + "label", _lit(label.value)
    for rel, spec in RELATIONS.items():
        prop = vocab_iri(rel.value)
        yield prop, RDF + "type", _iri(OWL + "ObjectProperty")
        yield prop, RDFS + "subPropertyOf", _iri(biolink_iri(spec.biolink_predicate))
        yield prop, RDFS + "label", _lit(rel.value)
        yield prop, RDFS + "comment", _lit(spec.description)
        yield prop, RDFS + "domain", _iri(vocab_iri(spec.domain.value))
        yield prop, RDFS + "range", _iri(vocab_iri(spec.range.value))
    fact = vocab_iri("Fact")
    yield fact, RDF + "type", _iri(OWL + "Class")
    yield fact, RDFS + "subClassOf", _iri(RDF + "Statement")
    yield fact, RDFS + "label", _lit("a graph fact with its provenance")


def node_triples(node: Node) -> Iterator[tuple[str, str, Term]]:
    s = node_iri(node.id)
    yield s, RDF + "type", _iri(biolink_iri(BIOLINK_CLASS[node.label]))
    yield s, RDF + "type", _iri(vocab_iri(node.label.value))
    yield s, vocab_iri("id"), _lit(node.id)
    if node.name:
        yield s, RDFS + "label", _lit(node.name)
    for p, o in _property_terms(node.properties):
        yield s, p, o


def edge_triples(edge: Edge, *, direct: bool = True) -> Iterator[tuple[str, str, Term]]:
    """The fact resource of ``edge`` and, when ``direct``, the triple ``<s> kgi:REL <o>``."""
    s, o, p = node_iri(edge.source), node_iri(edge.target), vocab_iri(edge.type.value)
    if direct:
        yield s, p, _iri(o)
    f = fact_iri(edge.fact_id)
    prov = edge.provenance
    yield f, RDF + "type", _iri(vocab_iri("Fact"))
    yield f, RDF + "type", _iri(RDF + "Statement")
    yield f, RDF + "subject", _iri(s)
    yield f, RDF + "predicate", _iri(p)
    yield f, RDF + "object", _iri(o)
    yield f, vocab_iri("factId"), _lit(edge.fact_id)
    yield f, vocab_iri("source"), _lit(prov.source)
    yield f, vocab_iri("sourceVersion"), _lit(prov.source_version)
    yield f, vocab_iri("licence"), _lit(prov.licence)
    yield f, vocab_iri("record"), _lit(prov.record_id)
    if edge.key:
        yield f, vocab_iri("key"), _lit(edge.key)
    for p2, o2 in _property_terms(edge.properties):
        yield f, p2, o2


def iter_triples(nodes: Iterable[Node], edges: Iterable[Edge]) -> Iterator[tuple[str, str, Term]]:
    """Every triple of the export once: header, then nodes, then edges. Several facts on one
    (source, type, target) share one direct triple; only a 12-byte digest per direct triple is
    remembered, so memory stays small for graphs of millions of edges."""
    import hashlib

    yield from header_triples()
    for node in nodes:
        yield from node_triples(node)
    seen: set[bytes] = set()
    for edge in edges:
        digest = hashlib.blake2b(
            f"{edge.source}\x1f{edge.type.value}\x1f{edge.target}".encode(), digest_size=12
        ).digest()
        direct = digest not in seen
        seen.add(digest)
        yield from edge_triples(edge, direct=direct)


# --- writers -----------------------------------------------------------------------------
def _nt_term(term: Term) -> str:
    return f"<{term[1]}>" if term[0] == "iri" else literal(term[1])


@lru_cache(maxsize=4096)
def _ttl_name(iri: str) -> str:
    for prefix, base in PREFIXES.items():
        if iri.startswith(base) and _LOCAL_NAME.match(iri[len(base):]):
            return f"{prefix}:{iri[len(base):]}"
    return f"<{iri}>"


def _ttl_term(term: Term) -> str:
    return _ttl_name(term[1]) if term[0] == "iri" else literal(term[1])


def write_ntriples(triples: Iterable[tuple[str, str, Term]], out: IO[str]) -> int:
    n = 0
    for s, p, o in triples:
        out.write(f"<{s}> <{p}> {_nt_term(o)} .\n")
        n += 1
    return n


def write_turtle(triples: Iterable[tuple[str, str, Term]], out: IO[str]) -> int:
    """Turtle with prefixes, grouping consecutive triples of one subject (and predicate)."""
    for prefix, base in PREFIXES.items():
        out.write(f"@prefix {prefix}: <{base}> .\n")
    n = 0
    subject: str | None = None
    predicate: str | None = None
    for s, p, o in triples:
        obj = _ttl_term(o)
        pred = "a" if p == RDF + "type" else _ttl_name(p)
        if s != subject:
            if subject is not None:
                out.write(" .\n")
            out.write(f"\n{_ttl_name(s)} {pred} {obj}")
            subject, predicate = s, p
        elif p == predicate:
            out.write(f", {obj}")
        else:
            out.write(f" ;\n    {pred} {obj}")
            predicate = p
        n += 1
    if subject is not None:
        out.write(" .\n")
    return n


def export_graph(store: GraphStore, path: str | Path, format: RdfFormat = "ttl") -> int:
    """Write every node and edge of ``store`` to ``path`` as Turtle (``ttl``) or N-Triples
    (``nt``); returns the number of triples written. Streams: memory does not grow with the graph."""
    if format not in ("ttl", "nt"):
        raise GraphStoreError(f"unknown RDF format {format!r}; use 'ttl' (Turtle) or 'nt' (N-Triples)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    writer = write_turtle if format == "ttl" else write_ntriples
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            n = writer(iter_triples(store.iter_nodes(), store.iter_edges()), out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return n


# --- import ------------------------------------------------------------------------------
#: hasDbXref prefix -> node property (the contract with entity resolution).
XREF_PROPERTIES = {
    "ICD10CM": "icd10",
    "ICD10": "icd10",
    "ICD10WHO": "icd10",
    "UMLS_CUI": "umls",
    "UMLS": "umls",
    "MESH": "mesh",
    "MSH": "mesh",
}
_DOID_IRI = re.compile(r"^http://purl\.obolibrary\.org/obo/DOID_(\d+)$")


def import_ontology(
    path: str | Path, *, licence: str | None = None, source: str | None = None
) -> Iterator[Node | Edge]:
    """Disease nodes and SUBCLASS_OF edges from an OWL file (RDF/XML ``.owl``/``.rdf`` or Turtle
    ``.ttl``). Deprecated classes are skipped; a parent that the file references but does not
    define is yielded as a minimal node. Provenance: source ``source`` (default
    ``rdf:<file name>``), version the ontology's ``owl:versionIRI`` (or ``owl:versionInfo``),
    licence ``licence`` (default: the ontology's ``dcterms:license``, else "not stated")."""
    import rdflib  # lazy: only the RDF paths need it
    from rdflib.namespace import OWL as R_OWL, RDF as R_RDF, RDFS as R_RDFS

    path = Path(path)
    if not path.is_file():
        raise LoaderError(f"ontology file {path} does not exist; pass the path of an .owl or .ttl file")
    fmt = "turtle" if path.suffix in (".ttl", ".turtle") else "nt" if path.suffix == ".nt" else "xml"
    graph = rdflib.Graph()
    try:
        graph.parse(path, format=fmt)
    except Exception as exc:  # rdflib raises many unrelated types for bad input
        raise LoaderError(f"cannot parse {path} as {fmt} RDF: {exc}") from exc

    xref = rdflib.URIRef(OBO_IN_OWL + "hasDbXref")
    synonym = rdflib.URIRef(OBO_IN_OWL + "hasExactSynonym")
    version = "unversioned"
    found_licence: str | None = None
    for onto in graph.subjects(R_RDF.type, R_OWL.Ontology):
        v = graph.value(onto, R_OWL.versionIRI) or graph.value(onto, R_OWL.versionInfo)
        if v is not None:
            version = str(v)
        lic = graph.value(onto, rdflib.URIRef("http://purl.org/dc/terms/license"))
        if lic is not None:
            found_licence = str(lic)
    prov_source = source or f"rdf:{path.name}"
    prov_licence = licence or found_licence or f"not stated in {path.name}"

    def doid(term: Any) -> str | None:
        m = _DOID_IRI.match(str(term)) if isinstance(term, rdflib.URIRef) else None
        return f"doid:{m.group(1)}" if m else None

    defined: dict[str, Node] = {}
    edges: list[tuple[str, str, str]] = []
    for cls in sorted(set(graph.subjects(R_RDF.type, R_OWL.Class)), key=str):
        node_id = doid(cls)
        if node_id is None:
            continue
        if str(graph.value(cls, R_OWL.deprecated) or "").lower() == "true":
            continue
        props: dict[str, list[str]] = {}
        for x in sorted(str(v) for v in graph.objects(cls, xref)):
            prefix, sep, code = x.partition(":")
            prop = XREF_PROPERTIES.get(prefix)
            if sep and prop and code and code not in props.setdefault(prop, []):
                props[prop].append(code)
        aliases = sorted({str(v) for v in graph.objects(cls, synonym)})
        if aliases:
            props["aliases"] = aliases  # type: ignore[assignment]
        name = str(graph.value(cls, R_RDFS.label) or "")
        defined[node_id] = Node(node_id, NodeLabel.DISEASE, name, {k: v for k, v in props.items() if v})
        for parent in sorted(graph.objects(cls, R_RDFS.subClassOf), key=str):
            parent_id = doid(parent)
            if parent_id is not None and parent_id != node_id:
                edges.append((node_id, parent_id, str(parent)))

    yield from defined.values()
    for _, parent_id, _ in edges:
        if parent_id not in defined:
            defined[parent_id] = Node(parent_id, NodeLabel.DISEASE)
            yield defined[parent_id]
    for child, parent_id, parent_iri in edges:
        yield Edge(
            child, RelationType.SUBCLASS_OF, parent_id,
            Provenance(prov_source, version, prov_licence,
                       f"{path.name}: {curie_to_iri(child)} rdfs:subClassOf {parent_iri}"),
        )
