from __future__ import annotations

import pytest

from tests.unit.reasoning.graph_fixture import fixture_store


@pytest.fixture
def rstore(tmp_path):
    """The reasoning fixture graph in a fresh embedded store (saved to disk, for the CLI)."""
    return fixture_store(tmp_path / "graph")
