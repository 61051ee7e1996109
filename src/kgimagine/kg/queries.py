"""Typed query templates over the ``GraphStore`` protocol (no Cypher: same results on every store).

Used by reasoning (facts shown to an operator for one counterfactual change) and by training
(features of a change). Nothing here imports ``kgimagine.reasoning``.

Leakage: trial outcomes are read only from ``outcome_label`` node properties, which the graph
holds only for splits whose labels it may use; callers pass the trial being predicted in
``hide_outcomes`` so its own outcome never appears in a fact text or a feature.
"""

from __future__ import annotations

import functools
import math
import re
from collections import ChainMap
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Collection, Iterable, Mapping, Sequence

from kgimagine.errors import QueryError
from kgimagine.kg.model import Edge, Node
from kgimagine.kg.store import EdgeRef, GraphStore, Hop
from kgimagine.types import Direction, Factor, NodeLabel, RelationType, changed_sides

R = RelationType
#: An edge as ``GraphStore.expand`` returns it: a full ``Edge`` or, for a hop without detail, an ``EdgeRef``.
AnyEdge = Edge | EdgeRef

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
    "anchor_prior_success",  # same for the anchor side (neither counts the target nor the chain's anchor)
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


@functools.lru_cache(maxsize=4096)
def phase_number(phase: str | None) -> float | None:
    """``"phase 2"`` -> 2.0, ``"phase 1/phase 2"`` -> 1.5, ``"early phase 1"`` -> 0.5; None if unknown.
    (Memoised: retrieval asks it of every indexed trial per query, and phase strings are few.)"""
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


_COMPARATOR_NAME = re.compile(r"placebo|vehicle|sham|standard of care|best supportive", re.I)


def _listed(node: Node, prop: str) -> str:
    """The first name a trial lists under ``prop`` (no comparator), cut to 40 characters, without
    brackets (a fact text ends with its one bracketed provenance group), and ``+N`` when it lists N
    more (a phase 1 trial of many tumours is not a lung-cancer trial); "" if none."""
    names = node.properties.get(prop) or []
    shown: dict[str, str] = {}  # lower-cased name -> first spelling
    for name in [names] if isinstance(names, str) else names:
        text = re.sub(r"\s+", " ", re.sub(r"[()\[\]]", " ", str(name))).strip(" ,;")
        if text and not _COMPARATOR_NAME.search(text):
            shown.setdefault(text.lower(), text)
    if not shown:
        return ""
    first = next(iter(shown.values()))
    first = first if len(first) <= 40 else first[:39].rstrip() + "…"
    return first + (f" +{len(shown) - 1}" if len(shown) > 1 else "")


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


#: what a trial fact adds about its trial, after its end: the trial's first listed disease beside a
#: drug it tests ("[in breast cancer]"), its first listed drug beside a disease it studies ("[with
#: sorafenib]"), so a reader can judge whether the trial bears on the step without leaving the chain
_ABOUT = {RelationType.TESTS: ("disease_names", "in"), RelationType.STUDIES: ("drug_names", "with")}
_ABOUT_TAIL = re.compile(r" \[(?:" + "|".join(word for _, word in _ABOUT.values()) + r") [^\]]*\]$")


def strip_trial_context(statement: str) -> str:
    """A fact statement (provenance already stripped) without the trial context ``describe_edge``
    adds after its end: what the edge itself states, whose two ends are the only entities named."""
    return _ABOUT_TAIL.sub("", statement)


def describe_edge(edge: Edge, nodes: Mapping[str, Node], *, hide_outcomes: Iterable[str] = ()) -> str:
    """One readable line, e.g. ``Imatinib TARGETS KIT (drugbank 4.2, CC BY-NC 4.0)`` or
    ``NCT00000004 (phase 3, succeeded) TESTS Sorafenib [in hepatocellular carcinoma] (top …)``."""
    hide = frozenset(hide_outcomes)
    p = edge.provenance
    s = _display(nodes.get(edge.source), edge.source, hide)
    t = _display(nodes.get(edge.target), edge.target, hide)
    about = ""
    if edge.type in _ABOUT and (node := nodes.get(edge.source)) is not None and node.label is NodeLabel.TRIAL:
        prop, word = _ABOUT[edge.type]
        what = _listed(node, prop)
        about = f" [{word} {what}]" if what else ""
    return f"{s} {edge.type.value} {t}{about} ({p.source} {_short_version(p.source_version)}, {p.licence})"


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


