"""Embedded-store specifics: persistence format and atomic saves."""

from __future__ import annotations

import json

import pytest

from kgimagine.errors import GraphStoreError
from kgimagine.kg.model import Edge, Node
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.types import Direction, NodeLabel, RelationType

from tests.contracts import sample_graph as sg


def test_persistence_round_trip(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    version = st.graph_version()
    st.save()
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert manifest["format"] == "kgimagine-embedded-jsonl"
    assert manifest["edges"] == len(sg.EDGES)
    back = NetworkXGraphStore(tmp_path / "g")
    assert back.stats() == st.stats()
    assert back.graph_version() == version
    assert [e.to_dict() for e in back.iter_edges()] == [e.to_dict() for e in st.iter_edges()]
    assert [n.to_dict() for n in back.iter_nodes()] == [n.to_dict() for n in st.iter_nodes()]
    # reloaded records are usable like fresh ones
    assert back.neighbours("drugbank:DB00619")[0].edge.fact_id == st.neighbours("drugbank:DB00619")[0].edge.fact_id


def test_close_saves_and_context_manager(tmp_path):
    with NetworkXGraphStore(tmp_path / "g") as st:
        sg.load(st)
    assert NetworkXGraphStore(tmp_path / "g").stats().edge_count == len(sg.EDGES)


def test_truncated_files_are_detected(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    st.save()
    edges_file = tmp_path / "g" / json.loads((tmp_path / "g" / "manifest.json").read_text())["edges_file"]
    edges = edges_file.read_bytes().splitlines(keepends=True)
    edges_file.write_bytes(b"".join(edges[:-3]))
    with pytest.raises(GraphStoreError, match="incomplete"):
        NetworkXGraphStore(tmp_path / "g")


def test_no_pickle_in_format(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    st.save()
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    for name in (manifest["nodes_file"], manifest["edges_file"]):
        for line in (tmp_path / "g" / name).read_text().splitlines():
            json.loads(line)  # every line is JSON
    assert sorted(f.name for f in (tmp_path / "g").iterdir()) == sorted(
        ["manifest.json", manifest["nodes_file"], manifest["edges_file"]]
    )


def test_resave_replaces_generation_and_cleans_leftovers(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    st.save()
    (tmp_path / "g" / "edges-deadbeef-1.jsonl").write_text("partial write of a killed save")
    (tmp_path / "g" / ".manifest-deadbeef-1.json").write_text("{")
    from kgimagine.kg.model import Node
    from kgimagine.types import NodeLabel

    st.upsert_nodes([Node("ncbigene:1", NodeLabel.GENE, "A1BG")])
    st.save()
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert sorted(f.name for f in (tmp_path / "g").iterdir()) == sorted(
        ["manifest.json", manifest["nodes_file"], manifest["edges_file"]]
    )
    back = NetworkXGraphStore(tmp_path / "g")
    assert back.stats().node_count == len(sg.NODES) + 1
    assert back.graph_version() == st.graph_version()


def test_saved_version_equals_recomputed(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    st.save()
    saved = st.graph_version()
    st._version = None  # force a recomputation from the records
    assert st.graph_version() == saved


def test_non_finite_floats_refused():
    from kgimagine.errors import SchemaError
    from kgimagine.kg.model import Node
    from kgimagine.types import NodeLabel

    with pytest.raises(SchemaError, match="finite"):
        Node("ncbigene:1", NodeLabel.GENE, "A1BG", {"score": float("nan")})


def test_networkx_view_has_the_content_and_follows_writes():
    import networkx as nx

    store = NetworkXGraphStore()
    sg.load(store)
    g = store.graph
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_nodes() == len(sg.NODES) and g.number_of_edges() == len(sg.EDGES)
    e = sg.EDGES[0]
    assert g.edges[e.source, e.target, e.fact_id]["edge"] == e
    assert g.nodes["drugbank:DB00619"]["node"].name == "Imatinib"
    path = nx.shortest_path(g.to_undirected(as_view=True), "drugbank:DB00619", "doid:9253")
    assert path == ["drugbank:DB00619", "doid:9253"]  # the TREATS edge
    assert store.graph is g  # cached while nothing is written
    store.upsert_nodes([Node("ncbigene:1", NodeLabel.GENE, "A1BG")])
    assert store.graph is not g and store.graph.has_node("ncbigene:1")


def test_typed_index_survives_reload_and_edge_replacement(tmp_path):
    store = NetworkXGraphStore(tmp_path / "g")
    sg.load(store)
    e = sg.EDGES[0]
    replaced = Edge(e.source, e.type, e.target, e.provenance, {"actions": ["antagonist"]})
    store.upsert_edges([replaced])  # same fact id: replaced, not indexed twice
    store.save()
    again = NetworkXGraphStore(tmp_path / "g")
    for s in (store, again):
        out = s.neighbours(e.source, rel_types=[RelationType.TARGETS], direction=Direction.OUT)
        assert len(out) == 4
        assert s.get_edge(e.fact_id).properties == {"actions": ["antagonist"]}
        assert s.stats().edges_by_type["TARGETS"] == 7
