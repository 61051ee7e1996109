"""The JSONL trace schema and the step prompt/answer format, shared by reasoning and training.

``reasoning`` writes chains; ``training`` reads them (and mined pair examples) from JSONL files.
Neither imports the other: this module is where they meet. A trace file is JSON Lines; each line
is one record with a ``kind`` (``chain`` or ``step``) and ``schema_version``.

The step prompt is the exact text an operator sees for one imagination step; training renders
the same prompt, so a distilled adapter is served the format it learnt.

A step answer (schema version 2) is structured: a ``direction`` (up / down / none), the new
``probability``, a list of ``claims`` — each one retrieved fact (or a short path of up to three)
and the ``role`` it plays (supports up / supports down / context) — and an optional ``rationale``
of at most 240 characters. ``kgimagine.reasoning.verifier`` checks every claim deterministically.

``rule_fact_signs`` is the deterministic sign model of the facts of a step, by fact type: the
sign the verifier expects from operators (LLMs) that have no model of their own, and the roles
training writes into mined examples (see its docstring for the rules).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kgimagine.errors import TraceFormatError
from kgimagine.types import Factor, changed_sides

#: 2: structured step answers (direction, probability, claims, rationale); per-claim verdicts.
TRACE_SCHEMA_VERSION = 2

#: A citation's verdict (is the fact id retrieved for this step and in the graph?).
Verdict = Literal["verified", "not_retrieved", "unknown_fact"]
#: A claim's (and a step's) verdict: does the cited evidence say what the answer says?
ClaimVerdict = Literal["supported", "unsupported", "refuted"]
Role = Literal["up", "down", "context"]
StepDirection = Literal["up", "down", "none"]

MAX_RATIONALE_CHARS = 240
MAX_CLAIM_FACTS = 3


class FactRef(BaseModel):
    """A graph fact as shown to an operator: its id, one readable line, its provenance, and the
    edge it states (``subject`` ``relation`` ``object`` ids; ``outcome`` of the trial end when the
    fact shows it: 1 succeeded, 0 failed). The edge fields let the verifier run from a step alone."""

    model_config = ConfigDict(frozen=True)

    fact_id: str
    text: str
    source: str = ""  # provenance source (e.g. drugbank), not the edge's start node
    licence: str = ""
    source_version: str = ""
    subject: str = ""
    relation: str = ""
    object: str = ""
    outcome: int | None = None


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
    # routing for operators that score whole trials (the learned one); never serialised
    anchor_id: str = Field(default="", exclude=True)  # the anchor trial's graph id
    target_key: str = Field(default="", exclude=True)  # the target's key (NCT id or spec hash)


class Claim(BaseModel):
    """One piece of evidence: a retrieved fact (or a path of up to three) and the role it plays."""

    model_config = ConfigDict(frozen=True)

    facts: list[str] = Field(min_length=1, max_length=MAX_CLAIM_FACTS)
    role: Role

    @field_validator("facts", mode="before")
    @classmethod
    def _clean_ids(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            return list(dict.fromkeys(str(x).strip() for x in v if str(x).strip()))
        return v


class StepAnswer(BaseModel):
    """What an operator must return: validated structured output."""

    model_config = ConfigDict(frozen=True)

    direction: StepDirection
    probability: float = Field(ge=0.0, le=1.0)
    claims: list[Claim] = Field(default_factory=list)
    rationale: str = Field(default="", max_length=MAX_RATIONALE_CHARS)

    @field_validator("rationale", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @property
    def cited(self) -> list[str]:
        """Every fact id of the claims, in order, each once."""
        return list(dict.fromkeys(fid for c in self.claims for fid in c.facts))

    @property
    def claim(self) -> str:
        """The rationale (the name old call sites read)."""
        return self.rationale


class CheckedClaim(BaseModel):
    """A claim with the verifier's verdict on it and the reason."""

    facts: list[str]
    role: Role
    verdict: ClaimVerdict
    reason: str = ""


class StepRecord(BaseModel):
    """One verified (or not) step of a chain, as kept in state and in trace files.

    ``claim`` is the answer's rationale; ``cited`` all fact ids its claims cite; ``verdicts`` the
    citation check per fact id; ``claims`` the verifier's verdict per claim; ``verdict`` the step's
    (supported only when it has a claim and every claim, the rationale and the direction check)."""

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
    direction: StepDirection | None = None  # None when the answer could not be parsed
    proposed: float | None = None  # the operator's probability (p_after stays p_before if unsupported)
    claims: list[CheckedClaim] = Field(default_factory=list)
    verdict: ClaimVerdict = "unsupported"
    reason: str = ""
    #: logit of the operator's move that no shown fact states (its priors: a factor's bias, the
    #: phase delta); applied at the chain's end, never as the step's move (0 for most operators)
    unstated: float = 0.0

    def answer(self) -> StepAnswer | None:
        """The operator's answer as recorded (None when it could not be parsed)."""
        if self.direction is None:
            return None
        return StepAnswer(
            direction=self.direction,
            probability=self.proposed if self.proposed is not None else self.p_after,
            claims=[Claim(facts=c.facts, role=c.role) for c in self.claims],
            rationale=self.claim[:MAX_RATIONALE_CHARS],
        )


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

