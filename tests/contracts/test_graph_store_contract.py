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


def _facts_reference(store, node_ids, rels, direction):
    """What a hop must return, from the plain ``facts`` call."""
    ids = set(node_ids)
    out = []
    for e in store.facts(sorted(ids), rel_types=list(rels)):
        if (direction is not Direction.IN and e.source in ids) or (direction is not Direction.OUT and e.target in ids):
            out.append(e)
    return tuple(out)


def test_expand_answers_each_hop_like_facts(store):
    from kgimagine.kg.store import Hop

    sg.load(store)
    R = RelationType
    hops = [
        Hop(("drugbank:DB00619", "drugbank:DB01268", "drugbank:DB99999"), (R.TARGETS,), Direction.OUT),
        Hop(("drugbank:DB00619", "drugbank:DB01268"), (R.TESTS,), Direction.IN),
        Hop(("doid:9253", "doid:162", "doid:1040"), (R.SUBCLASS_OF, R.SAME_AS), Direction.BOTH),
        Hop(("drugbank:DB00619",), (R.TARGETS, R.CAUSES), Direction.OUT, limit=2),
        Hop((), (R.TREATS,), Direction.OUT),
        Hop(("drugbank:DB99999",), (R.TREATS,), Direction.OUT),
    ]
    got = store.expand(hops)
    assert len(got.edges) == len(hops)
    for hop, edges in zip(hops, got.edges):
        ref = _facts_reference(store, hop.node_ids, hop.rel_types, hop.direction)
        assert edges == (ref if hop.limit is None else ref[: hop.limit]), hop
    assert len(got.edges[2]) == 3  # two SUBCLASS_OF into doid:162 and the SAME_AS, each once
    assert len(got.edges[3]) == 2 and got.edges[4] == () and got.edges[5] == ()
    ends = {i for edges in got.edges for e in edges for i in (e.source, e.target)}
    asked = {i for hop in hops for i in hop.node_ids if store.has_node(i)}
    assert set(got.nodes) == ends | asked
    assert got.nodes["drugbank:DB00619"] == store.get_node("drugbank:DB00619")
    # projection: only the named user properties (id, label and name always)
    slim = store.expand(hops[1:2], node_properties=["phase"])
    trial = slim.nodes["clinicaltrials:NCT00000001"]
    assert trial.name == "Imatinib in GIST" and trial.label is NodeLabel.TRIAL
    assert trial.properties == {"phase": "phase 2"}
    assert slim.nodes["drugbank:DB00619"].properties == {}
    assert store.expand([]).edges == ()
    with pytest.raises(SchemaError):
        Hop(("drugbank:DB00619",), ("NOT_A_TYPE",))


def test_expand_without_detail_and_get_facts(store):
    from kgimagine.kg.store import Hop

    sg.load(store)
    R = RelationType
    ids = ("drugbank:DB00619", "drugbank:DB01268")
    full = store.expand([Hop(ids, (R.TARGETS,), Direction.OUT)]).edges[0]
    light = store.expand([Hop(ids, (R.TARGETS,), Direction.OUT, detail=False)])
    # same edges, identified by fact id, ends and type; far ends not among the nodes
    assert [(e.fact_id, e.source, e.type, e.target) for e in light.edges[0]] == [
        (e.fact_id, e.source, e.type, e.target) for e in full
    ]
    assert set(light.nodes) == set(ids)
    # the chosen few, in the order asked, with both ends (projected)
    chosen = [full[2].fact_id, full[0].fact_id, "fact:doesnotexist"]
    got = store.get_facts(chosen, rel_types=[R.TARGETS], node_properties=["groups"])
    assert got.edges[0] == (full[2], full[0])
    assert set(got.nodes) == {full[2].source, full[2].target, full[0].source, full[0].target}
    assert got.nodes["drugbank:DB00619"].properties == {"groups": ["approved"]}
    assert store.get_facts(chosen).edges[0] == (full[2], full[0])  # any relation type
    assert store.get_facts(chosen, rel_types=[R.CAUSES]).edges[0] == ()
    assert store.get_facts([]).edges[0] == ()


