"""``LocalOperator``: an imagination step answered by a local causal LM (SmolLM2 by default).

Decoding (``constrained=True``, the default) is a small hand-written loop over the model with a
KV cache that fills the fixed answer template field by field — a grammar that admits only the
retrieved fact ids, the direction and role enums and a bounded rationale. What the model chooses
and what is forced, exactly:

1. The prompt is the tokenizer's chat template over ``traces.render_step_messages(step)`` (plus
   the re-ask ``feedback`` as a last user line), and the assistant turn is prefilled with
   ``{"direction":`` — forced, not generated.
2. direction: the model's best of `` "up"``, `` "down"``, `` "none"`` (token trie over the three).
3. ``, "probability": `` is forced; the number is the model's highest-scoring token among those
   that keep the text a prefix of a number in [0, 1] with at most 3 decimals; it ends as soon as
   the model's unrestricted favourite token is not such a continuation (or at 3 decimals); an
   incomplete ``0.`` takes the best digit; with no digit at all ``0.5`` is forced.
4. ``, "claims": [`` is forced; each claim is ``{"facts": ["<id>"], "role": "<role>"}``: the id
   is decoded through a token trie of the fact ids shown in the prompt (not yet cited), so the
   model picks *which* id but cannot invent one; the role is the model's best of up / down /
   context; the braces and keys are forced. After each claim the model chooses ``,`` (another
   claim, at most ``max_cited``) or ``]`` by their scores. With no facts, ``]`` is forced.
5. ``, "rationale": "`` is forced; the rationale is free greedy text until the model emits a
   token holding ``"``, a backslash, a brace or a control character (cut there), 240 characters
   or the token budget; ``"}`` is forced. Its first token may close the string at once (an empty
   rationale, as the learned operator writes: the claims carry the evidence). The returned text is exactly the decoded token stream.

So the JSON shape is guaranteed and cited ids always come from the prompt; the direction, the
probability, the choice of ids and roles and the rationale are the model's. The verifier still
checks every claim (``reasoning/verifier.py``). ``constrained=False`` runs plain greedy
``generate`` after the same prefill, cut after the first complete JSON object — used to measure
how often the bare model produces a valid answer.

``temperature > 0`` samples (softmax over the allowed tokens) instead of taking the best token.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from kgimagine.errors import OperatorError
from kgimagine.traces import (  # the answer's fixed pieces: SFT tokenises answers in the same pieces
    ANSWER_CLOSE,
    ANSWER_PREFILL,
    CLAIM_ID_OPEN,
    CLAIM_OPEN,
    CLAIMS_OPEN,
    MAX_RATIONALE_CHARS,
    PROBABILITY_OPEN,
    RATIONALE_OPEN,
    ROLE_OPEN,
    StepInput,
    render_step_messages,
)

PREFILL = ANSWER_PREFILL
DIRECTIONS = (' "up"', ' "down"', ' "none"')
ROLES = (' "up"', ' "down"', ' "context"')
_PROB_PREFIX = re.compile(r"^(0(\.\d{0,3})?|1(\.0{0,3})?)?$")
_PROB_COMPLETE = re.compile(r"^(0|1|0\.\d{1,3}|1\.0{1,3})$")
_MAX_PROB_CHARS = 5
_CLAIM_STOP = '"\\\n{}'  # a quote, backslash or newline ends the JSON string; braces would confuse parsers


class LocalOperator:
    """One imagination step answered by a local Hugging Face causal LM (+ optional PEFT adapter)."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        adapter: str | Path | None = None,
        cache_dir: str | Path | None = None,
        max_new_tokens: int = 96,
        temperature: float = 0.0,
        device: str | None = None,
        *,
        constrained: bool = True,
        max_cited: int = 3,
        seed: int = 0,
    ) -> None:
        if model_path is None and cache_dir is None:
            raise OperatorError(
                "LocalOperator needs model_path (a Hugging Face model folder) or cache_dir "
                "(where the bundled SmolLM2 base is converted once); pass one of them"
            )
        if max_new_tokens < 16:
            raise OperatorError(f"max_new_tokens={max_new_tokens} is too small for an answer; use >= 16")
        if temperature < 0:
            raise OperatorError(f"temperature={temperature} must be >= 0 (0 = greedy)")
        self._model_path = Path(model_path) if model_path is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._adapter = Path(adapter) if adapter is not None else None
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.device = device
        self.constrained = constrained
        self.max_cited = max_cited
        self.seed = seed
        if self._model_path is not None and self._adapter is not None:
            from kgimagine.local_models import check_adapter_base

            check_adapter_base(self._model_path, self._adapter)  # refuse early, before loading
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._vocab: _Vocab | None = None
        self.stats = {"calls": 0, "generated_tokens": 0, "forced_tokens": 0, "prompt_tokens": 0, "seconds": 0.0}

    # -- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        from kgimagine.local_models import BASE_MODEL_NAME

        model = self._model_path.name if self._model_path is not None else BASE_MODEL_NAME
        return f"local:{model}" + (f"+adapter:{self._adapter.name}" if self._adapter is not None else "")

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model now (otherwise the first ``imagine`` does)."""
        with self._lock:
            self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        from kgimagine.local_models import ensure_base_model, load_causal_lm

        path = self._model_path
        if path is None:
            assert self._cache_dir is not None
            path = ensure_base_model(self._cache_dir)
            self._model_path = path
        model, tokenizer = load_causal_lm(path, adapter=self._adapter, device=self.device)
        if getattr(tokenizer, "chat_template", None) is None:
            raise OperatorError(f"the tokenizer in {path} has no chat template; use an instruct model")
        self._tokenizer = tokenizer
        self._vocab = _Vocab(tokenizer)
        self._model = model

    # -- the step ---------------------------------------------------------------------------
    def render_prompt(self, step: StepInput, feedback: str | None = None) -> str:
        """The exact text the model is run on (chat template + forced prefill)."""
        self._ensure_loaded()
        messages = render_step_messages(step)
        if feedback:
            messages[-1] = {
                "role": "user",
                "content": messages[-1]["content"] + f"\nYour previous answer was refused: {feedback}",
            }
        text = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + PREFILL

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        import time

        import torch

        with self._lock:
            self._ensure_loaded()
            t0 = time.perf_counter()
            prompt = self.render_prompt(step, feedback)
            ids = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            ids = ids.to(self._model.device)
            with torch.inference_mode():
                if self.constrained:
                    text, generated, forced = self._constrained(ids, step)
                else:
                    text, generated, forced = self._free(ids)
            self.stats["calls"] += 1
            self.stats["generated_tokens"] += generated
            self.stats["forced_tokens"] += forced
            self.stats["prompt_tokens"] += int(ids.shape[1])
            self.stats["seconds"] += time.perf_counter() - t0
            return PREFILL + text

    # -- decoding ---------------------------------------------------------------------------
    def _free(self, ids: Any) -> tuple[str, int, int]:
        import json

        out = self._model.generate(
            ids,
            max_new_tokens=self.max_new_tokens,
            do_sample=self.temperature > 0,
            temperature=self.temperature if self.temperature > 0 else None,
            top_p=None,
            top_k=None,
            pad_token_id=self._tokenizer.eos_token_id,
        )
        new = out[0, ids.shape[1]:]
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        try:  # cut after the first complete JSON object
            _, end = json.JSONDecoder().raw_decode(PREFILL + text)
            text = (PREFILL + text)[:end][len(PREFILL):]
        except json.JSONDecodeError:
            pass
        return text, int(new.shape[0]), 0

    def _constrained(self, ids: Any, step: StepInput) -> tuple[str, int, int]:
        run = _Run(self._model, self._vocab, ids, self.temperature, self.seed)
        budget = self.max_new_tokens
        vocab = self._vocab
        assert vocab is not None

        # 1. direction
        self._choose_text(run, DIRECTIONS)

        # 2. probability
        run.push(vocab.encode(PROBABILITY_OPEN), generated=False)
        number = ""
        while len(number) < _MAX_PROB_CHARS and budget > 0:
            allowed = [
                t
                for t, s in vocab.number_tokens.items()
                if (not number or not s.startswith(" ")) and _PROB_PREFIX.match(number + s.lstrip())
            ]
            if not allowed:
                break
            favourite = run.best(None)
            if number and _PROB_COMPLETE.match(number) and favourite not in allowed:
                break
            tok = run.pick(allowed)
            number += vocab.number_tokens[tok].lstrip()
            run.push([tok], generated=True)
            budget -= 1
        if not _PROB_COMPLETE.match(number):  # "", "0." or "1." -> complete it deterministically
            fix = "0.5" if not number else ("0" if number.endswith(".") else "")
            run.push(vocab.encode(fix), generated=False)
            number += fix

        # 3. claims: one retrieved fact each, a role each
        run.push(vocab.encode(CLAIMS_OPEN), generated=False)
        remaining = list(dict.fromkeys(f.fact_id for f in step.facts))
        cited = 0
        while remaining:
            run.push(vocab.encode(CLAIM_OPEN), generated=False)
            chosen = self._pick_id(run, remaining, first=True)
            remaining.remove(chosen)
            cited += 1
            run.push([vocab.close], generated=False)
            run.push(vocab.encode(ROLE_OPEN), generated=False)
            self._choose_text(run, ROLES)
            run.push(vocab.encode("}"), generated=False)
            if not remaining or cited >= self.max_cited or self._choose_text(run, (",", "]")) == "]":
                break
        # the "]" closing the list is part of RATIONALE_OPEN (forced) unless the model chose it
        opening = RATIONALE_OPEN if not run.text().endswith("]") else RATIONALE_OPEN[1:]
        run.push(vocab.encode(opening), generated=False)

        # 4. rationale
        rationale = ""
        limit = max(8, budget - run.generated)
        for _ in range(limit):
            tok = run.pick(vocab.rationale_start) if not rationale else run.best(None)
            piece = vocab.text(tok)
            if tok in vocab.stop_tokens or tok in vocab.special_ids:
                cut = next((i for i, c in enumerate(piece) if _ends_claim(c)), len(piece))
                head = piece[:cut] if tok not in vocab.special_ids else ""
                if head and len(rationale) + len(head) <= MAX_RATIONALE_CHARS:
                    run.push(vocab.encode(head), generated=True)
                break
            if len(rationale) + len(piece) > MAX_RATIONALE_CHARS:
                break
            run.push([tok], generated=True)
            rationale += piece
        run.push(vocab.encode(ANSWER_CLOSE), generated=False)
        return run.text(), run.generated, run.forced

    def _choose_text(self, run: "_Run", options: tuple[str, ...]) -> str:
        """The model's best of a few fixed texts (a token trie over their encodings)."""
        vocab = self._vocab
        assert vocab is not None
        alive = {o: vocab.encode(o) for o in options}
        pos = 0
        while True:
            if len(alive) == 1:
                (o, seq), = alive.items()
                run.push(seq[pos:], generated=pos > 0 or len(options) > 1)
                return o
            done = [o for o, seq in alive.items() if len(seq) == pos]
            if done:  # an option that is a prefix of another: take it (not the case for our options)
                return done[0]
            shared = _common_prefix([seq[pos:] for seq in alive.values()])
            if shared:
                run.push(shared, generated=False)
                pos += len(shared)
                continue
            tok = run.pick(sorted({seq[pos] for seq in alive.values()}))
            run.push([tok], generated=True)
            alive = {o: seq for o, seq in alive.items() if seq[pos] == tok}
            pos += 1

    def _pick_id(self, run: "_Run", candidates: list[str], *, first: bool) -> str:
        vocab = self._vocab
        assert vocab is not None
        seqs = {fid: vocab.encode((CLAIM_ID_OPEN if first else ' "') + fid) for fid in candidates}
        pos = 0
        alive = dict(seqs)
        while True:
            if len(alive) == 1:
                (fid, seq), = alive.items()
                run.push(seq[pos:], generated=False)  # the only id left: no choice
                return fid
            done = [fid for fid, seq in alive.items() if len(seq) == pos]
            if done:  # an id that is a prefix of others: ending here is the model's choice too
                longer = {fid: seq for fid, seq in alive.items() if len(seq) > pos}
                if not longer:
                    return done[0]
                nxt = sorted({seq[pos] for seq in longer.values()})
                if run.pick(nxt + [vocab.comma, vocab.close]) in (vocab.comma, vocab.close):
                    return done[0]
                alive = longer
            shared = _common_prefix([seq[pos:] for seq in alive.values()])
            if shared:  # no choice to make: every remaining id continues the same way
                run.push(shared, generated=False)
                pos += len(shared)
                continue
            tok = run.pick(sorted({seq[pos] for seq in alive.values()}))
            run.push([tok], generated=True)
            alive = {fid: seq for fid, seq in alive.items() if seq[pos] == tok}
            pos += 1