# -- the sign model of facts by type ---------------------------------------------------------------

_CURIE = re.compile(r"\b(?:drugbank|ncbigene|mondo|doid|umls|clinicaltrials|drugcentral|kgimagine\.drug|kgimagine\.disease):[A-Za-z0-9_.\-]+")
_INDICATION = frozenset({"TREATS", "PALLIATES", "APPROVED_FOR"})
_ONTOLOGY = frozenset({"SUBCLASS_OF", "SAME_AS"})
_SWAP = frozenset({Factor.DRUG, Factor.DOSE, Factor.ARM})


def ids_in(text: str) -> list[str]:
    """The CURIEs written in ``text`` (e.g. ``Imatinib [drugbank:DB00619]``), in order, each once."""
    return list(dict.fromkeys(m.group(0).rstrip(".-") for m in _CURIE.finditer(text or "")))


def step_sides(step: StepInput) -> tuple[set[str], set[str]]:
    """The entity ids the step changes: (anchor side, target side), read from its values."""
    return set(ids_in(step.anchor_value)), set(ids_in(step.target_value))


def rule_fact_signs(step: StepInput, *, sides: tuple[set[str], set[str]] | None = None) -> dict[str, float]:
    """The deterministic sign model: fact id -> +1 (the fact supports a rise), -1 (a fall) or 0
    (context), from the fact's type and where its ends sit in the step. A = the anchor-side ids,
    T = the target-side ids of the change; "swap" = a drug, dose or arm change.

    * indication (TREATS / PALLIATES / APPROVED_FOR) drug -> disease: swap: +1 when the drug is on
      the target side (the new drug is indicated for the disease), -1 on the anchor side (the
      indicated drug is given up); disease change: +1 when the disease is the target disease, -1
      when it is the anchor disease. TRIALLED_FOR (a repoDB trial record) is context.
    * a labelled trial (TESTS trial -> drug, outcome shown; not the anchor or target trial itself):
      y = +1 succeeded / -1 failed; swap: y for a target-side drug, -y for an anchor-side drug;
      other factors: y (the record of the drugs in play). STUDIES trial -> disease with an outcome:
      disease change only, y into the target disease, -y into the anchor disease.
    * TARGETS drug -> gene: swap: +1 when the gene is targeted on both sides (a shared mechanism,
      judged over all facts of the step); disease change: +1 when the gene is associated with a
      target disease in the step's facts (the drug's mechanism in the new disease).
    * ASSOCIATED_WITH disease -> gene, disease change: +1 when the gene is associated with both an
      anchor and a target disease, or with a target disease and targeted by a drug in the step.
    * SUBCLASS_OF / SAME_AS, disease change: +1 when the fact touches either side (a link).
    * CAUSES drug -> side effect, swap: -1 for a target-side drug, +1 for an anchor-side drug.
    * everything else: 0.

    A drug (disease) on both sides is not part of the change: each side is what it has and the
    other lacks (the whole side when it has nothing of its own). ``sides`` overrides the (anchor, target) ids read from the step's values (training pairs
    show names without ids).
    """
    A, T = sides if sides is not None else step_sides(step)
    A, T = changed_sides(A, T)  # a drug on both sides is not changed: the change is what differs
    swap = step.factor in _SWAP
    disease = step.factor is Factor.DISEASE
    targeted: dict[str, set[str]] = {}
    associated: dict[str, set[str]] = {}
    for f in step.facts:
        if f.relation == "TARGETS":
            targeted.setdefault(f.object, set()).add(f.subject)
        elif f.relation == "ASSOCIATED_WITH":
            associated.setdefault(f.object, set()).add(f.subject)
    out: dict[str, float] = {}
    for f in step.facts:
        rel, s, o = f.relation, f.subject, f.object
        sign = 0.0
        if rel in _INDICATION:
            if swap:
                sign = 1.0 if s in T else -1.0 if s in A else 0.0
            elif disease:
                sign = 1.0 if o in T else -1.0 if o in A else 0.0
        elif rel == "TESTS" and f.outcome is not None and s not in A | T:
            y = 1.0 if f.outcome else -1.0
            if swap:
                sign = y if o in T else -y if o in A else 0.0
            else:
                sign = y
        elif rel == "STUDIES" and f.outcome is not None and disease and s not in A | T:
            y = 1.0 if f.outcome else -1.0
            sign = y if o in T else -y if o in A else 0.0
        elif rel == "TARGETS":
            if swap:
                drugs = targeted.get(o, set())
                sign = 1.0 if drugs & A and drugs & T else 0.0
            elif disease:
                sign = 1.0 if associated.get(o, set()) & T else 0.0
        elif rel == "ASSOCIATED_WITH" and disease:
            diseases = associated.get(o, set())
            if (diseases & A and diseases & T) or (s in T and targeted.get(o)):
                sign = 1.0
        elif rel in _ONTOLOGY and disease:
            sign = 1.0 if {s, o} & (A | T) else 0.0
        elif rel == "CAUSES" and swap:
            sign = -1.0 if s in T else 1.0 if s in A else 0.0
        out[f.fact_id] = sign
    return out


