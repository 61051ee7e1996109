"""Teacher steps for distillation: which steps of a teacher's chains, and which mined pairs, to learn.

Pure functions over trace records (``kgimagine.traces``); the caller (``kgimagine train chains``)
runs the teacher and passes the verifier in as a function, so ``training`` still never imports
``reasoning``.

* **Teacher steps** (``teacher_step_example``): a step of a teacher chain is kept when the verifier
  marked it supported (every citation verified, every claim supported, under the teacher's own
  evidence signs) *and* its claims hold under the check the student will meet (``check``: the
  verifier with the sign model a served student is checked with, ``traces.rule_fact_signs``).
  Claims that fail that check are dropped from the target; the step is kept only when what is
  left is still supported as a whole (the direction still backed by a claim of its role). The SFT
  target is the teacher's structured answer: direction, probability, the kept claims.
* **Mixing rule** (``pair_agrees`` / ``mix_pairs``): a one-factor pair (``train pairs``) joins the
  data only where the teacher's direction for that change and the observed outcomes agree (the
  target succeeded and the anchor failed: up; the reverse: down; equal outcomes: the teacher
  barely moves), and its own answer passes ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from kgimagine.traces import Claim, StepAnswer, StepExample, StepInput, StepRecord

#: ``check(answer, step)`` -> the verdict of each claim ("supported", "unsupported", "refuted"),
#: in the answer's claim order, plus whether the whole step is supported.
StepCheck = Callable[[StepAnswer, StepInput], tuple[list[str], bool]]

#: A probability move of at most this much is no move (the verifier's "none").
NO_MOVE = 0.005


@dataclass
class DistillStats:
    """What filtering kept and why it dropped the rest (reported by the CLI and the benchmark)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def step_verified(step: StepRecord) -> bool:
    """The verifier's verdict on a teacher step: supported, every citation verified, no error."""
    return (step.verdict == "supported" and bool(step.supported) and not step.error and bool(step.cited)
            and all(step.verdicts.get(c) == "verified" for c in step.cited)
            and all(c.verdict == "supported" for c in step.claims))


def direction_of(answer: StepAnswer) -> str:
    """up / down / same (the ``StepExample.direction`` vocabulary) of a step answer."""
    return "same" if answer.direction == "none" else answer.direction


def prune_to_supported(answer: StepAnswer, step: StepInput, check: StepCheck) -> tuple[StepAnswer | None, str]:
    """The answer with only the claims ``check`` supports; None (and why) when nothing supported is
    left or the pruned answer is not supported as a whole."""
    verdicts, ok = check(answer, step)
    if ok:
        return answer, ""
    kept = [c for c, v in zip(answer.claims, verdicts) if v == "supported"]
    if not kept:
        return None, "no claim holds under the student's check"
    pruned = answer.model_copy(update={"claims": [Claim(facts=c.facts, role=c.role) for c in kept]})
    _, ok = check(pruned, step)
    return (pruned, "") if ok else (None, "the claims that hold do not back the direction")


def teacher_step_example(
    record: StepRecord,
    step: StepInput | None,
    *,
    graph_version: str,
    split: str,
    anchor_id: str,
    target_id: str,
    target_label: int,
    index: int,
    check: StepCheck | None = None,
    stats: DistillStats | None = None,
) -> StepExample | None:
    """One supervised step from a teacher chain's step (None when it must not be learnt).

    ``step`` is the input the teacher was shown (``RecordingOperator``); ``check`` the student's
    verifier (None: the teacher's verdict alone decides)."""
    stats = stats if stats is not None else DistillStats()
    stats.add("teacher steps")
    if step is None:
        stats.add("dropped: input not recorded (no facts, never asked)")
        return None
    if not step_verified(record):
        stats.add("dropped: not supported under the teacher's verifier")
        return None
    answer = record.answer()
    if answer is None:
        stats.add("dropped: answer not parsed")
        return None
    if check is not None:
        pruned, why = prune_to_supported(answer, step, check)
        if pruned is None:
            stats.add(f"dropped: {why}")
            return None
        if len(pruned.claims) < len(answer.claims):
            stats.add("kept with claims pruned")
        answer = pruned
    stats.add("kept")
    return StepExample(
        graph_version=graph_version, split=split, origin="chain",
        example_id=f"chain:{anchor_id}->{target_id}:{index}",
        anchor_id=anchor_id, target_id=target_id, step=step, answer=answer,
        target_label=int(target_label), direction=direction_of(answer),  # type: ignore[arg-type]
    )


def pair_agrees(observed: str, teacher_move: float, *, tol: float = NO_MOVE) -> bool:
    """The mixing rule: the observed outcome change of a pair (``up``: the target succeeded where
    the anchor failed; ``down``: the reverse; ``same``) equals the teacher's direction for it
    (``teacher_move`` = its probability for the target minus for the anchor; within ``tol``: same)."""
    teacher = "up" if teacher_move > tol else "down" if teacher_move < -tol else "same"
    return observed == teacher


def mix_pairs(
    pairs: Iterable[StepExample],
    teacher_moves: Mapping[str, float],
    *,
    check: StepCheck | None = None,
    tol: float = NO_MOVE,
    stats: DistillStats | None = None,
) -> list[StepExample]:
    """The pairs to mix into teacher steps: ``teacher_moves[example_id]`` known, agreeing with the
    observed outcomes (``pair_agrees``) and, with ``check``, their answer supported as a whole."""
    stats = stats if stats is not None else DistillStats()
    kept: list[StepExample] = []
    for ex in pairs:
        stats.add("pairs")
        move = teacher_moves.get(ex.example_id)
        if move is None:
            stats.add("pairs dropped: no teacher estimate")
            continue
        if not pair_agrees(ex.direction, move, tol=tol):
            stats.add("pairs dropped: teacher and outcomes disagree")
            continue
        if check is not None and not check(ex.answer, ex.step)[1]:
            stats.add("pairs dropped: answer not supported")
            continue
        stats.add("pairs kept")
        kept.append(ex)
    return kept


def split_by_target(examples: Sequence[StepExample], held_out: Callable[[str], bool]) -> tuple[list[StepExample], list[StepExample]]:
    """(training, held-out) examples: an example is held out when its target trial is, and kept
    for training only when neither its anchor nor its target is."""
    train, held = [], []
    for ex in examples:
        if held_out(ex.target_id):
            held.append(ex)
        elif not held_out(ex.anchor_id):
            train.append(ex)
    return train, held


__all__ = [
    "DistillStats",
    "StepCheck",
    "direction_of",
    "mix_pairs",
    "pair_agrees",
    "prune_to_supported",
    "split_by_target",
    "step_verified",
    "teacher_step_example",
]
