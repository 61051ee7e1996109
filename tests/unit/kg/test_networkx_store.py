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
    edges = (tmp_path / "g" / "edges.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "g" / "edges.jsonl").write_bytes(b"".join(edges[:-3]))
    with pytest.raises(GraphStoreError, match="incomplete"):
        NetworkXGraphStore(tmp_path / "g")


def test_no_pickle_in_format(tmp_path):
    st = NetworkXGraphStore(tmp_path / "g")
    sg.load(st)
    st.save()
    json.loads((tmp_path / "g" / "manifest.json").read_text())
    for name in ("nodes.jsonl", "edges.jsonl"):
        for line in (tmp_path / "g" / name).read_text().splitlines():
            json.loads(line)  # every line is JSON
    assert sorted(f.name for f in (tmp_path / "g").iterdir()) == ["edges.jsonl", "manifest.json", "nodes.jsonl"]
