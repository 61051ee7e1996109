"""Run an evaluation end to end: read files, audit, build features, run methods, score, report.

Library code: every path and object comes in through ``EvaluationConfig`` and arguments (the
CLI resolves them). Gold labels are read from the evaluated file and kept apart from what the
methods see (``TrialInput`` has no outcome field); chain methods get a ``TrialSpec`` built
from that record, so the predictor never receives a label either.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from kgimagine.errors import EvaluationError, KgimagineError
from kgimagine.evaluation.audit import AuditCheck, AuditReport, audit_leakage, enforce
from kgimagine.evaluation.baselines import (
    CHAIN_METHODS,
    GRAPH_METHODS,
    ChainMethod,
    Method,
    PriorBaseline,
    TrialTable,
    make_method,
)
from kgimagine.evaluation.features import (
    DEFAULT_ALLOWED_SPLITS,
    FEATURE_INPUT_COLUMNS,
    GraphFeatureBuilder,
    TrialInput,
    check_feature_columns,
)
from kgimagine.evaluation.metrics import (
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    balanced_accuracy,
    cross_entropy,
    macro_f1,
)
from kgimagine.evaluation.protocol import (
    DEFAULT_FOLDS,
    Labelled,
    MethodRun,
    run_cross_validated,
    run_heldout,
)
from kgimagine.evaluation.report import (
    BASELINE_FOR_COMPARISON,
    GRAPH_BASELINE_FOR_COMPARISON,
    ChainSummary,
    EvaluationReport,
    MethodScore,
    compare_with,
    score_run,
)

ChainPredict = Callable[[Sequence[TrialInput]], Iterable[Any]]


@dataclass(frozen=True)
class EvaluationConfig:
    eval_file: Path
    valid_file: Path | None = None  # threshold (and extra training) data; None: K-fold CV within eval_file
    train_file: Path | None = None  # labelled training trials (TOP phase_I_train)
    methods: tuple[str, ...] = ("prior", "text")
    n_folds: int = DEFAULT_FOLDS
    allowed_splits: tuple[str, ...] = DEFAULT_ALLOWED_SPLITS
    allow_leakage: bool = False
    chain_sample: int | None = None  # evaluate chain-local / chain-adapter on this many trials
    sample_seed: int = 7
    n_resamples: int = N_BOOTSTRAP
    seed: int = BOOTSTRAP_SEED
    title: str = ""
    embeddings: bool = True  # chain-learned retrieves anchors with MiniLM (predict's default); False: without


@dataclass
class EvaluationResult:
    report: EvaluationReport
    runs: list[MethodRun]
    labels: np.ndarray
    sampled: dict[str, np.ndarray] = field(default_factory=dict)  # method -> evaluated row indices


# --- reading ------------------------------------------------------------------------------
def read_labelled_trials(path: Path, *, require_labels: bool = True) -> tuple[list[TrialInput], np.ndarray | None]:
    """Trials (no outcome fields) and their gold labels from a TOP CSV, read with ``read_top_csv``."""
    from kgimagine.loaders.base import RejectSink
    from kgimagine.loaders.top import read_top_csv

    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"trial file {path} does not exist; pass a TOP-format CSV")
    rejects = RejectSink()
    trials: list[TrialInput] = []
    labels: list[int | None] = []
    seen: set[str] = set()
    for row in read_top_csv(path, rejects):
        if row.nctid in seen:
            continue
        seen.add(row.nctid)
        trials.append(TrialInput.from_row(row))
        labels.append(row.label)
    if not trials:
        raise EvaluationError(f"no readable trials in {path} ({rejects.count()} malformed rows)")
    if any(lab is None for lab in labels):
        missing = sum(lab is None for lab in labels)
        if require_labels:
            raise EvaluationError(
                f"{path}: {missing} of {len(labels)} trials have no label; evaluation needs a 'label' column (0/1)"
            )
        return trials, None
    return trials, np.asarray(labels, dtype=np.int64)


# --- chain wiring -------------------------------------------------------------------------
def build_chain_predict(method: str, store: Any, *, operator: Any = None,
                        predictor_kwargs: Mapping[str, Any] | None = None) -> ChainPredict:
    """``predict`` callable for a chain method through ``reasoning.predictor.Predictor.predict_many``.

    ``operator``: the step operator; default only for ``chain-statistical``
    (``StatisticalOperator(store)``, rule weights) and ``chain-statistical-fit`` (weights fitted
    on anchor/target pairs of the graph's labelled trials, i.e. the allowed splits only). The local-model methods need one built by the caller
    (``LocalOperator(cache_dir=..., adapter=...)``): the CLI does it.
    """
    try:
        from kgimagine.reasoning.predictor import Predictor
    except ModuleNotFoundError as exc:
        raise EvaluationError(f"{method} needs the reasoning layer (kgimagine.reasoning.predictor): {exc}") from exc
    kwargs = dict(predictor_kwargs or {})
    if operator is None:
        if method not in ("chain-statistical", "chain-statistical-fit"):
            raise EvaluationError(f"{method} needs an operator (a LocalOperator); the CLI builds it from --adapter/--model"
                                  + ("; chain-learned is fitted per fold by run_evaluation (LearnedChain)"
                                     if method == "chain-learned" else ""))
        from kgimagine.reasoning.operators.statistical import StatisticalOperator

        if method == "chain-statistical-fit":
            try:
                operator = StatisticalOperator.fit(store)
            except KgimagineError as exc:
                raise EvaluationError(f"chain-statistical-fit: {exc}") from exc
        else:
            operator = StatisticalOperator(store)
    predictor = Predictor(store, operator, **kwargs)

    def predict(trials: Sequence[TrialInput]) -> Iterable[Any]:
        # TrialInput has no outcome field: nothing label-like can reach the predictor
        return predictor.predict_many([_spec_of(t) for t in trials])

    return predict


class LearnedChain:
    """``chain-learned`` refitted per fold: the learned operator is fitted on the graph's labelled
    trials plus the rows it is given (train file + the other folds, as descriptions with their
    labels; never the evaluated fold), and the default predictor (MiniLM retrieval, k anchors, the
    fit's own threshold) runs the chain. Anchors are the graph's labelled trials only. The same
    per-trial statistics as ``ChainMethod`` (grounding, steps, errors, no anchor) are kept."""

    learned = True

    def __init__(self, store: Any, *, predictor_kwargs: Mapping[str, Any] | None = None) -> None:
        self.name = "chain-learned"
        self.store = store
        self.kwargs = dict(predictor_kwargs or {})
        self.threshold = 0.5
        self.phase_thresholds: dict[str, float] = {}
        self.chain = ChainMethod(self.name, self._predict)
        self._predictor: Any = None
        self._index: Any = None
        self._evidence: Any = None

    @property
    def stats(self) -> Any:
        return self.chain.stats

    def _shared(self) -> tuple[Any, Any, Any]:
        if self._index is None:
            from kgimagine.reasoning.retrieval import AnchorIndex
            from kgimagine.trials.evidence import EvidenceBuilder

            embedder = self.kwargs.get("embedder")
            if embedder is None and "embedder" not in self.kwargs:
                from kgimagine.reasoning.embedding import CachedEmbedder, MiniLMEmbedder

                embedder = self.kwargs["embedder"] = CachedEmbedder(MiniLMEmbedder())
            self._index = AnchorIndex.build(self.store, embedder=embedder, cache_dir=self.kwargs.get("cache_dir"))
            self._evidence = EvidenceBuilder(self.store)
        return self._index, self._evidence, self.kwargs.get("embedder")

    def fit(self, table: TrialTable, y: np.ndarray) -> None:
        from kgimagine.reasoning.operators.learned import LearnedModel, LearnedOperator
        from kgimagine.reasoning.predictor import Predictor
        from kgimagine.trials.evidence import TrialDescription, labelled_pool

        index, evidence, embedder = self._shared()
        pool = labelled_pool(self.store)
        for t, label in zip(table.trials, np.asarray(y).tolist()):
            pool.setdefault(t.nctid, (TrialDescription(key=t.nctid, drugs=tuple(t.drugs), diseases=tuple(t.diseases),
                                                       icd10=tuple(t.icdcodes), phase=t.phase or "",
                                                       criteria=t.criteria), int(label)))
        try:
            model = LearnedModel.fit(evidence, pool, anchors=index, k=self.kwargs.get("k", 5))
        except KgimagineError as exc:
            raise EvaluationError(f"chain-learned: {exc}") from exc
        self.threshold = model.threshold
        self.phase_thresholds = dict(model.meta.get("phase_thresholds", {}))
        op = LearnedOperator(self.store, model, evidence=evidence, pool=pool)
        kw = {k: v for k, v in self.kwargs.items() if k not in ("threshold", "index", "embedder")}
        self._predictor = Predictor(self.store, op, index=index, embedder=embedder, threshold=model.threshold,
                                    phase_thresholds=self.phase_thresholds, **kw)
        self.chain._cache.clear()  # a new fit: predictions of the last one no longer hold

    def thresholds_for(self, table: TrialTable) -> np.ndarray:
        """Each trial's label threshold as ``kgimagine predict`` picks it: its phase's, else the global one."""
        from kgimagine.trials.evidence import phase_threshold

        return np.asarray([phase_threshold(t.phase, self.phase_thresholds, self.threshold) for t in table.trials],
                          dtype=np.float64)

    def _predict(self, trials: Sequence[TrialInput]) -> Iterable[Any]:
        if self._predictor is None:
            raise EvaluationError("chain-learned used before fit")
        return self._predictor.predict_many([_spec_of(t) for t in trials])

    def predict_proba(self, table: TrialTable) -> np.ndarray:
        return self.chain.predict_proba(table)


def _spec_of(t: TrialInput) -> Any:
    from kgimagine.reasoning.spec import TrialSpec

    try:
        # fields passed as lists (not through from_top_row's list-literal parsing, which
        # recursed without end on names such as "[18F]fluciclovine")
        return TrialSpec.build(nct_id=t.nctid, drugs=list(t.drugs), diseases=list(t.diseases),
                               icd10=list(t.icdcodes), phase=t.phase or None, criteria=t.criteria)
    except KgimagineError as exc:
        raise EvaluationError(f"trial {t.nctid}: cannot build a TrialSpec ({exc})") from exc


def _chain_summary(method: ChainMethod, ids: Sequence[str]) -> ChainSummary:
    s = method.stats
    rates = [s.grounding_rate[i] for i in ids if i in s.grounding_rate]
    steps = [s.steps[i] for i in ids if i in s.steps]
    unsup = [s.unsupported[i] for i in ids if i in s.unsupported]
    secs = [s.seconds[i] for i in ids if i in s.seconds]
    return ChainSummary(
        n_trials=len(ids),
        grounding_rate=float(np.mean(rates)) if rates else None,
        unsupported_step_rate=(sum(unsup) / sum(steps)) if steps and sum(steps) else None,
        steps_per_trial=float(np.mean(steps)) if steps else None,
        seconds_per_trial=float(np.mean(secs)) if secs else None,
        errors=sum(1 for i in ids if i in s.errors),
        no_anchor=sum(1 for i in ids if i in s.no_anchor),
    )


# --- the evaluation -----------------------------------------------------------------------
def _no_graph_audit(n: int) -> AuditReport:
    return AuditReport(
        (AuditCheck("graph", True, "no graph store used by these methods: graph checks not applicable"),
         AuditCheck("feature-columns", True, f"feature inputs: {', '.join(check_feature_columns())}")),
        n, 0,
    )


def run_evaluation(
    config: EvaluationConfig,
    store: Any = None,
    *,
    chain_predict: Mapping[str, ChainPredict] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Evaluate ``config.methods`` on ``config.eval_file`` (see ``protocol`` for the two modes)."""
    say = progress or (lambda _msg: None)
    methods = tuple(config.methods)
    chain_predict = dict(chain_predict or {})
    needs_store = any(m in GRAPH_METHODS or m in CHAIN_METHODS for m in methods)
    if needs_store and store is None:
        raise EvaluationError(f"methods {', '.join(m for m in methods if m in GRAPH_METHODS or m in CHAIN_METHODS)} "
                              "need a graph store; pass --store DIR|URI")
    eval_trials, y = read_labelled_trials(config.eval_file)
    assert y is not None
    eval_ids = [t.nctid for t in eval_trials]
    valid_trials: list[TrialInput] = []
    y_valid = None
    if config.valid_file is not None:
        if Path(config.valid_file).resolve() == Path(config.eval_file).resolve():
            raise EvaluationError("--valid-file is the evaluated file; the threshold must come from another file "
                                  "(or leave --valid-file out for K-fold CV within the file)")
        valid_trials, y_valid = read_labelled_trials(config.valid_file)
        overlap = set(eval_ids) & {t.nctid for t in valid_trials}
        if overlap:
            raise EvaluationError(f"{len(overlap)} trial(s) are in both the evaluated and the validation file "
                                  f"(e.g. {sorted(overlap)[0]}); they must be disjoint")
    protected = set(eval_ids) | {t.nctid for t in valid_trials}
    train_trials: list[TrialInput] = []
    y_train = None
    dropped = 0
    if config.train_file is not None and any(m not in CHAIN_METHODS for m in methods):
        tt, yt = read_labelled_trials(config.train_file)
        keep = [i for i, t in enumerate(tt) if t.nctid not in protected]
        dropped = len(tt) - len(keep)
        train_trials = [tt[i] for i in keep]
        y_train = None if yt is None else yt[keep]

    # leakage audit: before any method runs
    say("leakage audit")
    if store is not None:
        audit = audit_leakage(store, protected, allowed_splits=config.allowed_splits,
                              feature_columns=FEATURE_INPUT_COLUMNS)
    else:
        audit = _no_graph_audit(len(protected))
    enforce(audit, allow_leakage=config.allow_leakage)

    # tables (graph features only when a graph method asks for them)
    def table(trials: list[TrialInput]) -> TrialTable:
        return TrialTable(tuple(trials))

    tables = {"eval": table(eval_trials), "valid": table(valid_trials), "train": table(train_trials)}
    if any(m in GRAPH_METHODS for m in methods):
        say("graph features")
        for with_approval in (True, False):
            builder = GraphFeatureBuilder(store, include_approval=with_approval,
                                          allowed_splits=config.allowed_splits, n_folds=config.n_folds)
            for key in tables:
                t = tables[key]
                mat = builder.build(t.trials)
                if with_approval:
                    tables[key] = TrialTable(t.trials, mat, builder.feature_names)
                else:
                    tables[key] = TrialTable(t.trials, t.graph, t.graph_names, mat, builder.feature_names)
    train = Labelled(tables["train"], y_train) if train_trials and y_train is not None else None
    evaluated = Labelled(tables["eval"], y)
    valid = Labelled(tables["valid"], y_valid) if y_valid is not None else None
    phases = [t.phase for t in eval_trials]

    runs: list[MethodRun] = []
    chain_objs: dict[str, ChainMethod] = {}
    sampled: dict[str, np.ndarray] = {}
    for name in methods:
        say(f"method {name}")
        start = time.perf_counter()
        if name == "chain-learned" and name not in chain_predict:
            if store is None:
                raise EvaluationError(f"{name} needs a graph store")
            learned_chain = LearnedChain(store, predictor_kwargs=None if config.embeddings else {"embedder": None})
            chain_objs[name] = learned_chain  # type: ignore[assignment]

            def make(obj: LearnedChain = learned_chain) -> Method:  # one instance, refitted per fold
                return obj  # type: ignore[return-value]

            make.own_threshold = True  # type: ignore[attr-defined]
            learned = True
        elif name in CHAIN_METHODS:
            if name not in chain_predict:
                if store is None:
                    raise EvaluationError(f"{name} needs a graph store")
                chain_predict[name] = build_chain_predict(name, store)
            obj = ChainMethod(name, chain_predict[name])
            chain_objs[name] = obj
            make: Callable[[], Method] = lambda obj=obj: obj  # noqa: E731 (one instance: predictions are cached)
            learned = False
        elif name == "prior" and train is not None:
            prior = PriorBaseline(rate=float(train.y.mean()))
            make, learned = (lambda prior=prior: prior), False  # one constant: the training success rate
        else:
            make = lambda name=name: make_method(name)  # noqa: E731
            learned = True
        ev, va = evaluated, valid
        if name in ("chain-local", "chain-adapter") and config.chain_sample and config.chain_sample < len(y):
            idx = _sample(y, config.chain_sample, config.sample_seed)
            sampled[name] = idx
            ev = evaluated.subset(idx)
            if va is not None and config.chain_sample < len(va.y):
                va = va.subset(_sample(va.y, config.chain_sample, config.sample_seed))
        if va is not None:
            run = run_heldout(name, make, learned, train, va, ev.table, inner_folds=config.n_folds)
        else:
            run = run_cross_validated(name, make, learned, train, ev, n_folds=min(config.n_folds, len(ev.y)))
        run.extra["wall_seconds"] = time.perf_counter() - start
        runs.append(run)

    # scoring
    say("scoring (bootstrap)")
    by_name = {r.name: r for r in runs}
    base = by_name.get(BASELINE_FOR_COMPARISON)
    graph_base = by_name.get(GRAPH_BASELINE_FOR_COMPARISON)
    scores: list[MethodScore] = []
    for run in runs:
        idx = sampled.get(run.name)
        yy = y if idx is None else y[idx]
        ph = phases if idx is None else [phases[i] for i in idx]
        ids = eval_ids if idx is None else [eval_ids[i] for i in idx]
        chain = _chain_summary(chain_objs[run.name], ids) if run.name in chain_objs else None
        sc = score_run(yy, run, ph, n_resamples=config.n_resamples, seed=config.seed, chain=chain)
        if idx is not None:
            sc.protocol += f"; evaluated on a random sample of {len(idx)} trials (seed {config.sample_seed})"
        if base is not None and run is not base:
            b = base if idx is None else _subset_run(base, idx)
            sc.versus_text = compare_with(yy, run, b, n_resamples=config.n_resamples, seed=config.seed)
        if graph_base is not None and run.name in chain_objs:
            b = graph_base if idx is None else _subset_run(graph_base, idx)
            sc.versus_text_graph = compare_with(yy, run, b, n_resamples=config.n_resamples, seed=config.seed)
        scores.append(sc)

    mode = ("held-out: threshold from the validation file " + str(config.valid_file)
            if valid is not None else f"{config.n_folds}-fold cross-validation within the evaluated file")
    notes = []
    if train is not None:
        notes.append(f"learned baselines are fitted on {config.train_file} ({len(train.y)} labelled trials"
                     + (f"; {dropped} dropped because they are evaluated/validation trials" if dropped else "")
                     + ") plus the validation part of the protocol")
    if any(m in GRAPH_METHODS for m in methods):
        notes.append("graph features: prior success rates use only labelled Trial nodes of the allowed splits "
                     f"{list(config.allowed_splits)}, out-of-fold for those trials themselves; "
                     "'-noapproval' variants drop TREATS/PALLIATES/APPROVED_FOR features (approvals may postdate trials)")
    report = EvaluationReport(
        title=config.title or f"Evaluation of {Path(config.eval_file).name}",
        evaluated_file=str(config.eval_file),
        n_trials=len(y),
        n_positive=int(y.sum()),
        mode=mode,
        scores=scores,
        audit=audit,
        notes=notes,
        context={"graph version": store.graph_version() if store is not None else "no graph"},
    )
    return EvaluationResult(report, runs, y, sampled)


def _sample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` row indices with both classes kept when possible (sorted)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), size=n, replace=False))
    if len(set(np.asarray(y)[idx].tolist())) < 2 and len(set(np.asarray(y).tolist())) == 2:
        pos = np.nonzero(y == 1)[0]
        neg = np.nonzero(y == 0)[0]
        k = max(1, round(n * len(pos) / len(y)))
        idx = np.sort(np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)]))
    return idx


def _subset_run(run: MethodRun, idx: np.ndarray) -> MethodRun:
    return MethodRun(run.name, run.probability[idx], run.predicted_positive[idx], run.thresholds, run.protocol)


# --- arm-level questions ------------------------------------------------------------------
GOLD_FIELDS = ("answer", "label")


@dataclass(frozen=True)
class QuestionItem:
    """One scored item: a question (without its gold) and, for superiority, one comparison."""

    question_id: str
    question_type: str
    comparison: int | None  # index into the question's comparisons (superiority), else None
    gold: int  # 1: the first arm of the pair is superior / the endpoint is met; 0 otherwise


def _gold_value(value: Any, question: Mapping[str, Any], comparison: Sequence[str] | None) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "yes", "true", "met", "superior"):
            return 1
        if v in ("0", "no", "false", "not met", "not superior"):
            return 0
        if comparison is not None:
            if value.strip() == comparison[0]:
                return 1
            if value.strip() == comparison[1]:
                return 0
    raise EvaluationError(
        f"question {question.get('question_id')!r}: gold answer {value!r} is not understood; use 1/0, yes/no "
        "(endpoint met / first arm superior) or, for superiority, the label of the superior arm"
    )


def read_questions(path: Path, answers: Path | None = None) -> tuple[list[dict[str, Any]], list[QuestionItem]]:
    """Questions with every gold field REMOVED, and the scored items with their gold.

    Gold comes from ``answer`` (or ``label``) on each line, or from ``answers`` (JSONL with
    ``question_id`` and ``answer``), which then wins. For a superiority question the gold is the
    superior arm's label (or 1/0 for "first arm of the pair is superior"); a list gives one
    answer per comparison. For an endpoint question it is yes/no (1/0): the endpoint was met.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"question file {path} does not exist")
    external: dict[str, Any] = {}
    if answers is not None:
        for n, line in enumerate(Path(answers).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                    external[str(obj["question_id"])] = obj["answer"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise EvaluationError(f"{answers}:{n}: need one JSON object with question_id and answer ({exc})") from None
    questions: list[dict[str, Any]] = []
    items: list[QuestionItem] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(q, dict) or "question_id" not in q or q.get("question_type") not in ("superiority", "endpoint"):
            raise EvaluationError(f"{path}:{n}: need question_id and question_type superiority|endpoint")
        qid = str(q["question_id"])
        gold = {k: q.pop(k) for k in GOLD_FIELDS if k in q}  # never passed on
        value = external.get(qid, gold.get("answer", gold.get("label")))
        if value is None:
            raise EvaluationError(f"question {qid!r} has no gold answer (field 'answer'/'label' or --answers file)")
        if q["question_type"] == "superiority":
            comps = q.get("comparisons") or []
            if not comps:
                raise EvaluationError(f"question {qid!r}: superiority question without comparisons")
            values = value if isinstance(value, list) else [value] * len(comps)
            if len(values) != len(comps):
                raise EvaluationError(f"question {qid!r}: {len(values)} answers for {len(comps)} comparisons")
            for i, (c, v) in enumerate(zip(comps, values)):
                items.append(QuestionItem(qid, "superiority", i, _gold_value(v, q, c)))
        else:
            items.append(QuestionItem(qid, "endpoint", None, _gold_value(value, q, None)))
        questions.append(q)
    if not items:
        raise EvaluationError(f"{path} has no questions")
    return questions, items


def question_probabilities(predictions: Mapping[str, Any], items: Sequence[QuestionItem]) -> np.ndarray:
    """P(class 1) per item from ``Prediction`` objects keyed by question id (comparisons for superiority)."""
    out = []
    for it in items:
        pred = predictions.get(it.question_id)
        if pred is None:
            raise EvaluationError(f"no prediction for question {it.question_id!r}")
        if it.comparison is not None and getattr(pred, "comparisons", None):
            out.append(float(pred.comparisons[it.comparison].probability))
        else:
            out.append(float(pred.probability))
    return np.asarray(out)


def score_questions(items: Sequence[QuestionItem], p_class1: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per question type: class-balanced accuracy, macro-F1 (decision: p >= 0.5), cross-entropy."""
    p = np.asarray(p_class1, dtype=np.float64)
    out: dict[str, dict[str, Any]] = {}
    for qtype in sorted({i.question_type for i in items}):
        idx = [k for k, i in enumerate(items) if i.question_type == qtype]
        gold = np.asarray([items[k].gold for k in idx])
        pk = p[idx]
        pred = (pk >= 0.5).astype(np.int64)
        out[qtype] = {
            "n_items": len(idx),
            "n_positive": int(gold.sum()),
            "balanced_accuracy": balanced_accuracy(gold, pred),
            "macro_f1": macro_f1(gold, pred, labels=[0, 1]),
            "cross_entropy": cross_entropy(gold, np.column_stack([1 - pk, pk])),
        }
    return out
