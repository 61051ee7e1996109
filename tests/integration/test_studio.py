"""The LangGraph Studio entry point served for real: ``langgraph dev`` on 127.0.0.1, driven with
``langgraph_sdk`` (create a thread, stream a prediction, read the state history).

The server runs from the repo root (``langgraph.json`` names the graph by a path relative to it)
and writes ``.langgraph_api/`` there (gitignored). It is always stopped, also when a check fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.contracts.sample_graph import EDGES, NODES, prov

REPO = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
VERDICTS = {"verified", "not_retrieved", "unknown_fact"}

pytestmark = pytest.mark.timeout(180)


def build_fixture_graph(path: Path) -> None:
    """The contract suite's sample graph, with two labelled trials (anchors) and one to predict."""
    from kgimagine.kg.model import Edge, Node
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.types import NodeLabel as L
    from kgimagine.types import RelationType as R

    store = NetworkXGraphStore(path)
    trials = [
        Node("clinicaltrials:NCT00000001", L.TRIAL, "Imatinib in GIST",
             {"phase": "phase 2", "outcome_label": 1, "criteria": "adults with KIT-positive GIST"}),
        Node("clinicaltrials:NCT00000002", L.TRIAL, "Sunitinib in GIST",
             {"phase": "phase 3", "outcome_label": 0, "criteria": "imatinib-resistant GIST"}),
        Node("clinicaltrials:NCT00000003", L.TRIAL, "Sorafenib in CLL",
             {"phase": "phase 2", "criteria": "relapsed chronic lymphocytic leukemia"}),
    ]
    store.upsert_nodes([n for n in NODES if n.label is not L.TRIAL] + trials)
    store.upsert_edges(
        EDGES
        + [
            Edge("clinicaltrials:NCT00000003", R.TESTS, "drugbank:DB00398", prov("top", "valid.csv:3")),
            Edge("clinicaltrials:NCT00000003", R.STUDIES, "doid:1040", prov("top", "valid.csv:3")),
        ]
    )
    store.save()
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    if not LANGGRAPH.is_file():
        pytest.skip(f"langgraph CLI not installed at {LANGGRAPH} (pip install 'kgimagine[studio]')")
    tmp_path = tmp_path_factory.mktemp("studio")
    graph_dir = tmp_path / "graph"
    build_fixture_graph(graph_dir)
    port = free_port()
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "1",
        "LANGSMITH_TRACING": "false",
        "KGIMAGINE_GRAPH": str(graph_dir),
        "KGIMAGINE_CACHE": str(tmp_path / "cache"),
        "KGIMAGINE_OPERATOR": "statistical",
        "KGIMAGINE_K": "2",
        "KGIMAGINE_EMBEDDINGS": "0",
    }
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{_tail(tmp_path / 'server.log')}")
            try:
                with urllib.request.urlopen(url + "/ok", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not answer on {url} in 90 s:\n{_tail(tmp_path / 'server.log')}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the group we started (the server may fork workers)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


async def _drive(url: str) -> dict:
    from langgraph_sdk import get_client

    client = get_client(url=url)
    (assistant,) = await client.assistants.search(graph_id="kgimagine")
    thread = await client.threads.create()
    streamed_steps: list[dict] = []
    nodes_seen: list[str] = []
    errors: list = []
    async for chunk in client.runs.stream(
        thread["thread_id"], assistant["assistant_id"], input={"nct_id": "NCT00000003"},
        stream_mode="updates", stream_subgraphs=True,
    ):
        if chunk.event == "error":
            errors.append(chunk.data)
        if chunk.event.startswith("updates") and isinstance(chunk.data, dict):
            for node, update in chunk.data.items():
                nodes_seen.append(node)
                if node == "verify" and update:
                    streamed_steps.extend(update.get("steps", []))
    history = await client.threads.get_history(thread["thread_id"], limit=50)
    state = await client.threads.get_state(thread["thread_id"])
    return {"errors": errors, "nodes": nodes_seen, "streamed_steps": streamed_steps, "history": history, "state": state}


def test_studio_server_runs_a_prediction_and_records_every_step(studio_server):
    out = asyncio.run(_drive(studio_server))
    assert not out["errors"], out["errors"]
    for node in ("prepare_spec", "resolve_target", "retrieve_anchors", "plan", "retrieve_facts", "imagine", "verify", "aggregate"):
        assert node in out["nodes"], f"no streamed update from {node}: {out['nodes']}"

    history = out["history"]
    assert len(history) >= 3 and history[0]["next"] == []  # newest first; the run finished
    assert history[-1]["next"] == ["__start__"]
    final = out["state"]["values"]
    assert final == history[0]["values"]
    assert final["spec"]["nct_id"] == "NCT00000003"
    assert final["spec"]["phase"] == "phase 2"  # the spec was read from the graph's trial node

    result = final["result"]
    assert 0.0 <= result["probability"] <= 1.0
    assert result["operator"].startswith("statistical")
    assert set(result["anchors"]) <= {"clinicaltrials:NCT00000001", "clinicaltrials:NCT00000002"}

    steps = final["steps"]
    assert steps, "no step recorded in the thread state"
    assert result["steps_total"] == len(steps)
    # what was streamed step by step is exactly what the thread state recorded
    assert [s["record"] for s in out["streamed_steps"]] == [s["record"] for s in steps]
    for s in steps:
        rec = s["record"]
        shown = {f["fact_id"] for f in rec["facts"]}
        assert rec["facts"] and all(f["text"] for f in rec["facts"]), rec
        assert set(rec["verdicts"]) == set(rec["cited"]), rec
        assert set(rec["verdicts"].values()) <= VERDICTS
        for fid, verdict in rec["verdicts"].items():
            assert (verdict == "verified") == (fid in shown), (fid, verdict)
        if rec["supported"]:  # supported: cites something, every citation verified, every claim supported
            assert rec["cited"] and all(v == "verified" for v in rec["verdicts"].values())
            assert rec["claims"] and all(c["verdict"] == "supported" for c in rec["claims"])
        assert s["anchor_id"] in result["anchors"]


def test_studio_server_reports_a_bad_input_without_dying(studio_server):
    async def run() -> tuple[str, dict]:
        from langgraph_sdk import get_client

        client = get_client(url=studio_server)
        thread = await client.threads.create()
        run = await client.runs.wait(thread["thread_id"], "kgimagine", input={"nct_id": "NCT99999999"}, raise_error=False)
        runs = await client.runs.list(thread["thread_id"])
        ok = await client.threads.create()  # the server still serves
        return runs[0]["status"], {"run": run, "ok": ok}

    status, out = asyncio.run(run())
    assert status == "error"
    assert "NCT99999999" in str(out["run"])
    assert out["ok"]["thread_id"]
