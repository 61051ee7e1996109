"""Generate the verifier's adversarial set from a built graph (REAL retrieved facts).

For labelled target trials of the graph (seeded sample), the anchors the reasoning layer would
retrieve (``AnchorIndex``, k=2) and their plan steps (``build_plan``), the facts are what
``kg.queries.facts_for_change`` retrieves for each step (the target's outcome hidden), exactly as
``reasoning/nodes.py`` does. For each step:

* one CORRECT answer written from the facts: the facts whose rule sign (``traces.rule_fact_signs``)
  is the dominant one (1-3 of them, role = that sign, direction = the sign, probability moved that
  way), or, with no signed fact, direction none and context claims on facts touching the change;
  the rationale restates the cited facts (empty, the fact lines, or plain sentences by type);
* one CORRUPTED answer, the corruption cycling through: swapped entity (a real entity of the
  same kind from another step), wrong relation, invented name, empty claims, one-word rationale,
  wrong direction (direction and probability flipped, roles kept or flipped too), contradiction
  (a cited fact negated, or a trial outcome flipped), a fact id not retrieved for the step, a
  direction of "none" with a moved probability. A corruption that does not apply to the step is
  replaced by the next that does.

Plus the SmolLM2 outputs quoted in issue 12, on a real trastuzumab -> trastuzumab + docetaxel +
doxorubicin drug step (NCT00216047 -> NCT00129896; retrieved with a budget of 120 facts so that
docetaxel's TUBB4B target is among them) (``expected: unsupported``).

Writes ``tests/data/reasoning/adversarial_steps.jsonl`` (one step a line, facts embedded, with
its answers: ``{"id", "kind", "corruption", "expected", "answer"}``) and ``tests/data/reasoning/adversarial_names.jsonl`` (the small name index the
verifier needs: every entity at an end of the set's facts, in its values, or swapped in).

    python benchmarks/adversarial_set.py --graph /tmp/graph-verify [--targets 260 --seed 12]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from kgimagine.kg import queries  # noqa: E402
from kgimagine.kg.networkx_store import NetworkXGraphStore  # noqa: E402
from kgimagine.reasoning.nodes import fact_ref  # noqa: E402
from kgimagine.reasoning.plan import build_plan  # noqa: E402
from kgimagine.reasoning.retrieval import Anchor, AnchorIndex, ResolvedTarget, _names  # noqa: E402
from kgimagine.reasoning.verifier import NameIndex  # noqa: E402
from kgimagine.traces import Claim, FactRef, StepAnswer, StepInput, role_of, rule_fact_signs, step_sides  # noqa: E402

OUT = REPO / "tests" / "data" / "reasoning"
CORRUPTIONS = ("swapped_entity", "wrong_relation", "invented_name", "empty_claims", "one_word",
               "wrong_direction", "contradiction", "not_retrieved", "none_but_moved")
ONE_WORD = ("no", "yes", "up", "down", "maybe", "effective", "no one", "unknown", "likely")
INVENTED = ("Zelbrotinib", "Corvalumab", "TDKY", "CYTCHLINEMATIS", "Praxofenib", "NRX7", "Dulvastatin",
            "Vexolimus", "KRTZ2", "Halcirumab", "Cytchlinematis", "Omberazole")
PHRASE = {"TARGETS": "targets", "TREATS": "is indicated for", "PALLIATES": "is indicated for",
          "APPROVED_FOR": "is approved for", "ASSOCIATED_WITH": "is associated with", "SUBCLASS_OF": "is a subclass of",
          "SAME_AS": "is the same as", "CAUSES": "causes", "TESTS": "tests", "STUDIES": "studies",
          "TRIALLED_FOR": "was trialled for"}
WRONG = {"TARGETS": "treats", "TREATS": "targets", "PALLIATES": "targets", "APPROVED_FOR": "targets",
         "ASSOCIATED_WITH": "treats", "SUBCLASS_OF": "targets", "SAME_AS": "targets", "CAUSES": "treats",
         "TESTS": "targets", "STUDIES": "targets", "TRIALLED_FOR": "targets"}
NEGATE = {"TARGETS": "does not target", "TREATS": "is not indicated for", "PALLIATES": "is not indicated for",
          "APPROVED_FOR": "is not approved for", "ASSOCIATED_WITH": "is not associated with",
          "CAUSES": "does not cause"}


class Names:
    def __init__(self, store: NetworkXGraphStore) -> None:
        self.store = store
        self.nodes: dict[str, Any] = {}

    def node(self, i: str) -> Any:
        if i not in self.nodes:
            got = self.store.get_nodes([i])
            self.nodes[i] = got.get(i)
        return self.nodes[i]

    def name(self, i: str) -> str:
        n = self.node(i)
        return (n.name or i) if n is not None else i

    def label(self, i: str) -> str:
        n = self.node(i)
        return n.label.value if n is not None else ""


def collect_steps(store: NetworkXGraphStore, n_targets: int, seed: int) -> list[StepInput]:
    index = AnchorIndex.build(store)
    rng = random.Random(seed)
    tids = sorted(index.trials)
    rng.shuffle(tids)
    steps: list[StepInput] = []
    for tid in tids[:n_targets]:
        info = index.trials[tid]
        drug_ids, dis_ids = sorted(info.drugs), sorted(info.diseases)
        target = ResolvedTarget(trial_id=tid, drug_ids=drug_ids, disease_ids=dis_ids, phase=info.phase,
                                drug_names=_names(store, drug_ids), disease_names=_names(store, dis_ids))
        for anchor in index.retrieve(target, k=2):
            for plan in build_plan(anchor, target, target_criteria=info.criteria):
                facts = queries.facts_for_change(store, plan.factor, plan.anchor_ids, plan.target_ids, budget=12,
                                                 context_ids=plan.context_ids, hide_outcomes=[tid])
                if not facts:
                    continue
                steps.append(StepInput(
                    factor=plan.factor, anchor_value=plan.anchor_value, target_value=plan.target_value,
                    p_before=round(anchor.p_start, 3), facts=[fact_ref(f) for f in facts],
                    anchor_summary=anchor.summary(), target_summary=target.summary(),
                ))
    return steps


def statement(f: FactRef, names: Names, style: str) -> str:
    if style == "lines":
        from kgimagine.traces import strip_provenance

        return strip_provenance(f.text)
    s, o = names.name(f.subject), names.name(f.object)
    if f.relation in ("TESTS", "STUDIES") and f.outcome is not None:
        verb = "tests" if f.relation == "TESTS" else "studies"
        return f"{s} {verb} {o} and {'succeeded' if f.outcome else 'failed'}"
    return f"{s} {PHRASE.get(f.relation, f.relation)} {o}"


def rationale_for(facts: list[FactRef], names: Names, style: str) -> str:
    if style == "empty":
        return ""
    parts: list[str] = []
    for f in facts:
        cand = "; ".join([*parts, statement(f, names, style)]) + "."
        if len(cand) > 240:
            break
        parts.append(statement(f, names, style))
    return "; ".join(parts) + "." if parts else ""


def correct_answer(step: StepInput, rng: random.Random, names: Names, style: str) -> tuple[StepAnswer, list[FactRef]] | None:
    signs = rule_fact_signs(step)
    A, T = step_sides(step)
    touching = [f for f in step.facts if {f.subject, f.object} & (A | T)]
    signed = [f for f in step.facts if signs[f.fact_id] != 0]
    total = sum(signs[f.fact_id] for f in signed)
    if signed and total != 0:
        direction = "up" if total > 0 else "down"
        pool = [f for f in signed if role_of(signs[f.fact_id]) == direction]
        pool.sort(key=lambda f: (not ({f.subject, f.object} & (A | T)), f.fact_id))
        chosen = pool[: rng.randint(1, 3)]
        if not any({f.subject, f.object} & (A | T) for f in chosen):
            if not touching:
                return None
            chosen.append(touching[0])
        delta = rng.uniform(0.03, 0.2) * (1 if direction == "up" else -1)
        p = round(min(0.99, max(0.01, step.p_before + delta)), 3)
        if abs(p - step.p_before) <= 0.01:
            return None
        claims = [Claim(facts=[f.fact_id], role=role_of(signs[f.fact_id])) for f in chosen]
    else:
        if not touching:
            return None
        direction, p = "none", step.p_before
        chosen = touching[: rng.randint(1, 2)]
        claims = [Claim(facts=[f.fact_id], role="context") for f in chosen]
    return StepAnswer(direction=direction, probability=p, claims=claims,
                      rationale=rationale_for(chosen, names, style)), chosen


def corrupt(kind: str, step: StepInput, good: StepAnswer, chosen: list[FactRef], names: Names,
            rng: random.Random, pool: dict[str, list[str]], other_fact_ids: list[str]) -> StepAnswer | None:
    ends = {x for f in chosen for x in (f.subject, f.object)}
    natural = rationale_for(chosen, names, "natural")
    if kind == "swapped_entity":
        f = chosen[0]
        for end in (f.object, f.subject):
            label = names.label(end)
            cands = [c for c in pool.get(label, []) if c not in ends and names.name(c) != names.name(end)
                     and len(names.name(c)) > 3]
            if cands and names.name(end) in natural:
                other = rng.choice(cands)
                return good.model_copy(update={"rationale": natural.replace(names.name(end), names.name(other), 1)})
        return None
    if kind == "wrong_relation":
        f = chosen[0]
        wrong = WRONG.get(f.relation)
        right = statement(f, names, "natural")
        if not wrong or f.outcome is not None:
            return None
        bad = f"{names.name(f.subject)} {wrong} {names.name(f.object)}"
        holds = {"treats": {"TREATS", "PALLIATES", "APPROVED_FOR"}, "targets": {"TARGETS"}}[wrong]
        if any(g.relation in holds for g in chosen if {g.subject, g.object} == {f.subject, f.object}):
            return None
        return good.model_copy(update={"rationale": natural.replace(right, bad, 1)})
    if kind == "invented_name":
        f = chosen[0]
        fake = rng.choice(INVENTED)
        target = names.name(f.object)
        if target not in natural:
            return None
        return good.model_copy(update={"rationale": natural.replace(target, fake, 1)})
    if kind == "empty_claims":
        return good.model_copy(update={"claims": []})
    if kind == "one_word":
        return good.model_copy(update={"rationale": rng.choice(ONE_WORD)})
    if kind == "wrong_direction":
        if good.direction == "none":
            return None
        flip = {"up": "down", "down": "up"}
        p = round(min(0.99, max(0.01, 2 * step.p_before - good.probability)), 3)
        if abs(p - step.p_before) <= 0.01:
            return None
        roles = rng.random() < 0.5
        claims = [Claim(facts=c.facts, role=flip.get(c.role, c.role)) if roles else c for c in good.claims]  # type: ignore[arg-type]
        return good.model_copy(update={"direction": flip[good.direction], "probability": p, "claims": claims})
    if kind == "contradiction":
        for f in chosen:
            if f.outcome is not None:
                right = statement(f, names, "natural")
                wrong = right.replace("succeeded", "failed") if f.outcome else right.replace("failed", "succeeded")
                return good.model_copy(update={"rationale": natural.replace(right, wrong, 1)})
            if f.relation in NEGATE:
                right = statement(f, names, "natural")
                neg = f"{names.name(f.subject)} {NEGATE[f.relation]} {names.name(f.object)}"
                return good.model_copy(update={"rationale": natural.replace(right, neg, 1)})
        return None
    if kind == "not_retrieved":
        shown = {f.fact_id for f in step.facts}
        cands = [i for i in other_fact_ids if i not in shown]
        if not cands:
            return None
        return good.model_copy(update={"claims": [*good.claims, Claim(facts=[rng.choice(cands)], role=good.claims[0].role)]})
    if kind == "none_but_moved":
        p = round(min(0.99, max(0.01, step.p_before + rng.choice([-1, 1]) * rng.uniform(0.05, 0.2))), 3)
        if abs(p - step.p_before) <= 0.01:
            return None
        return good.model_copy(update={"direction": "none", "probability": p,
                                       "claims": [Claim(facts=c.facts, role="context") for c in good.claims]})
    raise ValueError(kind)


def smollm2_cases(store: NetworkXGraphStore, names: Names) -> list[tuple[StepInput, StepAnswer, str]]:
    """The outputs quoted in issue 12 on a real trastuzumab -> trastuzumab + docetaxel step."""
    tra, doc = "drugbank:DB00072", "drugbank:DB01248"
    index = AnchorIndex.build(store)
    anchor_id, target_id = "clinicaltrials:NCT00216047", "clinicaltrials:NCT00129896"
    info = index.trials[target_id]
    drug_ids, dis_ids = sorted(info.drugs), sorted(info.diseases)
    target = ResolvedTarget(trial_id=target_id, drug_ids=drug_ids, disease_ids=dis_ids, phase=info.phase,
                            drug_names=_names(store, drug_ids), disease_names=_names(store, dis_ids))
    a_info = index.trials[anchor_id]
    a_drugs, a_dis = sorted(a_info.drugs), sorted(a_info.diseases)
    anchor = Anchor(trial_id=anchor_id, label=a_info.label, similarity=1.0, drug_ids=a_drugs, disease_ids=a_dis,
                    phase=a_info.phase, criteria=a_info.criteria, drug_names=_names(store, a_drugs),
                    disease_names=_names(store, a_dis), p_start=0.86)
    plan = next(p for p in build_plan(anchor, target, target_criteria=info.criteria) if p.factor.value == "drug")
    # the quoted outputs name docetaxel TARGETS TUBB4B: read facts until that fact is among them (the
    # target also lists doxorubicin since the resolver improved, so 120 facts no longer reach it)
    tubb = None
    for budget in (120, 400):
        facts = queries.facts_for_change(store, plan.factor, plan.anchor_ids, plan.target_ids, budget=budget,
                                         context_ids=plan.context_ids, hide_outcomes=[target_id])
        refs = [fact_ref(f) for f in facts]
        tubb = next((f for f in refs if f.subject == doc and f.relation == "TARGETS"
                     and names.name(f.object) == "TUBB4B"), None)
        if tubb is not None:
            break
    if tubb is None:
        raise SystemExit("the issue-12 step (NCT00216047 -> NCT00129896) shows no docetaxel TARGETS TUBB4B fact")
    own = next(f for f in refs if f.subject == tra)
    step = StepInput(factor=plan.factor, anchor_value=plan.anchor_value, target_value=plan.target_value,
                     p_before=0.86, facts=refs, anchor_summary=anchor.summary(), target_summary=target.summary())
    out = []
    for text, fact in (("Trastuzumab TARGETS EFFECTS CYTCHLINEMATIS", own), ("Trastuzumab TARGETS TUBB4B", tubb),
                       ("no", own), ("no one", own), ("Trastuzumab (TDKY)", own)):
        out.append((step, StepAnswer(direction="none", probability=0.86, claims=[Claim(facts=[fact.fact_id], role="context")],
                                     rationale=text), text))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True, help="embedded graph directory (kgimagine kg build --store DIR)")
    ap.add_argument("--targets", type=int, default=260)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--max-steps", type=int, default=260, help="correct answers (as many corrupted ones)")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: tests/data/reasoning)")
    args = ap.parse_args()
    out = args.out
    store = NetworkXGraphStore(args.graph)
    names = Names(store)
    rng = random.Random(args.seed)
    steps = collect_steps(store, args.targets, args.seed)
    rng.shuffle(steps)
    pool: dict[str, list[str]] = {}
    for s in steps:
        for f in s.facts:
            for end in (f.subject, f.object):
                pool.setdefault(names.label(end), []).append(end)
    pool = {k: sorted(set(v)) for k, v in pool.items()}
    all_fact_ids = sorted({f.fact_id for s in steps for f in s.facts})
    full = NameIndex.from_store(store)
    assert not any(full.mentions(x) for x in INVENTED), "an invented name is a real entity"
    rows: list[dict[str, Any]] = []
    styles = ("lines", "natural", "natural", "empty")
    k = 0
    for i, step in enumerate(steps):
        if len(rows) >= 2 * args.max_steps:
            break
        made = correct_answer(step, rng, names, styles[i % len(styles)])
        if made is None:
            continue
        good, chosen = made
        bad = None
        for j in range(len(CORRUPTIONS)):
            kind = CORRUPTIONS[(k + j) % len(CORRUPTIONS)]
            bad = corrupt(kind, step, good, chosen, names, rng, pool, all_fact_ids)
            if bad is not None:
                break
        if bad is None:
            continue
        k += 1
        n = len(rows) // 2
        expected = "refuted" if kind == "contradiction" else "unsupported"
        rows.append({"id": f"s{n:03d}-ok", "kind": "correct", "corruption": None, "expected": "supported",
                     "step": step.model_dump(mode="json"), "answer": good.model_dump(mode="json")})
        rows.append({"id": f"s{n:03d}-bad", "kind": "corrupted", "corruption": kind, "expected": expected,
                     "step": step.model_dump(mode="json"), "answer": bad.model_dump(mode="json")})
    for j, (step, ans, text) in enumerate(smollm2_cases(store, names)):
        rows.append({"id": f"smollm2-{j}", "kind": "smollm2_issue", "corruption": text, "expected": "unsupported",
                     "step": step.model_dump(mode="json"), "answer": ans.model_dump(mode="json")})
    entity_ids: set[str] = set()
    for r in rows:
        st = StepInput.model_validate(r["step"])
        for f in st.facts:
            entity_ids |= {f.subject, f.object}
        entity_ids |= set().union(*step_sides(st))
    entity_ids |= {x for ids in pool.values() for x in ids}
    out.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, dict[str, Any]] = {}  # one line per step, its answers inside (the step once)
    for r in rows:
        key = r["id"].rsplit("-", 1)[0] if r["kind"] != "smollm2_issue" else "smollm2"
        line = grouped.setdefault(key, {"id": key, "step": r["step"], "answers": []})
        line["answers"].append({k: r[k] for k in ("id", "kind", "corruption", "expected", "answer")})
    with open(out / "adversarial_steps.jsonl", "w", encoding="utf-8") as fh:
        for line in grouped.values():
            fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
    nodes = store.get_nodes(sorted(entity_ids))
    with open(out / "adversarial_names.jsonl", "w", encoding="utf-8") as fh:
        for i in sorted(nodes):
            n = nodes[i]
            aliases = n.properties.get("aliases") or []
            fh.write(json.dumps({"id": i, "label": n.label.value, "name": n.name or i,
                                 "synonyms": aliases if isinstance(aliases, list) else []}, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        key = r["corruption"] if r["kind"] == "corrupted" else r["kind"]
        kinds[key] = kinds.get(key, 0) + 1
    print(f"{len(rows)} answers over {len({r['id'][:4] for r in rows})} steps; {len(nodes)} names; {kinds}")


if __name__ == "__main__":
    main()
