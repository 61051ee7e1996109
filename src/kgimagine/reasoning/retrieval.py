"""Resolve a target trial onto the graph and retrieve labelled anchor trials close to it.

Anchor similarity (in [0, 1]) is a fixed weighted sum, documented in docs/reasoning.md:

    0.30 shared drugs (Jaccard)      0.20 shared drug targets (Jaccard of gene sets)
    0.20 disease (1 same, 0.5 one ontology edge apart, 0.25 sharing a parent/synonym, 0 otherwise)
    0.10 same phase                  0.20 MiniLM cosine of title + criteria (clipped at 0)

Without an embedder the text weight is spread over the other terms. Only trials whose
``outcome_label`` is in the graph are candidates; the target itself never is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, Field

from kgimagine.kg import queries
from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.embedding import Embedder, TrialEmbeddings, trial_text
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.traces import render_trial_summary

WEIGHTS = {"drugs": 0.30, "targets": 0.20, "disease": 0.20, "phase": 0.10, "text": 0.20}


class ResolvedTarget(BaseModel):
    """The target trial as graph ids (state-friendly: plain JSON)."""

    trial_id: str | None = None  # clinicaltrials:NCT… when the trial is a graph node
    drug_ids: list[str] = Field(default_factory=list)
    disease_ids: list[str] = Field(default_factory=list)
    phase: str | None = None
    text: str = ""
    drug_names: list[str] = Field(default_factory=list)
    disease_names: list[str] = Field(default_factory=list)
    unresolved_drugs: list[str] = Field(default_factory=list)
    unresolved_diseases: list[str] = Field(default_factory=list)
    placebo_only: bool = False

    def summary(self) -> str:
        return render_trial_summary(self.trial_id, phase=self.phase, outcome=None,
                                    drug_names=self.drug_names, drug_ids=self.drug_ids,
                                    disease_names=self.disease_names, disease_ids=self.disease_ids)


class Anchor(BaseModel):
    trial_id: str
    label: int
    similarity: float
    drug_ids: list[str] = Field(default_factory=list)
    disease_ids: list[str] = Field(default_factory=list)
    phase: str | None = None
    criteria: str = ""
    drug_names: list[str] = Field(default_factory=list)
    disease_names: list[str] = Field(default_factory=list)
    unresolved_drugs: list[str] = Field(default_factory=list)  # listed names no node matched
    unresolved_diseases: list[str] = Field(default_factory=list)
    p_start: float = 0.5
    score_parts: dict[str, float] = Field(default_factory=dict)

    def summary(self) -> str:
        return render_trial_summary(self.trial_id, phase=self.phase, outcome=self.label,
                                    drug_names=self.drug_names, drug_ids=self.drug_ids,
                                    disease_names=self.disease_names, disease_ids=self.disease_ids)


def _names(store: GraphStore, ids: list[str]) -> list[str]:
    names = queries.node_names(store, ids)
    return [names.get(i, i) for i in ids]


class TargetResolver:
    """Drug and disease names -> graph ids with ``kgimagine.trials.resolve.TrialResolver``.

    Every trial is resolved from its listed names as a new trial, even one that is a graph
    node: the graph's own TESTS/STUDIES links are not read (they are the same function's output
    for a stored TOP trial). ``trial_id`` is still set for a trial that is a node, so anchor
    retrieval never returns the target itself.
    """

    def __init__(self, store: GraphStore, *, trial_resolver: Any = None) -> None:
        self.store = store
        self._trials = trial_resolver
        self._diseases: Any = None

    @property
    def trial_resolver(self) -> Any:
        if self._trials is None:
            from kgimagine.trials.resolve import TrialResolver

            self._trials = TrialResolver(self.store)
        return self._trials

    def _disease_resolver(self) -> Any:
        """The name/ICD-10 index of ``loaders.resolve`` (used to spot disease names in titles)."""
        if self._diseases is None:
            from kgimagine.loaders.resolve import DiseaseResolver

            self._diseases = DiseaseResolver.from_store(self.store)
        return self._diseases

    def resolve(self, spec: TrialSpec) -> ResolvedTarget:
        store = self.store
        trial_id = f"clinicaltrials:{spec.nct_id}" if spec.nct_id else None
        if trial_id is not None and not store.has_node(trial_id):
            trial_id = None
        ent = self.trial_resolver.resolve(spec.drugs, spec.diseases, spec.icd10)
        drug_ids = [d for d in ent.drug_ids if store.has_node(d)]
        disease_ids = [d for d in ent.disease_ids if store.has_node(d)]
        comparator_only = bool(spec.drugs) and not drug_ids and not ent.unresolved_drugs and bool(ent.comparators)
        return ResolvedTarget(
            trial_id=trial_id,
            drug_ids=drug_ids,
            disease_ids=disease_ids,
            phase=spec.phase,
            text=trial_text(spec.title, spec.criteria),
            drug_names=_names(store, drug_ids),
            disease_names=_names(store, disease_ids),
            unresolved_drugs=list(ent.unresolved_drugs),
            unresolved_diseases=list(ent.unresolved_diseases),
            placebo_only=comparator_only and any(_is_placebo(c) for c in ent.comparators),
        )


def _is_placebo(text: str) -> bool:
    from kgimagine.loaders.resolve import is_placebo_text

    return is_placebo_text(text)


@dataclass
class _TrialInfo:
    trial_id: str
    label: int
    phase: str | None
    criteria: str
    title: str
    drugs: frozenset[str]
    diseases: frozenset[str]
    unresolved_drugs: tuple[str, ...] = ()
    unresolved_diseases: tuple[str, ...] = ()


@dataclass
class AnchorIndex:
    """Every labelled trial of the graph with its drugs, diseases and (optionally) text embedding."""

    store: GraphStore
    trials: dict[str, _TrialInfo]
    embeddings: TrialEmbeddings | None = None
    embedder: Embedder | None = None
    base_rates: dict[str, float] = field(default_factory=dict)
    overall_rate: float = 0.5
    _targets: dict[str, frozenset[str]] = field(default_factory=dict)
    _related: dict[str, frozenset[str]] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()  # trial ids never offered as anchors (e.g. evaluated folds)

    def without(self, trial_ids: Iterable[str]) -> "AnchorIndex":
        """A view of this index that never offers ``trial_ids`` as anchors (shares the embeddings)."""
        from dataclasses import replace

        excluded = self.excluded | frozenset(trial_ids)
        rates, overall = queries.success_rates((t.phase, t.label) for t in self.trials.values() if t.trial_id not in excluded)
        return replace(self, excluded=excluded, base_rates=rates, overall_rate=overall)

    @classmethod
    def build(
        cls, store: GraphStore, *, embedder: Embedder | None = None, cache_dir: Path | None = None
    ) -> "AnchorIndex":
        trials: dict[str, _TrialInfo] = {}
        for t in queries.read_labelled_trials(store):  # the reader training's pairs use too
            title = t.name if t.name and not t.name.startswith("NCT") else ""
            trials[t.trial_id] = _TrialInfo(t.trial_id, t.label, t.phase, t.criteria, title, t.drugs, t.diseases,
                                            t.unresolved_drugs, t.unresolved_diseases)
        rates, overall = queries.success_rates((t.phase, t.label) for t in trials.values())
        emb = None
        if embedder is not None and trials:
            ordered = sorted(trials)
            texts = [trial_text(trials[t].title, trials[t].criteria) for t in ordered]
            emb = TrialEmbeddings.build(
                embedder, ordered, texts, graph_version=store.graph_version(), cache_dir=cache_dir
            )
        return cls(store, trials, emb, embedder, rates, overall)

    def vector_of(self, trial_id: str) -> Any:
        """The cached text embedding of a labelled trial (None without embeddings)."""
        if self.embeddings is None:
            return None
        row = self.embeddings._row.get(trial_id)
        return None if row is None else self.embeddings.matrix[row]

    def base_rate(self, phase: str | None) -> float:
        """Smoothed share of labelled successes in ``phase`` (the overall rate if unseen)."""
        return self.base_rates.get(queries.phase_key(phase), self.overall_rate)

    def _drug_targets(self, drug_ids: Iterable[str]) -> frozenset[str]:
        out: set[str] = set()
        for d in drug_ids:
            if d not in self._targets:
                self._targets[d] = frozenset(queries.drug_targets(self.store, [d]))
            out |= self._targets[d]
        return frozenset(out)

    def _related_diseases(self, disease_id: str) -> frozenset[str]:
        if disease_id not in self._related:
            self._related[disease_id] = frozenset(queries.related_diseases(self.store, [disease_id]))
        return self._related[disease_id]

    def _disease_score(self, a: frozenset[str], b: frozenset[str]) -> float:
        if not a or not b:
            return 0.0
        if a & b:
            return 1.0
        best = 0.0
        for d in a:
            rel = self._related_diseases(d)
            if rel & b:
                return 0.5
            if any(rel & self._related_diseases(x) for x in b):
                best = 0.25
        return best

    def retrieve(
        self, target: ResolvedTarget, *, k: int = 5, smoothing: float = 0.7, exclude: Iterable[str] = (),
        query_vector: Any = None,
    ) -> list[Anchor]:
        """The ``k`` most similar labelled trials (never the target nor ``exclude``), best first, ties by id."""
        skip = self.excluded | frozenset(exclude)
        t_drugs, t_dis = frozenset(target.drug_ids), frozenset(target.disease_ids)
        t_targets = self._drug_targets(t_drugs)
        sims: dict[str, float] = {}
        if self.embeddings is not None and query_vector is not None:
            sims = self.embeddings.similarities(query_vector)
        elif self.embeddings is not None and self.embedder is not None and target.text:
            sims = self.embeddings.similarities(self.embedder.encode([target.text])[0])
        w = dict(WEIGHTS)
        if not sims:
            extra = w.pop("text") / len(w)
            w = {key: v + extra for key, v in w.items()}
        # cheap prefilter: trials sharing a drug or disease first; text similarity rescues the rest
        scored: list[tuple[float, str, dict[str, float]]] = []
        t_phase = queries.phase_key(target.phase)
        for tid, info in self.trials.items():
            if tid == target.trial_id or tid in skip:
                continue
            parts = {
                "drugs": queries.jaccard(t_drugs, info.drugs),
                "disease": self._disease_score(t_dis, info.diseases) if (t_dis and info.diseases) else 0.0,
                "phase": 1.0 if target.phase and queries.phase_key(info.phase) == t_phase else 0.0,
            }
            if t_targets and info.drugs and (parts["drugs"] > 0 or parts["disease"] > 0 or not sims):
                parts["targets"] = queries.jaccard(t_targets, self._drug_targets(info.drugs))
            else:
                parts["targets"] = 0.0
            if sims:
                parts["text"] = max(0.0, sims.get(tid, 0.0))
            score = sum(w[key] * parts[key] for key in w)
            if score > 0:
                scored.append((score, tid, parts))
        scored.sort(key=lambda s: (-s[0], s[1]))
        out: list[Anchor] = []
        for score, tid, parts in scored[:k]:
            info = self.trials[tid]
            drug_ids, dis_ids = sorted(info.drugs), sorted(info.diseases)
            base = self.base_rate(info.phase)
            out.append(
                Anchor(
                    trial_id=tid, label=info.label, similarity=round(score, 6),
                    drug_ids=drug_ids, disease_ids=dis_ids, phase=info.phase, criteria=info.criteria,
                    drug_names=_names(self.store, drug_ids), disease_names=_names(self.store, dis_ids),
                    unresolved_drugs=list(info.unresolved_drugs), unresolved_diseases=list(info.unresolved_diseases),
                    p_start=queries.start_probability(info.label, base, smoothing),
                    score_parts={key: round(v, 4) for key, v in parts.items()},
                )
            )
        return out
