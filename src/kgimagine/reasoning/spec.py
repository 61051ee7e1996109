"""What a user asks (``TrialSpec``, ``ArmQuestion``) and what they get back (``Prediction``).

All are pydantic models, JSON-serialisable, so LangGraph state and Studio can show them.
An ``ArmQuestion`` never reads result text: unknown fields (results, p-values, ...) are ignored.
"""

from __future__ import annotations

import ast
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kgimagine.errors import SpecValidationError
from kgimagine.kg.queries import phase_number
from kgimagine.traces import StepRecord

def _literal_list(text: str) -> list[Any] | None:
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return list(parsed) if isinstance(parsed, (list, tuple)) else None


def _as_list(value: Any) -> list[str]:
    """A list of non-empty strings from a list, a Python-list literal (nested ones too, as in TOP's
    ``icdcodes``) or a plain string. A string that only looks like a list ("[18F]FDG") stays as is."""
    if value is None:
        return []
    if isinstance(value, str):
        parsed = _literal_list(value.strip()) if value.strip().startswith("[") else None
        items: list[Any] = parsed if parsed is not None else [value]
    else:
        items = list(value)
    out: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(_as_list(list(item)))
            continue
        text = str(item).strip() if item is not None else ""
        if text.startswith("["):
            inner = _literal_list(text)
            if inner is not None:
                out.extend(_as_list(inner))
                continue
        if text:
            out.append(text)
    return list(dict.fromkeys(out))


class Intervention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    type: str = ""
    dose: str = ""
    description: str = ""
    other_names: list[str] = Field(default_factory=list)


class Arm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    label: str
    type: str = ""  # EXPERIMENTAL, PLACEBO_COMPARATOR, ACTIVE_COMPARATOR, ...
    description: str = ""
    interventions: list[Intervention] = Field(default_factory=list)


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    measure: str = ""
    description: str = ""
    time_frame: str = ""
    primary: bool = True


class TrialSpec(BaseModel):
    """A trial to predict. Drugs and diseases may be names, ICD-10 codes or graph ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nct_id: str | None = None
    title: str = ""
    drugs: list[str] = Field(default_factory=list)
    diseases: list[str] = Field(default_factory=list)
    icd10: list[str] = Field(default_factory=list)
    phase: str | None = None
    criteria: str = ""
    arms: list[Arm] = Field(default_factory=list)
    endpoint: Endpoint | None = None
    #: Label of one arm of trial ``nct_id`` (arm-level questions): ``drugs`` are that arm's, so the
    #: trial's own drug links in the graph do not replace them. The trial is still never its own anchor.
    arm: str | None = None

    @field_validator("nct_id")
    @classmethod
    def _check_nct(cls, v: str | None) -> str | None:
        if v is None:
            return None
        nct = v.strip().upper().removeprefix("CLINICALTRIALS:")
        if not nct.startswith("NCT") or not nct[3:].isdigit():
            raise ValueError(f"{v!r} is not an NCT number (e.g. NCT01288573)")
        return nct

    @field_validator("phase")
    @classmethod
    def _check_phase(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parts = [p.strip() for p in v.replace("+", "/").split("/") if p.strip()]
        nums = [phase_number(p) for p in parts]
        if any(n is None for n in nums):
            raise ValueError(f"{v!r} is not a phase (use e.g. 'phase 2' or 'phase 1/phase 2')")
        if len(nums) > 1 and (sorted(nums) != nums or nums[-1] - nums[0] > 1.0):  # type: ignore[type-var, operator]
            raise ValueError(
                f"{v!r} is contradictory: combined phases must be adjacent and ascending (e.g. 'phase 2/phase 3')"
            )
        return v.strip().lower()

    @model_validator(mode="after")
    def _check(self) -> "TrialSpec":
        if not (self.nct_id or self.drugs or self.diseases or self.icd10 or self.criteria.strip()
                or self.title.strip() or self.arms):
            raise ValueError("empty spec: give at least one of nct_id, drugs, diseases, criteria, title or arms")
        return self

    @classmethod
    def build(cls, **fields: Any) -> "TrialSpec":
        """By hand, with validation errors as ``SpecValidationError`` naming the field."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise SpecValidationError(_describe(exc, "trial spec")) from None

    @classmethod
    def from_top_row(cls, row: Any) -> "TrialSpec":
        """From a TOP row (``loaders.top.TopRow`` or a CSV dict). Outcome columns are never read."""
        get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
        nct = get("nctid") or get("nct_id")
        icd = _as_list(get("icdcodes") or get("icd10") or [])
        return cls.build(
            nct_id=str(nct).strip() if nct else None,
            drugs=_as_list(get("drugs")),
            diseases=_as_list(get("diseases")),
            icd10=icd,
            phase=(str(get("phase")).strip() or None) if get("phase") else None,
            criteria=str(get("criteria") or ""),
        )

    @classmethod
    def from_graph(cls, store: Any, nct_id: str) -> "TrialSpec":
        """From a Trial node of the graph (its outcome label is not copied)."""
        from kgimagine.errors import NodeNotFoundError
        from kgimagine.kg import queries

        nct = nct_id.strip().upper().removeprefix("CLINICALTRIALS:")
        tid = f"clinicaltrials:{nct}"
        try:
            node = store.get_node(tid)
        except NodeNotFoundError:
            raise SpecValidationError(
                f"nct_id {nct_id!r}: no trial {tid} in the graph; pass a CSV row or build the spec by hand"
            ) from None
        p = node.properties
        return cls.build(
            nct_id=nct,
            title=node.name if node.name and node.name != nct else "",
            drugs=queries.trial_drugs(store, tid) or _as_list(p.get("drug_names")),
            diseases=queries.trial_diseases(store, tid) or _as_list(p.get("disease_names")),
            icd10=_as_list(p.get("icd10")),
            phase=p.get("phase") or None,
            criteria=str(p.get("criteria") or ""),
        )

    def key(self) -> str:
        """Stable id of this spec in a batch (the NCT id, else a hash of its content)."""
        if self.nct_id:
            return self.nct_id
        return "spec-" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def _describe(exc: ValidationError, what: str) -> str:
    parts = []
    for e in exc.errors()[:3]:
        loc = ".".join(map(str, e["loc"])) or "(spec)"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return f"invalid {what}: " + "; ".join(parts)


