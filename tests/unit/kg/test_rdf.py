"""RDF export (Turtle / N-Triples, checked with rdflib and Debian's ``rapper``) and OWL import."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import rdflib
from rdflib import Literal, URIRef
from rdflib.namespace import RDF, RDFS

from kgimagine.errors import GraphStoreError, LoaderError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.kg.rdf import BIOLINK, FACT_BASE, KGI, export_graph, import_ontology, literal
from kgimagine.types import NodeLabel, RelationType
from tests.conftest import IN_CI
from tests.contracts import sample_graph as sg

TRICKY = 'quote " backslash \\ newline \n tab \t bell \x07 unicode é → 🧬 <tag> {x}'


@pytest.fixture()
def store() -> NetworkXGraphStore:
    st = NetworkXGraphStore()
    sg.load(st)
    st.upsert_nodes([
        Node("drugbank:DB09999", NodeLabel.DRUG, TRICKY,
             {"flag": True, "count": 3, "ratio": 0.25, "aliases": ["a", 'b "c"'], "odd key!": "v"}),
    ])
    st.upsert_edges([
        Edge("drugbank:DB09999", RelationType.TARGETS, "ncbigene:25",
             Provenance("test", "v1", "CC0 1.0", "line\t1"), {"affinity_nM": 1e-05, "neg": -2.5},
             key="k|1"),
    ])
    return st


def parse(path, fmt) -> rdflib.Graph:
    g = rdflib.Graph()
    g.parse(path, format=fmt)
    return g


def test_turtle_and_ntriples_hold_the_same_triples(store, tmp_path):
    n_ttl = export_graph(store, tmp_path / "g.ttl", format="ttl")
    n_nt = export_graph(store, tmp_path / "g.nt", format="nt")
    g_ttl, g_nt = parse(tmp_path / "g.ttl", "turtle"), parse(tmp_path / "g.nt", "nt")
    assert n_ttl == n_nt == len(g_nt) == len(g_ttl)
    assert set(g_ttl) == set(g_nt)  # no blank nodes: equal graphs are equal triple sets
    assert len(g_nt) == sum(1 for line in (tmp_path / "g.nt").read_text(encoding="utf-8").splitlines() if line)


def test_export_content(store, tmp_path):
    export_graph(store, tmp_path / "g.ttl")
    g = parse(tmp_path / "g.ttl", "turtle")
    ima = URIRef("https://go.drugbank.com/drugs/DB00619")
    abl1 = URIRef("https://www.ncbi.nlm.nih.gov/gene/25")
    targets = URIRef(KGI + "TARGETS")
    assert (ima, RDF.type, URIRef(BIOLINK + "Drug")) in g
    assert (ima, RDF.type, URIRef(KGI + "Drug")) in g
    assert (ima, RDFS.label, Literal("Imatinib")) in g
    assert (ima, URIRef(KGI + "id"), Literal("drugbank:DB00619")) in g
    assert (ima, URIRef(KGI + "mw"), Literal(493.6, datatype=URIRef("http://www.w3.org/2001/XMLSchema#double"))) in g
    assert (ima, targets, abl1) in g
    assert (targets, RDFS.subPropertyOf, URIRef(BIOLINK + "physically_interacts_with")) in g
    assert (URIRef(KGI + "SideEffect"), RDFS.subClassOf, URIRef(BIOLINK + "PhenotypicFeature")) in g
    # one fact resource per edge, with its provenance
    edge = next(e for e in store.iter_edges() if e.source == "drugbank:DB00619" and e.target == "ncbigene:25")
    fact = URIRef(FACT_BASE + edge.fact_id.removeprefix("fact:"))
    assert (fact, RDF.type, URIRef(KGI + "Fact")) in g
    assert (fact, RDF.subject, ima) in g and (fact, RDF.predicate, targets) in g and (fact, RDF.object, abl1) in g
    assert (fact, URIRef(KGI + "source"), Literal("drugbank")) in g
    assert (fact, URIRef(KGI + "licence"), Literal("CC0-1.0")) in g
    assert (fact, URIRef(KGI + "record"), Literal("proteins.tsv:2")) in g
    assert (fact, URIRef(KGI + "actions"), Literal("inhibitor")) in g
    assert len(set(g.subjects(RDF.type, URIRef(KGI + "Fact")))) == len(list(store.iter_edges()))
    # two sources of one pair: one direct triple, two facts
    kit = URIRef("https://www.ncbi.nlm.nih.gov/gene/3815")
    assert len([f for f in g.subjects(RDF.object, kit) if (f, RDF.subject, ima) in g]) == 2


def test_literals_escape_and_type_round_trip(store, tmp_path):
    export_graph(store, tmp_path / "g.nt", format="nt")
    g = parse(tmp_path / "g.nt", "nt")
    drug = URIRef("https://go.drugbank.com/drugs/DB09999")
    assert (drug, RDFS.label, Literal(TRICKY)) in g
    assert (drug, URIRef(KGI + "flag"), Literal(True)) in g
    assert (drug, URIRef(KGI + "count"), Literal(3)) in g
    assert set(g.objects(drug, URIRef(KGI + "aliases"))) == {Literal("a"), Literal('b "c"')}
    assert (drug, URIRef(KGI + "odd%20key!"), Literal("v")) in g
    assert len(set(g.objects(None, URIRef(KGI + "neg")))) == 1
    # the model refuses non-finite floats, but the literal writer still spells them as XSD does
    assert literal(float("nan")) == '"NaN"^^<http://www.w3.org/2001/XMLSchema#double>'
    assert literal(1e-05) == '"1e-05"^^<http://www.w3.org/2001/XMLSchema#double>'


def test_rapper_parses_the_export(store, tmp_path):
    if shutil.which("rapper") is None:
        if IN_CI:
            pytest.fail("rapper (raptor2-utils) must be installed in CI")
        pytest.skip("rapper is not on PATH (apt-get install -y raptor2-utils)")
    n_ttl = export_graph(store, tmp_path / "g.ttl", format="ttl")
    n_nt = export_graph(store, tmp_path / "g.nt", format="nt")
    for path, fmt, expected in ((tmp_path / "g.ttl", "turtle", n_ttl), (tmp_path / "g.nt", "ntriples", n_nt)):
        done = subprocess.run(["rapper", "-i", fmt, "-c", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"returned {expected} triples" in done.stderr


def test_export_rejects_unknown_format_and_leaves_no_partial_file(store, tmp_path):
    with pytest.raises(GraphStoreError, match="unknown RDF format 'xml'"):
        export_graph(store, tmp_path / "g.xml", format="xml")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_empty_store_exports_only_the_vocabulary_header(tmp_path):
    n = export_graph(NetworkXGraphStore(), tmp_path / "e.ttl")
    g = parse(tmp_path / "e.ttl", "turtle")
    assert n == len(g) > 0
    assert not list(g.subjects(RDF.type, URIRef(KGI + "Fact")))


# --- import -------------------------------------------------------------------------------
def _split(records):
    records = list(records)
    nodes = {r.id: r for r in records if isinstance(r, Node)}
    edges = [r for r in records if isinstance(r, Edge)]
    return nodes, edges


def test_import_topnodes_turtle_and_owl_agree(shared_data):
    n_ttl, e_ttl = _split(import_ontology(shared_data / "rdf" / "TopNodes_DOcancerslim.ttl"))
    n_owl, e_owl = _split(import_ontology(shared_data / "rdf" / "TopNodes_DOcancerslim.owl"))
    assert n_ttl == n_owl
    assert {(e.source, e.target) for e in e_ttl} == {(e.source, e.target) for e in e_owl}
    penile = n_ttl["doid:11615"]
    assert penile.name == "penile cancer"
    assert penile.properties["icd10"] == ["C60", "C60.2"]
    assert penile.properties["umls"] == ["C0153600", "C0153601"]
    assert penile.properties["mesh"] == ["D010412"]
    assert ("doid:13499", "doid:10155") in {(e.source, e.target) for e in e_ttl}  # jejunal cancer is-a
    edge = e_ttl[0]
    assert edge.type is RelationType.SUBCLASS_OF
    assert edge.provenance.source == "rdf:TopNodes_DOcancerslim.ttl"
    assert "2026-07-31" in edge.provenance.source_version
    assert edge.provenance.record_id.startswith("TopNodes_DOcancerslim.ttl: ")


def test_import_do_cancer_slim_owl_loads_into_a_store(shared_data):
    records = list(import_ontology(shared_data / "rdf" / "DO_cancer_slim.owl", licence="CC0 1.0"))
    nodes, edges = _split(records)
    assert 500 <= len(nodes) <= 2_000 and 400 <= len(edges) <= 3_000
    assert all(e.provenance.licence == "CC0 1.0" for e in edges)
    assert sum(1 for n in nodes.values() if n.properties.get("icd10")) >= 50
    st = NetworkXGraphStore()
    st.upsert_nodes(nodes.values())
    st.upsert_edges(edges)  # raises on a dangling edge
    assert st.stats().edges_by_type == {"SUBCLASS_OF": len(edges)}


def test_import_errors(tmp_path):
    with pytest.raises(LoaderError, match="does not exist"):
        list(import_ontology(tmp_path / "missing.owl"))
    bad = tmp_path / "bad.ttl"
    bad.write_text("this is not turtle <<<", encoding="utf-8")
    with pytest.raises(LoaderError, match="cannot parse"):
        list(import_ontology(bad))


def test_import_handles_undefined_parents_and_deprecated_classes(tmp_path):
    ttl = tmp_path / "mini.ttl"
    ttl.write_text(
        """@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix oboInOwl: <http://www.geneontology.org/formats/oboInOwl#> .
obo:DOID_1 a owl:Class ; rdfs:label "child" ; rdfs:subClassOf obo:DOID_2, [ a owl:Restriction ] ;
    oboInOwl:hasDbXref "ICD10CM:C00.1", "NCI:C1", "UMLS_CUI:C0000001" .
obo:DOID_3 a owl:Class ; rdfs:label "old" ; owl:deprecated true .
obo:UBERON_1 a owl:Class ; rdfs:label "not a disease" .
""",
        encoding="utf-8",
    )
    nodes, edges = _split(import_ontology(ttl))
    assert set(nodes) == {"doid:1", "doid:2"}
    assert nodes["doid:2"].name == ""  # referenced parent, yielded minimally
    assert nodes["doid:1"].properties == {"icd10": ["C00.1"], "umls": ["C0000001"]}
    assert [(e.source, e.target) for e in edges] == [("doid:1", "doid:2")]
    assert edges[0].provenance.licence == "not stated in mini.ttl"
