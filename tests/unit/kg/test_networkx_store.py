"""Embedded-store specifics: persistence format and atomic saves."""

from __future__ import annotations

import json

import pytest

from kgimagine.errors import GraphStoreError
from kgimagine.kg.networkx_store import NetworkXGraphStore

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
