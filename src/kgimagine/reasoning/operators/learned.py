"""``LearnedOperator``: a fitted, factor-decomposed step operator (the default once fitted).

The model scores a trial as an additive sum in logit space, one score per factor:

    logit p(t) = b + s_disease(t) + s_drug(t) + s_population(t) + s_phase(t)

* disease, drug and phase scores are linear in the trial's graph evidence
  (``kgimagine.trials.evidence``: prior outcomes of the disease, its ontology neighbours, the drug
  and drugs sharing its targets; targets, mechanism overlap, known indications, phase);
* the population score is linear in an out-of-fold TF-IDF + logistic-regression score of the
  eligibility criteria (the strongest single signal on TOP);
* weights come from one standardised logistic regression over those columns (each trial's columns
  computed out-of-fold, so no row sees its own label), then Platt-calibrated on out-of-fold scores.

A counterfactual step from anchor ``a`` to target ``t`` that changes factor ``f`` moves the logit by
``s_f(t) - s_f(a)``: a chain over every factor that differs is an exact additive path from the
anchor's start to the target. The anchor starts at its own out-of-fold estimate plus ``lam`` times
its residual (observed outcome minus that estimate); ``lam`` is fitted on the pool (it is 0 when
anchors add nothing), so the similarity-weighted mean of the chains' ends is the model's estimate
plus the anchors' shrunk residuals.

A drug's record is its trials in the trial's disease family (``trials.evidence``), so a drug step
moves from the anchor's drugs to the target's both read in the target's diseases; reading the
anchor's drugs there instead of in its own diseases joins the chain's start. Two more changes join
the start because no shown fact could state them: a drug both sides keep (each side's record is
read over its drugs that change; a kept drug's trials would move the step only by diluting a pooled
record) and, for a target naming no disease the graph holds, every disease and drug change (its
drugs' records span unrelated diseases; an indication would "leave" by the graph's gap).

A step moves only by the columns one shown fact changes the way a reader of it expects
(``STEP_COLUMNS``: prior success rates, indications); counts, neighbour records and design columns
form the graph-summary part applied at the chain's start. Every step cites the retrieved graph
facts behind its move (labelled trials of the drug / disease with their outcomes, indications) and
``fact_signs`` gives the sign each carries in the model, so the verifier can check the claimed
direction against both the model and what the fact says.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from kgimagine.errors import ReasoningError
from kgimagine.kg.schema import APPROVAL_RELATIONS
from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.aggregate import P_MAX, P_MIN, logit, sigmoid
from kgimagine.thresholds import f1_threshold
from kgimagine.traces import (
    MAX_CLAIM_FACTS,
    Claim,
    StepAnswer,
    StepInput,
    distinct_statements,
    render_step_answer,
    role_of,
    rule_fact_signs,
)
from kgimagine.trials.evidence import (
    FACTOR_FEATURES,
    EvidenceBuilder,
    ResolvedEntities,
    TrialDescription,
    labelled_pool,
    phase_group,
)
from kgimagine.types import Factor, RelationType

R = RelationType

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 3  # 3: counts moved from the steps to the summary part
#: the modules whose code decides what a fit produces (``fit_code_fingerprint``)
FIT_CODE = ("reasoning/operators/learned.py", "trials/evidence.py", "thresholds.py")


def fit_code_fingerprint() -> str:
    """A hash of ``FIT_CODE``: an operator fitted by other code is refitted by
    ``kgimagine train operator --if-missing`` (``scripts/run-main``), not silently reused."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.blake2b(digest_size=12)
    for name in FIT_CODE:
        h.update(name.encode())
        h.update((root / name).read_bytes())
    return h.hexdigest()
#: Factors the model scores, in plan order.
SCORED_FACTORS: tuple[Factor, ...] = (Factor.DISEASE, Factor.DRUG, Factor.POPULATION, Factor.PHASE)
TEXT_COLUMN = "criteria_text_score"
#: Graph columns that one shown fact moves the way a reader of that fact expects: the prior
#: success rate of the side's diseases or drugs (a succeeded labelled trial raises it, a failed one
#: lowers it) and the drug's indications (an indicated drug on the target side raises the
#: estimate). Only these move a step.
STEP_COLUMNS: dict[Factor, frozenset[str]] = {
    Factor.DISEASE: frozenset({"disease_rate"}),
    Factor.DRUG: frozenset({"drug_rate", "known_indication", "approved_drug"}),
}
#: The score of every other graph column: counts (labelled trials, targets, disease genes),
#: records of ontology neighbours and of drugs sharing a target, mechanism overlap, comparator
#: arm, drugs listed / resolved. These are statistics over many facts or of the trial's design; no
#: single fact states them, and a fact behind a count says nothing about the outcome's direction
#: ("breast cancer ASSOCIATED_WITH NAT2" does not make a trial likelier to fail). Applied at the
#: chain's start with the criteria-text and phase scores, never as a step.
SUMMARY = "graph_summary"
#: Score parts applied at each chain's start (the keys of ``LearnedModel.scores_from_row`` that are
#: never steps).
START_PARTS: tuple[str, ...] = (Factor.POPULATION.value, Factor.PHASE.value, SUMMARY)


def part_of(factor: Factor, column: str, weight: float = 1.0) -> str:
    """The score part a column adds to: its factor when a step's facts state it and its fitted
    ``weight`` points the way those facts read (> 0: a higher prior success rate, an indicated
    drug raise the estimate), else the summary. A step column whose weight came out <= 0 would
    move steps against every fact a reader could cite, so it joins the summary."""
    if factor in STEP_COLUMNS and (column not in STEP_COLUMNS[factor] or weight <= 0):
        return SUMMARY
    return factor.value


def columns(*, text: bool = True, graph: bool = True, priors: bool = True) -> list[tuple[Factor, str]]:
    """(factor, column) of the stage-2 model, for the chosen ablation."""
    cols: list[tuple[Factor, str]] = []
    for factor, names in FACTOR_FEATURES.items():
        for name in names:
            if factor is Factor.PHASE:
                cols.append((factor, name))
            elif graph and (priors or not name.endswith(("_rate", "_n"))):
                cols.append((factor, name))
    if text:
        cols.append((Factor.POPULATION, TEXT_COLUMN))
    return cols


