"""Settings models. Only the CLI and ``reasoning/app.py`` resolve them from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class Neo4jConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: SecretStr = SecretStr("")
    database: str | None = None


class PathsConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: Path | None  # local copies of the public sources (None: download into cache_dir)
    cache_dir: Path  # downloads, models, the default embedded graph
    graph_dir: Path  # the default embedded graph directory


def find_shared_data_dir(start: Path) -> Path | None:
    """The ``shared/data`` folder beside or above ``start`` (the team's checkout layout), if any."""
    for base in (start, *start.parents):
        for candidate in (base / "shared" / "data", base.parent / "shared" / "data"):
            if (candidate / "SOURCES.md").is_file():
                return candidate
    return None