def test_expand_equal_across_stores(store):
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.kg.store import Hop

    ref = NetworkXGraphStore()
    sg.load(ref)
    sg.load(store)
    ids = tuple(n.id for n in sg.NODES)
    for rels in ([RelationType.TARGETS], list(RelationType)):
        for direction in Direction:
            hops = [Hop(ids, rels, direction), Hop(ids[:5], rels, direction, limit=3),
                    Hop(ids[3:], rels, direction, detail=False)]
            for props in (None, ["phase", "groups"]):
                a, b = store.expand(hops, node_properties=props), ref.expand(hops, node_properties=props)
                assert a.edges[:2] == b.edges[:2] and dict(a.nodes) == dict(b.nodes)
                assert [(e.fact_id, e.source, e.type, e.target) for e in a.edges[2]] == [
                    (e.fact_id, e.source, e.type, e.target) for e in b.edges[2]
                ]


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


# -- write_graph: a whole graph at once, same result as upserts --------------------------------
def _with_repeats() -> tuple[list[Node], list[Edge]]:
    """The sample graph plus repeated ids (merged in order) and a repeated fact (later wins)."""
    nodes = list(sg.NODES) + [
        Node("drugbank:DB00619", NodeLabel.DRUG, "", {"atc": ["L01XE01"]}),
        Node("ncbigene:25", NodeLabel.GENE, "ABL1 proto-oncogene", {"chrom": "9"}),
    ]
    e = sg.EDGES[0]
    edges = list(sg.EDGES) + [Edge(e.source, e.type, e.target, e.provenance, {"actions": ["antagonist"], "n": 2})]
    return nodes, edges


def _same_content(store, ref) -> None:
    assert store.stats() == ref.stats()
    assert store.graph_version() == ref.graph_version()
    assert list(store.iter_nodes()) == list(ref.iter_nodes())
    assert list(store.iter_edges()) == list(ref.iter_edges())


def test_write_graph_into_an_empty_store_equals_upserts(store):
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    nodes, edges = _with_repeats()
    ref = NetworkXGraphStore()
    ref.upsert_nodes(nodes)
    ref.upsert_edges(edges)
    assert store.write_graph(iter(nodes), iter(edges), batch_size=3) == (len(nodes), len(edges))
    _same_content(store, ref)
    assert store.get_node("drugbank:DB00619").properties["atc"] == ["L01XE01"]
    assert store.get_edges([sg.EDGES[0].fact_id])[sg.EDGES[0].fact_id].properties == {"actions": ["antagonist"], "n": 2}


def test_write_graph_onto_part_of_the_graph_equals_upserts(store):
    """Present ids are upserted (properties merge, later values win), absent ones created."""
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    nodes, edges = _with_repeats()
    first_nodes = sg.NODES[::2] + [Node("drugbank:DB00398", NodeLabel.DRUG, "Sorafenib", {"old": 1, "mw": 1.0})]
    ids = {n.id for n in first_nodes}
    first_edges = [e for e in sg.EDGES if e.source in ids and e.target in ids]
    first_edges = [Edge(e.source, e.type, e.target, e.provenance, {"stale": True}, key=e.key) for e in first_edges]
    assert first_edges, "the sample graph must give the partial graph some edges"
    ref = NetworkXGraphStore()
    for st in (ref, store):
        st.upsert_nodes(first_nodes)
        st.upsert_edges(first_edges)
    ref.upsert_nodes(nodes)
    ref.upsert_edges(edges)
    store.write_graph(nodes, edges, batch_size=4)
    _same_content(store, ref)
    assert store.get_node("drugbank:DB00398").properties["old"] == 1  # merged, not replaced
    store.write_graph(nodes, edges)  # everything present: idempotent
    _same_content(store, ref)


def test_write_graph_checks_like_upserts(store):
    nodes, edges = _with_repeats()
    bad_end = Edge("drugbank:DB99999", RelationType.TARGETS, "ncbigene:25", sg.prov("x", "1"))
    with pytest.raises(NodeNotFoundError, match="DB99999"):
        store.write_graph(nodes, edges + [bad_end])
    wrong_labels = Edge("doid:162", RelationType.TARGETS, "ncbigene:25", sg.prov("x", "1"))
    with pytest.raises(SchemaError, match="TARGETS goes Drug -> Gene"):
        store.write_graph([], [wrong_labels])
    with pytest.raises(SchemaError, match="exists as Drug"):
        store.write_graph([Node("drugbank:DB00619", NodeLabel.GENE, "x")], [])
    with pytest.raises(SchemaError, match="exists as Gene"):
        store.write_graph([Node("ncbigene:1", NodeLabel.GENE, "x"), Node("ncbigene:1", NodeLabel.DRUG, "x")], [])