def _stable_fold(key: str, n_folds: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % n_folds


class _TextModel:
    """TF-IDF (word 1-2-grams) of the criteria + logistic regression; ``score`` is its logit."""

    def __init__(self, C: float = 4.0) -> None:
        self.C = C
        self.vec: Any = None
        self.lr: Any = None

    def fit(self, docs: Sequence[str], y: Sequence[int]) -> "_TextModel":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True,
                                   strip_accents="unicode")
        x = self.vec.fit_transform(list(docs))
        self.lr = LogisticRegression(C=self.C, max_iter=3000).fit(x, list(y))
        return self

    def score(self, docs: Sequence[str]) -> Any:
        return self.lr.decision_function(self.vec.transform(list(docs)))


@dataclass
class LearnedModel:
    """The fitted parameters (see the module docstring). Build with :meth:`fit`."""

    cols: list[tuple[Factor, str]]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    intercept: float
    platt: tuple[float, float]
    lam: float
    threshold: float
    text_model: _TextModel | None
    #: trial key -> (out-of-fold factor scores {factor: calibrated logit part}, label)
    oof: dict[str, tuple[dict[str, float], int]]
    meta: dict[str, Any] = field(default_factory=dict)

    # -- scoring --------------------------------------------------------------------------
    def _row(self, desc: TrialDescription, evidence: EvidenceBuilder, *, exclude: Sequence[str] = (),
             text_score: float | None = None, entities: ResolvedEntities | None = None) -> list[float]:
        if text_score is None and any(name == TEXT_COLUMN for _, name in self.cols):
            text_score = float(self.text_model.score([desc.criteria])[0]) if self.text_model else 0.0
        return _row(self.cols, desc, evidence, exclude=exclude, text_score=text_score, entities=entities)

    def scores_from_row(self, row: Sequence[float]) -> dict[str, float]:
        """Calibrated logit part of each factor (centred on the pool's mean trial); the columns no
        single fact states go to the ``SUMMARY`` part (see ``part_of``)."""
        a, _ = self.platt
        out = {f.value: 0.0 for f in SCORED_FACTORS}
        out[SUMMARY] = 0.0
        for (factor, name), x, m, s, w in zip(self.cols, row, self.mean, self.scale, self.weights):
            out[part_of(factor, name, w)] += a * w * (x - m) / s
        return out

    def step_score(self, factor: Factor, features: Sequence[float]) -> float:
        """The step part of ``factor``'s score from its evidence features (``FACTOR_FEATURES`` order),
        up to a constant: what a step of that factor moves by, and what one shown fact changes."""
        a, _ = self.platt
        names = FACTOR_FEATURES.get(factor, ())
        total = 0.0
        for (f, name), s, w in zip(self.cols, self.scale, self.weights):
            if f is factor and name != TEXT_COLUMN and part_of(f, name, w) == factor.value:
                total += a * w * features[names.index(name)] / s
        return total

    @property
    def base_logit(self) -> float:
        a, c = self.platt
        return a * self.intercept + c

    def factor_scores(self, desc: TrialDescription, evidence: EvidenceBuilder) -> dict[str, float]:
        return self.scores_from_row(self._row(desc, evidence))

    def logit_of(self, scores: Mapping[str, float]) -> float:
        return self.base_logit + sum(scores.values())

    # -- fitting --------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        evidence: EvidenceBuilder,
        pool: Mapping[str, tuple[TrialDescription, int]],
        *,
        anchors: Any = None,
        k: int = 5,
        n_folds: int = 5,
        C: float = 1.0,
        text: bool = True,
        graph: bool = True,
        priors: bool = True,
        residuals: bool = True,
    ) -> "LearnedModel":
        """Fit on ``pool`` (trial key -> (description, label)); ``anchors``: an ``AnchorIndex`` over
        the same labelled trials, to fit the residual weight (None: ``lam`` = 0)."""
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        t0 = time.perf_counter()
        keys = sorted(pool)
        y = np.asarray([pool[k_][1] for k_ in keys], dtype=np.int64)
        if len(keys) < 2 * n_folds or len(set(y.tolist())) < 2:
            raise ReasoningError(
                f"cannot fit the learned operator on {len(keys)} labelled trial(s) with {len(set(y.tolist()))} outcome "
                "class(es); build the graph with labelled splits (kg build --labels-from ...)"
            )
        folds = np.asarray([_stable_fold(k_, n_folds) for k_ in keys])
        docs = [pool[k_][0].criteria for k_ in keys]
        cols = columns(text=text, graph=graph, priors=priors)
        evidence.set_pool(pool)
        # out-of-fold columns: text score from a model not fitted on the row's fold; prior rates
        # without the row's fold
        text_oof = np.zeros(len(keys))
        if text:
            for j in range(n_folds):
                tr, te = folds != j, folds == j
                tm = _TextModel().fit([d for d, m in zip(docs, tr) if m], y[tr])
                text_oof[te] = tm.score([d for d, m in zip(docs, te) if m])
        fold_keys = [set(np.asarray(keys)[folds == j].tolist()) for j in range(n_folds)]
        X = np.asarray([
            _row(cols, pool[k_][0], evidence, exclude=fold_keys[folds[i]], text_score=float(text_oof[i]))
            for i, k_ in enumerate(keys)
        ], dtype=np.float64)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-9] = 1.0
        Z = (X - mean) / scale
        # out-of-fold stage-2 logits: for the Platt calibration and the threshold
        z_oof = np.zeros(len(keys))
        for j in range(n_folds):
            tr, te = folds != j, folds == j
            lr = LogisticRegression(C=C, max_iter=2000).fit(Z[tr], y[tr])
            z_oof[te] = lr.decision_function(Z[te])
        lr = LogisticRegression(C=C, max_iter=2000).fit(Z, y)
        platt = _fit_platt(z_oof, y)
        text_model = _TextModel().fit(docs, y) if text else None
        model = cls(cols, mean.tolist(), scale.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0]),
                    platt, 0.0, 0.5, text_model, {})
        # per-trial out-of-fold factor scores (the anchors' starts); their sum is the OOF estimate
        oof: dict[str, tuple[dict[str, float], int]] = {}
        a, c = platt
        for i, k_ in enumerate(keys):
            s = model.scores_from_row(X[i].tolist())
            # re-centre on the fold model's logit so the anchor's estimate is out-of-fold
            gap = (a * z_oof[i] + c) - model.logit_of(s)
            s[Factor.POPULATION.value if text else Factor.PHASE.value] += gap
            oof[k_] = ({f: round(v, 6) for f, v in s.items()}, int(y[i]))
        model.oof = oof
        p_oof = np.asarray([_clip(sigmoid(model.logit_of(oof[k_][0]))) for k_ in keys])
        if residuals and anchors is not None:
            model.lam = _fit_residual_weight(model, evidence, pool, keys, y, p_oof, anchors, k=k)
        final = np.asarray([sigmoid(logit(p) + model.lam * r) for p, r in
                            zip(p_oof, model.meta.get("_residuals", np.zeros(len(keys))))])
        model.meta.pop("_residuals", None)
        model.threshold = f1_threshold(y, final) or 0.5  # F1-optimal on out-of-fold predictions
        # per phase too (success rates differ by phase): where a phase has enough trials
        groups = np.asarray([phase_group(pool[k_][0].phase) or "" for k_ in keys])
        by_phase: dict[str, float] = {}
        for g in ("1", "2", "3"):
            sel = groups == g
            if sel.sum() >= 30 and y[sel].sum() >= 5 and (1 - y[sel]).sum() >= 5:
                t = f1_threshold(y[sel], final[sel])
                if t is not None:
                    by_phase[g] = t
        model.meta.update({
            "n_trials": len(keys), "n_success": int(y.sum()), "n_folds": n_folds, "C": C,
            "columns": [f"{f.value}:{n}" for f, n in cols], "weights": dict(zip([f"{f.value}:{n}" for f, n in cols],
                                                                                 map(float, lr.coef_[0]))),
            "platt": list(platt), "lam": model.lam, "threshold": model.threshold, "phase_thresholds": by_phase,
            "oof_log_loss": float(-np.mean(y * np.log(final) + (1 - y) * np.log(1 - final))),
            "fit_seconds": round(time.perf_counter() - t0, 2), "k": k,
            "ablation": {"text": text, "graph": graph, "priors": priors, "residuals": residuals},
        })
        return model

    # -- files ----------------------------------------------------------------------------
    def save(self, out_dir: str | Path, *, graph_version: str) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        blob = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = out / (MODEL_FILE + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(out / MODEL_FILE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "kgimagine.learned-operator",
            "graph_version": graph_version,
            "model_sha256": hashlib.sha256(blob).hexdigest(),
            "fit_code": fit_code_fingerprint(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **{k_: v for k_, v in self.meta.items() if not k_.startswith("_")},
        }
        (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        return out

    @classmethod
    def load(cls, out_dir: str | Path, *, graph_version: str | None = None) -> "LearnedModel":
        out = Path(out_dir)
        try:
            manifest = json.loads((out / MANIFEST_FILE).read_text())
            blob = (out / MODEL_FILE).read_bytes()
        except (OSError, json.JSONDecodeError) as exc:
            raise ReasoningError(f"no learned operator in {out} ({exc}); fit one with `kgimagine train operator --out {out}`") from exc
        if manifest.get("kind") != "kgimagine.learned-operator" or manifest.get("format_version") != FORMAT_VERSION:
            raise ReasoningError(f"{out} is not a learned operator of format {FORMAT_VERSION}; refit it with `kgimagine train operator`")
        if hashlib.sha256(blob).hexdigest() != manifest.get("model_sha256"):
            raise ReasoningError(f"{out / MODEL_FILE} does not match its manifest (changed after fitting?); refit it")
        if graph_version is not None and manifest.get("graph_version") != graph_version:
            raise ReasoningError(
                f"the learned operator in {out} was fitted on graph {manifest.get('graph_version')}, not on this graph "
                f"({graph_version}); refit it with `kgimagine train operator --out {out}`"
            )
        model = pickle.loads(blob)  # our own file, checked against the manifest's hash above
        if not isinstance(model, cls):
            raise ReasoningError(f"{out / MODEL_FILE} does not hold a learned operator")
        return model


def _row(cols: Sequence[tuple[Factor, str]], desc: TrialDescription, evidence: EvidenceBuilder, *,
         exclude: Sequence[str] = (), text_score: float | None = None,
         entities: ResolvedEntities | None = None) -> list[float]:
    """The model's columns for one trial: its evidence features (of ``entities`` when given), and
    ``text_score`` in the text column."""
    ev = evidence.evidence(desc, exclude=exclude, entities=entities)
    return [float(text_score or 0.0) if name == TEXT_COLUMN else ev.features[factor][FACTOR_FEATURES[factor].index(name)]
            for factor, name in cols]


def _cached(cache: "OrderedDict[Any, Any]", key: Any, compute: Any, limit: int = 4096) -> Any:
    """``cache[key]``, computed by ``compute()`` on a miss (None is cached too); the oldest entries
    go beyond ``limit``."""
    if key not in cache:
        cache[key] = compute()
        while len(cache) > limit:
            cache.popitem(last=False)
    return cache[key]


def _clip(p: float) -> float:
    return min(max(p, P_MIN), P_MAX)


def _fit_platt(z: Any, y: Any) -> tuple[float, float]:
    """Logistic calibration a*z + c by Newton's method (tiny L2 for stability)."""
    import numpy as np

    a, c = 1.0, 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a * z + c)))
        g = np.array([np.sum((p - y) * z) + 1e-3 * (a - 1), np.sum(p - y)])
        w = p * (1 - p)
        h = np.array([[np.sum(w * z * z) + 1e-3, np.sum(w * z)], [np.sum(w * z), np.sum(w) + 1e-9]])
        step = np.linalg.solve(h, g)
        a, c = a - step[0], c - step[1]
        if np.max(np.abs(step)) < 1e-9:
            break
    return float(a), float(c)