def drug_targets(store: GraphStore, drug_ids: Iterable[str]) -> dict[str, list[Edge]]:
    """Gene id -> TARGETS edges from ``drug_ids`` to it."""
    out: dict[str, list[Edge]] = {}
    for e in out_edges(store, drug_ids, (R.TARGETS,)):
        out.setdefault(e.target, []).append(e)
    return out


def trial_drugs(store: GraphStore, trial_id: str) -> list[str]:
    return sorted({e.target for e in out_edges(store, [trial_id], (R.TESTS,))})


def trial_diseases(store: GraphStore, trial_id: str) -> list[str]:
    return sorted({e.target for e in out_edges(store, [trial_id], (R.STUDIES,))})


def related_diseases(store: GraphStore, disease_ids: Iterable[str]) -> dict[str, list[Edge]]:
    """Diseases one SUBCLASS_OF/SAME_AS edge away (either direction) -> the edges."""
    ids = set(_existing(store, disease_ids))
    if not ids:
        return {}
    return _related(store.facts(sorted(ids), rel_types=list(ONTOLOGY_RELATIONS)), ids)  # type: ignore[return-value]


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


# -- facts for one change -------------------------------------------------------------------------


def _add(bucket: list[tuple[float, AnyEdge]], tier: float, edges: Iterable[AnyEdge]) -> None:
    bucket.extend((tier, e) for e in edges)


#: Trial properties a fact text reads (phase, what the trial was about, outcome); retrieval fetches
#: only these.
_FACT_NODE_PROPERTIES = ("phase", "outcome_label", "disease_names", "drug_names")
_DRUG_PREFIXES = ("drugbank:", "drugcentral:", "kgimagine.drug:")
#: STUDIES edges read per side of a disease change (labelled ones among them are shown).
_DISEASE_TRIALS_READ = 60


def _one_of_each(labelled: Sequence[tuple[AnyEdge, int | None]], own: Mapping[str, list[AnyEdge]],
                 other: Mapping[str, list[AnyEdge]], rank: Mapping[str, int] | None = None) -> list[AnyEdge]:
    """One side's tier-0 facts: its first (by ``rank`` of the trial, then fact id) succeeded and
    failed labelled trial, and one edge to the first gene ``own`` reaches that ``other`` does not (a
    target or disease gene the other side lacks)."""
    r = rank or {}
    out = [min((e for e, y in labelled if y == outcome), key=lambda e: (r.get(e.source, 0), e.fact_id), default=None)
           for outcome in (1, 0)]
    only = sorted(set(own) - set(other))
    return [e for e in out if e is not None] + (own[only[0]][:1] if only else [])


def _by_end(edges: Iterable[AnyEdge], ids: set[str], *, at_source: bool) -> dict[str, list[AnyEdge]]:
    """Edges whose source (or target) is in ``ids``, grouped by their other end."""
    out: dict[str, list[AnyEdge]] = {}
    for e in edges:
        if (e.source if at_source else e.target) in ids:
            out.setdefault(e.target if at_source else e.source, []).append(e)
    return out


def _trial_rows(
    tests: Iterable[Edge], drug_ids: set[str], nodes: Mapping[str, Node], hide: frozenset[str]
) -> list[tuple[Edge, Node, int | None]]:
    """TESTS edges into ``drug_ids`` (among already-read ``tests``) with the trial node and its known
    outcome (None if unlabelled or hidden); hidden trials left out; labelled trials first, then by
    fact id."""
    rows = [
        (e, nodes[e.source], trial_outcome(nodes.get(e.source), hide))
        for e in tests
        if e.target in drug_ids and e.source in nodes and e.source not in hide
    ]
    rows.sort(key=lambda r: (r[2] is None, r[0].fact_id))
    return rows


