"""One contract suite, run unchanged against every GraphStore (embedded and real Neo4j)."""

from __future__ import annotations

import pytest

from kgimagine.errors import NodeNotFoundError, ProvenanceError, SchemaError
from kgimagine.kg.model import Edge, Node, Provenance, compute_fact_id
from kgimagine.types import Direction, NodeLabel, RelationType

from tests.contracts import sample_graph as sg

HOSTILE = [
    "'}) DETACH DELETE n //",
    "`) MATCH (m) DETACH DELETE m //",
    'quote " and \' and \\ backslash',
    "line1\nline2\r\nline3",
    "ünïcödé ✓ 药物 💊",
    "$param {x: 1} // -- ;",
]


def test_empty_store(store):
    s = store.stats()
    assert s.node_count == 0 and s.edge_count == 0


def test_upsert_counts_and_idempotence(store):
    sg.load(store)
    first = store.stats()
    v1 = store.graph_version()
    assert first.node_count == len(sg.NODES)
    assert first.edge_count == len(sg.EDGES)
    assert first.edges_by_type["TARGETS"] == 7
    assert first.edges_by_type["TRIALLED_FOR"] == 2
    sg.load(store)
    assert store.stats() == first
    assert store.graph_version() == v1


def test_fact_ids_are_stable_and_match_the_model(store):
    sg.load(store)
    ids = {e.fact_id for e in store.iter_edges()}
    assert ids == {e.fact_id for e in sg.EDGES}
    e = sg.EDGES[0]
    assert e.fact_id == compute_fact_id(e.source, e.type, e.target, "drugbank")
    got = store.get_edges([e.fact_id, "fact:doesnotexist"])
    assert list(got) == [e.fact_id]
    assert got[e.fact_id].provenance == e.provenance
    assert got[e.fact_id].properties == {"actions": ["inhibitor"]}


def test_graph_version_is_content_hash():
    """Two stores with the same content give the same version, independent of insertion order."""
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    a, b = NetworkXGraphStore(), NetworkXGraphStore()
    sg.load(a)
    b.upsert_nodes(reversed(sg.NODES))
    b.upsert_edges(reversed(sg.EDGES))
    assert a.graph_version() == b.graph_version()
    b.upsert_nodes([Node("ncbigene:1", NodeLabel.GENE, "A1BG")])
    assert a.graph_version() != b.graph_version()


def test_provenance_required(store):
    with pytest.raises(ProvenanceError, match="provenance"):
        Edge("drugbank:DB00619", RelationType.TARGETS, "ncbigene:25", None)  # type: ignore[arg-type]
    with pytest.raises(ProvenanceError, match="licence"):
        Provenance(source="drugbank", source_version="1", licence="", record_id="x")
    assert store.stats().edge_count == 0


def test_node_properties_merge_and_label_conflict(store):
    sg.load(store)
    store.upsert_nodes([Node("drugbank:DB00619", NodeLabel.DRUG, "", {"atc": ["L01XE01"]})])
    n = store.get_node("drugbank:DB00619")
    assert n.name == "Imatinib"
    assert n.properties == {"groups": ["approved"], "mw": 493.6, "atc": ["L01XE01"]}
    with pytest.raises(SchemaError, match="exists as Drug"):
        store.upsert_nodes([Node("drugbank:DB00619", NodeLabel.GENE, "x")])


def test_get_node_missing(store):
    with pytest.raises(NodeNotFoundError):
        store.get_node("drugbank:DB99999")
    assert store.get_nodes(["drugbank:DB99999"]) == {}
    assert store.has_node("drugbank:DB99999") is False


def test_edge_endpoints_checked(store):
    sg.load(store)
    with pytest.raises(NodeNotFoundError, match="DB99999"):
        store.upsert_edges([Edge("drugbank:DB99999", RelationType.TARGETS, "ncbigene:25", sg.prov("x", "1"))])
    with pytest.raises(SchemaError, match="TARGETS goes Drug -> Gene"):
        store.upsert_edges([Edge("doid:162", RelationType.TARGETS, "ncbigene:25", sg.prov("x", "1"))])
    assert store.stats().edge_count == len(sg.EDGES)


def test_unknown_label_or_type_refused_before_query(store):
    with pytest.raises(SchemaError, match="unknown node label"):
        Node("drugbank:DB1", "Drug`) DETACH DELETE n //", "x")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="unknown relation type"):
        Edge("drugbank:DB1", "TARGETS]->() DELETE x //", "ncbigene:1", sg.prov("x", "1"))  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="unknown relation type"):
        store.neighbours("drugbank:DB00619", rel_types=["NOPE"])  # type: ignore[list-item]
    with pytest.raises(SchemaError, match="unknown node label"):
        list(store.iter_nodes("Person"))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stored_verbatim(store, text):
    sg.load(store)
    before = store.stats()
    node = Node("drugbank:DBX0001", NodeLabel.DRUG, text, {"note": text, "aliases": [text, "plain"]})
    store.upsert_nodes([node])
    edge = Edge("drugbank:DBX0001", RelationType.TARGETS, "ncbigene:25",
                Provenance(source="drugbank", source_version=text, licence=text, record_id=text), {"comment": text})
    store.upsert_edges([edge])
    got = store.get_node("drugbank:DBX0001")
    assert got.name == text and got.properties == {"note": text, "aliases": [text, "plain"]}
    e = store.get_edges([edge.fact_id])[edge.fact_id]
    assert e.provenance.record_id == text and e.properties == {"comment": text}
    after = store.stats()
    assert after.node_count == before.node_count + 1
    assert after.edge_count == before.edge_count + 1
    assert store.get_node("drugbank:DB00619").name == "Imatinib"


