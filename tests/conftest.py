"""Shared fixtures: the shared data folder, graph stores for the contract suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgimagine.config import find_shared_data_dir

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = Path(os.environ["KGIMAGINE_DATA_DIR"]) if os.environ.get("KGIMAGINE_DATA_DIR") else find_shared_data_dir(REPO)
    if found is None:
        if IN_CI:
            pytest.fail("../shared/data is missing in CI")
        pytest.skip("the team's ../shared/data folder is not present on this machine")
    return found


def neo4j_settings() -> dict[str, str]:
    """The private test instance that scripts/run-tests starts (its own home and port).

    Tests clear the database, so they never read NEO4J_URI: a user's real graph is safe.
    """
    return {
        "uri": os.environ.get("KGIMAGINE_TEST_NEO4J_URI", "bolt://127.0.0.1:7797"),
        "user": os.environ.get("KGIMAGINE_TEST_NEO4J_USER", "neo4j"),
        "password": os.environ.get("KGIMAGINE_TEST_NEO4J_PASSWORD", "kgimagine-test"),
    }


@pytest.fixture(scope="session")
def neo4j_store_factory():
    """Connects to the server that scripts/neo4j started. In CI a missing server fails the run."""
    try:
        from kgimagine.kg.neo4j_store import Neo4jGraphStore
    except ModuleNotFoundError as exc:  # the store module or the driver extra is absent
        if IN_CI:
            pytest.fail(f"Neo4j store unavailable in CI: {exc}")
        pytest.skip(f"Neo4j store unavailable: {exc}")
    from kgimagine.errors import GraphStoreError

    cfg = neo4j_settings()
    stores = []

    def make():
        try:
            store = Neo4jGraphStore(cfg["uri"], user=cfg["user"], password=cfg["password"])
            store.clear()
        except GraphStoreError as exc:
            if IN_CI:
                pytest.fail(f"Neo4j must run in CI (scripts/neo4j start): {exc}")
            pytest.skip(f"no Neo4j server at {cfg['uri']} (start it with scripts/neo4j start): {exc}")
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request, tmp_path):
    """One fresh, empty store of each kind; the contract suite runs unchanged against both."""
    if request.param == "networkx":
        from kgimagine.kg.networkx_store import NetworkXGraphStore

        st = NetworkXGraphStore(tmp_path / "graph")
        yield st
        return
    st = request.getfixturevalue("neo4j_store_factory")()
    yield st
    st.clear()
