"""Integration fixtures: the full graph from every shared source, built once per session."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.loaders.base import LoadContext
from kgimagine.loaders.build import BuildReport, build_graph, default_loaders

LABELS_FROM = frozenset({"phase_I_train"})


@pytest.fixture(scope="session")
def full_build(shared_data: Path, tmp_path_factory) -> tuple[NetworkXGraphStore, BuildReport, Path]:
    graph_dir = tmp_path_factory.mktemp("full") / "graph"
    ctx = LoadContext(data_dir=shared_data, cache_dir=graph_dir.parent / "cache", labels_from=LABELS_FROM)
    st = NetworkXGraphStore(graph_dir)
    t0 = time.perf_counter()
    report = build_graph(st, ctx, default_loaders(shared_data), checkpoint=graph_dir / "build-state.json")
    print(f"\nfull embedded build: {time.perf_counter() - t0:.1f} s, {report.node_count} nodes, "
          f"{report.edge_count} edges")
    if not (graph_dir / "manifest.json").is_file():
        st.save()
    return st, report, graph_dir