def anchor_weights(similarities: Sequence[float], floor: float = 0.05) -> list[float]:
    """The aggregation's weights (``aggregate_chains``): similarities floored at ``floor``."""
    return [max(float(s), floor) for s in similarities]


def _fit_residual_weight(model: LearnedModel, evidence: EvidenceBuilder,
                         pool: Mapping[str, tuple[TrialDescription, int]], keys: list[str],
                         y: Any, p_oof: Any, anchors: Any, *, k: int, max_trials: int = 400) -> float:
    """Maximum-likelihood ``lam`` >= 0 in logit(p) = logit(p_oof) + lam * (weighted mean anchor residual)."""
    import numpy as np

    from kgimagine.reasoning.retrieval import ResolvedTarget

    key_index = {k_: i for i, k_ in enumerate(keys)}
    r = np.zeros(len(keys))
    # one scalar: a seeded sample of the pool is enough, and retrieval is the costly part
    chosen = sorted(range(len(keys)), key=lambda i: hashlib.blake2b(keys[i].encode(), digest_size=4).digest())
    chosen = sorted(chosen[:max_trials])
    for i in chosen:
        k_ = keys[i]
        desc = pool[k_][0]
        ent = evidence.resolve(desc)
        target = ResolvedTarget(
            trial_id=f"clinicaltrials:{k_}",
            drug_ids=list(ent.drug_ids), disease_ids=list(ent.disease_ids),
            phase=desc.phase or None, text=f"{desc.title}\n{desc.criteria}"[:2000].strip(),
        )
        got = anchors.retrieve(target, k=k, query_vector=anchors.vector_of(f"clinicaltrials:{k_}"))
        res, ws = [], []
        for a, w in zip(got, anchor_weights([g.similarity for g in got])):
            j = key_index.get(a.trial_id.removeprefix("clinicaltrials:"))
            if j is None:
                continue
            res.append(y[j] - p_oof[j])
            ws.append(w)
        r[i] = float(np.dot(res, ws) / sum(ws)) if ws else 0.0
    off = np.log(p_oof / (1 - p_oof))
    sel = np.asarray(chosen)
    full_r, r, y, off = r, r[sel], np.asarray(y)[sel], off[sel]
    p_sel = np.asarray(p_oof)[sel]
    lam = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(off + lam * r)))
        g = float(np.sum((p - y) * r)) + 1.0 * lam
        h = float(np.sum(p * (1 - p) * r * r)) + 1.0
        lam_new = max(0.0, lam - g / h)
        if abs(lam_new - lam) < 1e-9:
            lam = lam_new
            break
        lam = lam_new
    model.meta["_residuals"] = full_r
    model.meta["residual_trials"] = len(chosen)
    model.meta["residual_corr"] = float(np.corrcoef(r, y - p_sel)[0, 1]) if np.std(r) > 0 else 0.0
    return float(lam)