def _related(ontology: Iterable[AnyEdge], ids: set[str]) -> dict[str, list[AnyEdge]]:
    """``related_diseases`` over already-read SUBCLASS_OF/SAME_AS edges."""
    out: dict[str, list[AnyEdge]] = {}
    for e in ontology:
        for end, other in ((e.source, e.target), (e.target, e.source)):
            if end in ids and other not in ids:
                out.setdefault(other, []).append(e)
    return out


def _visible(edge: AnyEdge, hide: frozenset[str]) -> bool:
    """False for a repoDB "trialled for" record of a hidden trial (its key is the NCT id)."""
    if edge.type is not R.TRIALLED_FOR:
        return True
    if not isinstance(edge, Edge):  # never happens: indication hops are read with detail
        raise QueryError(f"{edge.fact_id}: TRIALLED_FOR facts must be read with detail (their key hides trials)")
    return not any(edge.key == h.split(":", 1)[-1] for h in hide)


#: Changes whose facts are the records of the changed drugs or diseases.
ENTITY_FACTORS = frozenset({Factor.DRUG, Factor.DOSE, Factor.ARM, Factor.DISEASE})


def step_hidden(factor: Factor | str, *, target_trial: str | None, anchor_trial: str | None,
                hidden: Iterable[str] = ()) -> list[str]:
    """The trials whose outcomes one step's facts never show (``facts_for_change``'s
    ``hide_outcomes``): the target's (its outcome is what is predicted), ``hidden`` ones (an
    evaluation's held-out trials) and, for a drug or disease change, the anchor's own: its outcome
    is the chain's start, not evidence about the change, and shown again it would take the place
    of a trial that does state the change. The reasoning chain and the training pairs both use it,
    so a trained step sees what a served step sees."""
    out = [target_trial] if target_trial else []
    if Factor(factor) in ENTITY_FACTORS and anchor_trial:
        out.append(anchor_trial)
    return sorted(set(out) | set(hidden))


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

    Every read is a typed hop from the given ids: one ``store.expand`` call (one round trip on
    Neo4j) reads large edge sets as ids only, then one ``store.get_facts`` fetches the chosen
    facts that were read that way; a disease swap whose drugs have labelled trials reads those
    trials' STUDIES edges in between, unless the higher tiers already fill the budget. Only the
    node properties the fact texts show are fetched.
    """
    factor = Factor(factor)
    hide = frozenset(hide_outcomes)
    a_ids, t_ids = list(dict.fromkeys(anchor_ids)), list(dict.fromkeys(target_ids))
    a_set, t_set = set(a_ids), set(t_ids)
    ctx = list(dict.fromkeys(context_ids))
    bucket: list[tuple[float, AnyEdge]] = []
    OUT, IN, BOTH = Direction.OUT, Direction.IN, Direction.BOTH
    if factor in (Factor.DRUG, Factor.DOSE, Factor.ARM):
        both = tuple(t_ids + a_ids)
        ctx_diseases = {c for c in ctx if not c.startswith(_DRUG_PREFIXES + ("clinicaltrials:",))}
        got = store.expand(
            [
                Hop(both, (R.TARGETS,), OUT, detail=False),
                Hop(both, INDICATION_RELATIONS, OUT),  # detail: TRIALLED_FOR keys are filtered below
                Hop(both, (R.TESTS,), IN),
                Hop(tuple(t_ids), (R.CAUSES,), OUT, limit=3),
                Hop(tuple(a_ids), (R.CAUSES,), OUT, limit=3),
                Hop(tuple(sorted(ctx_diseases)), ONTOLOGY_RELATIONS, BOTH, detail=False),
            ],
            node_properties=_FACT_NODE_PROPERTIES,
        )
        targets, indications, tests, se_t, se_a, ctx_ontology = got.edges
        ta, tt = _by_end(targets, a_set, at_source=True), _by_end(targets, t_set, at_source=True)
        ind = [e for e in indications if e.target in ctx_diseases]
        t_rows = [r for r in _trial_rows(tests, t_set, got.nodes, hide) if r[2] is not None]
        a_rows = [r for r in _trial_rows(tests, a_set, got.nodes, hide) if r[2] is not None]
        # a drug's trials in the diseases in play come first: a trial of the same drug in another
        # disease states the drug's record as much, but a reader rightly finds it a poor reason
        # (tier 0 picks by it, and it orders the trials inside each trial tier below)
        rank = _disease_rank(store, [r[1].id for r in t_rows + a_rows], ctx_diseases, ctx_ontology)
        # tier 0: one fact of each kind of evidence per side (a succeeded and a failed labelled
        # trial, an indication, a target the other side lacks), so every kind of change a step
        # can make has a fact that states it, however many shared targets there are
        # (of the drugs that change: a drug on both sides is not part of the change, unless a side
        # has no drug of its own)
        approvals = sorted((e for e in indications if e.type in KNOWN_INDICATION),
                           key=lambda e: (e.target not in ctx_diseases, e.fact_id))
        a_own, t_own = changed_sides(a_set, t_set)
        for side, rows, own, other in ((t_own, t_rows, tt, ta), (a_own, a_rows, ta, tt)):
            _add(bucket, 0, _one_of_each([(r[0], r[2]) for r in rows if r[0].target in side], own, other, rank))
            _add(bucket, 0, [e for e in approvals if e.source in side][:1])
        for gene in sorted(set(ta) & set(tt)):
            _add(bucket, 1, ta[gene] + tt[gene])
        _add(bucket, 2, [e for e in ind if e.source in t_set])
        _add(bucket, 3, [e for e in ind if e.source in a_set])
        # (inside a tier: trials in the diseases in play, then in their ontology neighbours, then the rest)
        for tier, rows in ((4, [r for r in t_rows if r[0].target in t_own]), (6, [r for r in a_rows if r[0].target in a_own]),
                           (8, t_rows + a_rows)):  # 8: trials of the drugs both sides keep
            for r in rows:
                _add(bucket, tier + rank.get(r[1].id, 0) / 10, [r[0]])
        for gene in sorted(set(tt) - set(ta)):
            _add(bucket, 5, tt[gene])
        for gene in sorted(set(ta) - set(tt)):
            _add(bucket, 7, ta[gene])
        _add(bucket, 8, list(se_t) + list(se_a))
    elif factor is Factor.DISEASE:
        both = tuple(a_ids + t_ids)
        ctx_drugs = tuple(c for c in ctx if c.startswith(_DRUG_PREFIXES))
        got = store.expand(
            [
                Hop(both, (R.ASSOCIATED_WITH,), OUT, detail=False),
                Hop(both, ONTOLOGY_RELATIONS, BOTH, detail=False),
                Hop(ctx_drugs, INDICATION_RELATIONS, OUT),  # detail: TRIALLED_FOR keys are filtered below
                Hop(ctx_drugs, (R.TESTS,), IN),
                Hop(ctx_drugs, (R.TARGETS,), OUT, detail=False),
                # labelled trials of each side's diseases: the disease's own trial record
                Hop(tuple(t_ids), (R.STUDIES,), IN, limit=_DISEASE_TRIALS_READ),
                Hop(tuple(a_ids), (R.STUDIES,), IN, limit=_DISEASE_TRIALS_READ),
            ],
            node_properties=_FACT_NODE_PROPERTIES,
        )
        genes, ontology, indications, tests, drug_target_edges, t_studies, a_studies = got.edges
        ga, gt = _by_end(genes, a_set, at_source=True), _by_end(genes, t_set, at_source=True)
        # labelled trials of each side's diseases, in read order, with their outcomes
        t_lab, a_lab = ([(e, y) for e in side if e.source not in hide
                         and (y := trial_outcome(got.nodes.get(e.source), hide)) is not None]
                        for side in (t_studies, a_studies))
        # tier 0: one fact of each kind of evidence per side (a succeeded and a failed labelled
        # trial of the side's diseases, a gene the other side lacks)
        a_own, t_own = changed_sides(a_set, t_set)
        for labelled, side, own, other in ((t_lab, t_own, gt, ga), (a_lab, a_own, ga, gt)):
            _add(bucket, 0, _one_of_each([(e, y) for e, y in labelled if e.target in side], own, other))
        for gene in sorted(set(ga) & set(gt)):
            _add(bucket, 1, ga[gene] + gt[gene])
        _add(bucket, 2, _ontology_links(ontology, a_set & set(got.nodes), t_set & set(got.nodes)))
        # the anchor's drugs' indications in either side's diseases state the known-indication
        # change a disease step makes: before shared genes and ontology links, which state none
        ind = [e for e in indications if e.target in t_set | a_set]
        _add(bucket, 0.5, sorted(ind, key=lambda e: (e.target not in t_set, e.fact_id)))
        # trials of the drugs in the target disease, with known outcomes: a second read, from
        # those few trials (a disease can have thousands of trials)
        # (skipped when the tiers above already fill the budget: they come first)
        known = [r for r in _trial_rows(tests, set(ctx_drugs), got.nodes, hide) if r[2] is not None]
        if known and len({e.fact_id for _, e in bucket if _visible(e, hide)}) < budget:
            trials = tuple(sorted({r[1].id for r in known}))
            studies_out = store.expand([Hop(trials, (R.STUDIES,), OUT, detail=False)]).edges[0]
            studies = {e.source: e for e in studies_out if e.target in t_set}
            for e, node, _ in known:
                if node.id in studies:
                    _add(bucket, 4, [e, studies[node.id]])
        for labelled, tier, n in ((t_lab, 4, 4), (a_lab, 6, 2)):
            _add(bucket, tier, [e for e, _ in labelled[:n]])
        # drug targets that are genes of the target disease (mechanism in the new disease)
        tgt = _by_end(drug_target_edges, set(ctx_drugs), at_source=True)
        for gene in sorted(set(tgt) & set(gt)):
            _add(bucket, 5, tgt[gene] + gt[gene])
    else:  # phase, population, endpoint: facts about the two trials and the drugs' trial record
        ctx_drugs = tuple(c for c in ctx if c.startswith(_DRUG_PREFIXES))
        got = store.expand(
            [
                Hop(tuple(t_ids), TRIAL_RELATIONS, OUT),
                Hop(tuple(a_ids), TRIAL_RELATIONS, OUT),
                Hop(ctx_drugs, (R.TESTS,), IN),
            ],
            node_properties=_FACT_NODE_PROPERTIES,
        )
        _add(bucket, 0, got.edges[0])
        _add(bucket, 1, got.edges[1])
        rows = _trial_rows(got.edges[2], set(ctx_drugs), got.nodes, hide | a_set | t_set)
        _add(bucket, 2, [r[0] for r in rows if r[2] is not None])
    bucket = [(t, e) for t, e in bucket if _visible(e, hide)]
    seen: set[str] = set()
    ordered: list[Edge | EdgeRef] = []
    for _, e in sorted(bucket, key=lambda te: (te[0], te[1].fact_id)):
        if e.fact_id not in seen:
            seen.add(e.fact_id)
            ordered.append(e)
        if len(ordered) >= budget:
            break
    nodes: Mapping[str, Node] = got.nodes
    refs = [e for e in ordered if not isinstance(e, Edge) or e.source not in nodes or e.target not in nodes]
    if refs:  # edges read without detail: fetch the chosen few with their end nodes
        more = store.get_facts([e.fact_id for e in refs], rel_types=sorted({e.type for e in refs}),
                               node_properties=_FACT_NODE_PROPERTIES)
        full = {e.fact_id: e for e in more.edges[0]}
        ordered = [e if isinstance(e, Edge) else full[e.fact_id] for e in ordered]
        nodes = ChainMap(more.nodes, got.nodes)  # type: ignore[arg-type]
    return [Fact(e.fact_id, describe_edge(e, nodes, hide_outcomes=hide), e) for e in ordered]  # type: ignore[arg-type]


def _disease_rank(store: GraphStore, trial_ids: Sequence[str], diseases: set[str],
                  ontology: Iterable[AnyEdge]) -> dict[str, int]:
    """Trial id -> 0 if it studied one of ``diseases``, 1 one of their ontology neighbours (over
    the already-read ``ontology`` edges at them), 2 neither; empty without trials or diseases
    (one typed read of the trials' STUDIES edges)."""
    if not trial_ids or not diseases:
        return {}
    near = set(_related(ontology, diseases))
    studied = store.expand([Hop(tuple(sorted(set(trial_ids))), (R.STUDIES,), Direction.OUT, detail=False)]).edges[0]
    rank = dict.fromkeys(trial_ids, 2)
    for e in studied:
        rank[e.source] = min(rank[e.source], 0 if e.target in diseases else 1 if e.target in near else 2)
    return rank


def _ontology_links(ontology: Sequence[AnyEdge], a: set[str], b: set[str]) -> list[AnyEdge]:
    """Edges of SUBCLASS_OF/SAME_AS paths of at most 2 hops linking any of ``a`` to any of ``b``
    (deduplicated, by fact id), from already-read ontology edges at ``a`` and ``b``."""
    if not a or not b:
        return []
    one = _related(ontology, a)
    found: dict[str, AnyEdge] = {}
    for other, edges in one.items():
        if other in b:
            for e in edges:
                found[e.fact_id] = e
    if not found:  # two hops: a shared parent or a synonym of a parent
        two = _related(ontology, b)
        for mid in sorted(set(one) & set(two)):
            for e in one[mid] + two[mid]:
                found[e.fact_id] = e
    return [found[k] for k in sorted(found)]


# -- features of one change -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeEvidence:
    """Feature values of a change and, per feature, the fact ids that back it."""

    features: dict[str, float]
    support: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def vector(self) -> list[float]:
        return [self.features[name] for name in FEATURE_NAMES]


def jaccard(a: AbstractSet[str], b: AbstractSet[str], *, empty: float = 0.0) -> float:
    """|a ∩ b| / |a ∪ b|; ``empty`` when both sets are empty (0 when only one is)."""
    return len(a & b) / len(a | b) if a or b else empty


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
    anchor_trial: str | None = None,
    anchor_phase: str | None = None,
    target_phase: str | None = None,
) -> ChangeEvidence:
    """Features of a change (names in ``FEATURE_NAMES``; 0 when not applicable) with their support.

    ``hide_outcomes``: trials whose outcomes no feature reads (the target being predicted).
    ``anchor_trial``: the chain's anchor; its outcome is already the chain's start probability, so
    neither side's prior-success features count it again (on a disease change both sides hold the
    same drugs: hiding it from one side only would put its label into the target − anchor
    difference). All reads are one ``store.expand`` call (one round trip on Neo4j)."""
    factor = Factor(factor)
    hide = frozenset(hide_outcomes)
    prior_hide = hide | ({anchor_trial} if anchor_trial else set())
    f = {name: 0.0 for name in FEATURE_NAMES}
    sup: dict[str, tuple[str, ...]] = {}
    a_ids, t_ids, ctx = list(anchor_ids), list(target_ids), list(context_ids)
    disease_pref = ("mondo:", "doid:", "kgimagine.disease:")
    swap = factor in (Factor.DRUG, Factor.DOSE, Factor.ARM)
    if swap:
        a_drugs, t_drugs = a_ids, t_ids
        diseases = [c for c in ctx if c.startswith(disease_pref)]
    elif factor is Factor.DISEASE:
        a_drugs = t_drugs = [c for c in ctx if c.startswith(_DRUG_PREFIXES)]
        diseases = t_ids
    else:
        a_drugs = t_drugs = [c for c in ctx if c.startswith(_DRUG_PREFIXES)]
        diseases = [c for c in ctx if c.startswith(disease_pref)]
    a_drug_set, t_drug_set = set(a_drugs), set(t_drugs)
    drugs = tuple(dict.fromkeys(t_drugs + a_drugs))
    OUT, IN, BOTH = Direction.OUT, Direction.IN, Direction.BOTH
    sides = tuple(dict.fromkeys(a_ids + t_ids))
    hops = [  # only the TESTS hop needs detail (the trials' outcomes): the rest is ids
        Hop(drugs, KNOWN_INDICATION, OUT, detail=False),
        Hop(drugs, (R.TESTS,), IN),
        Hop(drugs if swap else (), (R.TARGETS, R.CAUSES), OUT, detail=False),
        Hop(sides if factor is Factor.DISEASE else (), (R.ASSOCIATED_WITH,), OUT, detail=False),
        Hop(sides if factor is Factor.DISEASE else (), ONTOLOGY_RELATIONS, BOTH, detail=False),
        Hop(sides if factor is Factor.PHASE else (), TRIAL_RELATIONS, OUT, detail=False),
    ]
    got = store.expand(hops, node_properties=("outcome_label",))
    indications, tests, mechanism, genes, ontology, trial_edges = got.edges
    if swap:
        targets = [e for e in mechanism if e.type is R.TARGETS]
        ta, tt = _by_end(targets, a_drug_set, at_source=True), _by_end(targets, t_drug_set, at_source=True)
        shared = set(ta) & set(tt)
        f["target_jaccard"] = jaccard(set(ta), set(tt))
        f["shared_targets"] = math.log1p(len(shared))
        sup["target_jaccard"] = sup["shared_targets"] = _ids(e for g in sorted(shared) for e in ta[g] + tt[g])
        causes = [e for e in mechanism if e.type is R.CAUSES]
        se_t = [e for e in causes if e.source in t_drug_set]
        se_a = [e for e in causes if e.source in a_drug_set]
        f["side_effect_ratio"] = math.log((1 + len({e.target for e in se_t})) / (1 + len({e.target for e in se_a})))
        sup["side_effect_ratio"] = _ids(se_t[:3] + se_a[:3])
    if factor is Factor.DISEASE:
        a_set, t_set = set(a_ids), set(t_ids)
        ga, gt = _by_end(genes, a_set, at_source=True), _by_end(genes, t_set, at_source=True)
        shared = set(ga) & set(gt)
        f["gene_jaccard"] = jaccard(set(ga), set(gt))
        sup["gene_jaccard"] = _ids(e for g in sorted(shared) for e in ga[g] + gt[g])
        links = _ontology_links(ontology, a_set & set(got.nodes), t_set & set(got.nodes))
        f["ontology_related"] = 1.0 if links else 0.0
        sup["ontology_related"] = _ids(links)
    if factor is Factor.DISEASE:
        t_ind = [e for e in indications if e.target in set(t_ids)]
        a_ind = [e for e in indications if e.target in set(a_ids)]
    else:
        t_ind = [e for e in indications if e.source in t_drug_set and e.target in set(diseases)]
        a_ind = [e for e in indications if e.source in a_drug_set and e.target in set(diseases)]
    f["target_indicated"] = 1.0 if t_ind else 0.0
    f["anchor_indicated"] = 1.0 if a_ind else 0.0
    sup["target_indicated"], sup["anchor_indicated"] = _ids(t_ind), _ids(a_ind)
    trial_hide = prior_hide | (set(a_ids) | set(t_ids) if not swap and factor is not Factor.DISEASE else set())
    t_rate, t_n, t_sup = prior_success(_trial_rows(tests, t_drug_set, got.nodes, trial_hide))
    a_rate, a_n, a_sup = prior_success(_trial_rows(tests, a_drug_set, got.nodes, trial_hide))
    if swap or factor is Factor.DISEASE:
        f["target_prior_success"] = t_rate - 0.5
        f["anchor_prior_success"] = a_rate - 0.5
        f["target_prior_n"] = math.log1p(t_n)
        sup["target_prior_success"] = sup["target_prior_n"] = tuple(t_sup)
        sup["anchor_prior_success"] = tuple(a_sup)
    if factor is Factor.PHASE:
        pa, pt = phase_number(anchor_phase), phase_number(target_phase)
        if pa is not None and pt is not None:
            f["phase_delta"] = pt - pa
        sup["phase_delta"] = _ids(trial_edges)
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


