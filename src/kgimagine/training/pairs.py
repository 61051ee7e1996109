"""Counterfactual pairs mined from the graph: two LABELLED trials that differ in one factor.

A pair (anchor → target) becomes one supervised imagination step (a ``StepExample`` with origin
``"pair"``): the anchor's outcome is the probability before the step, the change is the one
factor that differs, the facts are what ``kgimagine.kg.queries.facts_for_change`` retrieves for
that change, and the answer is the target's outcome (smoothed), citing the facts that touch the
changed values (deterministic rule, see ``select_cited``) with a claim that only restates them.

Only trials whose ``Trial`` node carries ``outcome_label`` are used: the graph holds labels only
for the splits the build allowed (default ``phase_I_train``), so evaluation outcomes never enter.
``allowed_splits`` narrows that further; a labelled trial outside it is skipped, never used.

Factors the graph can tell apart: ``disease`` (STUDIES set), ``drug`` (TESTS set), ``phase``
(node property) and ``population`` (the ``criteria`` property). Exact pairs differ in exactly one
of disease, drug and phase; near pairs have one main difference (the unique lowest Jaccard
similarity) and the other factors at least ``min_similarity`` alike; their ``similarity`` is the
product of those other similarities (1.0 for exact pairs). Two trials alike in disease, drug and
phase whose eligibility criteria differ make a ``population`` pair.

A pair's step is rendered as the reasoning layer renders the same change (the value and summary
renderers of ``kgimagine.traces``, the same fact retrieval arguments), and probabilities follow
its rule: a trial's outcome becomes ``kgimagine.kg.queries.start_probability(label, base rate of
its phase)`` over the graph's labelled trials. So the step before is the anchor's start value, as
in a served chain, and the answer is the target's value after the one change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Iterator, Protocol, Sequence

from kgimagine.errors import TrainingError
from kgimagine.kg import queries
from kgimagine.kg.store import GraphStore
from kgimagine.traces import (
    MAX_RATIONALE_CHARS,
    Claim,
    FactRef,
    StepAnswer,
    StepExample,
    StepInput,
    normalize_criteria,
    render_eligibility,
    render_entities,
    render_phase_value,
    render_trial_summary,
    role_of,
    rule_fact_signs,
    strip_provenance,
)
from kgimagine.types import Factor, NodeLabel, RelationType

#: Factors a pair can differ in, given what the graph records for a trial (plan order).
PAIR_FACTORS: tuple[Factor, ...] = (Factor.DISEASE, Factor.DRUG, Factor.POPULATION, Factor.PHASE)
#: Factors compared by set similarity; population pairs are alike in all three.
_SET_FACTORS: tuple[Factor, ...] = (Factor.DISEASE, Factor.DRUG, Factor.PHASE)

DEFAULT_SMOOTHING = queries.START_SMOOTHING  # as the reasoning layer's anchor start values
MAX_CITED = 4


class FactLike(Protocol):
    """What ``facts_for_change`` returns per fact (``kgimagine.kg.queries.Fact``)."""

    fact_id: str
    text: str
    edge: Any  # kgimagine.kg.model.Edge


FactsForChange = Callable[..., Sequence[FactLike]]
"""``facts_for_change(store, factor, anchor_ids, target_ids, *, budget, context_ids, hide_outcomes)
-> list[Fact]`` (``kgimagine.kg.queries.facts_for_change``). ``hide_outcomes`` is always the
target trial: its own outcome must never show in a fact text (it is the answer)."""


@dataclass(frozen=True, slots=True)
class TrialProfile:
    """What pair mining needs to know about one labelled trial."""

    trial_id: str
    name: str
    split: str
    label: int
    phase: str
    drugs: frozenset[str]
    diseases: frozenset[str]
    criteria: str = ""
    unresolved_drugs: tuple[str, ...] = ()  # listed names no node matched (shown in step values)
    unresolved_diseases: tuple[str, ...] = ()

    def values(self, factor: Factor) -> frozenset[str]:
        if factor is Factor.DISEASE:
            return self.diseases
        if factor is Factor.DRUG:
            return self.drugs
        if factor is Factor.PHASE:
            return frozenset({self.phase.lower()}) if self.phase else frozenset()
        if factor is Factor.POPULATION:
            return frozenset({normalize_criteria(self.criteria)}) if self.criteria.strip() else frozenset()
        raise TrainingError(f"factor {factor.value!r} is not recorded in the graph; use one of {PAIR_FACTORS}")


@dataclass(frozen=True, slots=True)
class TrialPair:
    anchor: TrialProfile
    target: TrialProfile
    factor: Factor
    similarity: float  # 1.0 for exact one-factor pairs
    exact: bool


@dataclass
class PairStats:
    """Counts for the report of ``kgimagine train pairs``."""

    trials_seen: int = 0
    labelled: int = 0
    skipped_split: int = 0  # labelled but outside allowed_splits
    skipped_incomplete: int = 0  # labelled but no drug or no disease in the graph
    exact_pairs: dict[str, int] = field(default_factory=dict)
    near_pairs: dict[str, int] = field(default_factory=dict)
    examples: int = 0
    dropped_no_facts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "trials_seen": self.trials_seen,
            "labelled": self.labelled,
            "skipped_split": self.skipped_split,
            "skipped_incomplete": self.skipped_incomplete,
            "exact_pairs": dict(self.exact_pairs),
            "near_pairs": dict(self.near_pairs),
            "examples": self.examples,
            "dropped_no_facts": self.dropped_no_facts,
        }


# -- reading the graph -------------------------------------------------------------------------


def read_labelled_trials(
    store: GraphStore,
    *,
    allowed_splits: Collection[str] | None = None,
    stats: PairStats | None = None,
) -> list[TrialProfile]:
    """Trials whose outcome the graph holds (``kgimagine.kg.queries.read_labelled_trials``, the
    reader the reasoning layer's anchors come from), with their drug and disease sets.

    ``allowed_splits`` (None: every labelled split) restricts the splits used. Sorted by id."""
    stats = stats if stats is not None else PairStats()
    stats.trials_seen += store.stats().nodes_by_label.get(NodeLabel.TRIAL.value, 0)
    labelled = queries.read_labelled_trials(store)
    stats.labelled += len(labelled)
    allowed = set(allowed_splits) if allowed_splits is not None else None
    out: list[TrialProfile] = []
    for t in labelled:
        if allowed is not None and t.split not in allowed:
            stats.skipped_split += 1
            continue
        if not t.drugs or not t.diseases:
            stats.skipped_incomplete += 1
            continue
        out.append(TrialProfile(trial_id=t.trial_id, name=t.name, split=t.split, label=t.label,
                                phase=t.phase or "", drugs=t.drugs, diseases=t.diseases, criteria=t.criteria,
                                unresolved_drugs=t.unresolved_drugs, unresolved_diseases=t.unresolved_diseases))
    return out


# -- mining --------------------------------------------------------------------------------------


def classify_pair(anchor: TrialProfile, target: TrialProfile, *, min_similarity: float = 0.5) -> TrialPair | None:
    """The pair's one factor, or None when the trials differ in no factor or in several.

    Exact: exactly one factor differs. Near: one factor has the unique lowest similarity and
    every other factor is at least ``min_similarity`` alike (similarity = their product).
    """
    sims = {f: queries.jaccard(anchor.values(f), target.values(f), empty=1.0) for f in _SET_FACTORS}
    differing = [f for f in _SET_FACTORS if sims[f] < 1.0]
    if not differing:
        a_pop, t_pop = anchor.values(Factor.POPULATION), target.values(Factor.POPULATION)
        if a_pop and t_pop and a_pop != t_pop:
            return TrialPair(anchor, target, Factor.POPULATION, 1.0, True)
        return None
    if len(differing) == 1:
        return TrialPair(anchor, target, differing[0], 1.0, True)
    lowest = min(sims.values())
    mains = [f for f in _SET_FACTORS if sims[f] == lowest]
    if len(mains) != 1:
        return None  # no single main difference
    main = mains[0]
    others = [sims[f] for f in _SET_FACTORS if f is not main]
    if min(others) < min_similarity:
        return None
    similarity = 1.0
    for s in others:
        similarity *= s
    return TrialPair(anchor, target, main, round(similarity, 4), False)


def mine_pairs(
    trials: Sequence[TrialProfile],
    *,
    near: bool = True,
    min_similarity: float = 0.5,
    max_anchors_per_target: int = 5,
    factors: Collection[Factor] = PAIR_FACTORS,
    stats: PairStats | None = None,
) -> list[TrialPair]:
    """Ordered (anchor → target) pairs; each target keeps its best ``max_anchors_per_target``
    anchors (exact before near, then by similarity, then by id). Deterministic."""
    if max_anchors_per_target < 1:
        raise TrainingError(f"max_anchors_per_target must be >= 1 (got {max_anchors_per_target})")
    stats = stats if stats is not None else PairStats()
    index: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(trials):
        for v in t.drugs | t.diseases:
            index[v].append(i)
    pairs: list[TrialPair] = []
    for j, target in enumerate(trials):
        candidates: set[int] = set()
        for v in target.drugs | target.diseases:
            candidates.update(index[v])
        candidates.discard(j)
        found: list[TrialPair] = []
        for i in candidates:
            pair = classify_pair(trials[i], target, min_similarity=min_similarity)
            if pair is None or pair.factor not in factors or (not pair.exact and not near):
                continue
            found.append(pair)
        found.sort(key=lambda p: (not p.exact, -p.similarity, p.anchor.trial_id))
        for pair in found[:max_anchors_per_target]:
            bucket = stats.exact_pairs if pair.exact else stats.near_pairs
            bucket[pair.factor.value] = bucket.get(pair.factor.value, 0) + 1
            pairs.append(pair)
    pairs.sort(key=lambda p: (p.target.trial_id, p.anchor.trial_id))
    return pairs


# -- pair -> step example --------------------------------------------------------------------------


BaseRates = tuple[dict[str, float], float]  # per phase key, overall (``queries.success_rates``)


def graph_base_rates(store: GraphStore) -> BaseRates:
    """Success rates of the graph's labelled trials by phase, as the reasoning layer's anchor index
    computes them (every labelled Trial node, whatever its split)."""
    return queries.success_rates(
        (n.properties.get("phase"), int(queries.trial_outcome(n) or 0)) for n in queries.labelled_trials(store)
    )


def smooth(label: int, smoothing: float = DEFAULT_SMOOTHING, *, phase: str | None = None,
           base_rates: BaseRates | None = None) -> float:
    """A trial's outcome as a probability: ``start_probability`` with its phase base rate (0.5
    without ``base_rates``), the reasoning layer's rule for an anchor's start value."""
    base = 0.5 if base_rates is None else base_rates[0].get(queries.phase_key(phase), base_rates[1])
    return queries.start_probability(label, base, smoothing)


def change_ids(pair: TrialPair) -> tuple[list[str], list[str]]:
    """The node ids on each side of the change: the values only one side has (the whole set when
    one side only adds values); for a phase or population change the two trials themselves.
    (Used to choose the cited facts; retrieval gets the full sets, see ``step_ids``.)"""
    if pair.factor in (Factor.PHASE, Factor.POPULATION):
        return [pair.anchor.trial_id], [pair.target.trial_id]
    a, t = pair.anchor.values(pair.factor), pair.target.values(pair.factor)
    return sorted(a - t) or sorted(a), sorted(t - a) or sorted(t)


def step_ids(pair: TrialPair) -> tuple[list[str], list[str]]:
    """The ids the reasoning plan gives fact retrieval for this change: both sides' full sets
    (the trials for a phase or population change)."""
    if pair.factor in (Factor.PHASE, Factor.POPULATION):
        return [pair.anchor.trial_id], [pair.target.trial_id]
    return sorted(pair.anchor.values(pair.factor)), sorted(pair.target.values(pair.factor))


def context_ids(pair: TrialPair) -> list[str]:
    """The other entities in play, as the reasoning plan sets them: a disease change keeps the
    anchor's drugs, a drug change is in the target's diseases, a phase or population change
    concerns the target's drugs and diseases."""
    if pair.factor is Factor.DISEASE:
        return sorted(pair.anchor.drugs)
    if pair.factor is Factor.DRUG:
        return sorted(pair.target.diseases)
    return sorted(pair.target.drugs) + sorted(pair.target.diseases)


