"""The JSONL trace schema and the step prompt/answer format, shared by reasoning and training.

``reasoning`` writes chains; ``training`` reads them (and mined pair examples) from JSONL files.
Neither imports the other: this module is where they meet. A trace file is JSON Lines; each line
is one record with a ``kind`` (``chain`` or ``step``) and ``schema_version``.

The step prompt is the exact text an operator sees for one imagination step; training renders
the same prompt, so a distilled adapter is served the format it learnt.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kgimagine.errors import TraceFormatError
from kgimagine.types import Factor

TRACE_SCHEMA_VERSION = 1

Verdict = Literal["verified", "not_retrieved", "unknown_fact"]


class FactRef(BaseModel):
    """A graph fact as shown to an operator: its id, one readable line, and its provenance."""

    model_config = ConfigDict(frozen=True)

    fact_id: str
    text: str
    source: str = ""
    licence: str = ""


class StepInput(BaseModel):
    """What an operator is given for one imagination step."""

    model_config = ConfigDict(frozen=True)

    factor: Factor
    anchor_value: str
    target_value: str
    p_before: float = Field(ge=0.0, le=1.0)
    facts: list[FactRef]
    anchor_summary: str = ""  # e.g. "NCT001 (phase 2, succeeded): imatinib in GIST"
    target_summary: str = ""
    anchor_id: str = ""  # the anchor trial's graph id (operators that score trials read it)
    target_key: str = ""  # the target's key (NCT id or spec hash): never a label lookup


class StepAnswer(BaseModel):
    """What an operator must return: validated structured output."""

    model_config = ConfigDict(frozen=True)

    probability: float = Field(ge=0.0, le=1.0)
    claim: str = Field(min_length=1, max_length=600)
    cited: list[str]

    @field_validator("cited")
    @classmethod
    def _ids_look_like_facts(cls, v: list[str]) -> list[str]:
        return [str(x).strip() for x in v if str(x).strip()]


class StepRecord(BaseModel):
    """One verified (or not) step of a chain, as kept in state and in trace files."""

    factor: Factor
    anchor_value: str
    target_value: str
    facts: list[FactRef]
    claim: str
    cited: list[str]
    verdicts: dict[str, Verdict]
    supported: bool
    p_before: float
    p_after: float
    attempts: int = 1
    error: str | None = None


class ChainRecord(BaseModel):
    kind: Literal["chain"] = "chain"
    schema_version: int = TRACE_SCHEMA_VERSION
    graph_version: str
    split: str
    target_id: str
    anchor_id: str
    anchor_label: int
    target_label: int | None = None
    operator: str
    steps: list[StepRecord]
    p_final: float
    content_hash: str = ""


class StepExample(BaseModel):
    """One supervised imagination step: input, and the answer to learn (from a pair or a chain)."""

    kind: Literal["step"] = "step"
    schema_version: int = TRACE_SCHEMA_VERSION
    graph_version: str
    split: str
    origin: Literal["pair", "chain"]
    example_id: str
    anchor_id: str
    target_id: str
    step: StepInput
    answer: StepAnswer
    target_label: int
    direction: Literal["up", "down", "same"]
    similarity: float = 1.0
    content_hash: str = ""


TraceRecord = ChainRecord | StepExample

# -- prompt format -------------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You predict how a clinical trial's chance of success changes when ONE factor of a known "
    "trial is changed. Use only the numbered graph facts given. Answer with one JSON object: "
    '{"probability": <0..1>, "claim": "<one sentence>", "cited": ["<fact id>", ...]}. '
    "Cite at least one fact id from the list; never invent ids."
)


# -- step values and trial summaries: one rendering for serving (reasoning/plan.py, retrieval.py)
# -- and training (training/pairs.py), so an adapter is trained on the values it is served -------


def render_entities(names: Iterable[str], ids: Iterable[str]) -> str:
    """``"Imatinib [drugbank:DB00619], Sunitinib [drugbank:DB01268]"``; ``"(none)"`` when empty."""
    return ", ".join(f"{n} [{i}]" for n, i in zip(names, ids)) or "(none)"


def normalize_criteria(text: str) -> str:
    """Eligibility text compared across trials (whitespace and case folded)."""
    return re.sub(r"\s+", " ", text or "").strip().lower()


def _snippet(text: str, n: int = 160) -> str:
    t = re.sub(r"\s+", " ", text or "").strip()
    return t if len(t) <= n else t[: n - 1] + "…"


def render_eligibility(trial_id: str | None, criteria: str) -> str:
    """The value of a population step: whose eligibility, and its first 160 characters."""
    return f"eligibility of {trial_id or 'the new trial'}: {_snippet(criteria)}"


def render_phase_value(phase: str | None, trial_id: str | None) -> str:
    """The value of a phase step: ``"phase 2 [clinicaltrials:NCT…]"``."""
    return f"{phase}" + (f" [{trial_id}]" if trial_id else "")


def render_trial_summary(
    trial_id: str | None,
    *,
    phase: str | None,
    outcome: int | None,
    drug_names: Iterable[str],
    drug_ids: Iterable[str],
    disease_names: Iterable[str],
    disease_ids: Iterable[str],
) -> str:
    """One line about a trial, e.g. ``"clinicaltrials:NCT001 (phase 2, succeeded): Imatinib
    [drugbank:DB00619] in gastrointestinal stromal tumor [doid:9253]"``; ``outcome`` None: not shown."""
    head = trial_id or "new trial"
    result = None if outcome is None else ("succeeded" if outcome else "failed")
    bits = ", ".join(x for x in (phase or "", result or "") if x)
    drugs = ", ".join(f"{n} [{i}]" for n, i in zip(drug_names, drug_ids)) or "no resolved drug"
    dis = ", ".join(f"{n} [{i}]" for n, i in zip(disease_names, disease_ids)) or "no resolved disease"
    return f"{head}{f' ({bits})' if bits else ''}: {drugs} in {dis}"


