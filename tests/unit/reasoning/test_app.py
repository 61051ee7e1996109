"""The Studio entry point builds nothing at import time; ``make_graph`` (the factory langgraph.json
names) builds the graph the environment describes, once per settings."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_importing_the_studio_module_builds_nothing(tmp_path):
    # no graph anywhere: importing must still work (the old module built the graph on import)
    env = {"KGIMAGINE_GRAPH": str(tmp_path / "missing"), "KGIMAGINE_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    code = ("import sys, kgimagine.reasoning.app as app; "
            "print(callable(app.make_graph), hasattr(app, 'graph'), 'langgraph' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


def test_langgraph_json_names_the_factory():
    graphs = json.loads((REPO / "langgraph.json").read_text())["graphs"]
    path, name = graphs["kgimagine"].rsplit(":", 1)
    assert (REPO / path).resolve() == (REPO / "src/kgimagine/reasoning/app.py").resolve() and name == "make_graph"


def test_make_graph_builds_once_from_the_environment(rstore, tmp_path, monkeypatch):
    app = importlib.import_module("kgimagine.reasoning.app")
    monkeypatch.setattr(app, "_GRAPHS", {})
    for k in ("NEO4J_URI", "KGIMAGINE_MODEL", "KGIMAGINE_OPERATOR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("KGIMAGINE_GRAPH", str(rstore.path))
    monkeypatch.setenv("KGIMAGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KGIMAGINE_EMBEDDINGS", "0")
    monkeypatch.setenv("KGIMAGINE_K", "2")
    graph = app.make_graph({"configurable": {}})
    assert app.make_graph() is graph  # same settings: the same graph, the store opened once
    out = graph.invoke({"nct_id": "NCT00000008"})
    assert out["result"]["nct_id"] == "NCT00000008" and len(out["result"]["anchors"]) == 2
    # Studio's view: the chain as `kgimagine predict` prints it
    view = out["readable"]
    assert view[0].startswith("NCT00000008  P(success) = ") and view[1].startswith("  grounded ")
    assert sum(line.startswith("anchor ") for line in view) == 2
    monkeypatch.setenv("KGIMAGINE_K", "3")
    assert app.make_graph() is not graph


def test_make_graph_touches_no_disk_until_a_run(tmp_path, monkeypatch):
    # the server calls the factory in its event loop, where blocking I/O is refused: the store
    # opens on the first step; a missing graph is reported then, as our one-line error
    import pytest

    from kgimagine.errors import ConfigError

    app = importlib.import_module("kgimagine.reasoning.app")
    monkeypatch.setattr(app, "_GRAPHS", {})
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("KGIMAGINE_GRAPH", str(tmp_path / "missing"))
    monkeypatch.setenv("KGIMAGINE_EMBEDDINGS", "0")
    graph = app.make_graph()
    with pytest.raises(ConfigError, match="no embedded graph"):
        graph.invoke({"nct_id": "NCT00000008"})