#: An anchor's start probability is ``START_SMOOTHING * label + (1 - START_SMOOTHING) * base rate``
#: of its phase: the reasoning chain and the training pairs use the same rule (``start_probability``).
START_SMOOTHING = 0.7


def phase_key(phase: str | None) -> str:
    """The phase as a grouping key (``"2"``, ``"1.5"``; ``"unknown"``)."""
    n = phase_number(phase)
    return "unknown" if n is None else f"{n:g}"


def success_rates(trials: Iterable[tuple[str | None, int]]) -> tuple[dict[str, float], float]:
    """Smoothed success rates of labelled ``(phase, label)`` trials: per ``phase_key`` (shrunk
    toward the overall rate with weight 2) and overall (Laplace)."""
    rows = list(trials)
    overall = (sum(label for _, label in rows) + 1) / (len(rows) + 2)
    by_phase: dict[str, list[int]] = {}
    for phase, label in rows:
        by_phase.setdefault(phase_key(phase), []).append(label)
    return {k: (sum(v) + 2 * overall) / (len(v) + 2) for k, v in by_phase.items()}, overall


def start_probability(label: int, base_rate: float, smoothing: float = START_SMOOTHING) -> float:
    """A labelled trial's outcome as a starting probability, pulled toward its phase base rate."""
    return round(smoothing * label + (1 - smoothing) * base_rate, 6)


