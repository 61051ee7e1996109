"""Baselines in the same table as the chain: prior, text, graph LR / gradient boosting, text+graph.

Every method follows one small protocol (``fit`` on a ``TrialTable`` and 0/1 labels, then
``predict_proba``); a new instance is made for every fit (``make_method``). scikit-learn is
imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.features import TrialInput, phase_flags

SEED = 0


def _few_threads():
    """Limit BLAS/OpenMP threads to one while fitting small models: on a shared 2-core machine
    OpenMP spin-waiting made HistGradientBoosting ~100x slower than single-threaded."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


@dataclass(frozen=True)
class TrialTable:
    """Trials plus, optionally, their graph features (rows aligned with ``trials``)."""

    trials: tuple[TrialInput, ...]
    graph: np.ndarray | None = None
    graph_names: tuple[str, ...] = ()
    graph_no_approval: np.ndarray | None = None  # built with include_approval=False
    graph_no_approval_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.trials)

    def subset(self, idx: Sequence[int] | np.ndarray) -> "TrialTable":
        idx = np.asarray(idx, dtype=np.int64)
        return TrialTable(
            tuple(self.trials[i] for i in idx),
            None if self.graph is None else self.graph[idx],
            self.graph_names,
            None if self.graph_no_approval is None else self.graph_no_approval[idx],
            self.graph_no_approval_names,
        )

    @staticmethod
    def concat(a: "TrialTable", b: "TrialTable") -> "TrialTable":
        def cat(x, y):
            if x is None or y is None:
                return None
            return np.vstack([x, y])

        return TrialTable(a.trials + b.trials, cat(a.graph, b.graph), a.graph_names,
                          cat(a.graph_no_approval, b.graph_no_approval), a.graph_no_approval_names)

    def graph_matrix(self, with_approval: bool) -> np.ndarray:
        m = self.graph if with_approval else self.graph_no_approval
        if m is None:
            which = "with" if with_approval else "without"
            raise EvaluationError(f"graph features {which} approval edges were not built; pass a store (--store)")
        return m


class Method(Protocol):
    name: str
    learned: bool  # False: fit() is a no-op (the chain); predictions need no training data

    def fit(self, table: TrialTable, y: np.ndarray) -> None: ...

    def predict_proba(self, table: TrialTable) -> np.ndarray: ...


def _check_fit(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.int64)
    if y.size == 0:
        raise EvaluationError("no labelled trials to fit on; pass --train-file or a valid file with labels")
    return y


class PriorBaseline:
    """Always predicts the training success rate: "always success", ranked by nothing.

    With ``rate`` given (the training file's success rate) it is not fitted again in each
    fold, so it stays one constant (ROC-AUC 0.5, AP = base rate, every trial predicted
    success); without it, ``fit`` takes the rate of whatever labelled data it is given.
    """

    name = "prior"

    def __init__(self, rate: float | None = None) -> None:
        self.rate = rate
        self.learned = rate is None

    def fit(self, table: TrialTable, y: np.ndarray) -> None:
        if not self.learned:
            return
        self.rate = float(_check_fit(y).mean())

    def predict_proba(self, table: TrialTable) -> np.ndarray:
        if self.rate is None:
            raise EvaluationError("prior baseline used before fit")
        return np.full(len(table), self.rate)


_TOKENS: dict[str, list[str]] = {}
_ANALYSER = None


def _analyse(doc: str) -> list[str]:
    """Lower-cased word 1-2-grams (scikit-learn's analyser), memoised per text: cross-validation
    refits the vectoriser many times on the same criteria, and tokenising dominated its cost."""
    global _ANALYSER
    hit = _TOKENS.get(doc)
    if hit is None:
        if _ANALYSER is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            _ANALYSER = TfidfVectorizer(ngram_range=(1, 2), strip_accents="unicode").build_analyzer()
        hit = _ANALYSER(doc)
        if len(_TOKENS) < 50_000:
            _TOKENS[doc] = hit
    return hit


def _phase_matrix(table: TrialTable) -> np.ndarray:
    return np.asarray([phase_flags(t.phase) for t in table.trials], dtype=np.float64).reshape(len(table), 3)