def select_cited(facts: Sequence[FactLike], anchor_ids: Iterable[str], target_ids: Iterable[str],
                 *, max_cited: int = MAX_CITED) -> list[str]:
    """The supporting facts of a change, in the facts' own (ranked) order. Deterministic rule:

    1. facts linking an anchor-side value to a target-side value directly, and facts on the two
       sides that meet at a shared node (both drugs target the same gene, both diseases are
       associated with the same gene or share a parent) — the evidence that relates the change;
    2. otherwise, facts about the target-side values (at most 2);
    3. otherwise, facts about the anchor-side values (at most 2).
    """
    A, T = set(anchor_ids), set(target_ids)

    def ends(f: FactLike) -> tuple[str, str]:
        return f.edge.source, f.edge.target

    touch_a = [f for f in facts if A & set(ends(f))]
    touch_t = [f for f in facts if T & set(ends(f))]
    other_a = {e for f in touch_a for e in ends(f) if e not in A}
    other_t = {e for f in touch_t for e in ends(f) if e not in T}
    shared = other_a & other_t
    related: set[str] = set()
    for f in facts:
        e = set(ends(f))
        if (A & e and T & e) or (A & e and shared & e) or (T & e and shared & e):
            related.add(f.fact_id)
    chosen = [f.fact_id for f in facts if f.fact_id in related]
    if chosen:
        return list(dict.fromkeys(chosen))[:max_cited]
    for side in (touch_t, touch_a):
        if side:
            return list(dict.fromkeys(f.fact_id for f in side))[:2]
    return []


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_rationale(cited_texts: Sequence[str]) -> str:
    """A rationale that restates the cited facts and nothing else (no other entity, no invented
    fact), within ``MAX_RATIONALE_CHARS``: ``The graph states A TARGETS G; B TARGETS G.``"""
    head = "The graph states "
    parts: list[str] = []
    for text in cited_texts:
        # a trial fact's context ("[in breast cancer]") names an entity that is no end of the fact:
        # the rationale restates the fact itself, which the verifier checks
        text = queries.strip_trial_context(strip_provenance(text).strip()).strip().rstrip(".")
        candidate = head + "; ".join([*parts, text]) + "."
        if len(candidate) > MAX_RATIONALE_CHARS:
            break
        parts.append(text)
    if not parts:  # the first fact alone is too long: no rationale (the claims carry the facts)
        return ""
    return head + "; ".join(parts) + "."


