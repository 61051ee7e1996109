"""Fixtures of the training tests: a tiny Llama model built from a config and a byte-level
tokenizer with a ChatML template (no downloads, no real weights: seconds on a CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_byte_tokenizer():
    """A byte-level tokenizer: 256 byte tokens + ChatML specials (vocab 259)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHATML
    return fast


def build_tiny_model(vocab_size: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, initializer_range=0.2)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="session")
def byte_tokenizer():
    return build_byte_tokenizer()


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory, byte_tokenizer) -> Path:
    """A saved tiny base model folder (config + safetensors + tokenizer), like ensure_base_model's."""
    out = tmp_path_factory.mktemp("tiny-base") / "tiny-llama"
    model = build_tiny_model(len(byte_tokenizer), seed=0)
    model.save_pretrained(out)
    byte_tokenizer.save_pretrained(out)
    (out / "kgimagine-model.json").write_text(json.dumps({"model_name": "tiny-llama"}), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def other_base_dir(tmp_path_factory, byte_tokenizer) -> Path:
    """Same architecture, other weights: an adapter of tiny_base_dir must be refused here."""
    out = tmp_path_factory.mktemp("other-base") / "tiny-llama"
    model = build_tiny_model(len(byte_tokenizer), seed=1)
    model.save_pretrained(out)
    byte_tokenizer.save_pretrained(out)
    return out


def make_step_examples(n: int = 6, graph_version: str = "kg-test"):
    """Synthetic but schema-valid pair examples (answers depend on the input: learnable)."""
    from kgimagine.traces import Claim, FactRef, StepAnswer, StepExample, StepInput
    from kgimagine.types import Factor

    out = []
    for i in range(n):
        up = i % 2 == 0
        facts = [FactRef(fact_id=f"fact:{i:04d}a", text=f"drug{i} TARGETS GENE{i}"),
                 FactRef(fact_id=f"fact:{i:04d}b", text=f"drug{i + 1} TARGETS GENE{i}")]
        step = StepInput(factor=Factor.DRUG, anchor_value=f"drug{i}", target_value=f"drug{i + 1}",
                         p_before=0.15 if up else 0.85, facts=facts)
        answer = StepAnswer(direction="up" if up else "down", probability=0.85 if up else 0.15,
                            claims=[Claim(facts=[f.fact_id], role="up" if up else "down") for f in facts],
                            rationale=f"both target GENE{i}")
        out.append(StepExample(graph_version=graph_version, split="phase_I_train", origin="pair",
                               example_id=f"pair:{i}", anchor_id=f"clinicaltrials:NCT{i:08d}",
                               target_id=f"clinicaltrials:NCT{i + 1:08d}", step=step, answer=answer,
                               target_label=1 if up else 0, direction="up" if up else "down"))
    return out


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The tiny models train fastest on one thread (the shared CI/dev boxes are oversubscribed)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
