"""Trace files → chat SFT examples → token ids with the loss on the assistant turn only.

Training reads only JSONL trace files (``kgimagine.traces``): ``StepExample`` records (mined
pairs, or chain steps) and ``ChainRecord`` records (teacher chains; only chains whose every step
verified are used, see ``select_chains``). Lines with schema errors are reported with their line
numbers and skipped. The prompt is ``render_step_messages`` — the exact text the reasoning layer
shows an operator — and the answer is ``traces.answer_segments``: the JSON object in the pieces
LocalOperator's constrained decoder emits it, tokenised piece by piece, so the tokens learnt are
the tokens the decoder scores (one tokenisation of the whole text split ``": ""}`` differently).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from kgimagine.errors import TrainingError
from kgimagine.traces import (
    ChainRecord,
    StepExample,
    StepInput,
    TraceIssue,
    answer_segments,
    iter_traces,
    render_step_messages,
)

IGNORE_INDEX = -100


@dataclass(frozen=True, slots=True)
class SftExample:
    """One chat example: the step prompt and the assistant answer to learn."""

    example_id: str
    messages: tuple[dict[str, str], ...]  # system + user
    answer: str  # the assistant turn (JSON object text)
    direction: str = ""  # up/down/same when known (pairs), for evaluation
    segments: tuple[str, ...] = ()  # the answer in the constrained decoder's pieces (traces.answer_segments)


@dataclass
class SftData:
    """The examples of one or more trace files, with what a manifest records about them."""

    examples: list[SftExample]
    files: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, records, used
    graph_versions: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    issues: list[TraceIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def data_hash(self) -> str:
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f["sha256"]):
            h.update(f["sha256"].encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ChainReject:
    target_id: str
    anchor_id: str
    reason: str


def _step_verified(step: Any) -> bool:
    """Supported by the verifier: every citation verified and every claim supported."""
    return bool(step.supported) and not step.error and bool(step.cited) and all(
        step.verdicts.get(c) == "verified" for c in step.cited
    ) and all(c.verdict == "supported" for c in step.claims)


def chain_reject_reason(chain: ChainRecord, *, threshold: float = 0.5) -> str | None:
    """Why a teacher chain must not be distilled (None: keep it). Rejection sampling rule: every
    step verified (all citations verified) and the final label right."""
    if not chain.steps:
        return "no steps"
    for i, step in enumerate(chain.steps, 1):
        if not _step_verified(step):
            bad = [c for c in step.cited if step.verdicts.get(c) != "verified"]
            why = step.error or (f"unverified citations {bad}" if bad else "no citation")
            return f"step {i} ({step.factor.value}) not verified: {why}"
    if chain.target_label is None:
        return "target label unknown"
    predicted = int(chain.p_final >= threshold)
    if predicted != chain.target_label:
        return f"final label wrong (p_final={chain.p_final:.2f}, label={chain.target_label})"
    return None


def select_chains(chains: Iterable[ChainRecord], *, threshold: float = 0.5) -> tuple[list[ChainRecord], list[ChainReject]]:
    """Split teacher chains into kept and rejected (with the reason)."""
    kept: list[ChainRecord] = []
    rejects: list[ChainReject] = []
    for chain in chains:
        reason = chain_reject_reason(chain, threshold=threshold)
        if reason is None:
            kept.append(chain)
        else:
            rejects.append(ChainReject(chain.target_id, chain.anchor_id, reason))
    return kept, rejects


def step_example_to_sft(ex: StepExample) -> SftExample:
    return SftExample(
        example_id=ex.example_id,
        messages=tuple(render_step_messages(ex.step)),
        answer="".join(answer_segments(ex.answer)),
        direction=ex.direction,
        segments=tuple(answer_segments(ex.answer)),
    )


def chain_to_sft(chain: ChainRecord) -> list[SftExample]:
    """The verified steps of a chain as SFT examples (the teacher's own answer: claims, rationale)."""
    out = []
    for i, step in enumerate(chain.steps):
        if not _step_verified(step):
            continue
        inp = StepInput(factor=step.factor, anchor_value=step.anchor_value, target_value=step.target_value,
                        p_before=step.p_before, facts=step.facts)
        ans = step.answer()
        if ans is None:
            continue
        direction = "up" if step.p_after > step.p_before else "down" if step.p_after < step.p_before else "same"
        out.append(SftExample(
            example_id=f"chain:{chain.anchor_id}->{chain.target_id}:{i}",
            messages=tuple(render_step_messages(inp)),
            answer="".join(answer_segments(ans)),
            direction=direction,
            segments=tuple(answer_segments(ans)),
        ))
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sft_data(paths: Sequence[str | Path], *, chain_threshold: float = 0.5) -> SftData:
    """Read trace files into SFT examples. Bad lines land in ``issues`` (path + line + reason);
    chains that fail ``chain_reject_reason`` are skipped and counted."""
    if not paths:
        raise TrainingError("no trace files given; pass --data pairs.jsonl[,chains.jsonl]")
    data = SftData(examples=[])
    versions: set[str] = set()
    splits: set[str] = set()
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise TrainingError(f"trace file {path} does not exist; write one with `kgimagine train pairs --out {path}`")
        n_before, n_records = len(data.examples), 0
        for rec in iter_traces(path, data.issues):
            n_records += 1
            if isinstance(rec, StepExample):
                data.examples.append(step_example_to_sft(rec))
            else:
                reason = chain_reject_reason(rec, threshold=chain_threshold)
                if reason is not None:
                    data.skipped["rejected chain"] = data.skipped.get("rejected chain", 0) + 1
                    continue
                data.examples.extend(chain_to_sft(rec))
            versions.add(rec.graph_version)
            splits.add(rec.split)
        data.files.append({"path": str(path), "sha256": _sha256(path), "records": n_records,
                           "examples": len(data.examples) - n_before})
    data.graph_versions = sorted(versions)
    data.splits = sorted(splits)
    return data


# -- tokenisation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenizedExample:
    example_id: str
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX outside the assistant turn

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize_sft_example(tokenizer: Any, ex: SftExample, *, max_length: int) -> TokenizedExample | None:
    """Token ids of prompt + answer with labels only on the assistant turn (answer and the
    template's end-of-turn tokens). None when it does not fit in ``max_length``."""
    messages = list(ex.messages)
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    full_ids = tokenizer.apply_chat_template(
        messages + [{"role": "assistant", "content": ex.answer}], tokenize=True
    )
    prompt_ids, full_ids = _as_ids(prompt_ids), _as_ids(full_ids)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise TrainingError(
            "the tokenizer's chat template does not render the prompt as a prefix of the full "
            "conversation, so the assistant turn cannot be masked; use a ChatML-style template"
        )
    if ex.segments:  # the answer's tokens as the constrained decoder produces them, piece by piece
        rest = full_ids[len(prompt_ids):]
        plain = _as_ids(tokenizer.encode(ex.answer, add_special_tokens=False))
        if rest[: len(plain)] == plain:  # the template adds only an end of turn after the content
            pieces = [i for seg in ex.segments for i in _as_ids(tokenizer.encode(seg, add_special_tokens=False))]
            full_ids = prompt_ids + pieces + rest[len(plain):]
    if len(full_ids) > max_length:
        return None
    labels = [IGNORE_INDEX] * len(prompt_ids) + full_ids[len(prompt_ids):]
    return TokenizedExample(ex.example_id, full_ids, labels)


def _as_ids(out: Any) -> list[int]:
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(i) for i in out]


def tokenize_sft_data(tokenizer: Any, examples: Sequence[SftExample], *, max_length: int) -> tuple[list[TokenizedExample], int]:
    """Tokenise all examples; returns (kept, number dropped for being longer than max_length)."""
    kept: list[TokenizedExample] = []
    too_long = 0
    for ex in examples:
        t = tokenize_sft_example(tokenizer, ex, max_length=max_length)
        if t is None:
            too_long += 1
        else:
            kept.append(t)
    return kept, too_long


__all__ = [
    "IGNORE_INDEX",
    "ChainReject",
    "SftData",
    "SftExample",
    "TokenizedExample",
    "chain_reject_reason",
    "chain_to_sft",
    "read_sft_data",
    "select_chains",
    "step_example_to_sft",
    "tokenize_sft_data",
    "tokenize_sft_example",
]
