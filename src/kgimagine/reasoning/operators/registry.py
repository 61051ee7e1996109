"""Build the step operator an ``OperatorConfig`` names (``kgimagine.config``): one place for the
CLI (``kgimagine predict`` / ``train chains``) and the Studio entry point (``reasoning/app.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from kgimagine.config import OperatorConfig
from kgimagine.errors import ConfigError
from kgimagine.kg.store import GraphStore


def build_operator(config: OperatorConfig, store: GraphStore, *, cache_dir: Path,
                   on_fallback: Callable[[str], None] | None = None) -> Any:
    """The operator; LLM backends are imported only when asked for. ``cache_dir``: the kgimagine
    cache (the local operator converts its base model under ``<cache_dir>/models``).

    ``auto``: the learned operator fitted for this graph (``kgimagine train operator``) when there
    is one, else the statistical operator (``on_fallback`` is told why)."""
    if config.kind in ("auto", "learned"):
        from kgimagine.reasoning.operators.learned import LearnedOperator, default_operator_dir

        path = Path(config.model) if config.model else default_operator_dir(cache_dir, store.graph_version())
        if config.kind == "learned" or (path / "manifest.json").is_file():
            return LearnedOperator.load(path, store)
        if on_fallback is not None:
            on_fallback(f"no learned operator fitted for this graph ({path}); using the statistical operator "
                        "(fit one with `kgimagine train operator`)")
        from kgimagine.reasoning.operators.statistical import StatisticalOperator

        return StatisticalOperator(store)
    if config.kind == "statistical":
        from kgimagine.reasoning.operators.statistical import StatisticalOperator

        return StatisticalOperator.load(config.model, store) if config.model else StatisticalOperator(store)
    if config.kind == "local":
        from kgimagine.reasoning.operators.local import LocalOperator

        return LocalOperator(model_path=config.model, adapter=config.adapter, cache_dir=cache_dir, device=config.device)
    from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator

    if not config.base_url or not config.model:
        raise ConfigError(
            "the openai operator needs a base URL (KGIMAGINE_OPENAI_BASE_URL or OPENAI_BASE_URL, e.g. "
            "http://127.0.0.1:8000/v1) and the served model name (--model, KGIMAGINE_OPENAI_MODEL or KGIMAGINE_MODEL)"
        )
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    return OpenAICompatibleOperator(config.base_url, config.model, api_key=key)
