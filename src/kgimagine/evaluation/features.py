"""What a baseline may see of a trial, and per-trial graph features read from a ``GraphStore``.

``TrialInput`` is the only record the feature builders and baselines receive. It has no
outcome columns: TOP's ``status``, ``why_stop`` and ``label`` cannot reach a feature because
the record has nowhere to hold them (``check_feature_columns`` asserts it, and the leakage
audit prints it).

Graph features (``GraphFeatureBuilder``), per trial, computed AS A NEW TRIAL: its drug and disease
names (and ICD-10 codes) are resolved onto the graph as a user's description would be; the trial's
own node and edges are never read (``in_graph`` = some name resolved), so validation figures mean
what a user gets for a trial that is not in the graph:

* counts: drugs / diseases listed in TOP, resolved drugs (TESTS) and diseases (STUDIES),
  drug targets (TARGETS), disease genes (ASSOCIATED_WITH), target-disease-gene overlap,
  side effects of the drugs (CAUSES);
* known indications: (drug, disease) pairs of the trial joined by TREATS / PALLIATES /
  APPROVED_FOR, and drugs with any such edge. These are approval facts that may postdate the
  trial: ``include_approval=False`` drops them (the ablation);
* phase indicators (phase 1 / 2 / 3; combined phases set both);
* prior success rates of the same drug / disease / targets among labelled Trial nodes of the
  allowed splits only, smoothed towards the pool's mean. When the featurised trial is itself
  one of those labelled trials, the rate is computed OUT-OF-FOLD: every labelled trial in its
  fold (a stable hash of the NCT id, ``n_folds`` folds) is left out, so a tree model cannot
  read a trial's own label back from a leave-one-out encoding.

TRIALLED_FOR edges (repoDB trial records carrying a ``status``) are never read: their status
is outcome information.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any, Iterable, Sequence

import numpy as np

from kgimagine.errors import EvaluationError
from kgimagine.kg.schema import APPROVAL_HOP
from kgimagine.kg.store import GraphStore
from kgimagine.types import Direction, NodeLabel, RelationType

TRIAL_PREFIX = "clinicaltrials:"
DEFAULT_ALLOWED_SPLITS: tuple[str, ...] = ("phase_I_train",)
#: TOP columns that carry the outcome: never features, never predictor input.
FORBIDDEN_COLUMNS: frozenset[str] = frozenset({"status", "why_stop", "label"})
#: Node properties that hold an outcome label (read only to build prior rates of allowed splits).
LABEL_PROPERTY = "outcome_label"
SPLIT_PROPERTIES = ("split", "source_split")
_NEIGHBOUR_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class TrialInput:
    """What a baseline or a feature builder may see of one trial (no outcome columns)."""

    nctid: str
    phase: str
    diseases: tuple[str, ...] = ()
    icdcodes: tuple[str, ...] = ()
    drugs: tuple[str, ...] = ()
    criteria: str = ""

    @property
    def node_id(self) -> str:
        return TRIAL_PREFIX + self.nctid

    @classmethod
    def from_row(cls, row: Any) -> "TrialInput":
        """Copy only the allowed columns of a TOP row (an object with attributes, or a mapping)."""
        get = row.get if isinstance(row, dict) else (lambda name, default=None: getattr(row, name, default))
        nctid = str(get("nctid", "") or "").strip()
        if not nctid:
            raise EvaluationError("a trial row has no nctid; every TOP row needs one")
        return cls(
            nctid=nctid,
            phase=str(get("phase", "") or "").strip().lower(),
            diseases=tuple(str(x) for x in (get("diseases", ()) or ())),
            icdcodes=tuple(str(x) for x in _flatten(get("icdcodes", ()) or ())),
            drugs=tuple(str(x) for x in (get("drugs", ()) or ())),
            criteria=str(get("criteria", "") or ""),
        )


def _flatten(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


FEATURE_INPUT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TrialInput))


def check_feature_columns(columns: Iterable[str] = FEATURE_INPUT_COLUMNS) -> tuple[str, ...]:
    """Raise ``EvaluationError`` when an outcome column is among a feature builder's inputs."""
    cols = tuple(columns)
    bad = sorted(FORBIDDEN_COLUMNS.intersection(cols))
    if bad:
        raise EvaluationError(
            f"feature inputs include outcome column(s) {bad}; remove them (status, why_stop and label are never features)"
        )
    return cols