def test_neighbours_sorted_filtered_limited(store):
    sg.load(store)
    out = store.neighbours("drugbank:DB00619", rel_types=[RelationType.TARGETS], direction=Direction.OUT)
    assert [(n.edge.type.value, n.node.id) for n in out] == [
        ("TARGETS", "ncbigene:25"), ("TARGETS", "ncbigene:3815"), ("TARGETS", "ncbigene:3815"), ("TARGETS", "ncbigene:5159")
    ]
    both = store.neighbours("drugbank:DB00619")
    assert [n.edge.type.value for n in both] == ["CAUSES", "TARGETS", "TARGETS", "TARGETS", "TARGETS", "TESTS", "TREATS"]
    inc = store.neighbours("drugbank:DB00619", direction=Direction.IN)
    assert [n.node.id for n in inc] == ["clinicaltrials:NCT00000001"]
    assert len(store.neighbours("drugbank:DB00619", limit=2)) == 2
    with pytest.raises(NodeNotFoundError):
        store.neighbours("drugbank:DB99999")


def test_facts_about_entities(store):
    sg.load(store)
    facts = store.facts(["drugbank:DB01268", "doid:162"])
    ids = [f.fact_id for f in facts]
    assert ids == sorted(ids)
    assert {(f.source, f.type.value, f.target) for f in facts} == {
        ("drugbank:DB01268", "TARGETS", "ncbigene:3815"),
        ("drugbank:DB01268", "TARGETS", "ncbigene:3791"),
        ("drugbank:DB01268", "TRIALLED_FOR", "doid:9253"),
        ("clinicaltrials:NCT00000002", "TESTS", "drugbank:DB01268"),
        ("doid:9253", "SUBCLASS_OF", "doid:162"),
        ("doid:1040", "SUBCLASS_OF", "doid:162"),
    }
    assert len(facts) == 7  # two TRIALLED_FOR records
    assert len(store.facts(["drugbank:DB01268"], rel_types=[RelationType.TARGETS])) == 2
    assert len(store.facts(["drugbank:DB01268"], limit=1)) == 1
    assert store.facts(["drugbank:DB99999"]) == []


def test_paths(store):
    sg.load(store)
    paths = store.paths("drugbank:DB00619", "drugbank:DB01268", max_hops=2)
    assert [len(p) for p in paths] == [2, 2, 2, 2]  # via KIT (x2 sources) and via GIST (TREATS/TRIALLED_FOR x2)
    assert all(p[0].source == "drugbank:DB00619" for p in paths)
    kinds = sorted(tuple(e.type.value for e in p) for p in paths)
    assert kinds == sorted([("TARGETS", "TARGETS"), ("TARGETS", "TARGETS"), ("TREATS", "TRIALLED_FOR"), ("TREATS", "TRIALLED_FOR")])
    only_targets = store.paths("drugbank:DB00619", "drugbank:DB01268", max_hops=2, rel_types=[RelationType.TARGETS])
    assert len(only_targets) == 2
    three = store.paths("drugbank:DB00619", "drugbank:DB00398", max_hops=4, limit=50)
    assert three and all(len(p) == 4 for p in three)
    assert store.paths("drugbank:DB00619", "drugbank:DB00398", max_hops=3) == []
    assert len(store.paths("drugbank:DB00619", "drugbank:DB00398", max_hops=4, limit=1)) == 1
    # paths are simple: no node repeats
    for p in three:
        nodes = [p[0].source if p[0].source == "drugbank:DB00619" else p[0].target]
        for e in p:
            nodes.append(e.target if e.source == nodes[-1] else e.source)
        assert len(set(nodes)) == len(nodes)


def test_iterators(store):
    sg.load(store)
    trials = list(store.iter_nodes(NodeLabel.TRIAL))
    assert [t.id for t in trials] == ["clinicaltrials:NCT00000001", "clinicaltrials:NCT00000002"]
    tests = list(store.iter_edges(RelationType.TESTS))
    assert len(tests) == 2
    assert len(list(store.iter_nodes())) == len(sg.NODES)


def test_clear(store):
    sg.load(store)
    store.clear()
    assert store.stats().node_count == 0


def test_results_equal_across_stores(store):
    """The same input gives the same answers as the reference embedded store."""
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    ref = NetworkXGraphStore()
    sg.load(ref)
    sg.load(store)
    assert store.stats() == ref.stats()
    assert store.graph_version() == ref.graph_version()
    for node_id in ("drugbank:DB00619", "doid:9253", "ncbigene:3815"):
        a = [(n.edge.fact_id, n.node) for n in store.neighbours(node_id)]
        b = [(n.edge.fact_id, n.node) for n in ref.neighbours(node_id)]
        assert a == b
    assert store.facts(["doid:9253"]) == ref.facts(["doid:9253"])
    assert store.paths("drugbank:DB00619", "drugbank:DB00398", max_hops=4, limit=20) == ref.paths(
        "drugbank:DB00619", "drugbank:DB00398", max_hops=4, limit=20
    )