def _value_text(side: TrialProfile, factor: Factor, names: dict[str, str]) -> str:
    """The step value as the reasoning plan renders it (``kgimagine.traces`` renderers)."""
    if factor is Factor.PHASE:
        return render_phase_value(side.phase or None, side.trial_id)
    if factor is Factor.POPULATION:
        return render_eligibility(side.trial_id, side.criteria)
    ids = sorted(side.values(factor))
    unresolved = side.unresolved_drugs if factor is Factor.DRUG else side.unresolved_diseases
    return render_entities([names.get(v, v) for v in ids], ids, unresolved)


def trial_summary(trial: TrialProfile, names: dict[str, str], *, with_outcome: bool) -> str:
    """The trial line an operator sees (``render_trial_summary``, as the reasoning layer shows it)."""
    drugs, diseases = sorted(trial.drugs), sorted(trial.diseases)
    return render_trial_summary(
        trial.trial_id, phase=trial.phase or None, outcome=trial.label if with_outcome else None,
        drug_names=[names.get(v, v) for v in drugs], drug_ids=drugs,
        disease_names=[names.get(v, v) for v in diseases], disease_ids=diseases,
    )


def fact_ref_of(f: FactLike) -> FactRef:
    """A retrieved fact as a ``FactRef``, with its edge and the trial outcome its text shows."""
    edge = f.edge
    prov = getattr(edge, "provenance", None)
    rel = getattr(getattr(edge, "type", None), "value", "") or ""
    outcome = None
    if rel in ("TESTS", "STUDIES"):
        head = f.text.split(")", 1)[0]
        outcome = 1 if head.endswith("succeeded") else 0 if head.endswith("failed") else None
    return FactRef(fact_id=f.fact_id, text=f.text, source=getattr(prov, "source", "") or "",
                   licence=getattr(prov, "licence", "") or "", source_version=getattr(prov, "source_version", "") or "",
                   subject=getattr(edge, "source", "") or "", relation=rel, object=getattr(edge, "target", "") or "",
                   outcome=outcome)


