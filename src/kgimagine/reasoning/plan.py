"""Plan the counterfactual steps from an anchor to the target: one factor at a time.

Factors where anchor and target differ, in the order of ``kgimagine.types.FACTOR_ORDER``; the plan
creates four of them: disease → drug → population → phase (never dose, arm or endpoint: the graph
records none for its anchors). Each step knows the entity ids on
both sides and the context at that point of the chain: the disease step keeps the anchor's drugs
(the trial is "anchor drug in target disease" afterwards); the drug step and later steps use the
target's diseases and drugs.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from kgimagine.kg.queries import phase_number
from kgimagine.reasoning.retrieval import Anchor, ResolvedTarget
from kgimagine.trials.evidence import phase_flags
from kgimagine.traces import normalize_criteria, render_eligibility, render_entities, render_phase_value
from kgimagine.types import FACTOR_ORDER, Factor


class PlanStep(BaseModel):
    factor: Factor
    anchor_ids: list[str] = Field(default_factory=list)
    target_ids: list[str] = Field(default_factory=list)
    context_ids: list[str] = Field(default_factory=list)
    anchor_value: str
    target_value: str
    anchor_phase: str | None = None
    target_phase: str | None = None


def build_plan(
    anchor: Anchor, target: ResolvedTarget, *, target_criteria: str = "", complete: bool = False,
    skip: frozenset[Factor] = frozenset(),
) -> list[PlanStep]:
    """The ordered steps from ``anchor`` to ``target`` (empty when nothing differs that we can see).

    By default a factor unknown on either side (no resolved drug, no criteria, no phase) is not a
    step: we cannot tell that it differs, and the graph has nothing to say about it. With
    ``complete`` (operators that score every trial, e.g. the learned operator) a factor known on one
    side only is a step too ("(none)" on the other side), so the chain is a complete path.
    ``skip``: factors the operator applies at the chain's start instead (no step)."""
    steps: dict[Factor, PlanStep] = {}
    a_trial = [anchor.trial_id]
    t_trial = [target.trial_id] if target.trial_id else []

    def known(a: object, t: object) -> bool:
        return bool(a or t) if complete else bool(a and t)

    if known(target.disease_ids, anchor.disease_ids) and set(anchor.disease_ids) != set(target.disease_ids):
        steps[Factor.DISEASE] = PlanStep(
            factor=Factor.DISEASE,
            anchor_ids=anchor.disease_ids, target_ids=target.disease_ids, context_ids=anchor.drug_ids,
            anchor_value=render_entities(anchor.disease_names, anchor.disease_ids, anchor.unresolved_diseases),
            target_value=render_entities(target.disease_names, target.disease_ids, target.unresolved_diseases),
        )
    if known(target.drug_ids, anchor.drug_ids) and set(anchor.drug_ids) != set(target.drug_ids):
        steps[Factor.DRUG] = PlanStep(
            factor=Factor.DRUG,
            anchor_ids=anchor.drug_ids, target_ids=target.drug_ids,
            context_ids=target.disease_ids or anchor.disease_ids,
            anchor_value=render_entities(anchor.drug_names, anchor.drug_ids, anchor.unresolved_drugs),
            target_value=render_entities(target.drug_names, target.drug_ids, target.unresolved_drugs),
        )
    context = (target.drug_ids or anchor.drug_ids) + (target.disease_ids or anchor.disease_ids)
    if known(target_criteria.strip(), anchor.criteria.strip()) and normalize_criteria(target_criteria) != normalize_criteria(anchor.criteria):
        steps[Factor.POPULATION] = PlanStep(
            factor=Factor.POPULATION, anchor_ids=a_trial, target_ids=t_trial, context_ids=context,
            anchor_value=render_eligibility(anchor.trial_id, anchor.criteria),
            target_value=render_eligibility(target.trial_id, target_criteria),
        )
    pa, pt = phase_number(anchor.phase), phase_number(target.phase)
    if (complete and phase_flags(anchor.phase or "") != phase_flags(target.phase or "")) or (
        pa is not None and pt is not None and pa != pt
    ):
        steps[Factor.PHASE] = PlanStep(
            factor=Factor.PHASE, anchor_ids=a_trial, target_ids=t_trial, context_ids=context,
            anchor_value=render_phase_value(anchor.phase, anchor.trial_id),
            target_value=render_phase_value(target.phase, target.trial_id),
            anchor_phase=anchor.phase, target_phase=target.phase,
        )
    return [steps[f] for f in FACTOR_ORDER if f in steps and f not in skip]
