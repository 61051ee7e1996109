"""Precision and recall of trial -> disease / drug links against a hand-written gold set.

Gold files (``tests/data/gold/trial_disease.tsv``, ``trial_drug.tsv``): tab-separated with a
header ``nctid, file, phase, listed_name, expected, also_ok, reason``; ``expected`` holds
``|``-separated node ids, or ``none``, or (drugs) ``comparator``; ``also_ok`` more acceptable ids.

Rules (``score_links``):

* precision: a predicted link of a gold trial is correct iff its id is in ``expected`` or
  ``also_ok`` of some gold row of that trial. Only links made from a listed name that the gold
  set judged are counted (the gold set may sample some of a trial's names, not all).
* recall (diseases): the share of gold rows with ids in ``expected`` whose ``expected`` holds a
  predicted id of that trial.
* recall (drugs): the share of a trial's expected drug ids predicted for it, each id counted
  once per trial however many rows (arms, doses) name it; an ``also_ok`` id of a one-drug row
  counts for its drug (the same drug from the other source).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Mapping, Sequence

from kgimagine.errors import EvaluationError

GOLD_COLUMNS = ("nctid", "file", "phase", "listed_name", "expected", "also_ok", "reason")
NON_IDS = frozenset({"none", "comparator", ""})


@dataclass(frozen=True, slots=True)
class GoldRow:
    nctid: str
    file: str
    phase: str
    listed_name: str
    expected: tuple[str, ...]  # ids; empty for none / comparator
    kind: Literal["ids", "none", "comparator"]
    also_ok: tuple[str, ...]
    reason: str
    line: int


def _ids(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split("|") if x.strip() and x.strip().lower() not in NON_IDS)


def read_gold(path: str | Path) -> list[GoldRow]:
    """Rows of one gold TSV; a missing column or file is an ``EvaluationError``."""
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"cannot read gold file {path}: {exc}") from exc
    rows: list[GoldRow] = []
    with fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in GOLD_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EvaluationError(f"gold file {path} lacks column(s) {', '.join(missing)}; expected {', '.join(GOLD_COLUMNS)}")
        for i, r in enumerate(reader, 2):
            expected_raw = (r.get("expected") or "").strip()
            kind: Literal["ids", "none", "comparator"]
            low = expected_raw.lower()
            kind = "comparator" if low == "comparator" else "none" if low in ("none", "") else "ids"
            rows.append(GoldRow(
                nctid=(r.get("nctid") or "").strip(), file=(r.get("file") or "").strip(),
                phase=(r.get("phase") or "").strip(), listed_name=(r.get("listed_name") or "").strip(),
                expected=_ids(expected_raw), kind=kind, also_ok=_ids(r.get("also_ok") or ""),
                reason=(r.get("reason") or "").strip(), line=i,
            ))
    return rows


def listed_key(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class LinkScore:
    predicted: int = 0
    correct: int = 0
    recall_total: int = 0
    recall_hit: int = 0
    wrong: list[tuple[str, str, str]] = field(default_factory=list)  # (nctid, listed, id)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (nctid, listed, expected ids)

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.recall_hit / self.recall_total if self.recall_total else 0.0


def score_links(
    gold: Sequence[GoldRow],
    predicted: Mapping[str, Iterable[tuple[str, str]]],
    *,
    kind: Literal["disease", "drug"],
) -> LinkScore:
    """``predicted``: nctid -> (listed name, node id) links made for that trial."""
    by_trial: dict[str, list[GoldRow]] = defaultdict(list)
    for g in gold:
        by_trial[g.nctid].append(g)
    out = LinkScore()
    for nct, rows in sorted(by_trial.items()):
        ok = {i for g in rows for i in (*g.expected, *g.also_ok)}
        judged = {listed_key(g.listed_name) for g in rows}
        links = list(dict.fromkeys(predicted.get(nct, ())))
        ids_predicted = {i for _, i in links}
        counted: set[str] = set()
        for listed, node_id in links:
            if listed_key(listed) not in judged or node_id in counted:
                continue
            counted.add(node_id)
            out.predicted += 1
            if node_id in ok:
                out.correct += 1
            else:
                out.wrong.append((nct, listed, node_id))
        drugs: dict[str, tuple[bool, str]] = {}  # expected drug id -> (found, first row naming it)
        for g in rows:
            if g.kind != "ids":
                continue
            if kind == "disease":
                out.recall_total += 1
                if set(g.expected) & ids_predicted:
                    out.recall_hit += 1
                else:
                    out.missed.append((nct, g.listed_name, "|".join(g.expected)))
            else:
                for e in g.expected:
                    # the alternative ids of the same drug (also_ok) count for it
                    hit = e in ids_predicted or bool(len(g.expected) == 1 and set(g.also_ok) & ids_predicted)
                    if e not in drugs:
                        drugs[e] = (hit, g.listed_name)
                    elif hit and not drugs[e][0]:
                        drugs[e] = (True, drugs[e][1])
        for e, (hit, listed) in drugs.items():  # each expected drug once per trial, however many rows name it
            out.recall_total += 1
            if hit:
                out.recall_hit += 1
            else:
                out.missed.append((nct, listed, e))
    return out