def render_step_user(step: StepInput) -> str:
    lines = [
        f"Known trial: {step.anchor_summary}" if step.anchor_summary else "",
        f"Trial to predict: {step.target_summary}" if step.target_summary else "",
        f"Current probability of success: {step.p_before:.2f}",
        f"Change {step.factor.value}: {step.anchor_value} -> {step.target_value}",
        "Facts:",
    ]
    lines += [f"[{f.fact_id}] {f.text}" for f in step.facts] or ["(none retrieved)"]
    lines.append("Answer with the JSON object only.")
    return "\n".join(l for l in lines if l)


def render_step_messages(step: StepInput) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": render_step_user(step)}]


def render_step_answer(answer: StepAnswer) -> str:
    return json.dumps(
        {"probability": round(answer.probability, 3), "claim": answer.claim, "cited": answer.cited},
        ensure_ascii=False,
    )


_JSON_OBJ = re.compile(r"\{.*?\}", re.S)


def parse_step_answer(text: str) -> StepAnswer:
    """Parse an operator's raw text into a ``StepAnswer``; ``ValueError`` with the reason otherwise."""
    last_error = "no JSON object found"
    for m in _JSON_OBJ.finditer(text or ""):
        try:
            data = json.loads(m.group(0))
        except json.JSONDecodeError as exc:
            last_error = f"invalid JSON: {exc.msg}"
            continue
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("cited"), str):
            data["cited"] = [data["cited"]]
        try:
            return StepAnswer.model_validate(data)
        except ValidationError as exc:
            last_error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    raise ValueError(f"operator output is not a valid step answer ({last_error}): {text[:200]!r}")


# -- files -----------------------------------------------------------------------------------


def content_hash(record: BaseModel) -> str:
    data = record.model_dump(mode="json", exclude={"content_hash"})
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:16]


def write_traces(path: str | Path, records: Iterable[TraceRecord], *, append: bool = False) -> int:
    """Write records as JSON Lines, stamping each with its content hash. Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        for rec in records:
            rec = rec.model_copy(update={"content_hash": content_hash(rec)})
            fh.write(rec.model_dump_json() + "\n")
            n += 1
    return n


class TraceIssue(BaseModel):
    path: str
    line: int
    reason: str


def iter_traces(path: str | Path, issues: list[TraceIssue] | None = None) -> Iterator[TraceRecord]:
    """Yield valid records; lines with schema errors are reported in ``issues`` (with line numbers)
    and skipped. With ``issues=None`` the first bad line raises ``TraceFormatError``."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data: Any = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("line is not a JSON object")
                if data.get("schema_version") != TRACE_SCHEMA_VERSION:
                    raise ValueError(f"schema_version {data.get('schema_version')!r} != {TRACE_SCHEMA_VERSION}")
                kind = data.get("kind")
                if kind == "chain":
                    rec: TraceRecord = ChainRecord.model_validate(data)
                elif kind == "step":
                    rec = StepExample.model_validate(data)
                else:
                    raise ValueError(f"unknown kind {kind!r} (expected 'chain' or 'step')")
                if rec.content_hash and rec.content_hash != content_hash(rec):
                    raise ValueError("content_hash does not match the record (edited by hand?)")
            except (ValueError, ValidationError) as exc:
                reason = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else (
                    "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                )
                if issues is None:
                    raise TraceFormatError(f"{path}:{lineno}: {reason}") from None
                issues.append(TraceIssue(path=str(path), line=lineno, reason=reason))
                continue
            yield rec
