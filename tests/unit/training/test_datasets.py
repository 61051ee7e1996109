"""Trace files → SFT examples: bad lines reported with line numbers, loss only on the answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgimagine.errors import TraceFormatError, TrainingError
from kgimagine.traces import (CheckedClaim, ChainRecord, FactRef, StepRecord, iter_traces, parse_step_answer,
                              render_step_answer, write_traces)
from kgimagine.training.datasets import (
    IGNORE_INDEX,
    chain_reject_reason,
    read_sft_data,
    select_chains,
    step_example_to_sft,
    tokenize_sft_example,
)
from kgimagine.training.trainer import collate, length_grouped_batches
from kgimagine.types import Factor

from .conftest import make_step_examples

BAD = Path(__file__).resolve().parents[2] / "data" / "training" / "traces_with_errors.jsonl"


def test_bad_trace_lines_are_reported_with_line_numbers_and_skipped():
    data = read_sft_data([BAD])
    assert [e.example_id for e in data.examples] == ["pair:0", "pair:1"]
    assert [i.line for i in data.issues] == [2, 4, 5, 6, 8]
    reasons = {i.line: i.reason for i in data.issues}
    assert "schema_version" in reasons[4] and "unknown kind" in reasons[5] and "content_hash" in reasons[6]
    assert data.files[0]["records"] == 2 and data.graph_versions == ["kg-test"]
    with pytest.raises(TraceFormatError, match=r"traces_with_errors.jsonl:2"):
        list(iter_traces(BAD))  # without an issues list the first bad line raises


def test_missing_trace_file_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingError, match="does not exist"):
        read_sft_data([tmp_path / "nope.jsonl"])


def test_loss_positions_are_exactly_the_assistant_tokens(byte_tokenizer):
    ex = step_example_to_sft(make_step_examples(1)[0])
    tok = tokenize_sft_example(byte_tokenizer, ex, max_length=4096)
    assert tok is not None and len(tok.labels) == len(tok.input_ids)
    labelled = [i for i, l in enumerate(tok.labels) if l != IGNORE_INDEX]
    # one contiguous span at the end, equal to the input ids there
    assert labelled == list(range(labelled[0], len(tok.input_ids)))
    assert [tok.input_ids[i] for i in labelled] == [tok.labels[i] for i in labelled]
    assert byte_tokenizer.decode([tok.input_ids[i] for i in labelled]) == ex.answer + "<|im_end|>\n"
    prompt = byte_tokenizer.decode(tok.input_ids[: labelled[0]])
    assert prompt.endswith("<|im_start|>assistant\n") and ex.answer not in prompt
    # the decoder's text (claims joined by "," without a space): the same answer as render_step_answer's
    assert parse_step_answer(ex.answer) == parse_step_answer(render_step_answer(make_step_examples(1)[0].answer))
    # padding in a batch is never a loss position
    short = tokenize_sft_example(byte_tokenizer, step_example_to_sft(make_step_examples(3)[2]), max_length=4096)
    batch = collate([tok, short], pad_token_id=byte_tokenizer.pad_token_id)
    n_label = int((batch["labels"] != IGNORE_INDEX).sum())
    assert n_label == sum(1 for l in tok.labels + short.labels if l != IGNORE_INDEX)
    assert int(batch["attention_mask"].sum()) == len(tok) + len(short)


def test_too_long_examples_are_dropped(byte_tokenizer):
    ex = step_example_to_sft(make_step_examples(1)[0])
    assert tokenize_sft_example(byte_tokenizer, ex, max_length=64) is None


def test_length_grouped_batches_cover_every_example_once():
    lengths = [5, 100, 7, 98, 6, 99, 50, 51, 52, 8]
    batches = length_grouped_batches(lengths, 2, seed=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    plain = length_grouped_batches(lengths, 2, seed=3, group=False)
    spread_plain = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain)
    assert spread < spread_plain
    assert batches == length_grouped_batches(lengths, 2, seed=3)  # deterministic


def _chain(*, supported=True, verdict="verified", p_final=0.8, label=1) -> ChainRecord:
    step = StepRecord(factor=Factor.DRUG, anchor_value="a", target_value="b",
                      facts=[FactRef(fact_id="fact:1", text="a TARGETS G")], claim="a TARGETS G",
                      cited=["fact:1"], verdicts={"fact:1": verdict}, supported=supported,
                      p_before=0.85, p_after=p_final, direction="down" if p_final < 0.85 else "none",
                      claims=[CheckedClaim(facts=["fact:1"], role="down" if p_final < 0.85 else "context",
                                           verdict="supported" if supported else "unsupported")])
    return ChainRecord(graph_version="kg-test", split="phase_I_train", target_id="clinicaltrials:NCT2",
                       anchor_id="clinicaltrials:NCT1", anchor_label=1, target_label=label, operator="teacher",
                       steps=[step], p_final=p_final)


def test_rejection_sampling_keeps_only_verified_correct_chains(tmp_path):
    good, wrong = _chain(), _chain(p_final=0.3)
    unverified = _chain(verdict="unknown_fact")
    unsupported = _chain(supported=False)
    kept, rejects = select_chains([good, wrong, unverified, unsupported])
    assert kept == [good]
    assert [r.reason.split(" (")[0] for r in rejects] == ["final label wrong", "step 1", "step 1"]
    assert "unverified citations ['fact:1']" in chain_reject_reason(unverified)
    path = tmp_path / "chains.jsonl"
    write_traces(path, [good, wrong])
    data = read_sft_data([path])
    assert len(data.examples) == 1 and data.skipped == {"rejected chain": 1}
    assert '"facts": ["fact:1"]' in data.examples[0].answer


def test_answers_are_tokenised_in_the_constrained_decoders_pieces(byte_tokenizer):
    """The SFT answer is the decoder's text (the same JSON object) and its tokens are the pieces'
    tokens, so the model learns the token stream it is served."""
    import json

    from kgimagine.traces import ANSWER_PREFILL, Claim, StepAnswer, answer_segments, parse_step_answer
    from kgimagine.training.datasets import step_example_to_sft, tokenize_sft_example

    from .conftest import make_step_examples

    ex = make_step_examples(1)[0]
    ex = ex.model_copy(update={"answer": StepAnswer(direction="up", probability=0.6123, rationale="",
                                                    claims=[Claim(facts=["fact:0000a"], role="up")])})
    sft = step_example_to_sft(ex)
    segs = answer_segments(ex.answer)
    assert segs[0] == ANSWER_PREFILL and segs[-1] == '"}' and "".join(segs) == sft.answer
    assert parse_step_answer(sft.answer) == ex.answer.model_copy(update={"probability": 0.612})
    assert json.loads(sft.answer)["claims"] == [{"facts": ["fact:0000a"], "role": "up"}]
    assert segs[-3:] == ["]", ', "rationale": "', '"}']  # one claim of 3 possible: the model chose "]"
    tok = tokenize_sft_example(byte_tokenizer, sft, max_length=4096)
    answer_ids = [i for i, l in zip(tok.input_ids, tok.labels) if l != -100]
    pieces = [i for s in segs for i in byte_tokenizer.encode(s, add_special_tokens=False)]
    assert answer_ids[: len(pieces)] == pieces  # then the end-of-turn tokens
    four = ex.answer.model_copy(update={"claims": [Claim(facts=[f"fact:{i}"], role="up") for i in range(4)]})
    assert sum(s == '{"facts":' for s in answer_segments(four)) == 3  # the decoder cites at most 3
    assert answer_segments(four)[-2] == '], "rationale": "'  # no choice left: the "]" is forced