def pair_claims(step: StepInput, cited: Sequence[str], direction: str, a_ids: Iterable[str],
                t_ids: Iterable[str], *, extra: int = 2) -> list[Claim]:
    """One claim per cited fact, its role from the rule sign model (``traces.rule_fact_signs``,
    the signs the verifier expects of an LLM); when no cited fact supports the pair's direction,
    up to ``extra`` shown facts that do are cited too, so the example is one the verifier accepts
    whenever the step's facts allow it."""
    signs = rule_fact_signs(step, sides=(set(a_ids), set(t_ids)))
    claims = [Claim(facts=[c], role=role_of(signs.get(c, 0.0))) for c in cited]
    if direction in ("up", "down") and not any(c.role == direction for c in claims):
        more = [f.fact_id for f in step.facts if f.fact_id not in cited and role_of(signs.get(f.fact_id, 0.0)) == direction]
        claims += [Claim(facts=[i], role=direction) for i in more[:extra]]  # type: ignore[arg-type]
    return claims


def build_pair_example(
    store: GraphStore,
    pair: TrialPair,
    facts_for_change: FactsForChange,
    *,
    graph_version: str,
    budget: int = 12,
    smoothing: float = DEFAULT_SMOOTHING,
    hide_outcomes: Collection[str] = (),
    base_rates: BaseRates | None = None,
) -> StepExample | None:
    """The supervised step for ``pair``; None when no retrieved fact touches the change.

    The target trial's outcome is always hidden from the facts, and the anchor's from a drug or
    disease change's (``queries.step_hidden``, as the reasoning chain does); ``hide_outcomes`` hides more
    (e.g. the trials of a held-out set, so training prompts never show their outcomes).
    ``base_rates``: ``graph_base_rates(store)`` (computed here when None; pass it for a batch)."""
    a_ids, t_ids = change_ids(pair)
    r_a, r_t = step_ids(pair)
    hidden = queries.step_hidden(pair.factor, target_trial=pair.target.trial_id, anchor_trial=pair.anchor.trial_id,
                                 hidden=hide_outcomes)
    facts = list(facts_for_change(store, pair.factor, r_a, r_t, budget=budget,
                                  context_ids=context_ids(pair), hide_outcomes=hidden))
    cited = select_cited(facts, a_ids, t_ids)
    if not cited:
        return None
    names = queries.node_names(store, pair.anchor.drugs | pair.anchor.diseases | pair.target.drugs | pair.target.diseases)
    anchor_value = _value_text(pair.anchor, pair.factor, names)
    target_value = _value_text(pair.target, pair.factor, names)
    by_id = {f.fact_id: f for f in facts}
    refs = [fact_ref_of(f) for f in facts]
    rates = base_rates if base_rates is not None else graph_base_rates(store)
    p_before = smooth(pair.anchor.label, smoothing, phase=pair.anchor.phase, base_rates=rates)
    p_after = smooth(pair.target.label, smoothing, phase=pair.target.phase, base_rates=rates)
    direction = "up" if p_after > p_before else "down" if p_after < p_before else "same"
    step = StepInput(
        factor=pair.factor,
        anchor_value=anchor_value,
        target_value=target_value,
        p_before=p_before,
        facts=refs,
        anchor_summary=trial_summary(pair.anchor, names, with_outcome=True),
        target_summary=trial_summary(pair.target, names, with_outcome=False),
    )
    answer = StepAnswer(
        direction="up" if direction == "up" else "down" if direction == "down" else "none",
        probability=p_after,
        claims=pair_claims(step, cited, direction, a_ids, t_ids),
        rationale=render_rationale([by_id[c].text for c in cited]),
    )
    return StepExample(
        graph_version=graph_version,
        split=pair.target.split,
        origin="pair",
        example_id=f"pair:{pair.anchor.trial_id}->{pair.target.trial_id}:{pair.factor.value}",
        anchor_id=pair.anchor.trial_id,
        target_id=pair.target.trial_id,
        step=step,
        answer=answer,
        target_label=pair.target.label,
        direction=direction,
        similarity=pair.similarity,
    )


