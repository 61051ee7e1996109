"""Verifiable rewards for GRPO on imagination steps: plain functions of one completion.

A completion is the text a model writes after the prompt's ``traces.ANSWER_PREFILL``; the answer
is ``ANSWER_PREFILL + completion``. The verifier is passed in (``Verify``), so ``training`` never
imports ``reasoning``; the CLI builds it from ``reasoning.verifier.verify_answer``.

* ``supported_reward``: 1 when the answer parses and the verifier supports the step (every claim
  supported, the direction backed), else 0;
* ``claim_penalty``: minus the share of claims the verifier marks unsupported, minus twice the
  share it refutes; -1 for an answer that does not parse or has no claim;
* ``direction_reward``: 1 when the answer's direction (read from a prefix too, so a truncated
  answer still counts) is the teacher's, else 0;
* ``outcome_reward``: for a step with a known outcome (a mined pair: its target trial's label),
  the log-likelihood of that outcome under the answer's probability (clipped to [0.01, 0.99]);
  None (no reward: TRL skips it) for a step without one.

``total_reward`` is their sum (what the benchmark reports); GRPO gets them as four functions
(``grpo_reward_functions``), so each is logged on its own.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from kgimagine.traces import ANSWER_PREFILL, StepAnswer, StepExample, StepInput, parse_step_answer

#: ``verify(answer, step)`` -> (verdict of each claim, step supported); the CLI wraps
#: ``reasoning.verifier.verify_step`` with the graph's NameIndex.
Verify = Callable[[StepAnswer, StepInput], tuple[list[str], bool]]

P_CLIP = 0.01
_DIRECTION = re.compile(r'^\s*\{?\s*"direction"\s*:\s*"(up|down|none)"')
_PROBABILITY = re.compile(r'"probability"\s*:\s*(0(?:\.\d+)?|1(?:\.0+)?)\b')


def full_answer(completion: str) -> str:
    """The answer text: the prompt's prefill plus what the model wrote."""
    return completion if completion.lstrip().startswith("{") else ANSWER_PREFILL + completion


def parse_completion(completion: str) -> StepAnswer | None:
    try:
        return parse_step_answer(full_answer(completion))
    except ValueError:
        return None


def completion_direction(completion: str) -> str | None:
    """up / down / none as the answer starts (a truncated answer too); None when it says none yet."""
    m = _DIRECTION.match(full_answer(completion))
    return m.group(1) if m else None


def supported_reward(completion: str, step: StepInput, verify: Verify) -> float:
    answer = parse_completion(completion)
    if answer is None or not answer.claims:
        return 0.0
    return 1.0 if verify(answer, step)[1] else 0.0


def claim_penalty(completion: str, step: StepInput, verify: Verify) -> float:
    answer = parse_completion(completion)
    if answer is None or not answer.claims:
        return -1.0
    verdicts, _ = verify(answer, step)
    n = max(1, len(verdicts))
    return -(sum(v == "unsupported" for v in verdicts) + 2 * sum(v == "refuted" for v in verdicts)) / n


def direction_reward(completion: str, teacher_direction: str) -> float:
    """1 when the direction is the teacher's (``same`` counts as ``none``)."""
    want = "none" if teacher_direction == "same" else teacher_direction
    return 1.0 if completion_direction(completion) == want else 0.0


def outcome_reward(completion: str, outcome: int | None) -> float | None:
    """log P(outcome) under the answer's probability (clipped; read from a truncated answer too when
    the number is complete); None without a known outcome; the clip floor's log for an answer
    without a readable probability."""
    if outcome is None or outcome < 0:
        return None
    answer = parse_completion(completion)
    if answer is not None:
        p = answer.probability
    else:  # a truncated answer: the probability as written, if it is complete
        m = _PROBABILITY.search(full_answer(completion))
        p = float(m.group(1)) if m else (P_CLIP if outcome else 1 - P_CLIP)
    p = min(max(p, P_CLIP), 1 - P_CLIP)
    return math.log(p if outcome else 1 - p)


def total_reward(completion: str, step: StepInput, teacher_direction: str, outcome: int | None, verify: Verify) -> float:
    out = outcome_reward(completion, outcome)
    return (supported_reward(completion, step, verify) + claim_penalty(completion, step, verify)
            + direction_reward(completion, teacher_direction) + (out or 0.0))


# -- GRPO rows and the functions TRL calls ---------------------------------------------------------


def example_outcome(ex: StepExample) -> int:
    """The known outcome a reward may use: a mined pair's target label; -1 for a teacher step (its
    end probability is not the trial's)."""
    return int(ex.target_label) if ex.origin == "pair" else -1


def grpo_row(ex: StepExample, prompt: str) -> dict[str, Any]:
    """One dataset row: the prompt text (ending with the prefill) and what the rewards read."""
    return {"prompt": prompt, "step": ex.step.model_dump_json(), "teacher_direction": ex.direction,
            "outcome": example_outcome(ex), "example_id": ex.example_id}


class RewardLog:
    """Appends one JSON line per scored completion (example, rewards, the completion)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.calls = 0

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.calls += 1
        with open(self.path, "a", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({"batch": self.calls, **r}, ensure_ascii=False) + "\n")


def grpo_reward_functions(verify: Verify, log: RewardLog | None = None) -> list[Callable[..., list[float | None]]]:
    """The four rewards as TRL reward functions ``f(prompts, completions, step, teacher_direction,
    outcome, **_)``; the first also writes every completion and its rewards to ``log``."""
    cache: dict[tuple[str, str], tuple[list[str], bool]] = {}

    def checked(answer: StepAnswer, step: StepInput) -> tuple[list[str], bool]:
        key = (step.model_dump_json(), answer.model_dump_json())
        if key not in cache:
            cache[key] = verify(answer, step)
        return cache[key]

    def steps_of(raw: Sequence[str]) -> list[StepInput]:
        return [StepInput.model_validate_json(s) for s in raw]

    def _text(c: Any) -> str:
        return c if isinstance(c, str) else str(c[-1]["content"]) if c else ""

    def supported(prompts, completions, step, teacher_direction, outcome, example_id=None, **_):
        texts, steps = [_text(c) for c in completions], steps_of(step)
        out = [supported_reward(t, s, checked) for t, s in zip(texts, steps)]
        if log is not None:
            ids = example_id or [""] * len(texts)
            log.write([{"example_id": i, "teacher_direction": d, "outcome": o,
                        "supported": r, "claims": claim_penalty(t, s, checked),
                        "direction": direction_reward(t, d), "outcome_ll": outcome_reward(t, o),
                        "total": total_reward(t, s, d, o, checked), "completion": t}
                       for i, t, s, d, o, r in zip(ids, texts, steps, teacher_direction, outcome, out)])
        return out

    def claims(prompts, completions, step, **_):
        return [claim_penalty(_text(c), s, checked) for c, s in zip(completions, steps_of(step))]

    def direction(prompts, completions, teacher_direction, **_):
        return [direction_reward(_text(c), d) for c, d in zip(completions, teacher_direction)]

    def outcome_ll(prompts, completions, outcome, **_):
        return [outcome_reward(_text(c), o) for c, o in zip(completions, outcome)]

    return [supported, claims, direction, outcome_ll]


__all__ = [
    "RewardLog",
    "Verify",
    "claim_penalty",
    "completion_direction",
    "direction_reward",
    "example_outcome",
    "full_answer",
    "grpo_reward_functions",
    "grpo_row",
    "outcome_reward",
    "parse_completion",
    "supported_reward",
    "total_reward",
]