def _ends_claim(c: str) -> bool:
    return c in _CLAIM_STOP or ord(c) < 32  # control characters are invalid inside a JSON string


def _common_prefix(seqs: list[list[int]]) -> list[int]:
    out: list[int] = []
    for column in zip(*seqs):
        if any(t != column[0] for t in column):
            break
        out.append(column[0])
    return out


class _Vocab:
    """Token classes the constrained decoder needs, computed once per tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        size = len(tokenizer)
        self.special_ids = set(tokenizer.all_special_ids)
        texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False)
        self._texts = texts
        self.number_tokens = {
            i: t for i, t in enumerate(texts) if t and i not in self.special_ids and re.fullmatch(r" ?[0-9.]+", t)
        }
        self.stop_tokens = {i for i, t in enumerate(texts) if any(_ends_claim(c) for c in t)}
        self.claim_tokens = [
            i for i, t in enumerate(texts) if t.strip() and i not in self.stop_tokens and i not in self.special_ids
        ]
        # the rationale's first token: text, or a token that closes the string at once (an empty
        # rationale: the claims carry the evidence, as the learned operator answers)
        self.rationale_start = self.claim_tokens + sorted(i for i in self.stop_tokens if texts[i].startswith('"'))
        self.comma = self._single('",')
        self.close = self._single('"]')

    def _single(self, s: str) -> int:
        ids = self.encode(s)
        if len(ids) != 1:
            raise OperatorError(f"tokenizer encodes {s!r} as {len(ids)} tokens; the constrained decoder needs 1")
        return ids[0]

    def encode(self, s: str) -> list[int]:
        return list(self.tokenizer.encode(s, add_special_tokens=False)) if s else []

    def text(self, tok: int) -> str:
        return self._texts[tok]


class _Run:
    """Incremental decoding state: the KV cache, the last logits, and the emitted tokens."""

    def __init__(self, model: Any, vocab: _Vocab, prompt_ids: Any, temperature: float, seed: int) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.vocab = vocab
        self.temperature = temperature
        self.generator = torch.Generator(device="cpu").manual_seed(seed) if temperature > 0 else None
        self.past: Any = None
        self.tokens: list[int] = []
        self.generated = 0
        self.forced = 0
        self.logits = self._forward(prompt_ids)

    def _forward(self, ids: Any) -> Any:
        out = self.model(input_ids=ids, cache=self.past, use_cache=True)
        self.past = out.cache
        return out.logits[0, -1].float().cpu()

    def push(self, toks: list[int], *, generated: bool) -> None:
        if not toks:
            return
        self.tokens.extend(toks)
        if generated:
            self.generated += len(toks)
        else:
            self.forced += len(toks)
        ids = self.torch.tensor([toks], dtype=self.torch.long, device=self.model.device)
        self.logits = self._forward(ids)

    def best(self, allowed: list[int] | None) -> int:
        if allowed is None:
            return int(self.logits.argmax())
        idx = self.torch.tensor(allowed, dtype=self.torch.long)
        return int(idx[self.logits[idx].argmax()])

    def pick(self, allowed: list[int]) -> int:
        if self.temperature <= 0:
            return self.best(allowed)
        idx = self.torch.tensor(allowed, dtype=self.torch.long)
        probs = self.torch.softmax(self.logits[idx] / self.temperature, dim=-1)
        return int(idx[self.torch.multinomial(probs, 1, generator=self.generator)])

    def choose(self, a: int, b: int) -> int:
        return self.pick([a, b])

    def text(self) -> str:
        return self.vocab.tokenizer.decode(self.tokens, skip_special_tokens=True)
