"""LangGraph Studio / ``langgraph dev`` entry point: ``make_graph``, configured from the environment.

``langgraph.json`` (repo root) names ``./src/kgimagine/reasoning/app.py:make_graph``, a graph
factory: the server calls it (with the run's config) when it needs the graph, so nothing is built
at import time. The first call opens the store and builds the operator; later calls with the same
settings reuse that graph. It is compiled WITHOUT a checkpointer; the server adds its own
persistence. This module and ``cli/`` are the only places that read the environment; the
variables and their defaults are defined once, in ``kgimagine.config`` (``StudioConfig``,
``OperatorConfig``, ``resolve_paths``).

Input (what a Studio user pastes): ``{"nct_id": "NCT01288573"}`` for a trial in the graph, or
``{"spec": {...TrialSpec...}}`` (drugs, diseases, phase, criteria, ...). The first node,
``prepare_spec``, turns either into a validated spec; the reasoning state machine of
``reasoning.graph.build_graph`` runs as a subgraph; the output keys are ``readable`` (the chain
as ``kgimagine predict`` prints it: probability, grounding rate, one line per step with the facts
that moved it and its verdict, the sources), ``result`` (a Prediction), and ``steps`` (every step
with its facts, claims, citations and the verifier's verdicts).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping, TypedDict

from kgimagine.config import StudioConfig
from kgimagine.errors import SpecValidationError
from kgimagine.reasoning.state import ReasoningConfig, ReasoningState


class StudioInput(TypedDict, total=False):
    """Give ``nct_id`` (a trial in the graph) or ``spec`` (a TrialSpec as JSON), or both."""

    nct_id: str
    spec: dict[str, Any]


class StudioState(ReasoningState, total=False):
    nct_id: str


class StudioOutput(TypedDict, total=False):
    readable: list[str]  # the chain as `kgimagine predict` prints it: probability, one line per step, sources
    result: dict[str, Any] | None
    steps: list[dict[str, Any]]
    flags: list[str]


def build_studio_graph(
    store: Any, operator: Any, *, config: ReasoningConfig, embedder: Any = None, cache_dir: Path | None = None
) -> Any:
    """``prepare_spec`` → the reasoning graph (as a subgraph) → END, compiled without a checkpointer."""
    from langgraph.graph import END, START, StateGraph

    from kgimagine.reasoning.graph import build_graph
    from kgimagine.reasoning.spec import TrialSpec

    inner = build_graph(store, operator, config=config, embedder=embedder, cache_dir=cache_dir)

    def prepare_spec(state: StudioState) -> dict[str, Any]:
        nct = (state.get("nct_id") or "").strip()
        spec = state.get("spec") or None
        if spec:
            if not isinstance(spec, dict):
                raise SpecValidationError(f"spec must be a JSON object (a TrialSpec), got {type(spec).__name__}")
            fields = dict(spec)
            if nct and not fields.get("nct_id"):
                fields["nct_id"] = nct
            return {"spec": TrialSpec.build(**fields).model_dump(mode="json")}
        if nct:
            return {"spec": TrialSpec.from_graph(store, nct).model_dump(mode="json")}
        raise SpecValidationError('give "nct_id" (a trial in the graph, e.g. NCT01288573) or "spec" (a TrialSpec)')

    g = StateGraph(StudioState, input_schema=StudioInput, output_schema=StudioOutput)
    g.add_node("prepare_spec", prepare_spec)
    g.add_node("reasoning", inner)
    g.add_edge(START, "prepare_spec")
    g.add_edge("prepare_spec", "reasoning")
    g.add_edge("reasoning", END)
    compiled = g.compile(name="kgimagine")
    return compiled.with_config({"recursion_limit": config.recursion_limit})


_GRAPHS: dict[str, Any] = {}


class _LazyStore:
    """The configured store, opened on first use. The server calls the factory inside its event
    loop, where blocking I/O is refused; the graph's nodes run in worker threads, so the store is
    opened there, once (later uses reuse it)."""

    def __init__(self, target: str, environ: Mapping[str, str]) -> None:
        self._target = target
        self._environ = dict(environ)
        self._store: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        with self._lock:
            if self._store is None:
                from kgimagine.config import open_configured_store

                self._store = open_configured_store(self._target, environ=self._environ, cwd=Path(self._target))
            return self._store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


class _LazyOperator:
    """The configured operator, built on first use (``auto`` reads the graph version to find the
    learned operator fitted for it, which opens the store)."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self._op: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        with self._lock:
            if self._op is None:
                self._op = self._build()
        return getattr(self._op, name)


def build_graph_for(settings: StudioConfig, *, cache_dir: Path, graph_dir: Path,
                    environ: Mapping[str, str]) -> Any:
    """The Studio graph for ``settings`` (store, operator, k, embeddings). Nothing here touches
    the disk or the network: the store opens on the first step, a local model on its first answer."""
    from kgimagine.reasoning.operators.registry import build_operator

    store = _LazyStore(settings.target or str(graph_dir), environ)
    embedder = None
    if settings.embeddings:
        from kgimagine.reasoning.embedding import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    operator = _LazyOperator(lambda: build_operator(settings.operator, store, cache_dir=cache_dir))  # type: ignore[arg-type]
    return build_studio_graph(store, operator, config=ReasoningConfig(k=settings.k, threshold=None), embedder=embedder,
                              cache_dir=cache_dir)


def make_graph(config: Any = None) -> Any:
    """Graph factory for ``langgraph.json``: the graph the environment describes, built on the
    first call and reused while the settings stay the same (``config``, the run's config, is not
    read: every setting comes from the environment)."""
    import os

    from kgimagine.config import default_cache_dir

    settings = StudioConfig.from_env(os.environ)
    cache_dir = default_cache_dir(os.environ)
    graph_dir = Path(os.environ.get("KGIMAGINE_GRAPH") or cache_dir / "graph")
    key = f"{settings.model_dump_json()}|{cache_dir}|{graph_dir}"
    if key not in _GRAPHS:
        _GRAPHS[key] = build_graph_for(settings, cache_dir=cache_dir, graph_dir=graph_dir, environ=os.environ)
    return _GRAPHS[key]
