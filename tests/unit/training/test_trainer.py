"""LoRA SFT on a tiny model built from a config: the loss drops, the adapter weights change, the
adapter folder reloads with the same logits, a mismatched base is refused, merge works."""

from __future__ import annotations

import json

import pytest

from kgimagine.errors import AdapterMismatchError, TrainingError
from kgimagine.traces import write_traces
from kgimagine.training.datasets import step_example_to_sft, tokenize_sft_data
from kgimagine.training.lora import LoraSettings, build_lora_model, load_adapter, lora_state
from kgimagine.training.manifest import MANIFEST_FILE, read_manifest
from kgimagine.training.trainer import SftConfig, collate, oom_message, run_sft, train_lora

from .conftest import build_tiny_model, make_step_examples

CFG = SftConfig(steps=12, batch_size=2, grad_accum=2, lr=2e-2, max_length=1024, device="cpu",
                lora=LoraSettings(rank=8, alpha=16, dropout=0.0, target_modules=("all-linear",)))


def _mean_loss(model, examples, pad_id):
    import torch

    model.eval()
    with torch.no_grad():
        b = collate(examples, pad_id)
        return float(model(**b).loss)


def test_sft_steps_lower_the_loss_and_change_the_lora_weights(byte_tokenizer):
    examples, dropped = tokenize_sft_data(byte_tokenizer, [step_example_to_sft(e) for e in make_step_examples(4)],
                                          max_length=1024)
    assert dropped == 0
    model = build_lora_model(build_tiny_model(len(byte_tokenizer)), CFG.lora)
    before_w = lora_state(model)
    before = _mean_loss(model, examples, byte_tokenizer.pad_token_id)
    seen = []
    result = train_lora(model, examples, CFG, pad_token_id=byte_tokenizer.pad_token_id,
                        progress=lambda s, n, l: seen.append(s))
    after = _mean_loss(model, examples, byte_tokenizer.pad_token_id)
    assert after < before - 0.5, (before, after)
    after_w = lora_state(model)
    changed = [k for k in before_w if "lora_B" in k and not (before_w[k] == after_w[k]).all()]
    assert changed, "no LoRA B matrix moved"
    base_params = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    assert base_params == []  # only the adapter trains
    assert seen == list(range(1, CFG.steps + 1)) and len(result.loss_curve) == CFG.steps
    assert result.tokens > 0 and result.tokens_per_s > 0


@pytest.fixture(scope="module")
def trained_adapter(tmp_path_factory, tiny_base_dir):
    tmp = tmp_path_factory.mktemp("sft")
    data = tmp / "pairs.jsonl"
    write_traces(data, make_step_examples(4))
    with open(data, "a", encoding="utf-8") as fh:
        fh.write("{broken line\n")
    logs: list[str] = []
    result, manifest = run_sft(tiny_base_dir, [data], tmp / "adapter", CFG, log=logs.append)
    return tmp / "adapter", result, manifest, logs


def test_run_sft_writes_a_plain_peft_folder_with_manifest_and_curve(trained_adapter, tiny_base_dir):
    adapter, result, manifest, logs = trained_adapter
    for name in ("adapter_config.json", "adapter_model.safetensors", MANIFEST_FILE, "loss_curve.png"):
        assert (adapter / name).is_file(), name
    assert any(":5:" in line for line in logs)  # the broken line was reported with its number
    m = read_manifest(adapter)
    assert m.base_model == "tiny-llama" and m.base_model_path == str(tiny_base_dir.resolve())
    assert m.graph_versions == ["kg-test"] and len(m.data_hash) == 16 and m.data_files[0]["records"] == 4
    assert m.config["steps"] == CFG.steps and len(m.loss_curve) == CFG.steps
    assert m.metrics["bad_lines"] == 1 and m.metrics["final_loss"] < m.metrics["initial_loss"]
    declared = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert declared == str(tiny_base_dir.resolve())


def test_adapter_reloads_with_the_same_logits(trained_adapter, tiny_base_dir, byte_tokenizer):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from kgimagine.local_models import load_causal_lm

    adapter, *_ = trained_adapter
    ids = torch.tensor([byte_tokenizer.encode("Change drug: drug1 -> drug2")])
    a = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), str(adapter)).eval()
    b, _ = load_causal_lm(tiny_base_dir, adapter=adapter, device="cpu")  # what LocalOperator uses
    plain = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    with torch.no_grad():
        la, lb, lp = a(ids).logits, b(ids).logits, plain(ids).logits
    assert torch.allclose(la, lb, atol=1e-6)
    assert not torch.allclose(la, lp, atol=1e-4)  # the adapter does something


def test_adapter_on_another_base_is_refused(trained_adapter, other_base_dir):
    from transformers import AutoModelForCausalLM

    from kgimagine.training.export import merge_adapter

    adapter, *_ = trained_adapter
    other = AutoModelForCausalLM.from_pretrained(other_base_dir)
    with pytest.raises(AdapterMismatchError, match="trained on base 'tiny-llama'"):
        load_adapter(other, adapter)
    with pytest.raises(AdapterMismatchError, match="retrain"):
        merge_adapter(adapter, other_base_dir.parent / "merged", base_dir=other_base_dir)


def test_merge_writes_a_model_with_the_adapter_logits(trained_adapter, tiny_base_dir, byte_tokenizer, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from kgimagine.training.export import MERGED_FROM_FILE, merge_adapter

    adapter, *_ = trained_adapter
    out = merge_adapter(adapter, tmp_path / "merged")  # base found through the manifest
    assert (out / "model.safetensors").is_file() and (out / MERGED_FROM_FILE).is_file()
    ids = torch.tensor([byte_tokenizer.encode("[fact:0001a] drug1 TARGETS GENE1")])
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), str(adapter)).eval()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft(ids).logits, atol=1e-4)
    with pytest.raises(TrainingError, match="not empty"):
        merge_adapter(adapter, out)


def test_out_of_memory_names_the_knobs():
    msg = oom_message(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried to "
                                   "allocate 123 bytes"), CFG, "cpu")
    assert msg and "--batch-size" in msg and "--max-length" in msg and "--rank" in msg
    assert oom_message(RuntimeError("shape mismatch"), CFG, "cpu") is None


def test_no_usable_examples_is_a_clear_error(tmp_path, tiny_base_dir):
    data = tmp_path / "empty.jsonl"
    data.write_text("{oops\n", encoding="utf-8")
    with pytest.raises(TrainingError, match="no usable examples"):
        run_sft(tiny_base_dir, [data], tmp_path / "a", CFG)
