"""Typed query templates over the ``GraphStore`` protocol (no Cypher: same results on every store).

Used by reasoning (facts shown to an operator for one counterfactual change) and by training
(features of a change). Nothing here imports ``kgimagine.reasoning``.

Leakage: trial outcomes are read only from ``outcome_label`` node properties, which the graph
holds only for splits whose labels it may use; callers pass the trial being predicted in
``hide_outcomes`` so its own outcome never appears in a fact text or a feature.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from kgimagine.kg.model import Edge, Node
from kgimagine.kg.store import GraphStore
from kgimagine.types import Factor, NodeLabel, RelationType

R = RelationType

INDICATION_RELATIONS: tuple[RelationType, ...] = (R.TREATS, R.PALLIATES, R.APPROVED_FOR, R.TRIALLED_FOR)
#: Relations that count as a known indication in features (TRIALLED_FOR records a trial, not an
#: indication, and repoDB's trial status is outcome information).
KNOWN_INDICATION: tuple[RelationType, ...] = (R.TREATS, R.PALLIATES, R.APPROVED_FOR)
ONTOLOGY_RELATIONS: tuple[RelationType, ...] = (R.SUBCLASS_OF, R.SAME_AS)
TRIAL_RELATIONS: tuple[RelationType, ...] = (R.TESTS, R.STUDIES)

#: Feature names returned by :func:`change_features`, in a fixed order (the statistical
#: operator and training rely on it).
FEATURE_NAMES: tuple[str, ...] = (
    "target_jaccard",  # Jaccard of the TARGETS gene sets of anchor-side vs target-side drugs
    "shared_targets",  # log1p(count of genes targeted on both sides)
    "gene_jaccard",  # Jaccard of ASSOCIATED_WITH gene sets of anchor vs target diseases
    "ontology_related",  # 1 if a SUBCLASS_OF/SAME_AS path (<= 2 hops) links the two sides
    "target_indicated",  # 1 if a target-side drug has a TREATS/PALLIATES/APPROVED_FOR edge to a disease in play
    "anchor_indicated",  # same for the anchor side
    "target_prior_success",  # smoothed success rate of labelled trials of target-side drugs - 0.5
    "anchor_prior_success",  # same for the anchor side
    "target_prior_n",  # log1p(number of those labelled trials), target side
    "side_effect_ratio",  # log((1+#side effects target side) / (1+#anchor side))
    "phase_delta",  # numeric phase of target - anchor (phase factor only)
)

_CURIE_IN_TEXT = re.compile(r"\b(?:drugbank|ncbigene|mondo|doid|umls|clinicaltrials|drugcentral|kgimagine\.drug|kgimagine\.disease):[A-Za-z0-9_.\-]+")


def find_ids(text: str) -> list[str]:
    """The CURIEs written in ``text``, in order, without duplicates (e.g. "Imatinib [drugbank:DB00619]")."""
    seen: dict[str, None] = {}
    for m in _CURIE_IN_TEXT.finditer(text or ""):
        seen.setdefault(m.group(0).rstrip(".-"), None)
    return list(seen)


_PHASE_NUM = re.compile(r"(early\s+)?phase\s*([0-4]|i{1,3}v?|iv)", re.I)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def phase_number(phase: str | None) -> float | None:
    """``"phase 2"`` -> 2.0, ``"phase 1/phase 2"`` -> 1.5, ``"early phase 1"`` -> 0.5; None if unknown."""
    if not phase:
        return None
    nums: list[float] = []
    for m in _PHASE_NUM.finditer(str(phase)):
        raw = m.group(2).lower()
        n = float(_ROMAN[raw]) if raw in _ROMAN else float(raw)
        nums.append(n - 0.5 if m.group(1) else n)
    return sum(nums) / len(nums) if nums else None


@dataclass(frozen=True, slots=True)
class Fact:
    """A graph fact as reasoning shows it: its id, one readable line, and the edge itself."""

    fact_id: str
    text: str
    edge: Edge

    @property
    def source(self) -> str:
        return self.edge.provenance.source

    @property
    def licence(self) -> str:
        return self.edge.provenance.licence


def _short_version(version: str) -> str:
    return version.split(" ")[0]


def trial_outcome(node: Node | None, hide: Iterable[str] = ()) -> int | None:
    """The trial's ``outcome_label`` (0/1) if the graph holds it and it is not hidden."""
    if node is None or node.label is not NodeLabel.TRIAL or node.id in set(hide):
        return None
    value = node.properties.get("outcome_label")
    if value is None:
        return None
    try:
        return 1 if int(value) == 1 else 0
    except (TypeError, ValueError):
        return None


