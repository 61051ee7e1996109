"""The whole loop on the real model: mine pairs from a graph -> LoRA SFT on SmolLM2 (a couple of
CPU steps) -> the predictor serves base + adapter end to end, with verified citations."""

from __future__ import annotations


import pytest

from tests.integration.local_model import cache_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_predictor_serves_a_freshly_trained_adapter(tmp_path):
    import torch

    from kgimagine.kg import queries
    from kgimagine.local_models import ensure_base_model
    from kgimagine.reasoning.operators.local import LocalOperator
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec
    from kgimagine.traces import write_traces
    from kgimagine.training.manifest import read_manifest
    from kgimagine.training.pairs import iter_pair_examples
    from kgimagine.training.trainer import SftConfig, run_sft

    from tests.unit.reasoning.graph_fixture import fixture_store

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store = fixture_store()
        examples = list(iter_pair_examples(store, facts_for_change=queries.facts_for_change, budget=4))
        assert examples, "the fixture graph has one-factor pairs of labelled trials"
        data = tmp_path / "pairs.jsonl"
        write_traces(data, examples[:4])
        base = ensure_base_model(cache_dir())
        result, manifest = run_sft(base, [data], tmp_path / "adapter",
                                   SftConfig(steps=2, batch_size=1, max_length=1024, device="cpu", lr=1e-3))
        assert (tmp_path / "adapter" / "adapter_config.json").is_file()
        assert read_manifest(tmp_path / "adapter").base_model == manifest.base_model
        assert result.steps == 2

        op = LocalOperator(model_path=base, adapter=tmp_path / "adapter", cache_dir=cache_dir(),
                           max_new_tokens=48, device="cpu")
        assert op.name.endswith("+adapter:adapter")
        pred = Predictor(store, op, k=1, max_reasks=1, fact_budget=5).predict(TrialSpec.from_graph(store, "NCT00000008"))
        assert 0.0 <= pred.probability <= 1.0
        assert pred.operator == op.name
        steps = pred.chains[0].steps
        assert steps
        for rec in steps:
            shown = {f.fact_id for f in rec.facts}
            assert all((v == "verified") == (fid in shown) for fid, v in rec.verdicts.items())
            if rec.facts:  # valid JSON citing shown ids; whether its claims hold is the verifier's call
                assert rec.cited and rec.claims
                assert rec.supported == all(c.verdict == "supported" for c in rec.claims)
    finally:
        torch.set_num_threads(threads)