def phase_flags(phase: str) -> tuple[float, float, float]:
    """(phase 1, phase 2, phase 3) indicators; ``phase 1/phase 2`` sets two, ``early phase 1`` phase 1."""
    p = phase.lower()
    return (float("1" in p), float("2" in p), float("3" in p))


def fold_of(nctid: str, n_folds: int) -> int:
    """A stable fold number for an NCT id (independent of file order and Python's hash seed)."""
    return int.from_bytes(hashlib.blake2b(nctid.encode(), digest_size=4).digest(), "big") % n_folds


BASE_FEATURES: tuple[str, ...] = (
    "in_graph",
    "n_drugs_listed",
    "n_diseases_listed",
    "n_drugs_resolved",
    "frac_drugs_resolved",
    "n_diseases_resolved",
    "n_targets",
    "n_disease_genes",
    "n_target_disease_overlap",
    "has_target_disease_overlap",
    "n_side_effects",
    "side_effects_per_drug",
    "phase_1",
    "phase_2",
    "phase_3",
    "prior_drug_rate",
    "prior_drug_n",
    "prior_disease_rate",
    "prior_disease_n",
    "prior_target_rate",
    "prior_target_n",
)
APPROVAL_FEATURES: tuple[str, ...] = ("n_known_indications", "n_drugs_with_any_indication")


@dataclass(frozen=True, slots=True)
class _Labelled:
    label: int
    fold: int
    drugs: frozenset[str]
    diseases: frozenset[str]
    targets: frozenset[str]


