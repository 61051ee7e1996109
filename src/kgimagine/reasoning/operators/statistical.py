"""``StatisticalOperator``: no LLM, deterministic, fast. The baseline that LLM operators must beat.

One step moves the probability in logit space by a linear function of the change's graph
features (``kgimagine.kg.queries.change_evidence``) plus a per-factor bias:

    logit(p_after) = logit(p_before) + b[factor] + sum_i w_i * x_i

and each chain starts at its anchor's start logit plus one per-chain offset ``intercept``
(``start_offset``; the reasoning graph adds it in its plan node). The features never read the
target's outcome (it is being predicted) nor the anchor's (it is already the chain's start).

Weights are either a transparent rule set (``RULE_WEIGHTS``, the default; intercept 0) or fitted
by ``StatisticalOperator.fit`` on labelled trial pairs of the graph (only trials whose
``outcome_label`` the graph holds): for a pair (anchor a, target t) the steps' features and
factor counts are summed (the model is additive in logit space) and a logistic regression with
the anchor's start logit as offset and an unpenalised intercept predicts t's label.

Weights files (``save``/``load``): a file without ``intercept`` (fitted before it existed) loads
with intercept 0, which is what it was fitted with. ``bias_dose``, ``bias_arm`` and
``bias_endpoint`` (``RETIRED_NAMES``) are ignored on load: the plan never creates those steps, so
they were never fitted nor used. Any other unknown name is an error (a typo is not dropped).

It answers in the ``render_step_answer`` format: the direction of the move, one claim per shown
fact behind the features that moved the estimate most (role = the sign of the fact's share of
the contributions), no rationale. ``fact_signs`` exposes those signs so the verifier checks the
roles against the operator's own model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from kgimagine.errors import ReasoningError
from kgimagine.kg import queries
from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.aggregate import logit, sigmoid
from kgimagine.traces import (
    Claim,
    StepAnswer,
    StepInput,
    distinct_statements,
    render_step_answer,
    role_of,
    rule_fact_signs,
)
from kgimagine.types import Factor

#: The factors ``reasoning.plan.build_plan`` creates steps for (never dose, arm or endpoint): the
#: only factors with a bias weight. A step on another factor gets no bias.
STEP_FACTORS: tuple[Factor, ...] = (Factor.DISEASE, Factor.DRUG, Factor.POPULATION, Factor.PHASE)
FACTOR_BIAS_NAMES: tuple[str, ...] = tuple(f"bias_{f.value}" for f in STEP_FACTORS)
#: Weights of older files that no step ever used; ignored when a weights file is loaded.
RETIRED_NAMES: frozenset[str] = frozenset({"bias_dose", "bias_arm", "bias_endpoint"})

#: Hand-set, transparent weights (used until ``fit`` is called): mechanism overlap and prior
#: success of the new drug raise the estimate, a new drug with a weaker record lowers it, a later
#: phase is harder.
RULE_WEIGHTS: dict[str, float] = {
    "target_jaccard": 0.6,
    "shared_targets": 0.2,
    "gene_jaccard": 0.6,
    "ontology_related": 0.3,
    "target_indicated": 0.5,
    "anchor_indicated": -0.3,
    "target_prior_success": 1.5,
    "anchor_prior_success": -1.0,
    "target_prior_n": 0.0,
    "side_effect_ratio": -0.1,
    "phase_delta": -0.3,
    **{name: 0.0 for name in FACTOR_BIAS_NAMES},
    "intercept": 0.0,
}
# a change to an unseen disease / drug costs a little confidence toward the base rate
RULE_WEIGHTS["bias_disease"] = -0.2
RULE_WEIGHTS["bias_drug"] = -0.2

#: Design columns, in order: step features, factor counts, then the per-chain intercept (a 1).
ALL_NAMES: tuple[str, ...] = queries.FEATURE_NAMES + FACTOR_BIAS_NAMES + ("intercept",)
#: A move of at most this much is direction "none" (the verifier's threshold).
NO_MOVE = 0.005


def _trial_ids(text: str) -> list[str]:
    return [i for i in queries.find_ids(text) if i.startswith("clinicaltrials:")]


class StatisticalOperator:
    """Deterministic operator over ``change_evidence`` features. ``store`` is read, never written."""

    def __init__(self, store: GraphStore, *, weights: dict[str, float] | None = None, fitted_on: str = "") -> None:
        self.store = store
        w = dict(RULE_WEIGHTS)
        if weights is not None:
            weights = {name: v for name, v in weights.items() if name not in RETIRED_NAMES}
            unknown = sorted(set(weights) - set(ALL_NAMES))
            if unknown:
                raise ReasoningError(f"unknown statistical-operator weights {unknown}; known: {list(ALL_NAMES)}")
            w = {name: float(weights.get(name, 0.0)) for name in ALL_NAMES}
        self.weights = w
        self.fitted_on = fitted_on
        self._cache: tuple[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"statistical:{'fitted@' + self.fitted_on if self.fitted_on else 'rules'}"

    @property
    def start_offset(self) -> float:
        """The per-chain offset (logit) added to each chain's start: the fitted intercept."""
        return self.weights["intercept"]

    # -- one step ---------------------------------------------------------------------------
    def evidence(self, step: StepInput) -> queries.ChangeEvidence:
        anchor_ids = queries.find_ids(step.anchor_value)
        target_ids = queries.find_ids(step.target_value)
        context = [
            i for i in queries.find_ids(step.anchor_summary) + queries.find_ids(step.target_summary)
            if not i.startswith("clinicaltrials:")
        ]
        hide = _trial_ids(step.target_summary)[:1]
        anchor_trial = step.anchor_id or next(iter(_trial_ids(step.anchor_summary)), None)
        return queries.change_evidence(
            self.store, step.factor, anchor_ids, target_ids,
            context_ids=list(dict.fromkeys(context)), hide_outcomes=hide, anchor_trial=anchor_trial,
            anchor_phase=step.anchor_value if step.factor is Factor.PHASE else None,
            target_phase=step.target_value if step.factor is Factor.PHASE else None,
        )

    def _contributions(self, step: StepInput) -> tuple[queries.ChangeEvidence, dict[str, float], float]:
        key = step.model_dump_json() + "\n" + step.anchor_id  # anchor_id is not serialised
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        ev = self.evidence(step)
        shown = {f.fact_id for f in step.facts}
        support = {name: set(ev.support.get(name, ())) for name in queries.FEATURE_NAMES}
        # the operator moves only on evidence it can cite, about what changes:
        # - a feature none of whose backing facts was shown for this step does not move it (e.g.
        #   the drugs' indications in a population step);
        # - a target-side feature backed by exactly the facts of its anchor-side twin describes the
        #   unchanged side twice (same drugs on both sides of a disease or trial-level change): the
        #   pair does not move it.
        same = {
            name
            for t, a in (("target_indicated", "anchor_indicated"), ("target_prior_success", "anchor_prior_success"))
            if support[t] and support[t] == support[a]
            for name in (t, a, "target_prior_n" if t == "target_prior_success" else t)
        }
        contrib = {
            name: self.weights[name] * ev.features[name] if (shown & support[name] and name not in same) else 0.0
            for name in queries.FEATURE_NAMES
        }
        out = (ev, contrib, self.weights.get(f"bias_{step.factor.value}", 0.0))
        self._cache = (key, out)
        return out

    def fact_signs(self, step: StepInput) -> dict[str, float]:
        """The model's own evidence per shown fact: each feature's logit contribution shared out
        over the shown facts that back it (a fact backing several features sums them); the factor
        bias (the prior cost of the change itself) shared out over the shown facts that state the
        change — touching the changed entities —, back no feature and point the bias's way to a
        reader (at most 2). A sign against what its fact says to a reader
        (``traces.rule_fact_signs``) is 0: the model's weight does not make a fact say it."""
        ev, contrib, bias = self._contributions(step)
        shown = {f.fact_id for f in step.facts}
        reading = rule_fact_signs(step)
        signs: dict[str, float] = {}
        for name, c in contrib.items():
            ids = [i for i in ev.support.get(name, ()) if i in shown]
            if abs(c) < 1e-9 or not ids:
                continue
            for i in ids:
                signs[i] = signs.get(i, 0.0) + c / len(ids)
        if abs(bias) > 1e-9:
            carriers = self._bias_carriers(step, signs, reading, bias)
            for i in carriers:
                signs[i] = signs.get(i, 0.0) + bias / len(carriers)
        return {i: v if v * reading.get(i, 0.0) > 0 else 0.0 for i, v in signs.items()}

    def _bias_carriers(self, step: StepInput, feature_signs: dict[str, float], reading: dict[str, float],
                       bias: float) -> list[str]:
        touching = set(queries.find_ids(step.anchor_value)) | set(queries.find_ids(step.target_value))
        return [f.fact_id for f in step.facts
                if {f.subject, f.object} & touching and abs(feature_signs.get(f.fact_id, 0.0)) < 1e-9
                and reading.get(f.fact_id, 0.0) * bias > 0][:2]

    def answer(self, step: StepInput) -> StepAnswer:
        """The step moves by what its shown facts state: the sum of ``fact_signs`` (each feature's
        contribution and the bias share of the facts that read its way). Claims: the facts behind
        that move, largest first (at most 4), roles from their signs; a step whose facts state no
        move cites the facts of the change as context. The rest of the model's change (biases, the
        phase delta, shares against what their facts say) is ``unstated_move``: the reasoning
        graph applies it at the chain's end, shown as priors no fact states."""
        signs = self.fact_signs(step)
        stated = sum(signs.values())
        p = step.p_before if abs(stated) < 1e-9 else round(sigmoid(logit(step.p_before) + stated), 3)
        direction = "up" if p - step.p_before > NO_MOVE else "down" if p - step.p_before < -NO_MOVE else "none"
        if direction == "none":
            p = step.p_before
        moving = distinct_statements(
            [f.fact_id for f in sorted(step.facts, key=lambda f: (-abs(signs.get(f.fact_id, 0.0)), f.fact_id))
             if abs(signs.get(f.fact_id, 0.0)) > 1e-9], step.facts)[:4] if direction != "none" else []
        if moving:
            claims = [Claim(facts=[i], role=role_of(signs[i])) for i in moving]
        else:  # nothing stated moves it: the facts that state the change, as context
            touching = set(queries.find_ids(step.anchor_value)) | set(queries.find_ids(step.target_value))
            context = sorted((f for f in step.facts if {f.subject, f.object} & touching),
                             key=lambda f: abs(signs.get(f.fact_id, 0.0)) > 1e-9)
            claims = [Claim(facts=[i], role="context") for i in distinct_statements([f.fact_id for f in context], step.facts)[:2]]
        return StepAnswer(direction=direction, probability=p, claims=claims, rationale="")

    def unstated_move(self, step: StepInput) -> float:
        """The logit of the model's change for this step that its answer does not move by: the
        factor bias and feature shares no shown fact states, plus what rounding to the answer's
        three decimals leaves. A chain's end then equals the model's full sum of its steps."""
        _, contrib, bias = self._contributions(step)
        moved = logit(self.answer(step).probability) - logit(step.p_before)
        return sum(contrib.values()) + bias - moved

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        return render_step_answer(self.answer(step))

    # -- fitting ----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        store: GraphStore,
        *,
        k: int = 3,
        max_targets: int | None = None,
        l2: float = 1.0,
        index: Any = None,
    ) -> "StatisticalOperator":
        """Fit the weights (and the per-chain intercept, unpenalised) on (anchor, target) pairs
        of labelled trials in ``store``."""
        import numpy as np

        rows, offsets, labels = pair_design(store, k=k, max_targets=max_targets, index=index)
        if len(set(labels)) < 2:
            raise ReasoningError(
                f"cannot fit the statistical operator: {len(labels)} labelled pair(s) with one outcome class; "
                "the graph needs labelled trials of both outcomes (or use the rule weights)"
            )
        w = fit_logistic_offset(np.asarray(rows), np.asarray(offsets), np.asarray(labels, dtype=float), l2=l2,
                                unpenalised=[ALL_NAMES.index("intercept")])
        return cls(store, weights=dict(zip(ALL_NAMES, map(float, w))), fitted_on=store.graph_version())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fitted_on": self.fitted_on, "weights": self.weights}, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, store: GraphStore) -> "StatisticalOperator":
        try:
            data = json.loads(Path(path).read_text())
            return cls(store, weights=data["weights"], fitted_on=str(data.get("fitted_on", "")))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise ReasoningError(f"cannot read statistical-operator weights from {path}: {exc}") from exc