def _display(node: Node | None, node_id: str, hide: frozenset[str]) -> str:
    if node is None:
        return node_id
    if node.label is NodeLabel.TRIAL:
        bits = [node.id.split(":", 1)[1]]
        inner = []
        if node.properties.get("phase"):
            inner.append(str(node.properties["phase"]))
        outcome = trial_outcome(node, hide)
        if outcome is not None:
            inner.append("succeeded" if outcome else "failed")
        if inner:
            bits.append(f"({', '.join(inner)})")
        return " ".join(bits)
    return node.name or node.id


def describe_edge(edge: Edge, nodes: Mapping[str, Node], *, hide_outcomes: Iterable[str] = ()) -> str:
    """One readable line, e.g. ``Imatinib TARGETS KIT (drugbank 4.2, CC BY-NC 4.0)``."""
    hide = frozenset(hide_outcomes)
    p = edge.provenance
    s = _display(nodes.get(edge.source), edge.source, hide)
    t = _display(nodes.get(edge.target), edge.target, hide)
    return f"{s} {edge.type.value} {t} ({p.source} {_short_version(p.source_version)}, {p.licence})"


def build_facts(store: GraphStore, edges: Sequence[Edge], *, hide_outcomes: Iterable[str] = ()) -> list[Fact]:
    hide = frozenset(hide_outcomes)
    ids = {e.source for e in edges} | {e.target for e in edges}
    nodes = store.get_nodes(sorted(ids))
    return [Fact(e.fact_id, describe_edge(e, nodes, hide_outcomes=hide), e) for e in edges]


# -- small typed lookups ------------------------------------------------------------------------


def _existing(store: GraphStore, ids: Iterable[str]) -> list[str]:
    ids = sorted(set(ids))
    return sorted(store.get_nodes(ids)) if ids else []


def out_edges(store: GraphStore, node_ids: Iterable[str], rels: Sequence[RelationType]) -> list[Edge]:
    """Edges of type ``rels`` leaving any of ``node_ids``, sorted by fact id."""
    ids = set(_existing(store, node_ids))
    if not ids:
        return []
    return [e for e in store.facts(sorted(ids), rel_types=list(rels)) if e.source in ids]


def in_edges(store: GraphStore, node_ids: Iterable[str], rels: Sequence[RelationType]) -> list[Edge]:
    ids = set(_existing(store, node_ids))
    if not ids:
        return []
    return [e for e in store.facts(sorted(ids), rel_types=list(rels)) if e.target in ids]


def drug_targets(store: GraphStore, drug_ids: Iterable[str]) -> dict[str, list[Edge]]:
    """Gene id -> TARGETS edges from ``drug_ids`` to it."""
    out: dict[str, list[Edge]] = {}
    for e in out_edges(store, drug_ids, (R.TARGETS,)):
        out.setdefault(e.target, []).append(e)
    return out


def disease_genes(store: GraphStore, disease_ids: Iterable[str]) -> dict[str, list[Edge]]:
    out: dict[str, list[Edge]] = {}
    for e in out_edges(store, disease_ids, (R.ASSOCIATED_WITH,)):
        out.setdefault(e.target, []).append(e)
    return out


def trial_drugs(store: GraphStore, trial_id: str) -> list[str]:
    return sorted({e.target for e in out_edges(store, [trial_id], (R.TESTS,))})


def trial_diseases(store: GraphStore, trial_id: str) -> list[str]:
    return sorted({e.target for e in out_edges(store, [trial_id], (R.STUDIES,))})


def related_diseases(store: GraphStore, disease_ids: Iterable[str]) -> dict[str, list[Edge]]:
    """Diseases one SUBCLASS_OF/SAME_AS edge away (either direction) -> the edges."""
    ids = set(_existing(store, disease_ids))
    out: dict[str, list[Edge]] = {}
    if not ids:
        return out
    for e in store.facts(sorted(ids), rel_types=list(ONTOLOGY_RELATIONS)):
        for end, other in ((e.source, e.target), (e.target, e.source)):
            if end in ids and other not in ids:
                out.setdefault(other, []).append(e)
    return out