# -- the operator -------------------------------------------------------------------------------

_SIDE_TARGET, _SIDE_ANCHOR = 1.0, -1.0
#: A probability move of at most this much is "none" (as the verifier counts it).
NO_MOVE = 0.005


@dataclass
class _SideRecord:
    """One side of a step as ``LearnedOperator._trial_effect`` reads it: the side's description
    (and the entities read, when not its own), the pool keys its score never reads, the pool
    trials its record holds (of its drugs in its disease family, or of its diseases), and its step
    score with all of them (None until first needed)."""

    desc: TrialDescription
    exclude: frozenset[str]
    members: set[str]
    entities: ResolvedEntities | None = None
    score: float | None = None


@dataclass(frozen=True)
class _Changed:
    """One side of a drug step whose sides keep a drug (``LearnedOperator._changed_records``): its
    description, the entities its record is read over (the drugs that change, the target's
    diseases), the pool keys left out, and its drug step part."""

    desc: TrialDescription
    entities: ResolvedEntities
    exclude: frozenset[str]
    part: float


#: drug columns read from the side's labelled trials (the others: its indications)
_RECORD_COLUMNS = frozenset({"drug_rate"})


class LearnedOperator:
    """Step operator over a fitted :class:`LearnedModel` (``store`` is read, never written).

    The state machine calls :meth:`prepare_target` once per prediction (the target's factor
    scores), :meth:`anchor_start` for each anchor, then :meth:`imagine` per step.
    """

    complete_plan = True  # every factor whose score differs is a step (an exact additive chain)
    #: Factors applied at each chain's start instead of as a step: the eligibility-text score is a
    #: text model and the phase score a per-phase base rate; no graph fact states either, so no
    #: step could cite what moved it. The chain's steps are the graph-evidence factors.
    start_factors: frozenset[Factor] = frozenset({Factor.POPULATION, Factor.PHASE})
    #: What the chain's start holds besides the anchor's estimate (shown with the aggregate).
    start_note = ("chains start with the target's text, phase and graph-summary scores, and the anchor's drugs "
                  "read in the target's diseases (no single fact states them)")
    #: Added to the flag of a target naming no disease the graph holds (``_unplaced``).
    unplaced_note = "no disease or drug step is read in its diseases: those changes join each chain's start"

    def __init__(self, store: GraphStore, model: LearnedModel, *, evidence: EvidenceBuilder | None = None,
                 pool: Mapping[str, tuple[TrialDescription, int]] | None = None, source: str = "") -> None:
        """``pool``: the labelled trials whose outcomes prior rates read (default: every labelled
        trial of ``store``, as at fit time). A step moves between records of the pool's trials
        that the graph holds (``records``): a label the graph does not hold (an evaluation's other
        folds) no fact can show, so its effect joins the chain's start instead."""
        self.store = store
        self.model = model
        self.evidence = evidence or EvidenceBuilder(store)
        self.pool = dict(labelled_pool(store) if pool is None else pool)
        self.evidence.set_pool(self.pool)
        if pool is None:
            held = self.pool
        else:
            in_graph = set(labelled_pool(store))
            held = {k: v for k, v in self.pool.items() if k in in_graph}
        if len(held) == len(self.pool):
            self.record_pool, self.records = self.pool, self.evidence
        else:
            self.record_pool, self.records = held, self.evidence.sharing()
            self.records.set_pool(held)
        self.source = source
        self._ind_coefs = _indication_coefs(model)
        self._targets: OrderedDict[str, tuple[dict[str, float], TrialDescription]] = OrderedDict()
        self._signs: OrderedDict[tuple[Any, ...], dict[str, float]] = OrderedDict()
        #: pool trial key -> its step parts on the pool as it stands, itself left out (see ``_record``)
        self._records: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._target_records: dict[str, dict[str, float]] = {}  # target key -> record (out-of-fold targets)
        # (target key, anchor key) -> what a step between them reads; forgotten when the target is re-prepared
        #: the target's record as a step from that anchor reads it (``_target_record``)
        self._pair_records: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()
        #: the anchor's record without the target's own trial (``_anchor_record``)
        self._anchor_records: OrderedDict[tuple[str, str], dict[str, float]] = OrderedDict()
        #: the anchor's drugs read in the target's diseases (``_in_target_diseases``)
        self._mixed: OrderedDict[tuple[str, str], tuple[TrialDescription, ResolvedEntities, frozenset[str], float] | None] = OrderedDict()
        #: each side's drug step part with its record read over the drugs that change (``_changed_records``)
        self._changed: OrderedDict[tuple[str, str], tuple[_Changed, _Changed] | None] = OrderedDict()

    @classmethod
    def load(cls, path: str | Path, store: GraphStore) -> "LearnedOperator":
        return cls(store, LearnedModel.load(path, graph_version=store.graph_version()), source=str(path))

    @property
    def name(self) -> str:
        return "learned" + (f":{Path(self.source).name}" if self.source else "")

    @property
    def threshold(self) -> float:
        return self.model.threshold

    @property
    def phase_thresholds(self) -> dict[str, float]:
        """F1-optimal thresholds per phase ("1", "2", "3") on the fit's out-of-fold predictions."""
        return dict(self.model.meta.get("phase_thresholds", {}))

    # -- per prediction ---------------------------------------------------------------------
    def prepare_target(self, key: str, desc: TrialDescription) -> dict[str, float]:
        """The target's score parts. A target that IS a labelled trial the model was fitted on (same
        key and criteria, e.g. a training trial whose teacher chain ``train chains`` writes) gets its
        out-of-fold parts: its own label never reaches its estimate through the text model."""
        own = self.model.oof.get(desc.key)
        known = self.pool.get(desc.key)
        self._target_records.pop(key, None)
        if own is not None and known is not None and known[0].criteria == desc.criteria:
            scores = dict(own[0])
            record = self._record(desc.key)  # its steps move between records, as an anchor's do
            if record is not None:
                self._target_records[key] = record
        else:
            scores = self.model.factor_scores(desc, self.evidence)
            if self.records is not self.evidence:  # its record as the graph holds it
                self._target_records[key] = self._parts_on_records(desc)
        self._targets[key] = (scores, desc)
        self._signs.clear()  # fact signs read the targets' descriptions
        for cache in (self._pair_records, self._anchor_records, self._mixed, self._changed):
            for memo in [m for m in cache if m[0] == key]:
                del cache[memo]
        self._targets.move_to_end(key)
        while len(self._targets) > 512:
            gone, _ = self._targets.popitem(last=False)
            self._target_records.pop(gone, None)
        return scores

    def target_probability(self, key: str) -> float:
        return _clip(sigmoid(self.model.logit_of(self._targets[key][0])))

    def anchor_scores(self, anchor_key: str) -> tuple[dict[str, float], int] | None:
        return self.model.oof.get(anchor_key.removeprefix("clinicaltrials:"))

    def _record(self, key: str) -> dict[str, float] | None:
        """The step parts (disease, drug) of pool trial ``key`` read from the pool as it stands, the
        trial itself left out: the records its step facts show. Its out-of-fold parts leave out its
        whole fold instead, so a step between out-of-fold parts would also move by the fold's
        labels, which no shown fact states (None: not a pool trial)."""
        got = self.pool.get(key)
        if got is None:
            return None
        return _cached(self._records, key, lambda: self._parts_on_records(got[0], exclude=(key,)))

    def _parts_on_records(self, desc: TrialDescription, exclude: Sequence[str] = (),
                          entities: ResolvedEntities | None = None) -> dict[str, float]:
        row = self.model._row(desc, self.records, exclude=exclude, text_score=0.0, entities=entities)
        scores = self.model.scores_from_row(row)
        return {f.value: scores[f.value] for f in STEP_COLUMNS}

    def _holds(self, desc: TrialDescription, trial_key: str) -> bool:
        """Whether ``desc``'s step records (its drugs' or diseases' labelled trials) hold ``trial_key``."""
        ent = self.records.resolve(desc)
        return trial_key in self.records.pool_trials(drugs=ent.drug_ids, diseases=ent.disease_ids)

    def _target_record(self, anchor_key: str, target_key: str) -> dict[str, float] | None:
        """The target's step parts as a step from ``anchor_key`` reads them: its record without the
        anchor's own trial, as the anchor's record is read (``_record``). The anchor's outcome is the
        chain's start; counted on the target's side only, it would move a step that no shown fact
        states (a kept drug's record would differ between the sides by the anchor alone)."""
        t = self._targets.get(target_key)
        if t is None:
            return None
        a = anchor_key.removeprefix("clinicaltrials:")

        def read() -> dict[str, float]:
            desc = t[1]
            if a not in self.record_pool or a == desc.key or not self._holds(desc, a):
                return self._target_records.get(target_key) or t[0]  # its record does not hold the anchor
            return self._parts_on_records(desc, exclude=(a,))  # (the described trial is always left out)

        return _cached(self._pair_records, (target_key, a), read)

    def _step_parts(self, anchor_key: str, target_key: str) -> tuple[dict[str, float], dict[str, float]] | None:
        """(anchor, target) step parts a step moves between: each side's record as the pool holds
        it, neither reading the anchor's own outcome (a target scored out-of-fold, being a pool
        trial, re-read like an anchor)."""
        got = self.anchor_scores(anchor_key)
        tr = self._target_record(anchor_key, target_key)
        if got is None or tr is None:
            return None
        t_parts = {f: tr.get(f, 0.0) for f in (x.value for x in STEP_COLUMNS)}
        if self._unplaced(target_key):
            # no disease of the target in the graph: nothing is read in its diseases, so no fact
            # could state a step into them (a drug's record spans unrelated diseases, an indication
            # "leaves" by the graph's gap); the changes join the chain's start
            return dict(t_parts), t_parts
        a = self._anchor_record(anchor_key.removeprefix("clinicaltrials:"), target_key) or got[0]
        a_parts = {f: a.get(f, 0.0) for f in (x.value for x in STEP_COLUMNS)}
        shift = self._indication_shift(anchor_key, target_key)
        # known indication is of the drugs IN the diseases: the part the diseases change moves the
        # disease step (the plan changes the disease first), the drug step the rest
        a_parts[Factor.DISEASE.value] -= shift
        # the drug step moves from the anchor's drugs to the target's, both read in the target's
        # diseases (their record there, their indications there); reading the anchor's drugs'
        # record there instead of in its own diseases is no step: it joins the chain's start.
        # A drug both sides keep is no step either: each side's record is read over the drugs that
        # change (a kept drug's trials would move the step by diluting a pooled record, which no
        # fact about it states); the difference joins the chain's start
        changed = self._changed_records(anchor_key, target_key)
        if changed is not None:
            a_parts[Factor.DRUG.value], t_parts[Factor.DRUG.value] = changed[0].part, changed[1].part
        else:
            mixed = self._in_target_diseases(anchor_key, target_key)
            a_parts[Factor.DRUG.value] = (a_parts[Factor.DRUG.value] + shift) if mixed is None else mixed[3]
        return a_parts, t_parts

    def _changed_records(self, anchor_key: str, target_key: str) -> tuple["_Changed", "_Changed"] | None:
        """(anchor side, target side) of a drug step when the two sides keep a drug: each side's drug
        part in the target's diseases with its record (prior success rate) read over its drugs that
        change only, its indications over all its drugs. None when no drug is kept."""
        a = anchor_key.removeprefix("clinicaltrials:")
        anchor, t = self.pool.get(a), self._targets.get(target_key)
        if anchor is None or t is None:
            return None

        def read() -> tuple[_Changed, _Changed] | None:
            ae, te = self.records.resolve(anchor[0]), self.records.resolve(t[1])
            kept = set(ae.drug_ids) & set(te.drug_ids)
            if not kept:
                return None
            a_all = replace(ae, disease_ids=te.disease_ids)  # the anchor's drugs in the target's diseases
            sides = []
            for desc, every, ex in ((anchor[0], a_all, frozenset({a, t[1].key})), (t[1], te, frozenset({a}))):
                only = replace(every, drug_ids=tuple(d for d in every.drug_ids if d not in kept))
                sides.append(_Changed(desc, only, ex, self._drug_part(desc, ex, every, only)))
            return sides[0], sides[1]

        return _cached(self._changed, (target_key, a), read)

    def _drug_part(self, desc: TrialDescription, exclude: frozenset[str], every: ResolvedEntities,
                   changed: ResolvedEntities) -> float:
        """The drug step part of ``every``'s drugs with the record columns read over ``changed``'s."""
        row = self.model._row(desc, self.records, exclude=tuple(exclude), text_score=0.0, entities=every)
        only = self.model._row(desc, self.records, exclude=tuple(exclude), text_score=0.0, entities=changed)
        for i, (factor, name) in enumerate(self.model.cols):
            if factor is Factor.DRUG and name in _RECORD_COLUMNS:
                row[i] = only[i]
        return self.model.scores_from_row(row)[Factor.DRUG.value]

    def _unplaced(self, target_key: str) -> bool:
        """Whether the target names no disease the graph holds (its steps are then not read)."""
        t = self._targets.get(target_key)
        return t is not None and not self.records.resolve(t[1]).disease_ids

    def _anchor_record(self, anchor: str, target_key: str) -> dict[str, float] | None:
        """The anchor's record as a step reads it: ``_record``, without the target's own trial when
        the target is a labelled pool trial the record holds (its outcome is what is predicted: no
        step moves by it, and the target's side never reads it either)."""
        t = self._targets.get(target_key)
        got = self.pool.get(anchor)
        if t is None or got is None or t[1].key == anchor or t[1].key not in self.record_pool \
                or not self._holds(got[0], t[1].key):
            return self._record(anchor)
        return _cached(self._anchor_records, (target_key, anchor),
                       lambda: self._parts_on_records(got[0], exclude=(anchor, t[1].key)))

    def _in_target_diseases(self, anchor_key: str, target_key: str) \
            -> tuple[TrialDescription, ResolvedEntities, frozenset[str], float] | None:
        """The anchor's drugs read in the target's diseases, as a drug step's anchor side: (the
        anchor's description, the entities read, the pool keys left out: the anchor and the target,
        their drug step part). None when the diseases are the same (the anchor's own record) or a
        side is unknown."""
        a = anchor_key.removeprefix("clinicaltrials:")
        anchor, t = self.pool.get(a), self._targets.get(target_key)
        if anchor is None or t is None:
            return None

        def read() -> tuple[TrialDescription, ResolvedEntities, frozenset[str], float] | None:
            ae, te = self.records.resolve(anchor[0]), self.records.resolve(t[1])
            if set(ae.disease_ids) == set(te.disease_ids):
                return None
            mixed = replace(ae, disease_ids=te.disease_ids)
            ex = frozenset({a, t[1].key})
            part = self._parts_on_records(anchor[0], exclude=tuple(ex), entities=mixed)[Factor.DRUG.value]
            return anchor[0], mixed, ex, part

        return _cached(self._mixed, (target_key, a), read)

    def _indication_shift(self, anchor_key: str, target_key: str) -> float:
        """The known-indication change that the disease change makes: the anchor's drugs in the
        target's diseases minus in the anchor's, in logit (0 when the column is not a step column)."""
        c_ind = self._ind_coefs[0]
        anchor = self.pool.get(anchor_key.removeprefix("clinicaltrials:"))
        t = self._targets.get(target_key)
        if not c_ind or anchor is None or t is None:
            return 0.0
        a, tr = self.records.resolve(anchor[0]), self.records.resolve(t[1])
        return c_ind * (self.records.indicated(a.drug_ids, tr.disease_ids)
                        - self.records.indicated(a.drug_ids, a.disease_ids))

    def anchor_start(self, anchor_key: str, target_key: str | None = None,
                     stepped: Sequence[Factor] | None = None) -> float | None:
        """The anchor's out-of-fold estimate plus ``lam`` times its residual (None: not in the model).

        With ``target_key`` and the factors the chain will step through (``stepped``), every score
        part that is NOT a step (the same drugs, diseases, phase or criteria on both sides, and the
        ``START_PARTS``) takes the target's value already at the start, so the chain's end is
        exactly the target's estimate plus the anchor's shrunk residual."""
        got = self.anchor_scores(anchor_key)
        if got is None:
            return None
        scores, label = got
        z = self.model.logit_of(scores)  # unclipped: the path to the target stays exact in logit space
        start = z + self.model.lam * (label - _clip(sigmoid(z)))
        if target_key is not None and stepped is not None and target_key in self._targets:
            done = {Factor(f).value for f in stepped} - set(START_PARTS)
            t = self._targets[target_key][0]
            start += sum(t[part] - scores.get(part, 0.0) for part in t if part not in done)
            # a stepped part moves between the two records (``_step_parts``); the start takes the
            # rest: from the anchor's out-of-fold part to its record, from the target's record to
            # its estimate's part (both 0 for a new target whose anchor's fold holds no trial of it)
            parts = self._step_parts(anchor_key, target_key)
            if parts is not None:
                a_rec, t_rec = parts
                start += sum((a_rec[p] - scores.get(p, 0.0)) + (t[p] - t_rec[p]) for p in done if p in a_rec)
        return _clip(sigmoid(start))

    def delta(self, factor: Factor, anchor_key: str, target_key: str) -> float:
        """A step's move: the change of ``factor``'s part between the anchor's and the target's
        records (``_step_parts``; out-of-fold parts for a factor that is not a step column's)."""
        got = self.anchor_scores(anchor_key)
        t = self._targets.get(target_key)
        if got is None or t is None or factor.value not in t[0]:
            return 0.0
        parts = self._step_parts(anchor_key, target_key) if factor in STEP_COLUMNS else None
        if parts is not None:
            return parts[1][factor.value] - parts[0][factor.value]
        return t[0][factor.value] - got[0].get(factor.value, 0.0)

    # -- one step ---------------------------------------------------------------------------
    def _side_desc(self, step: StepInput, side: float) -> tuple[TrialDescription, frozenset[str]] | None:
        """The description of one side of the step and the pool keys its score never reads."""
        key = (step.anchor_id or "").removeprefix("clinicaltrials:")
        if side == _SIDE_TARGET:  # (``evidence`` always leaves the described trial itself out; neither
            got = self._targets.get(step.target_key or "")  # side reads the anchor's own outcome)
            return (got[1], frozenset({key}) if key else frozenset()) if got else None
        got_a, t = self.pool.get(key), self._targets.get(step.target_key or "")
        # (nor the target's own trial, when it is a labelled pool trial: see ``_anchor_record``)
        return (got_a[0], frozenset({key, t[1].key}) if t else frozenset({key})) if got_a else None

    def _side_record(self, step: StepInput, side: float) -> _SideRecord | None:
        """One side's record for the step (its step score is filled in when first needed)."""
        got = self._side_desc(step, side)
        if got is None:
            return None
        desc, ex = got
        if step.factor is Factor.DRUG:  # both sides' drugs in the target's diseases
            changed = self._changed_records(step.anchor_id or "", step.target_key or "")
            if changed is not None:  # the drugs that change only (``_step_parts``)
                c = changed[0] if side == _SIDE_ANCHOR else changed[1]
                return _SideRecord(c.desc, c.exclude, self.records.drug_members(c.entities), c.entities)
            mixed = self._in_target_diseases(step.anchor_id or "", step.target_key or "") if side == _SIDE_ANCHOR else None
            if mixed is not None:
                return _SideRecord(mixed[0], mixed[2], self.records.drug_members(mixed[1]), mixed[1])
            return _SideRecord(desc, ex, self.records.drug_members(self.records.resolve(desc)))
        return _SideRecord(desc, ex, self.records.pool_trials(diseases=self.records.resolve(desc).disease_ids))

    def _side(self, step: StepInput, side: float, memo: dict[float, _SideRecord | None]) -> _SideRecord | None:
        """``_side_record`` read once per step (``memo``: side -> record)."""
        if side not in memo:
            memo[side] = self._side_record(step, side)
        return memo[side]

    def _trial_effect(self, step: StepInput, trial_key: str, memo: dict[float, _SideRecord | None]) -> float:
        """How much one labelled trial moves the step: its leave-one-out effect on the target's step
        score minus that on the anchor's, each side counting only when its record holds the trial
        (the pool's resolver links it to the side's drugs or diseases; a trial of a drug on both
        sides moves both). ``memo``: each side's ``_side_record`` (read once per step)."""
        if trial_key not in self.record_pool:
            return 0.0
        total = 0.0
        for side in (_SIDE_TARGET, _SIDE_ANCHOR):
            rec = self._side(step, side, memo)
            if rec is None or trial_key not in rec.members or trial_key in rec.exclude:
                continue
            if rec.score is None:
                rec.score = self.model.step_score(step.factor, self.records.evidence(
                    rec.desc, exclude=rec.exclude, entities=rec.entities).features[step.factor])
            without = self.records.evidence(rec.desc, exclude=rec.exclude | {trial_key},
                                            entities=rec.entities).features[step.factor]
            total += side * (rec.score - self.model.step_score(step.factor, without))
        return total

    def _indication_effect(self, step: StepInput, drug: str, disease: str,
                           memo: dict[float, _SideRecord | None]) -> float:
        """How much the indication ``drug`` -> ``disease`` moves the step. Known indication (one of
        the drugs treats one of the diseases) and approved drug (one of the drugs treats anything)
        are "any" features: where one changes between the step's two states, every indication
        behind it on the side that has it states the change (``drug`` treats ``disease``: the
        pair; any indication of ``drug``: its approval). A drug step compares the two sides' drugs
        in the target's diseases (the plan changes the disease first); a disease step the anchor's
        drugs in the two sides' diseases (known indication only)."""
        c_ind, c_app = self._ind_coefs
        t_rec, a_rec = self._side(step, _SIDE_TARGET, memo), self._side(step, _SIDE_ANCHOR, memo)
        if t_rec is None or a_rec is None:
            return 0.0
        ev = self.records
        t, a = ev.resolve(t_rec.desc), ev.resolve(a_rec.desc)
        if step.factor is Factor.DRUG:
            (before_drugs, before_dis), (after_drugs, after_dis) = (a.drug_ids, t.disease_ids), (t.drug_ids, t.disease_ids)
        else:
            (before_drugs, before_dis), (after_drugs, after_dis) = (a.drug_ids, a.disease_ids), (a.drug_ids, t.disease_ids)

        def pairs(drugs: Sequence[str], diseases: Sequence[str]) -> set[tuple[str, str]]:
            return {(d, x) for d in drugs for x in ev.indications(d) & set(diseases)}

        def share(before: set[Any], after: set[Any], unit: Any, coef: float) -> float:
            if bool(before) == bool(after) or unit not in (after or before):
                return 0.0
            return coef if after else -coef

        total = share(pairs(before_drugs, before_dis), pairs(after_drugs, after_dis), (drug, disease), c_ind)
        if step.factor is Factor.DRUG and disease in ev.indications(drug):
            approved = ({d for d in before_drugs if ev.indications(d)}, {d for d in after_drugs if ev.indications(d)})
            total += share(*approved, drug, c_app)
        return total

    def fact_signs(self, step: StepInput) -> dict[str, float]:
        """The evidence each shown fact carries in the model: > 0 pushes the target's estimate up,
        < 0 down, 0 context (the verifier checks claimed roles against these signs).

        A labelled trial of the step's drugs (drug step) or diseases (disease step) counts with its
        leave-one-out effect on the step (``_trial_effect``: the prior rates of both sides, neither
        reading the anchor's own outcome); an indication with its share of the known-indication
        and approved-drug change the step makes (``_indication_effect``: a disease step moves the
        anchor's drugs into the target's diseases, a drug step swaps the drugs there; a drug on
        both sides changes neither). A sign that disagrees with what the fact says to a reader
        (``traces.rule_fact_signs``: a failed trial of the target's drug cannot raise the estimate)
        is 0. Everything else (targets, disease genes, a trial of the other factor, an ontology
        link, a side effect) is context: no single such fact states a column a step moves by."""
        memo_key = (step.anchor_id, step.target_key, step.factor.value, step.anchor_value, step.target_value,
                    tuple(f.fact_id for f in step.facts))
        hit = self._signs.get(memo_key)
        if hit is not None:  # the operator's answer and the verifier ask for the same step
            return dict(hit)
        if self._unplaced(step.target_key or ""):  # no step moves (``_step_parts``): every fact is context
            return {f.fact_id: 0.0 for f in step.facts}
        reading = rule_fact_signs(step)  # what each fact says to a reader; a sign against it is dropped
        out: dict[str, float] = {}
        sides: dict[float, _SideRecord | None] = {}
        trial_rel = R.TESTS.value if step.factor is Factor.DRUG else R.STUDIES.value
        for f in step.facts:  # each FactRef carries its edge and the outcome its text shows
            sign = 0.0
            if f.relation == trial_rel and step.factor in (Factor.DRUG, Factor.DISEASE):
                sign = self._trial_effect(step, f.subject.removeprefix("clinicaltrials:"), sides)
            elif f.relation in _INDICATIONS and step.factor in (Factor.DRUG, Factor.DISEASE):
                sign = self._indication_effect(step, f.subject, f.object, sides)
            out[f.fact_id] = sign if sign * reading.get(f.fact_id, 0.0) > 0 else 0.0
        self._signs[memo_key] = dict(out)
        while len(self._signs) > 256:
            self._signs.popitem(last=False)
        return out

    def answer(self, step: StepInput) -> StepAnswer:
        """The move is the step part of the factor's score change; the claims are the shown facts
        whose evidence agrees with it, strongest first (at most 3), then the strongest shown fact
        whose evidence points the other way, with that role (the move is the net of both). A step that does not move cites
        up to two facts of the changed entities as context; a move no shown fact agrees with cites
        context only (the verifier then finds no claim backing it and the step contributes nothing)."""
        from kgimagine.kg.queries import find_ids

        d = self.delta(step.factor, step.anchor_id or "", step.target_key or "")
        p_after = round(_clip(sigmoid(logit(_clip(step.p_before)) + d)), 3)  # as the rendered answer states it
        direction = "up" if p_after - step.p_before > NO_MOVE else "down" if p_after - step.p_before < -NO_MOVE else "none"
        if direction == "none":
            p_after = step.p_before
        signs = self.fact_signs(step)
        want = 1.0 if direction == "up" else -1.0 if direction == "down" else 0.0
        earlier = self._earlier_phase(step)
        # facts that agree: trials run in the target's phase or later first (a reader weighs a
        # phase 1 result little for a phase 3 trial), then the strongest
        agree = distinct_statements(sorted((fid for fid, v in signs.items() if want and v * want > 1e-9),
                                           key=lambda fid: (fid in earlier, -abs(signs[fid]))), step.facts)
        against = distinct_statements(sorted((fid for fid, v in signs.items() if want and v * want < -1e-9),
                                             key=lambda fid: -abs(signs[fid])), step.facts)
        if agree:
            claims = [Claim(facts=[fid], role=role_of(signs[fid])) for fid in agree[:MAX_CLAIM_FACTS]]
            # the move is the net of every shown fact: the strongest one pointing the other way is
            # cited too, with its own role, so a reader sees the evidence against it
            claims += [Claim(facts=[fid], role=role_of(signs[fid])) for fid in against[:1]]
        else:
            touching = set(find_ids(step.anchor_value)) | set(find_ids(step.target_value))
            context = distinct_statements([f.fact_id for f in step.facts if {f.subject, f.object} & touching
                                           and (direction == "none" or signs.get(f.fact_id, 0.0) == 0.0)], step.facts)
            claims = [Claim(facts=[fid], role="context") for fid in context[:2]]
        return StepAnswer(direction=direction, probability=p_after, claims=claims, rationale="")

    def _earlier_phase(self, step: StepInput) -> set[str]:
        """Ids of the step's trial facts whose trial ran in an earlier phase group than the target."""
        t = self._targets.get(step.target_key or "")
        target_group = phase_group(t[1].phase) if t else None
        if target_group is None:
            return set()
        out = set()
        for f in step.facts:
            got = self.pool.get(f.subject.removeprefix("clinicaltrials:")) if f.relation in _TRIAL_FACTS else None
            if got is not None and (phase_group(got[0].phase) or "9") < target_group:
                out.add(f.fact_id)
        return out

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        return render_step_answer(self.answer(step))