def role_of(sign: float) -> Role:
    return "up" if sign > 1e-9 else "down" if sign < -1e-9 else "context"


def distinct_statements(fact_ids: Iterable[str], facts: Iterable[FactRef]) -> list[str]:
    """``fact_ids`` in order, without those that read exactly like one kept before them: one
    source row can be two edges (repoDB's "Sunitinib APPROVED_FOR renal cell carcinoma" ends at
    the Mondo and at the DOID node of that disease), and a claim citing both says the same
    thing twice. The same statement from two sources (different provenance) is kept."""
    text = {f.fact_id: f.text for f in facts}
    seen: set[str] = set()
    out: list[str] = []
    for fid in fact_ids:
        t = text.get(fid, fid)
        if t not in seen:
            seen.add(t)
            out.append(fid)
    return out


def strip_provenance(text: str) -> str:
    """A fact line without its trailing ``(source version, licence)`` group (nested parentheses
    allowed): what the fact states, without where it comes from."""
    text = text.rstrip()
    if not text.endswith(")"):
        return text
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                head = text[:i].rstrip()
                return head if head else text
    return text


# -- prompt format -------------------------------------------------------------------------

#: The start of every answer: served local models are prefilled with it (``LocalOperator``), and
#: GRPO prompts end with it, so a trained model continues the same text it is served.
ANSWER_PREFILL = '{"direction":'
#: The fixed pieces LocalOperator's constrained decoder forces between the model's choices; each
#: is tokenised on its own there, so SFT tokenises an answer in the same pieces (``answer_segments``).
PROBABILITY_OPEN = ', "probability": '
CLAIMS_OPEN = ', "claims": ['
CLAIM_OPEN = '{"facts":'
CLAIM_ID_OPEN = ' ["'
CLAIM_ID_CLOSE = '"]'
ROLE_OPEN = ', "role":'
RATIONALE_OPEN = '], "rationale": "'
ANSWER_CLOSE = '"}'
#: Claims a constrained answer holds at most (``LocalOperator(max_cited=3)``).
MAX_DECODED_CLAIMS = 3


def answer_segments(answer: "StepAnswer", *, max_claims: int = MAX_DECODED_CLAIMS) -> list[str]:
    """The answer as the constrained decoder emits it, piece by piece (each piece a separate
    tokenisation there): the prefill, the direction, the number, each claim (opening, id, closing
    quote, role, brace; the model's ``,`` between claims), the ``]`` the model chooses before the
    rationale when it could cite more, the rationale, the close. Joined, it is the same JSON
    object as ``render_step_answer`` up to whitespace between claims; claims beyond ``max_claims``
    are dropped (the decoder cannot emit them)."""
    segs = [ANSWER_PREFILL, f' "{answer.direction}"', PROBABILITY_OPEN,
            json.dumps(round(answer.probability, 3)), CLAIMS_OPEN]
    claims = answer.claims[:max_claims]
    for i, c in enumerate(claims):
        segs += [CLAIM_OPEN, CLAIM_ID_OPEN + '", "'.join(c.facts), CLAIM_ID_CLOSE, ROLE_OPEN, f' "{c.role}"', "}"]
        if i < len(claims) - 1:
            segs.append(",")
    if claims and len(claims) < max_claims:
        segs += ["]", RATIONALE_OPEN[1:]]  # the model's choice to stop citing
    else:
        segs.append(RATIONALE_OPEN)
    if answer.rationale:
        segs.append(answer.rationale)
    segs.append(ANSWER_CLOSE)
    return segs