class TextBaseline:
    """TF-IDF of the eligibility criteria + phase indicators, logistic regression."""

    learned = True

    def __init__(self, *, with_graph: bool = False, with_approval: bool = True, C: float = 1.0) -> None:
        self.with_graph = with_graph
        self.with_approval = with_approval
        self.C = C
        self.name = "text" if not with_graph else ("text+graph" if with_approval else "text+graph-noapproval")
        self._vec = None
        self._scaler = None
        self._model = None

    def _matrix(self, table: TrialTable, fit: bool):
        from scipy import sparse

        docs = [t.criteria for t in table.trials]
        if fit:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._vec = TfidfVectorizer(analyzer=_analyse, min_df=2, max_features=50_000, sublinear_tf=True)
            text = self._vec.fit_transform(docs)
        else:
            text = self._vec.transform(docs)
        parts = [text, sparse.csr_matrix(_phase_matrix(table))]
        if self.with_graph:
            g = table.graph_matrix(self.with_approval)
            if fit:
                from sklearn.preprocessing import StandardScaler

                self._scaler = StandardScaler().fit(g)
            parts.append(sparse.csr_matrix(self._scaler.transform(g)))
        return sparse.hstack(parts).tocsr()

    def fit(self, table: TrialTable, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        y = _check_fit(y)
        with _few_threads():
            x = self._matrix(table, fit=True)
            self._model = LogisticRegression(C=self.C, max_iter=2000, random_state=SEED).fit(x, y)

    def predict_proba(self, table: TrialTable) -> np.ndarray:
        if self._model is None:
            raise EvaluationError(f"{self.name} baseline used before fit")
        with _few_threads():
            return self._model.predict_proba(self._matrix(table, fit=False))[:, 1]


class GraphBaseline:
    """Graph features only: logistic regression (``lr``) or HistGradientBoosting (``gbm``)."""

    learned = True

    def __init__(self, model: str = "lr", *, with_approval: bool = True) -> None:
        if model not in ("lr", "gbm"):
            raise EvaluationError(f"graph baseline model {model!r} unknown; use 'lr' or 'gbm'")
        self.model = model
        self.with_approval = with_approval
        self.name = f"graph-{model}" + ("" if with_approval else "-noapproval")
        self._est = None

    def fit(self, table: TrialTable, y: np.ndarray) -> None:
        y = _check_fit(y)
        x = table.graph_matrix(self.with_approval)
        if self.model == "lr":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            self._est = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, random_state=SEED))
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            self._est = HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                l2_regularization=1.0, random_state=SEED,
            )
        with _few_threads():
            self._est.fit(x, y)

    def predict_proba(self, table: TrialTable) -> np.ndarray:
        if self._est is None:
            raise EvaluationError(f"{self.name} baseline used before fit")
        with _few_threads():
            return self._est.predict_proba(table.graph_matrix(self.with_approval))[:, 1]


@dataclass
class ChainStats:
    """What the chain methods report besides probabilities, per trial id."""

    grounding_rate: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    no_anchor: set[str] = field(default_factory=set)  # trials predicted without any anchor chain


class ChainMethod:
    """The counterfactual chain through ``predict_many`` (not fitted; predictions are cached).

    ``predict`` maps a sequence of ``TrialInput`` to an iterable of prediction objects with a
    ``probability`` (and, where the predictor provides them, ``grounding_rate`` and steps);
    the runner wires it to ``Predictor.predict_many``. Labels never reach it: a
    ``TrialInput`` has no outcome field.
    """

    learned = False

    def __init__(self, name: str, predict: Callable[[Sequence[TrialInput]], object]) -> None:
        self.name = name
        self._predict = predict
        self._cache: dict[str, float] = {}
        self.stats = ChainStats()

    def fit(self, table: TrialTable, y: np.ndarray) -> None:
        return None

    def predict_proba(self, table: TrialTable) -> np.ndarray:
        import time

        todo = [t for t in table.trials if t.nctid not in self._cache]
        if todo:
            start = time.perf_counter()
            last = start
            results = iter(self._predict(todo))
            for trial in todo:
                try:
                    pred = next(results)
                except StopIteration:
                    raise EvaluationError(f"{self.name}: the predictor returned fewer predictions than trials") from None
                now = time.perf_counter()
                self._record(trial.nctid, pred, now - last)
                last = now
        return np.asarray([self._cache[t.nctid] for t in table.trials], dtype=np.float64)

    def _record(self, nctid: str, pred: object, seconds: float) -> None:
        prob = float(getattr(pred, "probability"))
        self._cache[nctid] = prob
        s = self.stats
        s.seconds[nctid] = float(_timing(pred, seconds))
        rate = getattr(pred, "grounding_rate", None)
        if rate is not None:
            s.grounding_rate[nctid] = float(rate)
        n_steps, n_unsupported = _step_counts(pred)
        if n_steps is not None:
            s.steps[nctid] = n_steps
            s.unsupported[nctid] = n_unsupported
        err = getattr(pred, "error", None)
        if err:
            s.errors[nctid] = str(err)
        if not getattr(pred, "chains", None) and not err:
            s.no_anchor.add(nctid)