def default_facts_for_change() -> FactsForChange:
    """``kgimagine.kg.queries.facts_for_change`` (the retrieval the reasoning layer uses)."""
    try:
        from kgimagine.kg.queries import facts_for_change
    except ModuleNotFoundError as exc:
        raise TrainingError(
            "kgimagine.kg.queries is not available in this build; pass facts_for_change= explicitly"
        ) from exc
    return facts_for_change


def iter_pair_examples(
    store: GraphStore,
    *,
    facts_for_change: FactsForChange | None = None,
    allowed_splits: Collection[str] | None = None,
    near: bool = True,
    min_similarity: float = 0.5,
    max_anchors_per_target: int = 5,
    budget: int = 12,
    smoothing: float = DEFAULT_SMOOTHING,
    stats: PairStats | None = None,
    on_pair: Callable[[int, int], None] | None = None,
    pair_filter: Callable[[TrialPair], bool] | None = None,
    hide_outcomes: Collection[str] = (),
) -> Iterator[StepExample]:
    """Mine pairs from ``store`` and yield their step examples (see the module docstring).

    ``pair_filter`` keeps only the pairs it accepts (e.g. a train/held-out split by trial);
    ``hide_outcomes`` trial outcomes never shown in any fact."""
    if not 0.5 <= smoothing < 1.0:
        raise TrainingError(f"smoothing must be in [0.5, 1) (got {smoothing}); e.g. {DEFAULT_SMOOTHING}")
    fn = facts_for_change or default_facts_for_change()
    stats = stats if stats is not None else PairStats()
    trials = read_labelled_trials(store, allowed_splits=allowed_splits, stats=stats)
    pairs = mine_pairs(trials, near=near, min_similarity=min_similarity,
                       max_anchors_per_target=max_anchors_per_target, stats=stats)
    if pair_filter is not None:
        pairs = [p for p in pairs if pair_filter(p)]
    version = store.graph_version()
    rates = graph_base_rates(store)
    for k, pair in enumerate(pairs, 1):
        ex = build_pair_example(store, pair, fn, graph_version=version, budget=budget, smoothing=smoothing,
                                hide_outcomes=hide_outcomes, base_rates=rates)
        if on_pair is not None:
            on_pair(k, len(pairs))
        if ex is None:
            stats.dropped_no_facts += 1
            continue
        stats.examples += 1
        yield ex


__all__ = [
    "PAIR_FACTORS",
    "PairStats",
    "TrialPair",
    "TrialProfile",
    "build_pair_example",
    "graph_base_rates",
    "classify_pair",
    "iter_pair_examples",
    "mine_pairs",
    "read_labelled_trials",
    "render_rationale",
    "select_cited",
    "smooth",
]
