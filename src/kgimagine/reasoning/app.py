"""LangGraph Studio / ``langgraph dev`` entry point: ``graph``, configured from the environment.

``langgraph.json`` (repo root) names ``./src/kgimagine/reasoning/app.py:graph``. The server imports
this module and reads the module-level ``graph``, so the graph is built at import time here (and
only here: nothing else imports this module). It is compiled WITHOUT a checkpointer; the server
adds its own persistence. This module and ``cli/`` are the only places that read the environment.

Environment (all optional except a graph):

==============================  ===============================================================
``KGIMAGINE_GRAPH``             embedded graph directory (default: ``<cache>/graph``)
``NEO4J_URI``                   use this Neo4j server instead (with ``NEO4J_USER``,
                                ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``); ignored when
                                ``KGIMAGINE_GRAPH`` is set
``KGIMAGINE_CACHE``             cache folder (models, anchor embeddings); default
                                ``~/.cache/kgimagine``
``KGIMAGINE_OPERATOR``          ``statistical`` (default) | ``local`` | ``openai``
``KGIMAGINE_K``                 anchors per prediction (default 5)
``KGIMAGINE_EMBEDDINGS``        ``1`` (default) to use MiniLM text similarity for anchors, ``0`` not
``KGIMAGINE_MODEL``             local: a Hugging Face model folder (default: the bundled SmolLM2)
``KGIMAGINE_ADAPTER``           local: a PEFT adapter folder
``KGIMAGINE_DEVICE``            local: ``cpu`` | ``cuda`` (default: cuda if available)
``KGIMAGINE_OPENAI_BASE_URL``   openai: e.g. ``http://127.0.0.1:8000/v1`` (vLLM, Ollama, ...)
``KGIMAGINE_OPENAI_MODEL``      openai: the served model name
``KGIMAGINE_OPENAI_API_KEY``    openai: the key (``OPENAI_API_KEY`` is used when unset)
==============================  ===============================================================

Input (what a Studio user pastes): ``{"nct_id": "NCT01288573"}`` for a trial in the graph, or
``{"spec": {...TrialSpec...}}`` (drugs, diseases, phase, criteria, ...). The first node,
``prepare_spec``, turns either into a validated spec; the reasoning state machine of
``reasoning.graph.build_graph`` runs as a subgraph; the output key is ``result`` (a Prediction),
and ``steps`` holds every step with its facts, citations and the verifier's verdicts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

from kgimagine.errors import ConfigError, SpecValidationError
from kgimagine.reasoning.state import ReasoningConfig, ReasoningState

OPERATORS = ("statistical", "local", "openai")


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


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def build_operator_from_env(store: Any, cache_dir: Path) -> Any:
    kind = (_env("KGIMAGINE_OPERATOR", "statistical") or "statistical").lower()
    if kind == "statistical":
        from kgimagine.reasoning.operators.statistical import StatisticalOperator

        return StatisticalOperator(store)
    if kind == "local":
        from kgimagine.reasoning.operators.local import LocalOperator

        return LocalOperator(
            model_path=_env("KGIMAGINE_MODEL"),
            adapter=_env("KGIMAGINE_ADAPTER"),
            cache_dir=cache_dir,
            device=_env("KGIMAGINE_DEVICE"),
        )
    if kind == "openai":
        from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator

        base_url, model = _env("KGIMAGINE_OPENAI_BASE_URL"), _env("KGIMAGINE_OPENAI_MODEL")
        if not base_url or not model:
            raise ConfigError(
                "KGIMAGINE_OPERATOR=openai needs KGIMAGINE_OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1) "
                "and KGIMAGINE_OPENAI_MODEL (the served model name)"
            )
        return OpenAICompatibleOperator(
            base_url, model, api_key=_env("KGIMAGINE_OPENAI_API_KEY") or _env("OPENAI_API_KEY")
        )
    raise ConfigError(f"KGIMAGINE_OPERATOR={kind!r} is not one of {', '.join(OPERATORS)}")


def build_graph_from_env() -> Any:
    """The Studio graph for the store, operator and settings named in the environment."""
    from kgimagine.cli.settings import open_configured_store, resolve_paths

    paths = resolve_paths()
    target = _env("KGIMAGINE_GRAPH") or _env("NEO4J_URI")
    store = open_configured_store(target, must_exist=True)
    k_raw = _env("KGIMAGINE_K", "5")
    try:
        k = int(k_raw or "5")
        if k < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"KGIMAGINE_K={k_raw!r} must be a positive integer (anchors per prediction)") from None
    embedder = None
    if (_env("KGIMAGINE_EMBEDDINGS", "1") or "1") not in ("0", "false", "no"):
        from kgimagine.reasoning.embedding import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    operator = build_operator_from_env(store, paths.cache_dir)
    return build_studio_graph(
        store, operator, config=ReasoningConfig(k=k), embedder=embedder, cache_dir=paths.cache_dir
    )


graph = build_graph_from_env()
