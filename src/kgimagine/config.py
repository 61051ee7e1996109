"""Settings models, and their resolution from an environment mapping.

Library code never reads the environment: the entry points (``cli/``, ``reasoning/app.py``) pass
``os.environ`` (and the working directory) to the ``resolve_*`` / ``from_env`` functions here, so
each setting and its environment variable are defined once, for both.

==============================  ===============================================================
``KGIMAGINE_DATA_DIR``          local copies of the public sources (default: ``shared/data``
                                beside or above the working directory or this checkout)
``KGIMAGINE_CACHE``             cache folder (default ``$XDG_CACHE_HOME/kgimagine`` or
                                ``~/.cache/kgimagine``)
``KGIMAGINE_GRAPH``             embedded graph directory (default ``<cache>/graph``)
``NEO4J_URI``, ``NEO4J_USER``,  a Neo4j server (password default ``kgimagine-dev``)
``NEO4J_PASSWORD``,
``NEO4J_DATABASE``
``KGIMAGINE_OPERATOR``          ``auto`` (default: the learned operator fitted for the graph, else
                                ``statistical``) | ``learned`` | ``statistical`` | ``local`` | ``openai``
``KGIMAGINE_MODEL``             statistical: fitted weights file; local: a model folder (default:
                                the bundled SmolLM2); openai: the served model name
``KGIMAGINE_ADAPTER``           local: a PEFT adapter folder
``KGIMAGINE_DEVICE``            local: ``cpu`` | ``cuda`` (default: cuda if available)
``KGIMAGINE_OPENAI_BASE_URL``   openai: e.g. ``http://127.0.0.1:8000/v1`` (``OPENAI_BASE_URL``
                                when unset)
``KGIMAGINE_OPENAI_MODEL``      openai: the served model name (when ``KGIMAGINE_MODEL`` is unset)
``KGIMAGINE_OPENAI_API_KEY``    openai: the key (``OPENAI_API_KEY`` when unset)
``KGIMAGINE_K``                 Studio: anchors per prediction (default 5)
``KGIMAGINE_EMBEDDINGS``        Studio: ``1`` (default) MiniLM text similarity for anchors, ``0`` not
==============================  ===============================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from kgimagine.errors import ConfigError

OPERATOR_KINDS: tuple[str, ...] = ("auto", "learned", "statistical", "local", "openai")


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


class OperatorConfig(BaseModel):
    """Which step operator to build, with its settings (``reasoning.operators.registry.build_operator``)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["auto", "learned", "statistical", "local", "openai"] = "auto"
    model: str | None = None  # learned: fitted folder; statistical: weights file; local: model folder; openai: served model name
    adapter: Path | None = None  # local: LoRA adapter folder
    device: str | None = None  # local: cpu | cuda
    base_url: str | None = None  # openai
    api_key: SecretStr | None = None  # openai

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, kind: str | None = None, model: str | None = None,
                 adapter: Path | None = None, device: str | None = None) -> "OperatorConfig":
        """Settings from ``environ`` (see the module docstring); arguments that are not None win."""
        kind = (kind or _get(environ, "KGIMAGINE_OPERATOR") or "auto").lower()
        if kind not in OPERATOR_KINDS:
            raise ConfigError(f"operator {kind!r} is not one of {', '.join(OPERATOR_KINDS)} (KGIMAGINE_OPERATOR)")
        if kind == "openai":
            model = model or _get(environ, "KGIMAGINE_OPENAI_MODEL") or _get(environ, "KGIMAGINE_MODEL")
        else:
            model = model or _get(environ, "KGIMAGINE_MODEL")
        adapter_env = _get(environ, "KGIMAGINE_ADAPTER")
        key = _get(environ, "KGIMAGINE_OPENAI_API_KEY") or _get(environ, "OPENAI_API_KEY")
        return cls(
            kind=kind,  # type: ignore[arg-type]
            model=model,
            adapter=adapter if adapter is not None else (Path(adapter_env) if adapter_env else None),
            device=device or _get(environ, "KGIMAGINE_DEVICE"),
            base_url=_get(environ, "KGIMAGINE_OPENAI_BASE_URL") or _get(environ, "OPENAI_BASE_URL"),
            api_key=SecretStr(key) if key else None,
        )


