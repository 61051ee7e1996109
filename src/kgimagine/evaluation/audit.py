"""Leakage audit: no evaluated trial's outcome may be in the graph, in any form.

Printed in every report and enforced: ``enforce`` raises ``LeakageError`` unless the caller
allows leakage on purpose (``--allow-leakage``, for demonstrations only). Checks:

1. ``trial-node-label``: no evaluated Trial node carries an outcome property
   (``outcome_label``, ``label``, ``status``, ``why_stop``, ``outcome``, ...).
2. ``trial-edge-outcome``: no edge at an evaluated Trial node carries an outcome property.
3. ``keyed-edge-status``: no edge keyed by / recorded from an evaluated NCT id (repoDB
   TRIALLED_FOR edges carry ``key`` = NCT id) carries a ``status`` or other outcome property.
4. ``property-mentions-outcome``: no node or edge property anywhere names an evaluated NCT id
   next to an outcome (an outcome-named property, or a value that also holds an outcome word
   e.g. ``"NCT01234567: 1"``, ``"outcome of NCT01234567"``).
5. ``anchor-splits``: every labelled Trial node (the anchor / prior-rate pool) comes from an
   allowed split, and none is an evaluated trial.
6. ``feature-columns``: the feature builders' input columns hold no ``status`` / ``why_stop``
   / ``label``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from kgimagine.errors import LeakageError
from kgimagine.evaluation.features import (
    DEFAULT_ALLOWED_SPLITS,
    FEATURE_INPUT_COLUMNS,
    FORBIDDEN_COLUMNS,
    LABEL_PROPERTY,
    SPLIT_PROPERTIES,
    TRIAL_PREFIX,
)
from kgimagine.kg.store import GraphStore
from kgimagine.types import NodeLabel

#: Property names that hold an outcome.
OUTCOME_KEYS: frozenset[str] = frozenset(
    {LABEL_PROPERTY, "label", "outcome", "status", "why_stop", "overall_status", "success", "result", "results"}
)
_NCT = re.compile(r"NCT\d{8}", re.IGNORECASE)
MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class AuditCheck:
    name: str
    passed: bool
    detail: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditReport:
    checks: tuple[AuditCheck, ...]
    n_evaluated: int
    n_labelled_in_graph: int
    labelled_splits: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[AuditCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "n_evaluated": self.n_evaluated,
            "n_labelled_in_graph": self.n_labelled_in_graph,
            "labelled_splits": dict(self.labelled_splits),
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail, "examples": list(c.examples)}
                for c in self.checks
            ],
        }

    def to_markdown(self) -> str:
        lines = [
            f"Leakage audit: **{'PASSED' if self.passed else 'FAILED'}** "
            f"({self.n_evaluated} evaluated trials; {self.n_labelled_in_graph} labelled Trial nodes in the graph"
            + (f", splits {dict(self.labelled_splits)}" if self.labelled_splits else "")
            + ")",
            "",
            "| check | result | detail |",
            "|---|---|---|",
        ]
        for c in self.checks:
            ex = f" e.g. {', '.join(c.examples)}" if c.examples else ""
            lines.append(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail}{ex} |")
        return "\n".join(lines)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                yield v


def _mentions(value: Any, evaluated: set[str]) -> set[str]:
    found: set[str] = set()
    for s in _strings(value):
        for m in _NCT.findall(s):
            if m.upper() in evaluated:
                found.add(m.upper())
    return found


_PAIRED_OUTCOME = (r"\s*[:=]\s*(?:[01]\b|success|successful|succeeded|fail|failed|failure|terminated"
                   r"|withdrawn|suspended|completed|approved|positive|negative)")
_OUTCOME_OF = r"(?:outcome|label|status|result)s?\s*(?:of|for|:|=)\s*"


def _label_near(text: str, nct: str) -> bool:
    """True when ``text`` pairs the NCT id with an outcome (``NCT..: 1``, ``NCT..=failed``,
    ``outcome of NCT..``). Free text that merely cites a trial (criteria) does not count."""
    n = re.escape(nct)
    return (re.search(n + _PAIRED_OUTCOME, text, re.IGNORECASE) is not None
            or re.search(_OUTCOME_OF + n, text, re.IGNORECASE) is not None)


def audit_leakage(
    store: GraphStore,
    evaluated: Iterable[str],
    *,
    allowed_splits: Iterable[str] = DEFAULT_ALLOWED_SPLITS,
    feature_columns: Iterable[str] = FEATURE_INPUT_COLUMNS,
) -> AuditReport:
    """Audit ``store`` for outcomes of the ``evaluated`` NCT ids (see the module docstring)."""
    ev = {e.upper().removeprefix("CLINICALTRIALS:") for e in evaluated}
    ev_nodes = {TRIAL_PREFIX + e for e in ev}
    allowed = set(allowed_splits)
    checks: list[AuditCheck] = []

    # 1 + 5: Trial nodes
    node_hits: list[str] = []
    split_hits: list[str] = []
    labelled_splits: dict[str, int] = {}
    n_labelled = 0
    for node in store.iter_nodes(NodeLabel.TRIAL):
        props = node.properties
        is_eval = node.id in ev_nodes
        outcome_props = sorted(k for k in props if k in OUTCOME_KEYS)
        if is_eval and outcome_props:
            node_hits.append(f"{node.id}.{outcome_props[0]}")
        if LABEL_PROPERTY in props:
            n_labelled += 1
            split = next((str(props[k]) for k in SPLIT_PROPERTIES if k in props), "(no split)")
            labelled_splits[split] = labelled_splits.get(split, 0) + 1
            if split not in allowed and split != "(no split)":
                split_hits.append(f"{node.id} (split {split})")
    checks.append(AuditCheck(
        "trial-node-label", not node_hits,
        "no evaluated Trial node has an outcome property" if not node_hits
        else f"{len(node_hits)} evaluated Trial node(s) carry an outcome property",
        tuple(node_hits[:MAX_EXAMPLES]),
    ))

    # 2, 3, 4 (edges) in one pass
    edge_hits: list[str] = []
    keyed_hits: list[str] = []
    mention_hits: list[str] = []
    for edge in store.iter_edges():
        props = edge.properties
        outcome_props = sorted(k for k in props if k in OUTCOME_KEYS)
        at_eval = edge.source in ev_nodes or edge.target in ev_nodes
        if at_eval and outcome_props:
            edge_hits.append(f"{edge.fact_id} ({edge.type.value}.{outcome_props[0]})")
        keyed = _mentions(edge.key, ev) | _mentions(edge.provenance.record_id, ev)
        if keyed and outcome_props:
            keyed_hits.append(f"{edge.fact_id} ({edge.type.value} key {edge.key or edge.provenance.record_id}"
                              f" .{outcome_props[0]})")
        for k, v in props.items():
            for nct in _mentions(v, ev):
                if k in OUTCOME_KEYS or any(_label_near(s, nct) for s in _strings(v)):
                    mention_hits.append(f"{edge.fact_id}.{k} mentions {nct}")
    for node in store.iter_nodes():
        for k, v in node.properties.items():
            for nct in _mentions(v, ev):
                if k in OUTCOME_KEYS or any(_label_near(s, nct) for s in _strings(v)):
                    mention_hits.append(f"{node.id}.{k} mentions {nct}")
    checks.append(AuditCheck(
        "trial-edge-outcome", not edge_hits,
        "no edge at an evaluated Trial node has an outcome property" if not edge_hits
        else f"{len(edge_hits)} edge(s) at evaluated trials carry an outcome property",
        tuple(edge_hits[:MAX_EXAMPLES]),
    ))
    checks.append(AuditCheck(
        "keyed-edge-status", not keyed_hits,
        "no edge keyed by an evaluated NCT id carries a status" if not keyed_hits
        else f"{len(keyed_hits)} edge(s) keyed by evaluated NCT ids carry a status/outcome (repoDB?)",
        tuple(keyed_hits[:MAX_EXAMPLES]),
    ))
    checks.append(AuditCheck(
        "property-mentions-outcome", not mention_hits,
        "no property pairs an evaluated NCT id with an outcome" if not mention_hits
        else f"{len(mention_hits)} propert(ies) pair an evaluated NCT id with an outcome",
        tuple(mention_hits[:MAX_EXAMPLES]),
    ))
    checks.append(AuditCheck(
        "anchor-splits", not split_hits,
        f"labelled Trial nodes come only from allowed splits {sorted(allowed)}" if not split_hits
        else f"{len(split_hits)} labelled Trial node(s) from splits outside {sorted(allowed)}",
        tuple(split_hits[:MAX_EXAMPLES]),
    ))
    cols = tuple(feature_columns)
    bad_cols = sorted(FORBIDDEN_COLUMNS.intersection(cols))
    checks.append(AuditCheck(
        "feature-columns", not bad_cols,
        f"feature inputs: {', '.join(cols)}" if not bad_cols else f"feature inputs include {bad_cols}",
    ))
    return AuditReport(tuple(checks), len(ev), n_labelled, labelled_splits)


def enforce(report: AuditReport, *, allow_leakage: bool = False) -> None:
    """Raise ``LeakageError`` naming the failed checks, unless ``allow_leakage``."""
    if report.passed or allow_leakage:
        return
    parts = [f"{c.name}: {c.detail}" + (f" (e.g. {c.examples[0]})" if c.examples else "") for c in report.failures]
    raise LeakageError(
        "leakage audit failed: " + "; ".join(parts)
        + ". Rebuild the graph without these trials' outcomes (e.g. `kgimagine kg build` with labels only from"
        " training splits), or pass --allow-leakage to demonstrate the effect"
    )
