"""Resolve settings from the environment and the working directory (CLI-only)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from kgimagine.config import Neo4jConfig, PathsConfig, find_shared_data_dir
from kgimagine.errors import ConfigError


def resolve_paths(data_dir: Path | None = None, graph_dir: Path | None = None) -> PathsConfig:
    cache = Path(
        os.environ.get("KGIMAGINE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgimagine"
    )
    if data_dir is None and os.environ.get("KGIMAGINE_DATA_DIR"):
        data_dir = Path(os.environ["KGIMAGINE_DATA_DIR"])
    if data_dir is None:
        data_dir = find_shared_data_dir(Path.cwd())
        if data_dir is None:
            here = Path(__file__).resolve()
            data_dir = find_shared_data_dir(here.parent)
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist (set KGIMAGINE_DATA_DIR or --data-dir)")
    if graph_dir is None:
        graph_dir = Path(os.environ.get("KGIMAGINE_GRAPH") or cache / "graph")
    return PathsConfig(data_dir=data_dir, cache_dir=cache, graph_dir=graph_dir)


def resolve_neo4j(uri: str | None = None, user: str | None = None, database: str | None = None) -> Neo4jConfig:
    return Neo4jConfig(
        uri=uri or os.environ.get("NEO4J_URI") or "bolt://127.0.0.1:7687",
        user=user or os.environ.get("NEO4J_USER") or "neo4j",
        password=SecretStr(os.environ.get("NEO4J_PASSWORD", "kgimagine-dev")),
        database=database or os.environ.get("NEO4J_DATABASE") or None,
    )


def open_configured_store(target: str | None, *, must_exist: bool = True):
    """Open ``target`` (a directory or a Neo4j URI); default: the embedded graph in the cache.

    With ``must_exist`` an embedded directory without a graph is an error naming the fix.
    """
    from kgimagine.kg.connect import is_neo4j_uri, open_store

    if target and is_neo4j_uri(target):
        cfg = resolve_neo4j(uri=target)
        return open_store(cfg.uri, user=cfg.user, password=cfg.password.get_secret_value(), database=cfg.database)
    path = Path(target) if target else resolve_paths().graph_dir
    if must_exist and not (path / "manifest.json").is_file():
        raise ConfigError(f"no embedded graph in {path}; build one with `kgimagine kg build --store {path}`")
    return open_store(path)