class StudioConfig(BaseModel):
    """What the Studio entry point (``reasoning/app.py``) serves."""

    model_config = ConfigDict(frozen=True)

    target: str | None = None  # embedded graph directory or Neo4j URI (None: the cache graph)
    k: int = 5
    embeddings: bool = True
    operator: OperatorConfig = OperatorConfig()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "StudioConfig":
        k_raw = _get(environ, "KGIMAGINE_K") or "5"
        try:
            k = int(k_raw)
        except ValueError:
            k = 0
        if k < 1:
            raise ConfigError(f"KGIMAGINE_K={k_raw!r} must be a positive integer (anchors per prediction)")
        return cls(
            target=_get(environ, "KGIMAGINE_GRAPH") or _get(environ, "NEO4J_URI"),
            k=k,
            embeddings=(_get(environ, "KGIMAGINE_EMBEDDINGS") or "1").lower() not in ("0", "false", "no"),
            operator=OperatorConfig.from_env(environ),
        )


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


def find_shared_data_dir(start: Path) -> Path | None:
    """The ``shared/data`` folder beside or above ``start`` (the team's checkout layout), if any."""
    for base in (start, *start.parents):
        for candidate in (base / "shared" / "data", base.parent / "shared" / "data"):
            if (candidate / "SOURCES.md").is_file():
                return candidate
    return None


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """``KGIMAGINE_CACHE``, else ``$XDG_CACHE_HOME/kgimagine``, else ``~/.cache/kgimagine`` (no disk access)."""
    return Path(_get(environ, "KGIMAGINE_CACHE")
                or Path(_get(environ, "XDG_CACHE_HOME") or Path.home() / ".cache") / "kgimagine")


def resolve_paths(environ: Mapping[str, str], *, cwd: Path, data_dir: Path | None = None,
                  graph_dir: Path | None = None) -> PathsConfig:
    """Data, cache and graph folders from ``environ`` (arguments that are not None win)."""
    cache = default_cache_dir(environ)
    if data_dir is None and _get(environ, "KGIMAGINE_DATA_DIR"):
        data_dir = Path(environ["KGIMAGINE_DATA_DIR"])
    if data_dir is None:
        data_dir = find_shared_data_dir(cwd) or find_shared_data_dir(Path(__file__).resolve().parent)
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist (set KGIMAGINE_DATA_DIR or --data-dir)")
    if graph_dir is None:
        graph_dir = Path(_get(environ, "KGIMAGINE_GRAPH") or cache / "graph")
    return PathsConfig(data_dir=data_dir, cache_dir=cache, graph_dir=graph_dir)


def resolve_neo4j(environ: Mapping[str, str], uri: str | None = None, user: str | None = None,
                  database: str | None = None) -> Neo4jConfig:
    return Neo4jConfig(
        uri=uri or _get(environ, "NEO4J_URI") or "bolt://127.0.0.1:7687",
        user=user or _get(environ, "NEO4J_USER") or "neo4j",
        password=SecretStr(environ.get("NEO4J_PASSWORD", "kgimagine-dev")),
        database=database or _get(environ, "NEO4J_DATABASE"),
    )


def open_configured_store(target: str | None, *, environ: Mapping[str, str], cwd: Path,
                          must_exist: bool = True) -> Any:
    """Open ``target`` (a directory or a Neo4j URI); default: the embedded graph in the cache.

    With ``must_exist`` an embedded directory without a graph is an error naming the fix.
    """
    from kgimagine.kg.connect import is_neo4j_uri, open_store

    if target and is_neo4j_uri(target):
        cfg = resolve_neo4j(environ, uri=target)
        return open_store(cfg.uri, user=cfg.user, password=cfg.password.get_secret_value(), database=cfg.database)
    path = Path(target) if target else resolve_paths(environ, cwd=cwd).graph_dir
    if must_exist and not (path / "manifest.json").is_file():
        raise ConfigError(f"no embedded graph in {path}; build one with `kgimagine kg build --store {path}`")
    return open_store(path)
