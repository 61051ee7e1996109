"""Build the LangGraph state machine:

    START → resolve_target → retrieve_anchors → plan → retrieve_facts → imagine → verify
          → (re-ask → imagine | next step → retrieve_facts | chain done → finish_chain)
          → (next anchor → plan | done → aggregate) → END

``build_graph(store, operator, config=...)`` returns a compiled graph; ``reasoning/app.py`` (Studio)
and ``Predictor`` both use it. Input: ``{"spec": TrialSpec.model_dump()}``; output key ``result``
(a ``Prediction`` as JSON).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.embedding import Embedder
from kgimagine.reasoning.nodes import ReasoningNodes
from kgimagine.reasoning.operators.base import Operator
from kgimagine.reasoning.retrieval import AnchorIndex, TargetResolver
from kgimagine.reasoning.routing import (
    route_after_anchors,
    route_after_chain,
    route_after_plan,
    route_after_resolve,
    route_after_verify,
)
from kgimagine.reasoning.state import ReasoningConfig, ReasoningState

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph


def build_graph(
    store: GraphStore,
    operator: Operator,
    *,
    config: ReasoningConfig | None = None,
    embedder: Embedder | None = None,
    cache_dir: str | Path | None = None,
    index: AnchorIndex | None = None,
    resolver: TargetResolver | None = None,
    checkpointer: Any = None,
) -> "CompiledStateGraph":
    """The compiled state machine. The anchor index (labelled trials, embeddings) is built on the
    first prediction unless ``index`` is given; pass the same one to several graphs to share it."""
    from langgraph.graph import END, START, StateGraph

    config = config or ReasoningConfig()
    cache = Path(cache_dir) if cache_dir is not None else None

    def make_index() -> AnchorIndex:
        return index if index is not None else AnchorIndex.build(store, embedder=embedder, cache_dir=cache)

    nodes = ReasoningNodes(store, operator, config=config, index_factory=make_index, resolver=resolver)
    g = StateGraph(ReasoningState)
    for name, fn in nodes.as_dict().items():
        g.add_node(name, fn)
    g.add_edge(START, "resolve_target")
    g.add_conditional_edges("resolve_target", route_after_resolve, ["retrieve_anchors", "aggregate"])
    g.add_conditional_edges("retrieve_anchors", route_after_anchors, ["plan", "aggregate"])
    g.add_conditional_edges("plan", route_after_plan, ["retrieve_facts", "finish_chain"])
    g.add_edge("retrieve_facts", "imagine")
    g.add_edge("imagine", "verify")
    g.add_conditional_edges("verify", route_after_verify, ["imagine", "retrieve_facts", "finish_chain"])
    g.add_conditional_edges("finish_chain", route_after_chain, ["plan", "aggregate"])
    g.add_edge("aggregate", END)
    compiled = g.compile(checkpointer=checkpointer, name="kgimagine")
    return compiled.with_config({"recursion_limit": config.recursion_limit})