class GraphFeatureBuilder:
    """Builds the graph feature matrix for trials from a store (see the module docstring)."""

    def __init__(
        self,
        store: GraphStore,
        *,
        include_approval: bool = True,
        allowed_splits: Sequence[str] = DEFAULT_ALLOWED_SPLITS,
        n_folds: int = 5,
        smoothing: float = 5.0,
    ) -> None:
        if n_folds < 2:
            raise EvaluationError(f"n_folds must be at least 2 (got {n_folds})")
        self.store = store
        self.include_approval = include_approval
        self.allowed_splits = tuple(allowed_splits)
        self.n_folds = n_folds
        self.smoothing = smoothing
        from kgimagine.trials.evidence import NeighbourCache

        self._neighbours = NeighbourCache(store, limit=_NEIGHBOUR_LIMIT)
        self._labelled: dict[str, _Labelled] | None = None
        self._resolver: Any = None
        check_feature_columns()

    def _names(self, drugs: Sequence[str], diseases: Sequence[str], icd10: Sequence[str]) -> Any:
        if self._resolver is None:
            from kgimagine.trials.evidence import NameResolver

            self._resolver = NameResolver(self.store)
        return self._resolver(list(drugs), list(diseases), list(icd10))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return BASE_FEATURES + (APPROVAL_FEATURES if self.include_approval else ())

    # -- graph reads (cached) ------------------------------------------------------------
    def _out(self, node_id: str, rels: Sequence[RelationType], direction: Direction = Direction.OUT) -> frozenset[str]:
        return self._neighbours.hop(node_id, rels, direction)

    def _targets(self, drugs: Iterable[str]) -> frozenset[str]:
        return self._neighbours.targets(drugs)

    def labelled_trials(self) -> dict[str, _Labelled]:
        """Trial nodes with an outcome label from an allowed split (the prior-rate pool)."""
        if self._labelled is None:
            pool: dict[str, _Labelled] = {}
            for node in self.store.iter_nodes(NodeLabel.TRIAL):
                label = node.properties.get(LABEL_PROPERTY)
                if label is None:
                    continue
                split = next((node.properties[k] for k in SPLIT_PROPERTIES if k in node.properties), None)
                if split is not None and split not in self.allowed_splits:
                    continue
                drugs = self._out(node.id, [RelationType.TESTS])
                nct = node.id.removeprefix(TRIAL_PREFIX)
                pool[node.id] = _Labelled(
                    label=int(label),
                    fold=fold_of(nct, self.n_folds),
                    drugs=drugs,
                    diseases=self._out(node.id, [RelationType.STUDIES]),
                    targets=self._targets(drugs),
                )
            self._labelled = pool
        return self._labelled

    # -- features ------------------------------------------------------------------------
    def build(self, trials: Sequence[TrialInput]) -> np.ndarray:
        """One row per trial, columns ``feature_names``."""
        pool = self.labelled_trials()
        by_drug: dict[str, list[str]] = {}
        by_disease: dict[str, list[str]] = {}
        by_target: dict[str, list[str]] = {}
        for tid, rec in pool.items():
            for d in rec.drugs:
                by_drug.setdefault(d, []).append(tid)
            for d in rec.diseases:
                by_disease.setdefault(d, []).append(tid)
            for g in rec.targets:
                by_target.setdefault(g, []).append(tid)
        fold_sum = np.zeros(self.n_folds)
        fold_n = np.zeros(self.n_folds)
        for rec in pool.values():
            fold_sum[rec.fold] += rec.label
            fold_n[rec.fold] += 1
        rows = [self._row(t, pool, by_drug, by_disease, by_target, fold_sum, fold_n) for t in trials]
        return np.asarray(rows, dtype=np.float64).reshape(len(trials), len(self.feature_names))

    def _rate(self, members: Iterable[str], pool: dict[str, _Labelled], exclude_fold: int | None,
              global_rate: float) -> tuple[float, float]:
        labels = [pool[m].label for m in set(members) if pool[m].fold != exclude_fold]
        n = len(labels)
        if n + self.smoothing == 0:
            return global_rate, 0.0
        rate = (sum(labels) + self.smoothing * global_rate) / (n + self.smoothing)
        return rate, float(np.log1p(n))

    def _row(self, trial: TrialInput, pool, by_drug, by_disease, by_target, fold_sum, fold_n) -> list[float]:
        tid = trial.node_id
        # as a NEW trial: its names resolved as a user's description would be, never its own node
        ent = self._names(trial.drugs, trial.diseases, trial.icdcodes)
        in_graph = bool(ent.drug_ids or ent.disease_ids)
        drugs, diseases = frozenset(ent.drug_ids), frozenset(ent.disease_ids)
        targets = self._targets(drugs)
        genes: set[str] = set()
        for d in diseases:
            genes |= self._out(d, [RelationType.ASSOCIATED_WITH])
        overlap = len(targets & genes)
        side_effects = sum(len(self._out(d, [RelationType.CAUSES])) for d in drugs)
        # out-of-fold: a labelled trial never sees the labels of its own fold (itself included)
        own = pool.get(tid)
        exclude = own.fold if own is not None else None
        tot_n = fold_n.sum() - (fold_n[exclude] if exclude is not None else 0)
        tot_s = fold_sum.sum() - (fold_sum[exclude] if exclude is not None else 0)
        global_rate = float(tot_s / tot_n) if tot_n else 0.5
        drug_members = [m for d in drugs for m in by_drug.get(d, ())]
        disease_members = [m for d in diseases for m in by_disease.get(d, ())]
        target_members = [m for g in targets for m in by_target.get(g, ())]
        p_drug, n_drug = self._rate(drug_members, pool, exclude, global_rate)
        p_dis, n_dis = self._rate(disease_members, pool, exclude, global_rate)
        p_tgt, n_tgt = self._rate(target_members, pool, exclude, global_rate)
        n_listed = len(trial.drugs)
        row = [
            float(in_graph),
            float(n_listed),
            float(len(trial.diseases)),
            float(len(drugs)),
            len(drugs) / n_listed if n_listed else 0.0,
            float(len(diseases)),
            float(np.log1p(len(targets))),
            float(np.log1p(len(genes))),
            float(np.log1p(overlap)),
            float(overlap > 0),
            float(np.log1p(side_effects)),
            side_effects / len(drugs) if drugs else 0.0,
            *phase_flags(trial.phase),
            p_drug, n_drug, p_dis, n_dis, p_tgt, n_tgt,
        ]
        if self.include_approval:
            known = 0
            any_indication = 0
            for d in drugs:
                indicated = self._out(d, APPROVAL_HOP)
                known += len(indicated & diseases)
                any_indication += bool(indicated)
            row += [float(known), float(any_indication)]
        return row