SYSTEM_PROMPT = (
    "You predict how a clinical trial's chance of success changes when ONE factor of a known "
    "trial is changed. Use only the numbered graph facts given. Answer with one JSON object: "
    '{"direction": "up"|"down"|"none", "probability": <0..1>, '
    '"claims": [{"facts": ["<fact id>"], "role": "up"|"down"|"context"}, ...], '
    '"rationale": "<at most 240 characters>"}. '
    "Each claim cites one fact id from the list (or a path of up to three) and says whether it "
    "supports a rise, a fall, or is context; never invent ids. The rationale restates only the "
    "cited facts and names no other drug, gene or disease."
)


# -- step values and trial summaries: one rendering for serving (reasoning/plan.py, retrieval.py)
# -- and training (training/pairs.py), so an adapter is trained on the values it is served -------


def render_entities(names: Iterable[str], ids: Iterable[str], unresolved: Iterable[str] = ()) -> str:
    """``"Imatinib [drugbank:DB00619], Sunitinib [drugbank:DB01268]"``; ``"(none)"`` when empty.

    ``unresolved``: names the trial lists that match no node, each shown after the linked ones as
    ``"keytruda (not in graph)"`` (once, whatever its case), so a step never reads as if the trial
    had no other drug or disease."""
    first: dict[str, str] = {}
    for u in unresolved:
        if u and u.strip():
            first.setdefault(u.strip().lower(), u.strip())
    parts = [f"{n} [{i}]" for n, i in zip(names, ids)] + [f"{u} {NOT_IN_GRAPH}" for u in first.values()]
    return ", ".join(parts) or "(none)"


#: the mark of a listed name that matches no graph node, in step values
NOT_IN_GRAPH = "(not in graph)"


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
    # what each fact states, without its provenance (source, version, licence): the provenance
    # stays in the graph and in the FactRef; in the prompt it only doubled its length
    lines += [f"[{f.fact_id}] {strip_provenance(f.text)}" for f in step.facts] or ["(none retrieved)"]
    lines.append("Answer with the JSON object only.")
    return "\n".join(l for l in lines if l)


def render_step_messages(step: StepInput) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": render_step_user(step)}]


def render_step_answer(answer: StepAnswer) -> str:
    return json.dumps(
        {
            "direction": answer.direction,
            "probability": round(answer.probability, 3),
            "claims": [{"facts": c.facts, "role": c.role} for c in answer.claims],
            "rationale": answer.rationale,
        },
        ensure_ascii=False,
    )


def _json_objects(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i >= 0:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        yield obj
        i = text.find("{", end)


def parse_step_answer(text: str) -> StepAnswer:
    """Parse an operator's raw text into a ``StepAnswer``; ``TraceFormatError`` (a ``ValueError``)
    with the reason otherwise."""
    last_error = "no JSON object found"
    for data in _json_objects(text or ""):
        if not isinstance(data, dict):
            continue
        if "claims" not in data and ("cited" in data or "claim" in data):
            last_error = ("the answer uses the version-1 format (claim, cited); answer with direction, "
                          "probability, claims [{facts, role}] and rationale")
            continue
        if isinstance(data.get("claims"), dict):
            data["claims"] = [data["claims"]]
        try:
            return StepAnswer.model_validate(data)
        except ValidationError as exc:
            last_error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
    raise TraceFormatError(f"operator output is not a valid step answer ({last_error}): {(text or '')[:200]!r}")


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
                version = data.get("schema_version")
                if version != TRACE_SCHEMA_VERSION:
                    hint = (" (written before structured step answers; regenerate it with this version: "
                            "`kgimagine train pairs` or a new predict run)") if version == 1 else ""
                    raise ValueError(f"schema_version {version!r} != {TRACE_SCHEMA_VERSION}{hint}")
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


def step_answer_schema(step: StepInput, *, max_claims: int = 4) -> dict[str, Any]:
    """A JSON Schema of the answer to ``step`` whose fact ids are an enum of the retrieved ids
    (for servers with schema-constrained decoding, e.g. vLLM's ``response_format=json_schema``)."""
    ids = list(dict.fromkeys(f.fact_id for f in step.facts))
    fact: dict[str, Any] = {"type": "string", "enum": ids} if ids else {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["direction", "probability", "claims", "rationale"],
        "properties": {
            "direction": {"type": "string", "enum": ["up", "down", "none"]},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "claims": {
                "type": "array",
                "maxItems": max_claims,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["facts", "role"],
                    "properties": {
                        "facts": {"type": "array", "items": fact, "minItems": 1, "maxItems": MAX_CLAIM_FACTS},
                        "role": {"type": "string", "enum": ["up", "down", "context"]},
                    },
                },
            },
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE_CHARS},
        },
    }
