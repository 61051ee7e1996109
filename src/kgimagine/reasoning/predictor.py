"""``Predictor``: the Python entry point. Runs the state machine for trial specs and arm questions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from kgimagine.errors import ReasoningError
from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.aggregate import logit, sigmoid
from kgimagine.reasoning.batch import run_resumable
from kgimagine.reasoning.embedding import CachedEmbedder, Embedder, trial_text
from kgimagine.reasoning.nodes import label_threshold
from kgimagine.reasoning.operators.base import Operator
from kgimagine.reasoning.retrieval import AnchorIndex, TargetResolver
from kgimagine.reasoning.spec import ArmQuestion, Comparison, Prediction, QArm, TrialSpec, grounding_rate
from kgimagine.reasoning.state import ReasoningConfig
from kgimagine.traces import ChainRecord

CONTROL_ARM_TYPES = frozenset({"PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"})


class Predictor:
    """Predict trial outcomes (``TrialSpec``) and arm-level questions (``ArmQuestion``).

    ``embedder``: e.g. ``MiniLMEmbedder()`` to add criteria/title similarity to anchor retrieval
    (embeddings cached under ``cache_dir``); None retrieves by graph overlap only.
    ``hidden_trials``: trial ids whose edges and outcomes no step shows (an evaluation's held-out
    trials the graph still holds; see ``ReasoningConfig.hidden_trials``).
    """

    def __init__(
        self,
        store: GraphStore,
        operator: Operator,
        *,
        k: int = 5,
        max_reasks: int = 2,
        embedder: Embedder | None = None,
        cache_dir: str | Path | None = None,
        threshold: float | None = 0.5,
        fact_budget: int = 12,
        index: AnchorIndex | None = None,
        phase_thresholds: Mapping[str, float] | None = None,
        hidden_trials: Iterable[str] = (),
    ) -> None:
        from kgimagine.reasoning.graph import build_graph

        self.store = store
        self.operator = operator
        self.config = ReasoningConfig(k=k, max_reasks=max_reasks, threshold=threshold, fact_budget=fact_budget,
                                      phase_thresholds=dict(phase_thresholds or {}),
                                      hidden_trials=frozenset(hidden_trials))
        if embedder is not None and not isinstance(embedder, CachedEmbedder):
            embedder = CachedEmbedder(embedder)
        self._embedder = embedder
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._index = index
        self.resolver = TargetResolver(store)
        self.graph = build_graph(
            store, operator, config=self.config, index=index, resolver=self.resolver,
            embedder=embedder, cache_dir=self._cache_dir,
        )

    @property
    def _threshold(self) -> float:
        """The global label threshold (the operator's when the config leaves it to the operator)."""
        return label_threshold(self.config, self.operator, None)

    # -- single predictions -----------------------------------------------------------------
    def predict(self, item: TrialSpec | ArmQuestion) -> Prediction:
        if isinstance(item, ArmQuestion):
            return self._predict_question(item)
        return self._predict_spec(item)

    def _predict_spec(self, spec: TrialSpec, *, context: str = "") -> Prediction:
        out = self.graph.invoke({"spec": spec.model_dump(mode="json"), "context": context})
        return Prediction.model_validate(out["result"])

    # -- arm-level questions ----------------------------------------------------------------
    def _title_diseases(self, title: str) -> list[str]:
        """Disease ids whose name appears in ``title`` (longest matches first, nested ones dropped)."""
        from kgimagine.loaders.resolve import normalize_disease_name

        resolver = self.resolver._disease_resolver()
        words = re.findall(r"[a-z0-9']+", title.lower())
        found: list[tuple[int, int, list[str]]] = []
        for n in range(min(6, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                key = normalize_disease_name(" ".join(words[i : i + n]))
                hits = resolver.by_name.get(key)
                if hits and not any(s <= i and i + n <= e for s, e, _ in found):
                    found.append((i, i + n, list(hits)))
        ids: list[str] = []
        for _, _, hits in sorted(found):
            ids.extend(hits[:2])
        return list(dict.fromkeys(ids))

    def _arm_spec(self, q: ArmQuestion, arm: QArm | None, diseases: list[str]) -> TrialSpec:
        drugs = arm.drug_names() if arm is not None else sorted(
            {n for a in q.arms if a.type.upper() not in CONTROL_ARM_TYPES for n in a.drug_names()}
        )
        # the question's NCT id: its trial is never its own anchor and its outcome is hidden in facts
        return TrialSpec.build(nct_id=q.nct_id, title=q.brief_title, drugs=drugs, diseases=diseases,
                               arm=arm.label if arm is not None else None)

    def _is_control(self, arm: QArm) -> bool:
        from kgimagine.loaders.resolve import is_placebo_text

        names = arm.drug_names()
        return arm.type.upper() in CONTROL_ARM_TYPES or not names or all(is_placebo_text(n) for n in names)

    def _predict_question(self, q: ArmQuestion) -> Prediction:
        diseases = self._title_diseases(q.brief_title)
        subs: list[Prediction] = []
        comparisons: list[Comparison] = []
        flags: list[str] = []
        if not diseases:
            flags.append(f"no disease of the graph named in the title {q.brief_title!r}")
        if q.question_type == "endpoint":
            sub = self._predict_spec(self._arm_spec(q, None, diseases), context="endpoint")
            subs.append(sub)
            probability = sub.probability
        else:
            cache: dict[str, Prediction] = {}

            def arm_pred(label: str) -> Prediction | None:
                arm = q.arm(label)
                if self._is_control(arm):
                    return None
                if label not in cache:
                    cache[label] = self._predict_spec(self._arm_spec(q, arm, diseases), context=f"arm {label}")
                    subs.append(cache[label])
                return cache[label]

            for a, b in q.comparisons:
                pa, pb = arm_pred(a), arm_pred(b)
                if pa is not None and pb is not None:
                    p = sigmoid(logit(pa.probability) - logit(pb.probability))
                elif pa is not None:
                    p = pa.probability  # vs a control arm: P(the active arm's trial succeeds)
                elif pb is not None:
                    p = 1.0 - pb.probability
                else:
                    p = 0.5
                    flags.append(f"comparison {a} vs {b}: both arms are controls; probability 0.5")
                comparisons.append(
                    Comparison(arm_a=a, arm_b=b, probability=round(p, 6),
                               p_arm_a=pa.probability if pa else None, p_arm_b=pb.probability if pb else None)
                )
            probability = comparisons[0].probability
        steps = [s for sub in subs for c in sub.chains for s in c.steps]
        for sub in subs:
            flags.extend(f"{sub.chains[0].context if sub.chains else 'sub-question'}: {f}" for f in sub.flags)
        timings: dict[str, float] = {}
        for sub in subs:
            for k, v in sub.timings.items():
                timings[k] = timings.get(k, 0.0) + v
        return Prediction(
            key=q.key(),
            nct_id=q.nct_id,
            question_id=q.question_id,
            question_type=q.question_type,
            probability=round(probability, 6),
            label=int(probability >= self._threshold),
            threshold=self._threshold,
            anchors=list(dict.fromkeys(a for sub in subs for a in sub.anchors)),
            chains=[c for sub in subs for c in sub.chains],
            comparisons=comparisons,
            aggregate_method=(subs[0].aggregate_method if subs else "none")
            + ("; superiority = sigmoid(logit p_a - logit p_b), p_a vs a control arm" if q.question_type == "superiority" else ""),
            grounding_rate=grounding_rate(steps),
            steps_total=len(steps),
            steps_supported=sum(1 for s in steps if s.supported),
            graph_version=self.store.graph_version(),
            operator=self.operator.name,
            timings=timings,
            flags=list(dict.fromkeys(flags)),
        )

    # -- batches ----------------------------------------------------------------------------
    def predict_many(
        self, items: Iterable[TrialSpec | ArmQuestion], *, checkpoint_path: str | Path | None = None
    ) -> Iterator[Prediction]:
        """Predictions in input order. With ``checkpoint_path`` (JSONL) a rerun skips finished items.

        An item whose prediction fails with a ``ReasoningError`` (an operator that cannot answer)
        yields ``Prediction.failed`` with its ``error`` and the batch goes on; a graph store that
        goes away (``GraphStoreError``) still stops the batch."""
        return run_resumable(self._primed(items), lambda it: it.key(), self._predict_or_fail, checkpoint_path)

    def _predict_or_fail(self, item: TrialSpec | ArmQuestion) -> Prediction:
        try:
            return self.predict(item)
        except ReasoningError as exc:
            is_q = isinstance(item, ArmQuestion)
            return Prediction.failed(
                item.key(), f"{type(exc).__name__}: {exc}", nct_id=item.nct_id,
                question_id=item.question_id if is_q else None,
                question_type=item.question_type if is_q else "trial", threshold=self._threshold,
                graph_version=self.store.graph_version(), operator=self.operator.name,
            )

    def _primed(self, items: Iterable[TrialSpec | ArmQuestion], chunk: int = 64) -> Iterator[TrialSpec | ArmQuestion]:
        """Yield ``items``, encoding the target texts of each chunk in one batch first."""
        buf: list[TrialSpec | ArmQuestion] = []

        def flush() -> Iterator[TrialSpec | ArmQuestion]:
            if isinstance(self._embedder, CachedEmbedder):
                texts = [trial_text(it.title, it.criteria) for it in buf if isinstance(it, TrialSpec)]
                self._embedder.prime([t for t in texts if t])
            yield from buf
            buf.clear()

        for it in items:
            buf.append(it)
            if len(buf) >= chunk:
                yield from flush()
        yield from flush()

    def to_chain_records(self, prediction: Prediction, **kw: Any) -> list[ChainRecord]:
        return to_chain_records(prediction, **kw)


def to_chain_records(prediction: Prediction, *, split: str = "", target_label: int | None = None) -> list[ChainRecord]:
    """One ``ChainRecord`` (traces.py) per chain, for training."""
    target = f"clinicaltrials:{prediction.nct_id}" if prediction.nct_id else prediction.key
    return [
        ChainRecord(
            graph_version=prediction.graph_version,
            split=split,
            target_id=target,
            anchor_id=c.anchor_id,
            anchor_label=c.anchor_label,
            target_label=target_label,
            operator=prediction.operator,
            steps=c.steps,
            p_final=c.p_end,
        )
        for c in prediction.chains
    ]