def ontology_links(store: GraphStore, a_ids: Iterable[str], b_ids: Iterable[str]) -> list[Edge]:
    """Edges of SUBCLASS_OF/SAME_AS paths of at most 2 hops linking any a to any b (deduplicated)."""
    a = _existing(store, a_ids)
    b = set(_existing(store, b_ids))
    found: dict[str, Edge] = {}
    if not a or not b:
        return []
    one = related_diseases(store, a)
    for other, edges in one.items():
        if other in b:
            for e in edges:
                found[e.fact_id] = e
    if not found:  # two hops: a shared parent or a synonym of a parent
        two = related_diseases(store, b)
        for mid in sorted(set(one) & set(two)):
            for e in one[mid] + two[mid]:
                found[e.fact_id] = e
    return [found[k] for k in sorted(found)]


def drug_trials(
    store: GraphStore, drug_ids: Iterable[str], *, hide_outcomes: Iterable[str] = ()
) -> list[tuple[Edge, Node, int | None]]:
    """TESTS edges into ``drug_ids`` with the trial node and its known outcome (None if unlabelled
    or hidden), labelled trials first, then by fact id."""
    hide = frozenset(hide_outcomes)
    edges = in_edges(store, drug_ids, (R.TESTS,))
    nodes = store.get_nodes(sorted({e.source for e in edges}))
    rows = [(e, nodes[e.source], trial_outcome(nodes.get(e.source), hide)) for e in edges if e.source in nodes]
    rows = [r for r in rows if r[1].id not in hide]
    rows.sort(key=lambda r: (r[2] is None, r[0].fact_id))
    return rows


def prior_success(rows: Sequence[tuple[Edge, Node, int | None]], *, prior: float = 0.5, strength: float = 2.0) -> tuple[float, int, list[str]]:
    """Smoothed success rate over the labelled trials in ``rows``: (rate, n, fact ids)."""
    labelled = {}
    for e, node, y in rows:
        if y is not None:
            labelled.setdefault(node.id, (y, e.fact_id))
    n = len(labelled)
    wins = sum(y for y, _ in labelled.values())
    rate = (wins + prior * strength) / (n + strength)
    return rate, n, sorted(fid for _, fid in labelled.values())


def side_effects(store: GraphStore, drug_ids: Iterable[str]) -> list[Edge]:
    return out_edges(store, drug_ids, (R.CAUSES,))


# -- facts for one change -------------------------------------------------------------------------


def _add(bucket: list[tuple[int, Edge]], tier: int, edges: Iterable[Edge]) -> None:
    bucket.extend((tier, e) for e in edges)