# -- arm-level questions ----------------------------------------------------------------------


class QIntervention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str = ""
    name: str
    description: str = ""
    otherNames: list[str] = Field(default_factory=list)


class QArm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    label: str
    type: str = ""
    description: str = ""
    interventionNames: list[str] = Field(default_factory=list)
    interventions: list[QIntervention] = Field(default_factory=list)

    def drug_names(self) -> list[str]:
        names = [i.name for i in self.interventions if i.type.upper() in ("", "DRUG", "BIOLOGICAL", "COMBINATION_PRODUCT")]
        if not names:
            names = [n.split(":", 1)[-1].strip() for n in self.interventionNames]
        return list(dict.fromkeys(n for n in names if n))


class QEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    measure: str = ""
    description: str = ""
    timeFrame: str = ""
    outcome_type: str = "primary"


class ArmQuestion(BaseModel):
    """One line of a questions JSONL file. Extra fields (e.g. results) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    question_id: str
    nct_id: str | None = None
    brief_title: str = ""
    endpoint: QEndpoint = Field(default_factory=QEndpoint)
    arms: list[QArm]
    question_type: Literal["superiority", "endpoint"]
    comparisons: list[tuple[str, str]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "ArmQuestion":
        if not self.arms:
            raise ValueError("arms: a question needs at least one arm")
        labels = {a.label for a in self.arms}
        if self.question_type == "superiority":
            if not self.comparisons:
                raise ValueError("comparisons: a superiority question needs at least one [arm_a, arm_b] pair")
            for a, b in self.comparisons:
                for lab in (a, b):
                    if lab not in labels:
                        raise ValueError(f"comparisons: arm {lab!r} is not one of the arms {sorted(labels)}")
                if a == b:
                    raise ValueError(f"comparisons: arm {a!r} is compared with itself")
        return self

    @classmethod
    def parse(cls, data: str | dict[str, Any]) -> "ArmQuestion":
        try:
            obj = json.loads(data) if isinstance(data, str) else data
            return cls.model_validate(obj)
        except json.JSONDecodeError as exc:
            raise SpecValidationError(f"question is not valid JSON ({exc.msg}); one JSON object per line") from None
        except ValidationError as exc:
            raise SpecValidationError(_describe(exc, "question")) from None

    def arm(self, label: str) -> QArm:
        return next(a for a in self.arms if a.label == label)

    def key(self) -> str:
        return self.question_id


# -- predictions --------------------------------------------------------------------------------


class Chain(BaseModel):
    """One anchor's chain of counterfactual steps."""

    anchor_id: str
    anchor_label: int
    similarity: float
    p_start: float
    p_end: float
    steps: list[StepRecord] = Field(default_factory=list)
    context: str = ""  # e.g. "arm A" for an arm-level sub-question
    #: logit added at the chain's end: the supported steps' moves no fact states (``StepRecord.unstated``)
    unstated: float = 0.0


class Comparison(BaseModel):
    arm_a: str
    arm_b: str
    probability: float
    p_arm_a: float | None = None
    p_arm_b: float | None = None


class Prediction(BaseModel):
    key: str
    nct_id: str | None = None
    question_id: str | None = None
    question_type: Literal["trial", "superiority", "endpoint"] = "trial"
    probability: float
    label: int
    threshold: float = 0.5
    anchors: list[str] = Field(default_factory=list)
    chains: list[Chain] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    aggregate_method: str = ""
    grounding_rate: float | None = None  # None when no step was taken
    steps_total: int = 0
    steps_supported: int = 0
    graph_version: str = ""
    operator: str = ""
    timings: dict[str, float] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)
    #: Set when the prediction could not be made (an operator failed): ``probability`` is then 0.5,
    #: a stand-in, and batch checkpoints do not keep the item, so a rerun retries it.
    error: str | None = None

    @classmethod
    def failed(cls, key: str, error: str, *, nct_id: str | None = None, question_id: str | None = None,
               question_type: Literal["trial", "superiority", "endpoint"] = "trial",
               threshold: float = 0.5, graph_version: str = "", operator: str = "") -> "Prediction":
        """The record of an item whose prediction failed (``error`` says why)."""
        return cls(key=key, nct_id=nct_id, question_id=question_id, question_type=question_type, probability=0.5,
                   label=int(0.5 >= threshold), threshold=threshold, graph_version=graph_version,
                   operator=operator, error=error, flags=[f"error: {error}"])

    @property
    def no_graph_support(self) -> bool:
        return any(f.startswith("no graph support") for f in self.flags)


def grounding_rate(steps: list[StepRecord]) -> float | None:
    """Share of steps the verifier supported: at least one claim, and every claim supported (its
    facts retrieved and in the graph, the rationale's names and relations in them, its role and the
    step's direction agreeing with the evidence signs, nothing contradicted)."""
    if not steps:
        return None
    return sum(1 for s in steps if s.supported) / len(steps)
