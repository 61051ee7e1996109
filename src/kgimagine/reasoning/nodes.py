"""The state machine's nodes. Each takes the state and returns a partial update (never mutates).

``ReasoningNodes`` binds the nodes to a store, an operator, the anchor index and the config; the
graph builder (``reasoning/graph.py``) wires its methods as LangGraph nodes.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from kgimagine.kg import queries
from kgimagine.kg.store import GraphStore
from kgimagine.reasoning.aggregate import AGGREGATE_METHOD, aggregate_chains, logit, sigmoid
from kgimagine.reasoning.operators.base import Operator
from kgimagine.reasoning.plan import PlanStep, build_plan
from kgimagine.reasoning.readable import lines as readable_lines
from kgimagine.reasoning.retrieval import Anchor, AnchorIndex, ResolvedTarget, TargetResolver
from kgimagine.reasoning.spec import Chain, Prediction, TrialSpec, grounding_rate
from kgimagine.reasoning.state import ReasoningConfig, ReasoningState
from kgimagine.reasoning.verifier import NameIndex, operator_fact_signs, verify_answer
from kgimagine.traces import FactRef, StepInput, StepRecord
from kgimagine.trials.evidence import TrialDescription, phase_threshold

NO_SUPPORT = "no graph support"


def _timed(name: str, fn: Callable[[ReasoningState], dict[str, Any]]) -> Callable[[ReasoningState], dict[str, Any]]:
    def run(state: ReasoningState) -> dict[str, Any]:
        t0 = time.perf_counter()
        update = fn(state)
        return {**update, "timings": {name: time.perf_counter() - t0}}

    run.__name__ = name
    return run


_SHOWN_OUTCOME = re.compile(r"^NCT\d+ \((?:[^()]*, )?(succeeded|failed)\)")


def fact_ref(fact: queries.Fact) -> FactRef:
    """The fact as shown to an operator, with its edge (and the trial outcome its text shows)."""
    e = fact.edge
    rel = e.type.value
    shown = _SHOWN_OUTCOME.match(fact.text) if rel in ("TESTS", "STUDIES") else None
    return FactRef(
        fact_id=fact.fact_id, text=fact.text, source=fact.source, licence=fact.licence,
        source_version=e.provenance.source_version, subject=e.source, relation=rel, object=e.target,
        outcome=(1 if shown.group(1) == "succeeded" else 0) if shown else None,
    )


def description_of(spec: TrialSpec) -> TrialDescription:
    """What the trial's description says, for operators that score whole trials (no outcome field)."""
    return TrialDescription(
        key=spec.key(), drugs=tuple(spec.drugs), diseases=tuple(spec.diseases), icd10=tuple(spec.icd10),
        phase=spec.phase or "", criteria=spec.criteria, title=spec.title,
    )


def label_threshold(config: ReasoningConfig, operator: Any, phase: str | None) -> float:
    """The label threshold of a trial of ``phase`` (None: the global one): ``config.threshold`` and
    its ``phase_thresholds``, or, when ``config.threshold`` is None, the operator's own (its
    ``phase_thresholds``, else its ``threshold``, else 0.5)."""
    if config.threshold is None:
        return phase_threshold(phase, getattr(operator, "phase_thresholds", None) or {},
                               float(getattr(operator, "threshold", 0.5)))
    return phase_threshold(phase, config.phase_thresholds, config.threshold)