def facts_for_change(
    store: GraphStore,
    factor: Factor | str,
    anchor_ids: Sequence[str],
    target_ids: Sequence[str],
    *,
    budget: int = 12,
    context_ids: Sequence[str] = (),
    hide_outcomes: Iterable[str] = (),
) -> list[Fact]:
    """Facts relevant to changing ``factor`` from the anchor side to the target side.

    ``anchor_ids``/``target_ids``: drug ids (drug, dose, arm), disease ids (disease) or trial ids
    (phase, population, endpoint). ``context_ids``: the other entities in play (for a drug swap the
    diseases of both trials; for a disease swap the drugs; for trial factors the drugs). Facts come
    in tiers, most informative first (shared mechanism, indications, labelled trial outcomes, then
    the rest); inside a tier by fact id. At most ``budget`` facts; each fact id once.
    """
    factor = Factor(factor)
    hide = frozenset(hide_outcomes)
    a_ids, t_ids = list(dict.fromkeys(anchor_ids)), list(dict.fromkeys(target_ids))
    ctx = list(dict.fromkeys(context_ids))
    bucket: list[tuple[int, Edge]] = []
    if factor in (Factor.DRUG, Factor.DOSE, Factor.ARM):
        ta, tt = drug_targets(store, a_ids), drug_targets(store, t_ids)
        shared = sorted(set(ta) & set(tt))
        for gene in shared:
            _add(bucket, 0, ta[gene] + tt[gene])
        ctx_diseases = [c for c in ctx if not c.startswith(("drugbank:", "drugcentral:", "kgimagine.drug:", "clinicaltrials:"))]
        ind = [e for e in out_edges(store, t_ids + a_ids, INDICATION_RELATIONS) if e.target in set(ctx_diseases)]
        _add(bucket, 1, [e for e in ind if e.source in t_ids])
        _add(bucket, 2, [e for e in ind if e.source in a_ids])
        t_trials = [r for r in drug_trials(store, t_ids, hide_outcomes=hide) if r[2] is not None]
        _add(bucket, 3, [r[0] for r in t_trials])
        a_trials = [r for r in drug_trials(store, a_ids, hide_outcomes=hide) if r[2] is not None]
        _add(bucket, 5, [r[0] for r in a_trials])
        for gene in sorted(set(tt) - set(ta)):
            _add(bucket, 4, tt[gene])
        for gene in sorted(set(ta) - set(tt)):
            _add(bucket, 6, ta[gene])
        _add(bucket, 7, side_effects(store, t_ids)[:3] + side_effects(store, a_ids)[:3])
    elif factor is Factor.DISEASE:
        ga, gt = disease_genes(store, a_ids), disease_genes(store, t_ids)
        for gene in sorted(set(ga) & set(gt)):
            _add(bucket, 0, ga[gene] + gt[gene])
        _add(bucket, 1, ontology_links(store, a_ids, t_ids))
        ctx_drugs = [c for c in ctx if c.startswith(("drugbank:", "drugcentral:", "kgimagine.drug:"))]
        ind = [e for e in out_edges(store, ctx_drugs, INDICATION_RELATIONS) if e.target in set(t_ids) | set(a_ids)]
        _add(bucket, 2, sorted(ind, key=lambda e: (e.target not in t_ids, e.fact_id)))
        # trials of the drugs in the target disease, with known outcomes
        rows = drug_trials(store, ctx_drugs, hide_outcomes=hide)
        studies = {e.source: e for e in in_edges(store, t_ids, (R.STUDIES,))}
        for e, node, y in rows:
            if y is not None and node.id in studies:
                _add(bucket, 3, [e, studies[node.id]])
        # drug targets that are genes of the target disease (mechanism in the new disease)
        tgt = drug_targets(store, ctx_drugs)
        for gene in sorted(set(tgt) & set(gt)):
            _add(bucket, 4, tgt[gene] + gt[gene])
    else:  # phase, population, endpoint: facts about the two trials and the drugs' trial record
        _add(bucket, 0, out_edges(store, t_ids, TRIAL_RELATIONS))
        _add(bucket, 1, out_edges(store, a_ids, TRIAL_RELATIONS))
        ctx_drugs = [c for c in ctx if c.startswith(("drugbank:", "drugcentral:", "kgimagine.drug:"))]
        rows = drug_trials(store, ctx_drugs, hide_outcomes=hide | set(a_ids) | set(t_ids))
        _add(bucket, 2, [r[0] for r in rows if r[2] is not None])
    hidden_keys = {h.split(":", 1)[-1] for h in hide}
    bucket = [(t, e) for t, e in bucket if not (e.type is R.TRIALLED_FOR and e.key in hidden_keys)]
    seen: set[str] = set()
    ordered: list[Edge] = []
    for _, e in sorted(bucket, key=lambda te: (te[0], te[1].fact_id)):
        if e.fact_id not in seen:
            seen.add(e.fact_id)
            ordered.append(e)
        if len(ordered) >= budget:
            break
    return build_facts(store, ordered, hide_outcomes=hide)


# -- features of one change -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeEvidence:
    """Feature values of a change and, per feature, the fact ids that back it."""

    features: dict[str, float]
    support: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def vector(self) -> list[float]:
        return [self.features[name] for name in FEATURE_NAMES]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _ids(edges: Iterable[Edge]) -> tuple[str, ...]:
    return tuple(sorted({e.fact_id for e in edges}))


