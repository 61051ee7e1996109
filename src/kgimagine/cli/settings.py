"""The CLI's settings: ``kgimagine.config`` resolved from this process's environment and working
directory (the only reads of them, with ``reasoning/app.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kgimagine import config
from kgimagine.config import Neo4jConfig, OperatorConfig, PathsConfig


def resolve_paths(data_dir: Path | None = None, graph_dir: Path | None = None) -> PathsConfig:
    return config.resolve_paths(os.environ, cwd=Path.cwd(), data_dir=data_dir, graph_dir=graph_dir)


def resolve_neo4j(uri: str | None = None, user: str | None = None, database: str | None = None) -> Neo4jConfig:
    return config.resolve_neo4j(os.environ, uri=uri, user=user, database=database)


def resolve_operator(kind: str | None = None, *, model: str | None = None, adapter: Path | None = None,
                     device: str | None = None) -> OperatorConfig:
    return OperatorConfig.from_env(os.environ, kind=kind, model=model, adapter=adapter, device=device)


def open_configured_store(target: str | None, *, must_exist: bool = True) -> Any:
    """Open ``target`` (a directory or a Neo4j URI); default: the embedded graph in the cache."""
    return config.open_configured_store(target, environ=os.environ, cwd=Path.cwd(), must_exist=must_exist)