class ReasoningNodes:
    def __init__(
        self,
        store: GraphStore,
        operator: Operator,
        *,
        config: ReasoningConfig,
        index_factory: Callable[[], AnchorIndex],
        resolver: TargetResolver | None = None,
    ) -> None:
        self.store = store
        self.operator = operator
        self.config = config
        self._index_factory = index_factory
        self._index: AnchorIndex | None = None
        self.resolver = resolver or TargetResolver(store)
        self._names: NameIndex | None = None

    @property
    def names(self) -> NameIndex:
        """The store's name index (built on first use; the verifier matches rationale names in it)."""
        if self._names is None:
            self._names = NameIndex.from_store(self.store)
        return self._names

    @property
    def index(self) -> AnchorIndex:
        if self._index is None:
            self._index = self._index_factory()
        return self._index

    def as_dict(self) -> dict[str, Callable[[ReasoningState], dict[str, Any]]]:
        return {
            name: _timed(name, getattr(self, name))
            for name in (
                "resolve_target", "retrieve_anchors", "plan", "retrieve_facts", "imagine", "verify",
                "finish_chain", "aggregate",
            )
        }

    def threshold_for(self, phase: str | None) -> float:
        return label_threshold(self.config, self.operator, phase)

    # -- nodes -------------------------------------------------------------------------------
    def resolve_target(self, state: ReasoningState) -> dict[str, Any]:
        spec = TrialSpec.model_validate(state["spec"])
        target = self.resolver.resolve(spec)
        flags: list[str] = []
        if not target.drug_ids and not target.disease_ids and target.trial_id is None:
            missing = []
            if spec.drugs:
                missing.append(f"drugs {', '.join(map(repr, spec.drugs))}")
            if spec.diseases or spec.icd10:
                missing.append(f"diseases {', '.join(map(repr, spec.diseases + spec.icd10))}")
            what = " and ".join(missing) or "no drugs or diseases given"
            flags.append(f"{NO_SUPPORT}: {what} not found in the graph")
        else:
            if target.unresolved_drugs:
                flags.append(f"unresolved drugs: {', '.join(target.unresolved_drugs)}")
            if target.unresolved_diseases:
                # with no disease in the graph, a drug's record has no disease family to keep to
                unplaced = getattr(self.operator, "unplaced_note", "")
                whole = "" if target.disease_ids else (" (no disease in the graph: a drug's record is read over all "
                                                       f"its trials{'; ' + unplaced if unplaced else ''})")
                flags.append(f"unresolved diseases: {', '.join(target.unresolved_diseases)}{whole}")
        if target.trial_id is not None and target.trial_id in self.index.trials:
            # a user's file may hold a trial whose outcome the graph has: say it is hidden, not used
            split = (self.store.get_node(target.trial_id).properties.get("split") or "?")
            flags.append(f"outcome known: the graph holds this trial's outcome (split {split}); it is hidden here "
                         "(never an anchor, never shown in a fact)")
        base_rate = self.index.base_rate(target.phase)
        prepare = getattr(self.operator, "prepare_target", None)
        if prepare is not None:  # operators that score the whole trial (learned): its estimate is the fallback
            prepare(spec.key(), description_of(spec))
            base_rate = self.operator.target_probability(spec.key())  # type: ignore[attr-defined]
        return {
            "target": target.model_dump(mode="json"),
            "flags": flags,
            "base_rate": base_rate,
            "anchors": [],
            "anchor_index": 0,
        }

    def retrieve_anchors(self, state: ReasoningState) -> dict[str, Any]:
        target = ResolvedTarget.model_validate(state["target"])
        spec = TrialSpec.model_validate(state["spec"])
        own = [f"clinicaltrials:{spec.nct_id}"] if spec.nct_id else []
        anchors = self.index.retrieve(target, k=self.config.k, smoothing=self.config.smoothing,
                                      exclude=own + sorted(self.config.hidden_trials))
        start = getattr(self.operator, "anchor_start", None)
        if start is not None:  # the operator's calibrated start (estimate + shrunk residual)
            anchors = [a.model_copy(update={"p_start": p}) if (p := start(a.trial_id)) is not None else a
                       for a in anchors]
        flags = [] if anchors else [
            f"{NO_SUPPORT}: no labelled trial in the graph is similar to the target; "
            f"probability = {'the model estimate' if start is not None else 'the phase base rate'}"
        ]
        return {"anchors": [a.model_dump(mode="json") for a in anchors], "anchor_index": 0, "flags": flags}

    def plan(self, state: ReasoningState) -> dict[str, Any]:
        anchor = Anchor.model_validate(state["anchors"][state["anchor_index"]])
        target = ResolvedTarget.model_validate(state["target"])
        spec = TrialSpec.model_validate(state["spec"])
        steps = build_plan(anchor, target, target_criteria=spec.criteria,
                           complete=bool(getattr(self.operator, "complete_plan", False)),
                           skip=frozenset(getattr(self.operator, "start_factors", ())))
        p_start = anchor.p_start
        start = getattr(self.operator, "anchor_start", None)
        if start is not None:  # factors that are not steps start at the target's value
            got = start(anchor.trial_id, spec.key(), [s.factor for s in steps])
            p_start = got if got is not None else p_start
        offset = float(getattr(self.operator, "start_offset", 0.0) or 0.0)
        if offset:  # the operator's per-chain offset (the statistical operator's fitted intercept)
            p_start = sigmoid(logit(p_start) + offset)
        return {
            "plan": [s.model_dump(mode="json") for s in steps],
            "step_index": 0,
            "p_start": p_start,
            "p_current": p_start,
            "carry": 0.0,
            "attempts": 0,
            "feedback": None,
        }

    def _current(self, state: ReasoningState) -> tuple[Anchor, ResolvedTarget, PlanStep]:
        anchor = Anchor.model_validate(state["anchors"][state["anchor_index"]])
        target = ResolvedTarget.model_validate(state["target"])
        step = PlanStep.model_validate(state["plan"][state["step_index"]])
        return anchor, target, step

    def retrieve_facts(self, state: ReasoningState) -> dict[str, Any]:
        anchor, target, step = self._current(state)
        hide = queries.step_hidden(step.factor, target_trial=target.trial_id, anchor_trial=anchor.trial_id,
                                   hidden=self.config.hidden_trials)
        facts = queries.facts_for_change(
            self.store, step.factor, step.anchor_ids, step.target_ids,
            budget=self.config.fact_budget, context_ids=step.context_ids, hide_outcomes=hide,
        )
        return {
            "facts": [fact_ref(f).model_dump(mode="json") for f in facts],
            "attempts": 0,
            "feedback": None,
            "raw_answer": "",
        }

    def _step_input(self, state: ReasoningState) -> StepInput:
        anchor, target, step = self._current(state)
        return StepInput(
            factor=step.factor,
            anchor_value=step.anchor_value,
            target_value=step.target_value,
            p_before=state["p_current"],
            facts=[FactRef.model_validate(f) for f in state["facts"]],
            anchor_summary=anchor.summary(),
            target_summary=target.summary(),
            anchor_id=anchor.trial_id,
            target_key=TrialSpec.model_validate(state["spec"]).key(),
        )

    def imagine(self, state: ReasoningState) -> dict[str, Any]:
        if not state["facts"]:
            return {"raw_answer": "", "attempts": state.get("attempts", 0) + 1}
        raw = self.operator.imagine(self._step_input(state), feedback=state.get("feedback"))
        return {"raw_answer": raw, "attempts": state.get("attempts", 0) + 1}

    def verify(self, state: ReasoningState) -> dict[str, Any]:
        _, _, step = self._current(state)
        facts = [FactRef.model_validate(f) for f in state["facts"]]
        p_before = float(state["p_current"])
        attempts = int(state.get("attempts", 1))
        v_answer, verdicts, supported, reason, claims, verdict = None, {}, False, "no graph facts for this change", (), "unsupported"
        if facts:  # with nothing to cite, re-asking cannot help
            inp = self._step_input(state)
            v = verify_answer(state.get("raw_answer", ""), inp, self.names, store=self.store,
                              fact_signs=operator_fact_signs(self.operator, inp))
            v_answer, verdicts, supported, reason, claims, verdict = v.answer, v.verdicts, v.supported, v.reason, v.claims, v.verdict
            if not supported and attempts <= self.config.max_reasks:
                return {"decision": "reask", "feedback": reason}
        unstated = 0.0
        if supported and v_answer is not None:
            p_after, error = v_answer.probability, None
            carry = getattr(self.operator, "unstated_move", None)
            if carry is not None:  # the part of the operator's move no fact states: at the chain's end
                unstated = float(carry(inp))
        else:
            p_after = p_before  # an unsupported change contributes nothing to the probability
            proposed = f" (operator proposed {v_answer.probability:.3f}, excluded)" if v_answer is not None else ""
            error = f"unsupported after {attempts} attempt(s): {reason}{proposed}"
        record = StepRecord(
            factor=step.factor,
            anchor_value=step.anchor_value,
            target_value=step.target_value,
            facts=facts,
            claim=v_answer.rationale if v_answer is not None else "",
            cited=list(v_answer.cited) if v_answer is not None else [],
            verdicts=verdicts,
            supported=supported,
            p_before=p_before,
            p_after=p_after,
            attempts=attempts,
            error=error,
            direction=v_answer.direction if v_answer is not None else None,
            proposed=v_answer.probability if v_answer is not None else None,
            claims=list(claims),
            verdict=verdict,
            reason=reason,
            unstated=unstated,
        )
        anchor_id = state["anchors"][state["anchor_index"]]["trial_id"]
        return {
            "decision": "accept",
            "steps": [{"anchor_id": anchor_id, "context": state.get("context", ""), "record": record.model_dump(mode="json")}],
            "p_current": p_after,
            "carry": float(state.get("carry", 0.0)) + unstated,
            "step_index": state["step_index"] + 1,
            "feedback": None,
        }

    def finish_chain(self, state: ReasoningState) -> dict[str, Any]:
        anchor = Anchor.model_validate(state["anchors"][state["anchor_index"]])
        chain = Chain(
            anchor_id=anchor.trial_id,
            anchor_label=anchor.label,
            similarity=anchor.similarity,
            p_start=float(state.get("p_start", anchor.p_start)),
            p_end=float(state.get("p_current", anchor.p_start)),
            context=state.get("context", ""),
        )
        carry = float(state.get("carry", 0.0))
        if abs(carry) > 1e-12:  # what the supported steps' operator moved by that no fact states
            chain = chain.model_copy(update={"p_end": sigmoid(logit(chain.p_end) + carry), "unstated": carry})
        return {"chains": [chain.model_dump(mode="json")], "anchor_index": state["anchor_index"] + 1}

    def aggregate(self, state: ReasoningState) -> dict[str, Any]:
        spec = TrialSpec.model_validate(state["spec"])
        chains = [Chain.model_validate(c) for c in state.get("chains", [])]
        records: dict[str, list[StepRecord]] = {}
        for s in state.get("steps", []):
            records.setdefault(s["anchor_id"], []).append(StepRecord.model_validate(s["record"]))
        chains = [c.model_copy(update={"steps": records.get(c.anchor_id, [])}) for c in chains]
        all_steps = [r for rs in records.values() for r in rs]
        flags = list(state.get("flags", []))
        if chains:
            p = aggregate_chains([c.p_end for c in chains], [c.similarity for c in chains])
            method = AGGREGATE_METHOD
            note = getattr(self.operator, "start_note", "")
            started = sorted(f.value for f in getattr(self.operator, "start_factors", ()))
            if note:
                method += f"; {note}"
            elif started:
                method += (f"; {' and '.join(started)} scores applied at each chain's start "
                           "(the eligibility-text model and the phase base rate are not graph facts: never steps)")
        else:
            p = float(state.get("base_rate", 0.5))
            method = ("model estimate (no anchor chains)" if hasattr(self.operator, "prepare_target")
                      else "phase base rate (no anchor chains)")
        rate = grounding_rate(all_steps)
        pred = Prediction(
            key=spec.key(),
            nct_id=spec.nct_id,
            probability=round(p, 6),
            label=int(p >= self.threshold_for(spec.phase)),
            threshold=self.threshold_for(spec.phase),
            anchors=[c.anchor_id for c in chains],
            chains=chains,
            aggregate_method=method,
            grounding_rate=rate,
            steps_total=len(all_steps),
            steps_supported=sum(1 for r in all_steps if r.supported),
            graph_version=self.store.graph_version(),
            operator=self.operator.name,
            timings=dict(state.get("timings", {})),
            flags=flags,
        )
        return {"result": pred.model_dump(mode="json"), "readable": readable_lines(pred)}