def change_evidence(
    store: GraphStore,
    factor: Factor | str,
    anchor_ids: Sequence[str],
    target_ids: Sequence[str],
    *,
    context_ids: Sequence[str] = (),
    hide_outcomes: Iterable[str] = (),
    anchor_phase: str | None = None,
    target_phase: str | None = None,
) -> ChangeEvidence:
    """Features of a change (names in ``FEATURE_NAMES``; 0 when not applicable) with their support."""
    factor = Factor(factor)
    hide = frozenset(hide_outcomes)
    f = {name: 0.0 for name in FEATURE_NAMES}
    sup: dict[str, tuple[str, ...]] = {}
    a_ids, t_ids, ctx = list(anchor_ids), list(target_ids), list(context_ids)
    drug_pref = ("drugbank:", "drugcentral:", "kgimagine.drug:")
    if factor in (Factor.DRUG, Factor.DOSE, Factor.ARM):
        a_drugs, t_drugs = a_ids, t_ids
        diseases = [c for c in ctx if c.startswith(("mondo:", "doid:", "kgimagine.disease:"))]
    elif factor is Factor.DISEASE:
        a_drugs = t_drugs = [c for c in ctx if c.startswith(drug_pref)]
        diseases = t_ids
    else:
        a_drugs = t_drugs = [c for c in ctx if c.startswith(drug_pref)]
        diseases = [c for c in ctx if c.startswith(("mondo:", "doid:", "kgimagine.disease:"))]
    if factor in (Factor.DRUG, Factor.DOSE, Factor.ARM):
        ta, tt = drug_targets(store, a_drugs), drug_targets(store, t_drugs)
        shared = set(ta) & set(tt)
        f["target_jaccard"] = _jaccard(set(ta), set(tt))
        f["shared_targets"] = math.log1p(len(shared))
        sup["target_jaccard"] = sup["shared_targets"] = _ids(e for g in sorted(shared) for e in ta[g] + tt[g])
        se_t, se_a = side_effects(store, t_drugs), side_effects(store, a_drugs)
        f["side_effect_ratio"] = math.log((1 + len({e.target for e in se_t})) / (1 + len({e.target for e in se_a})))
        sup["side_effect_ratio"] = _ids(se_t[:3] + se_a[:3])
    if factor is Factor.DISEASE:
        ga, gt = disease_genes(store, a_ids), disease_genes(store, t_ids)
        shared = set(ga) & set(gt)
        f["gene_jaccard"] = _jaccard(set(ga), set(gt))
        sup["gene_jaccard"] = _ids(e for g in sorted(shared) for e in ga[g] + gt[g])
        links = ontology_links(store, a_ids, t_ids)
        f["ontology_related"] = 1.0 if links else 0.0
        sup["ontology_related"] = _ids(links)
    ind = out_edges(store, sorted(set(t_drugs) | set(a_drugs)), KNOWN_INDICATION)
    if factor is Factor.DISEASE:
        t_ind = [e for e in ind if e.target in set(t_ids)]
        a_ind = [e for e in ind if e.target in set(a_ids)]
    else:
        t_ind = [e for e in ind if e.source in set(t_drugs) and e.target in set(diseases)]
        a_ind = [e for e in ind if e.source in set(a_drugs) and e.target in set(diseases)]
    f["target_indicated"] = 1.0 if t_ind else 0.0
    f["anchor_indicated"] = 1.0 if a_ind else 0.0
    sup["target_indicated"], sup["anchor_indicated"] = _ids(t_ind), _ids(a_ind)
    trial_hide = hide | (set(a_ids) | set(t_ids) if factor not in (Factor.DRUG, Factor.DOSE, Factor.ARM, Factor.DISEASE) else set())
    t_rate, t_n, t_sup = prior_success(drug_trials(store, t_drugs, hide_outcomes=trial_hide))
    a_rate, a_n, a_sup = prior_success(drug_trials(store, a_drugs, hide_outcomes=trial_hide))
    if factor in (Factor.DRUG, Factor.DOSE, Factor.ARM) or factor is Factor.DISEASE:
        f["target_prior_success"] = t_rate - 0.5
        f["anchor_prior_success"] = a_rate - 0.5
        f["target_prior_n"] = math.log1p(t_n)
        sup["target_prior_success"] = sup["target_prior_n"] = tuple(t_sup)
        sup["anchor_prior_success"] = tuple(a_sup)
    if factor is Factor.PHASE:
        pa, pt = phase_number(anchor_phase), phase_number(target_phase)
        if pa is not None and pt is not None:
            f["phase_delta"] = pt - pa
        sup["phase_delta"] = _ids(out_edges(store, t_ids + a_ids, TRIAL_RELATIONS))
    return ChangeEvidence(features=f, support=sup)


def change_features(
    store: GraphStore,
    factor: Factor | str,
    anchor_ids: Sequence[str],
    target_ids: Sequence[str],
    **kwargs: object,
) -> dict[str, float]:
    """Feature values of a change, keyed by ``FEATURE_NAMES`` (see :func:`change_evidence`)."""
    return change_evidence(store, factor, anchor_ids, target_ids, **kwargs).features  # type: ignore[arg-type]


def labelled_trials(store: GraphStore) -> list[Node]:
    """Trial nodes whose outcome label the graph holds (the only possible anchors)."""
    return [n for n in store.iter_nodes(NodeLabel.TRIAL) if trial_outcome(n) is not None]