def pair_design(
    store: GraphStore, *, k: int = 3, max_targets: int | None = None, index: Any = None
) -> tuple[list[list[float]], list[float], list[int]]:
    """Design rows (summed step features + factor counts + the intercept's 1), offsets (anchor
    start logits), labels. Each row's features hide the target's outcome and the anchor's."""
    from kgimagine.reasoning.plan import build_plan
    from kgimagine.reasoning.retrieval import AnchorIndex, ResolvedTarget, _names

    index = index or AnchorIndex.build(store)
    rows: list[list[float]] = []
    offsets: list[float] = []
    labels: list[int] = []
    tids = sorted(index.trials)
    if max_targets is not None:
        tids = tids[:max_targets]
    for tid in tids:
        info = index.trials[tid]
        drug_ids, dis_ids = sorted(info.drugs), sorted(info.diseases)
        target = ResolvedTarget(
            trial_id=tid, drug_ids=drug_ids, disease_ids=dis_ids, phase=info.phase,
            drug_names=_names(store, drug_ids), disease_names=_names(store, dis_ids),
        )
        for anchor in index.retrieve(target, k=k):
            x = dict.fromkeys(ALL_NAMES, 0.0)
            context = list(dict.fromkeys(anchor.drug_ids + anchor.disease_ids + drug_ids + dis_ids))
            for step in build_plan(anchor, target, target_criteria=info.criteria):
                ev = queries.change_evidence(
                    store, step.factor, step.anchor_ids, step.target_ids, context_ids=context,
                    hide_outcomes=[tid], anchor_trial=anchor.trial_id,
                    anchor_phase=step.anchor_phase, target_phase=step.target_phase,
                )
                for name, v in ev.features.items():
                    x[name] += v
                x[f"bias_{step.factor.value}"] += 1.0
            x["intercept"] = 1.0
            rows.append([x[n] for n in ALL_NAMES])
            offsets.append(logit(anchor.p_start))
            labels.append(info.label)
    return rows, offsets, labels


def fit_logistic_offset(
    X: Any, offset: Any, y: Any, *, l2: float = 1.0, iters: int = 50, unpenalised: Sequence[int] = ()
) -> Any:
    """L2-penalised logistic regression with a fixed offset, by Newton's method. The model has no
    intercept of its own: pass a column of ones and its index in ``unpenalised`` (columns the L2
    penalty leaves alone); with one, the mean fitted probability equals the mean label."""
    import numpy as np

    n, d = X.shape
    w = np.zeros(d)
    penalty = np.full(d, float(l2))
    penalty[list(unpenalised)] = 0.0
    for _ in range(iters):
        z = offset + X @ w
        p = 1.0 / (1.0 + np.exp(-z))
        grad = X.T @ (p - y) + penalty * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + np.diag(penalty) + 1e-9 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    if not np.all(np.isfinite(w)):
        raise ReasoningError("statistical-operator fit diverged; raise l2")
    return w
