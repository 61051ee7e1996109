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
``reasoning.graph.build_graph`` runs as a subgraph; the output key is ``result`` (a Prediction),
and ``steps`` holds every step with its facts, citations and the verifier's verdicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypedDict

from kgimagine.config import PathsConfig, StudioConfig
from kgimagine.errors import SpecValidationError
from kgimagine.reasoning.state import ReasoningConfig, ReasoningState


class StudioInput(TypedDict, total=False):
    """Give ``nct_id`` (a trial in the graph) or ``spec`` (a TrialSpec as JSON), or both."""

    nct_id: str
    spec: dict[str, Any]


class StudioState(ReasoningState, total=False):
    nct_id: str


class StudioOutput(TypedDict, total=False):
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


def build_graph_for(settings: StudioConfig, paths: PathsConfig, *, environ: Mapping[str, str]) -> Any:
    """The Studio graph for ``settings`` (store, operator, k, embeddings); ``environ`` holds the
    Neo4j credentials when the target is a server."""
    from kgimagine.config import open_configured_store
    from kgimagine.reasoning.operators.registry import build_operator

    store = open_configured_store(settings.target or str(paths.graph_dir), environ=environ, cwd=Path.cwd())
    embedder = None
    if settings.embeddings:
        from kgimagine.reasoning.embedding import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    operator = build_operator(settings.operator, store, cache_dir=paths.cache_dir)
    return build_studio_graph(store, operator, config=ReasoningConfig(k=settings.k), embedder=embedder,
                              cache_dir=paths.cache_dir)


def make_graph(config: Any = None) -> Any:
    """Graph factory for ``langgraph.json``: the graph the environment describes, built on the
    first call and reused while the settings stay the same (``config``, the run's config, is not
    read: every setting comes from the environment)."""
    import os

    from kgimagine.config import resolve_paths

    settings = StudioConfig.from_env(os.environ)
    paths = resolve_paths(os.environ, cwd=Path.cwd())
    key = settings.model_dump_json() + paths.model_dump_json()
    if key not in _GRAPHS:
        _GRAPHS[key] = build_graph_for(settings, paths, environ=os.environ)
    return _GRAPHS[key]