def labelled_trials(store: GraphStore) -> list[Node]:
    """Trial nodes whose outcome label the graph holds (the only possible anchors)."""
    return [n for n in store.iter_nodes(NodeLabel.TRIAL) if trial_outcome(n) is not None]


@dataclass(frozen=True, slots=True)
class LabelledTrial:
    """A trial whose outcome the graph holds, with its drug (TESTS) and disease (STUDIES) sets."""

    trial_id: str
    name: str
    label: int
    split: str
    phase: str | None
    criteria: str
    drugs: frozenset[str]
    diseases: frozenset[str]
    #: listed names no node matched at build time (the trial node's ``unresolved_*`` properties)
    unresolved_drugs: tuple[str, ...] = ()
    unresolved_diseases: tuple[str, ...] = ()


def _name_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(str(v) for v in value or () if isinstance(v, str) and v.strip())


def read_labelled_trials(store: GraphStore, *, allowed_splits: Collection[str] | None = None) -> list[LabelledTrial]:
    """The graph's labelled trials (``trial_outcome``), from ``allowed_splits`` only when given
    (the ``split`` property), sorted by id."""
    nodes = [n for n in labelled_trials(store)
             if allowed_splits is None or str(n.properties.get("split", "")) in allowed_splits]
    ids = [n.id for n in nodes]
    drugs: dict[str, set[str]] = {i: set() for i in ids}
    diseases: dict[str, set[str]] = {i: set() for i in ids}
    for e in out_edges(store, ids, (RelationType.TESTS, RelationType.STUDIES)):
        (drugs if e.type is RelationType.TESTS else diseases)[e.source].add(e.target)
    out = [
        LabelledTrial(
            trial_id=n.id, name=n.name, label=int(trial_outcome(n) or 0), split=str(n.properties.get("split", "")),
            phase=(str(n.properties["phase"]).strip() or None) if n.properties.get("phase") else None,
            criteria=str(n.properties.get("criteria") or ""),
            drugs=frozenset(drugs[n.id]), diseases=frozenset(diseases[n.id]),
            unresolved_drugs=_name_list(n.properties.get("unresolved_drugs")),
            unresolved_diseases=_name_list(n.properties.get("unresolved_diseases")),
        )
        for n in nodes
    ]
    return sorted(out, key=lambda t: t.trial_id)


def node_names(store: GraphStore, ids: Iterable[str]) -> dict[str, str]:
    """Display names by id (the id itself for a node without a name; absent ids are left out)."""
    return {i: (n.name or i) for i, n in store.get_nodes(list(ids)).items()}
