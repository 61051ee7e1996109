"""Settings: one definition of each environment variable, shared by the CLI and the Studio entry."""

from __future__ import annotations

import pytest

from kgimagine.config import OperatorConfig, StudioConfig
from kgimagine.errors import ConfigError


def test_openai_settings_read_the_same_variables_for_cli_and_studio(monkeypatch):
    from kgimagine.cli.settings import resolve_operator

    # the OpenAI client's own variable names and ours: both are read, ours win
    env = {"OPENAI_BASE_URL": "http://a:1/v1", "OPENAI_API_KEY": "k-openai", "KGIMAGINE_OPENAI_MODEL": "served"}
    for k in list(env) + ["KGIMAGINE_OPENAI_BASE_URL", "KGIMAGINE_OPENAI_API_KEY", "KGIMAGINE_MODEL",
                          "KGIMAGINE_OPERATOR", "KGIMAGINE_ADAPTER", "KGIMAGINE_DEVICE"]:
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cli = resolve_operator("openai")
    studio = StudioConfig.from_env({**env, "KGIMAGINE_OPERATOR": "openai"}).operator
    assert cli == studio
    assert (cli.base_url, cli.model, cli.api_key.get_secret_value()) == ("http://a:1/v1", "served", "k-openai")
    monkeypatch.setenv("KGIMAGINE_OPENAI_BASE_URL", "http://b:2/v1")
    monkeypatch.setenv("KGIMAGINE_OPENAI_API_KEY", "k-ours")
    ours = resolve_operator("openai", model="flag-model")
    assert (ours.base_url, ours.model, ours.api_key.get_secret_value()) == ("http://b:2/v1", "flag-model", "k-ours")


def test_operator_and_studio_settings_are_validated():
    with pytest.raises(ConfigError, match="not one of auto, learned, statistical, local, openai"):
        OperatorConfig.from_env({"KGIMAGINE_OPERATOR": "gpt"})
    with pytest.raises(ConfigError, match="KGIMAGINE_K"):
        StudioConfig.from_env({"KGIMAGINE_K": "0"})
    s = StudioConfig.from_env({"KGIMAGINE_GRAPH": "/g", "KGIMAGINE_K": "3", "KGIMAGINE_EMBEDDINGS": "0"})
    assert (s.target, s.k, s.embeddings, s.operator.kind) == ("/g", 3, False, "auto")


def test_build_operator_from_settings(tmp_path):
    from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator
    from kgimagine.reasoning.operators.registry import build_operator
    from kgimagine.reasoning.operators.statistical import StatisticalOperator

    store = None  # the statistical operator only keeps it; the openai one never reads it
    op = build_operator(OperatorConfig.from_env({"OPENAI_BASE_URL": "http://a:1/v1"}, kind="openai", model="m"),
                        store, cache_dir=tmp_path)
    assert isinstance(op, OpenAICompatibleOperator) and op.base_url == "http://a:1/v1" and op.model == "m"
    assert isinstance(build_operator(OperatorConfig(kind="statistical"), store, cache_dir=tmp_path), StatisticalOperator)
    with pytest.raises(ConfigError, match="base URL"):
        build_operator(OperatorConfig(kind="openai", model="m"), store, cache_dir=tmp_path)
