"""The deterministic verifier: every cited fact id must be among this step's retrieved facts AND
exist in the graph. No model is involved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from kgimagine.kg.store import GraphStore
from kgimagine.traces import StepAnswer, Verdict, parse_step_answer


@dataclass(frozen=True, slots=True)
class Verification:
    answer: StepAnswer | None  # None when the output could not be parsed
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    supported: bool = False
    reason: str = ""  # why the answer is refused ("" when supported); fed back on a re-ask


def verify_citations(cited: Iterable[str], retrieved: Iterable[str], store: GraphStore) -> dict[str, Verdict]:
    """Per cited id: ``unknown_fact`` (not in the graph), ``not_retrieved`` (in the graph but not shown
    in this step) or ``verified``."""
    cited = list(dict.fromkeys(cited))
    shown = set(retrieved)
    existing = store.get_edges(cited) if cited else {}
    out: dict[str, Verdict] = {}
    for fid in cited:
        if fid not in existing:
            out[fid] = "unknown_fact"
        elif fid not in shown:
            out[fid] = "not_retrieved"
        else:
            out[fid] = "verified"
    return out


def verify_answer(raw: str, retrieved: Iterable[str], store: GraphStore) -> Verification:
    """Parse and check one operator answer."""
    retrieved = list(retrieved)
    try:
        answer = parse_step_answer(raw)
    except ValueError as exc:
        return Verification(None, {}, False, f"unparsable answer: {exc}")
    verdicts = verify_citations(answer.cited, retrieved, store)
    if not verdicts:
        return Verification(answer, verdicts, False, "the answer cites no fact id; cite at least one id from the list")
    bad = {k: v for k, v in verdicts.items() if v != "verified"}
    if bad:
        listed = ", ".join(f"{k} ({v.replace('_', ' ')})" for k, v in sorted(bad.items()))
        return Verification(
            answer, verdicts, False, f"these cited ids are not among the facts given: {listed}; cite only listed ids"
        )
    return Verification(answer, verdicts, True, "")