def _timing(pred: object, measured: float) -> float:
    for attr in ("seconds", "elapsed_s", "wall_s"):
        v = getattr(pred, attr, None)
        if isinstance(v, (int, float)):
            return float(v)
    timings = getattr(pred, "timings", None)
    if isinstance(timings, dict):
        for key in ("total", "total_s", "wall", "wall_s"):
            if isinstance(timings.get(key), (int, float)):
                return float(timings[key])
    return measured


def _step_counts(pred: object) -> tuple[int | None, int]:
    """(steps, unsupported steps) from whatever the prediction carries.

    ``reasoning.spec.Prediction`` gives ``steps_total`` / ``steps_supported``; other shapes
    (a ``steps`` list of records with ``supported``, or ``chains`` of them) are read as well.
    """
    total = getattr(pred, "steps_total", None)
    supported = getattr(pred, "steps_supported", None)
    if isinstance(total, int) and isinstance(supported, int):
        return total, total - supported
    steps = getattr(pred, "steps", None)
    unsupported = getattr(pred, "unsupported_steps", None)
    if steps is None:
        chains = getattr(pred, "chains", None)
        if chains:
            steps = [s for c in chains for s in (getattr(c, "steps", None) or [])]
    n_steps = None
    if isinstance(steps, (list, tuple)):
        n_steps = len(steps)
    elif isinstance(steps, int):
        n_steps = steps
    if isinstance(unsupported, (list, tuple)):
        n_uns = len(unsupported)
    elif isinstance(unsupported, int):
        n_uns = unsupported
    elif isinstance(steps, (list, tuple)):
        n_uns = sum(1 for s in steps if getattr(s, "supported", True) is False)
    else:
        n_uns = 0
    if n_steps is None:
        n_total = getattr(pred, "n_steps", None)
        if isinstance(n_total, int):
            n_steps = n_total
    return n_steps, n_uns


LEARNED_METHODS = ("prior", "text", "graph-lr", "graph-gbm", "text+graph",
                   "graph-lr-noapproval", "graph-gbm-noapproval", "text+graph-noapproval")
CHAIN_METHODS = ("chain-learned", "chain-statistical", "chain-statistical-fit", "chain-local", "chain-adapter")
ALL_METHODS = LEARNED_METHODS + CHAIN_METHODS
GRAPH_METHODS = frozenset(m for m in LEARNED_METHODS if "graph" in m)


def make_method(name: str) -> Method:
    """A fresh, unfitted learned baseline by name (chain methods are built by the runner)."""
    factories: dict[str, Callable[[], Method]] = {
        "prior": PriorBaseline,
        "text": TextBaseline,
        "text+graph": lambda: TextBaseline(with_graph=True),
        "text+graph-noapproval": lambda: TextBaseline(with_graph=True, with_approval=False),
        "graph-lr": lambda: GraphBaseline("lr"),
        "graph-gbm": lambda: GraphBaseline("gbm"),
        "graph-lr-noapproval": lambda: GraphBaseline("lr", with_approval=False),
        "graph-gbm-noapproval": lambda: GraphBaseline("gbm", with_approval=False),
    }
    if name not in factories:
        raise EvaluationError(f"unknown baseline {name!r}; choose from {', '.join(factories)}")
    return factories[name]()


def parse_methods(spec: str) -> tuple[str, ...]:
    """``prior,text,graph-lr`` → names, checked; ``all`` → every learned baseline + chain-statistical."""
    if spec.strip() == "all":
        return LEARNED_METHODS + ("chain-learned", "chain-statistical")
    names = tuple(dict.fromkeys(s.strip() for s in spec.split(",") if s.strip()))
    bad = [n for n in names if n not in ALL_METHODS]
    if bad or not names:
        raise EvaluationError(f"unknown method(s) {bad or spec!r}; choose from {', '.join(ALL_METHODS)} or 'all'")
    return names