_INDICATIONS = frozenset(r.value for r in APPROVAL_RELATIONS)  # the relations the indication features read
_TRIAL_FACTS = frozenset({R.TESTS.value, R.STUDIES.value})  # a labelled trial's fact (its outcome shown)


def _indication_coefs(model: LearnedModel) -> tuple[float, float]:
    """(known indication, approved drug): each column's calibrated logit per unit in the drug
    step part; 0 for a column that is not a step column (``part_of``)."""
    a, _ = model.platt
    out: dict[str, float] = {}
    for (factor, name), scale, w in zip(model.cols, model.scale, model.weights):
        if factor is Factor.DRUG and name in ("known_indication", "approved_drug") \
                and part_of(factor, name, w) == Factor.DRUG.value:
            out[name] = a * w / scale
    return out.get("known_indication", 0.0), out.get("approved_drug", 0.0)


def default_operator_dir(cache_dir: str | Path, graph_version: str) -> Path:
    """Where ``kgimagine train operator`` saves, and ``predict`` looks, by default."""
    return Path(cache_dir) / "operators" / f"learned-{graph_version[:16]}"


def describe_fit(meta: Mapping[str, Any]) -> str:
    w = meta.get("weights", {})
    top = sorted(w.items(), key=lambda kv: -abs(kv[1]))[:6]
    return (f"fitted on {meta.get('n_trials')} labelled trials in {meta.get('fit_seconds')} s; "
            f"residual weight {meta.get('lam', 0):.3f}; threshold {meta.get('threshold', 0.5):.3f}; "
            f"strongest columns: " + ", ".join(f"{k} {v:+.2f}" for k, v in top))
