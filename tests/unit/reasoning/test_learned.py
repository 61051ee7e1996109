"""The learned step operator: fitting discipline, the exact additive chain, new-trial parity."""

from __future__ import annotations

import itertools
import random

import pytest

from kgimagine.errors import ReasoningError
from kgimagine.kg.model import Edge, Node
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.reasoning.aggregate import logit, sigmoid
from kgimagine.reasoning.nodes import description_of
from kgimagine.reasoning.operators.learned import LearnedModel, LearnedOperator
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.retrieval import AnchorIndex
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.trials.evidence import EvidenceBuilder, TrialDescription, description_from_node, labelled_pool
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R
from tests.unit.reasoning import graph_fixture as G

DRUGS = [("Imatinib", G.IMATINIB), ("Sunitinib", G.SUNITINIB), ("Sorafenib", G.SORAFENIB), ("Metformin", G.METFORMIN)]
DISEASES = [("gastrointestinal stromal tumor", G.GIST), ("hepatocellular carcinoma", G.HCC),
            ("type 2 diabetes mellitus", G.T2D), ("chronic myeloid leukemia", G.CML)]


def _criteria(rng: random.Random, good: bool) -> str:
    cue = "measurable disease adequate organ function" if good else "refractory poor performance status prior failure"
    filler = rng.choice(["adults", "aged 18 or older", "signed consent", "ECOG 0-2"])
    return f"Inclusion: {cue}, {filler}. Exclusion: pregnancy."


@pytest.fixture(scope="module")
def lstore():
    """The reasoning fixture plus 60 labelled trials whose criteria carry the outcome signal and
    whose drug (imatinib mostly succeeds, metformin mostly fails) carries a prior."""
    rng = random.Random(3)
    st = NetworkXGraphStore(None)
    G.load(st)
    nodes, edges = [], []
    for n in range(100, 160):
        dname, did = DRUGS[n % 4]
        sname, sid = DISEASES[(n // 4) % 4]
        p = {G.IMATINIB: 0.8, G.SUNITINIB: 0.6, G.SORAFENIB: 0.5, G.METFORMIN: 0.2}[did]
        y = int(rng.random() < p)
        good = y == 1 if rng.random() < 0.8 else y == 0
        props = {"phase": rng.choice(["phase 1", "phase 2", "phase 3"]), "split": "phase_I_train",
                 "criteria": _criteria(rng, good), "outcome_label": y,
                 "drug_names": [dname.lower()], "disease_names": [sname], "icd10": []}
        nodes.append(Node(G.trial(n), L.TRIAL, f"NCT{n:08d}", props))
        edges.append(Edge(G.trial(n), R.TESTS, did, G.prov("top", f"t{n}")))
        edges.append(Edge(G.trial(n), R.STUDIES, sid, G.prov("top", f"s{n}")))
    st.upsert_nodes(nodes)
    st.upsert_edges(edges)
    return st


@pytest.fixture(scope="module")
def fitted(lstore):
    pool = labelled_pool(lstore)
    ev = EvidenceBuilder(lstore)
    model = LearnedModel.fit(ev, pool, anchors=AnchorIndex.build(lstore), k=3, n_folds=5)
    return model, pool


def _in_target_diseases(ev, target, anchor):
    """The anchor's drugs with the target's diseases (None when the diseases are the same)."""
    from kgimagine.trials.evidence import ResolvedEntities

    a_ent, t_ent = ev.resolve(anchor), ev.resolve(target)
    if set(a_ent.disease_ids) == set(t_ent.disease_ids):
        return None
    return ResolvedEntities(drug_ids=a_ent.drug_ids, disease_ids=t_ent.disease_ids, comparator=a_ent.comparator,
                            n_listed_drugs=a_ent.n_listed_drugs)


def _changed_only(ev, target, anchor):
    """(anchor side, target side) entities of a drug step whose sides keep a drug: each side's
    drugs that change, in the target's diseases (None when no drug is kept)."""
    from kgimagine.trials.evidence import ResolvedEntities

    a_ent, t_ent = ev.resolve(anchor), ev.resolve(target)
    kept = set(a_ent.drug_ids) & set(t_ent.drug_ids)
    if not kept:
        return None
    return tuple(ResolvedEntities(drug_ids=tuple(d for d in e.drug_ids if d not in kept), disease_ids=t_ent.disease_ids,
                                  comparator=e.comparator, n_listed_drugs=e.n_listed_drugs) for e in (a_ent, t_ent))


def _changed_move(model, ev, target, anchor, akey):
    """A drug step's move when its sides keep a drug: each side's step score with the record
    (drug_rate, the first drug column) read over its drugs that change, its indications over all
    its drugs in the target's diseases (None when no drug is kept)."""
    from kgimagine.trials.evidence import ResolvedEntities
    from kgimagine.types import Factor

    only = _changed_only(ev, target, anchor)
    if only is None:
        return None
    a_ent, t_ent = ev.resolve(anchor), ev.resolve(target)
    a_all = ResolvedEntities(drug_ids=a_ent.drug_ids, disease_ids=t_ent.disease_ids, comparator=a_ent.comparator,
                             n_listed_drugs=a_ent.n_listed_drugs)
    score = []
    for desc, ex, every, changed in ((anchor, {akey, target.key}, a_all, only[0]), (target, {akey}, t_ent, only[1])):
        feats = list(ev.evidence(desc, exclude=ex, entities=every).features[Factor.DRUG])
        feats[0] = ev.evidence(desc, exclude=ex, entities=changed).features[Factor.DRUG][0]
        score.append(model.step_score(Factor.DRUG, feats))
    return score[1] - score[0]


def _record_move(model, ev, factor, target, anchor, akey, *, split=True):
    """What a step of ``factor`` from ``anchor`` to ``target`` moves by, from the model's weights:
    the change of the factor's step score between the two sides' records (the anchor's trial left
    out of both). With ``split``, the known indication that the disease change makes (the anchor's
    drugs in the target's diseases against the anchor's) moves the disease step, not the drug step;
    and a drug step starts from the anchor's drugs read in the target's diseases (the target's
    trial left out too)."""
    from kgimagine.types import Factor

    t_rec = model.step_score(factor, ev.evidence(target, exclude={akey}).features[factor])
    a_rec = model.step_score(factor, ev.evidence(anchor, exclude={akey}).features[factor])
    if not split:
        return t_rec - a_rec
    changed = _changed_move(model, ev, target, anchor, akey) if factor is Factor.DRUG else None
    if changed is not None:  # a drug both sides keep is no step: the drugs that change only
        return changed
    mixed = _in_target_diseases(ev, target, anchor)
    if factor is Factor.DRUG and mixed is not None:
        return t_rec - model.step_score(factor, ev.evidence(anchor, exclude={akey, target.key}, entities=mixed).features[factor])
    w = model.meta["weights"]["drug:known_indication"]
    scale = dict(zip(model.meta["columns"], model.scale))["drug:known_indication"]
    a_ent, t_ent = ev.resolve(anchor), ev.resolve(target)
    shift = (model.platt[0] * w / scale if w > 0 else 0.0) * (
        ev.indicated(a_ent.drug_ids, t_ent.disease_ids) - ev.indicated(a_ent.drug_ids, a_ent.disease_ids))
    return t_rec - a_rec + (shift if factor is Factor.DISEASE else -shift)


def test_fit_learns_the_criteria_and_the_drug_record(fitted):
    model, _ = fitted
    w = model.meta["weights"]
    assert w["population:criteria_text_score"] > 0.2
    assert w["drug:drug_rate"] > 0
    assert 0.0 <= model.lam and 0.0 < model.threshold < 1.0


def test_refuses_a_pool_with_one_outcome(lstore):
    pool = {k: (d, 1) for k, (d, _) in labelled_pool(lstore).items()}
    with pytest.raises(ReasoningError, match="outcome class"):
        LearnedModel.fit(EvidenceBuilder(lstore), pool)


def test_own_label_never_reaches_own_features(lstore):
    pool = labelled_pool(lstore)
    key = "NCT00000104"  # imatinib: other imatinib trials share its drug record
    ev = EvidenceBuilder(lstore)
    ev.set_pool(pool)
    before = ev.evidence(pool[key][0]).vector()
    flipped = dict(pool)
    flipped[key] = (pool[key][0], 1 - pool[key][1])
    ev.set_pool(flipped)
    assert ev.evidence(pool[key][0]).vector() == before
    # but another trial's label does move it
    other = next(k for k in sorted(pool) if k != key and ev.resolve(pool[k][0]).drug_ids == ev.resolve(pool[key][0]).drug_ids)
    flipped[other] = (pool[other][0], 1 - pool[other][1])
    ev.set_pool(flipped)
    assert ev.evidence(pool[key][0]).vector() != before


def test_stored_trial_and_new_description_get_identical_scores(lstore, fitted):
    model, pool = fitted
    ev = EvidenceBuilder(lstore)
    ev.set_pool(pool)
    node = lstore.get_node(G.trial(101))
    stored = description_from_node(node)
    p = node.properties
    spec = TrialSpec.build(nct_id=stored.key, drugs=p["drug_names"], diseases=p["disease_names"], phase=p["phase"],
                           criteria=p["criteria"])
    assert model.factor_scores(stored, ev) == model.factor_scores(description_of(spec), ev)


def test_chain_is_an_exact_additive_path_to_the_model_estimate(lstore, fitted):
    model, pool = fitted
    model.lam = 0.0  # without residuals every complete, supported chain ends at the model's estimate
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    spec = TrialSpec.build(drugs=["imatinib"], diseases=["hepatocellular carcinoma"], phase="phase 2",
                           criteria=_criteria(random.Random(0), True))
    out = pred.predict(spec)
    estimate = op.target_probability(spec.key())
    assert out.chains
    for chain in out.chains:
        if all(s.supported for s in chain.steps):
            assert chain.p_end == pytest.approx(estimate, abs=2e-3)
        p = chain.p_start
        for s in chain.steps:  # every step starts where the last ended
            assert s.p_before == pytest.approx(p, abs=1e-9)
            p = s.p_after
    # a trial with the poor-outcome cues gets a lower estimate than the same trial with good cues
    bad = spec.model_copy(update={"criteria": _criteria(random.Random(0), False)})
    assert pred.predict(bad).probability < out.probability


def test_save_load_round_trip_and_graph_check(tmp_path, lstore, fitted):
    model, _ = fitted
    model.save(tmp_path / "op", graph_version=lstore.graph_version())
    again = LearnedModel.load(tmp_path / "op", graph_version=lstore.graph_version())
    assert again.weights == model.weights and again.oof == model.oof
    with pytest.raises(ReasoningError, match="fitted on graph"):
        LearnedModel.load(tmp_path / "op", graph_version="kg-other")
    (tmp_path / "op" / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(ReasoningError, match="does not match its manifest"):
        LearnedModel.load(tmp_path / "op")


def test_steps_cite_facts_whose_sign_agrees_with_the_move_and_the_strongest_against_it(lstore, fitted):
    """A moving step cites the facts that move it its way and, when a shown fact points the other
    way, the strongest such fact with that role: the move is their net, and a reader sees both."""
    model, _ = fitted
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    checked = with_against = 0
    # the parent disease "cancer" has no labelled trial of its own: every anchor differs in disease;
    # every labelled trial tests one drug, so a two-drug target adds a drug whose trials both
    # succeeded and failed
    targets = [([d.lower()], "cancer") for d, _ in DRUGS]
    targets += [([a.lower(), b.lower()], disease) for (a, _), (b, _) in itertools.combinations(DRUGS, 2)
                for disease, _ in DISEASES[:2]]
    for drugs, disease in targets:
        out = pred.predict(TrialSpec.build(drugs=drugs, diseases=[disease], phase="phase 2",
                                           criteria=_criteria(random.Random(1), False)))
        for chain in out.chains:
            for s in chain.steps:
                if not s.supported or s.direction == "none":
                    continue
                from kgimagine.traces import FactRef, StepInput

                step = StepInput(factor=s.factor, anchor_value=s.anchor_value, target_value=s.target_value,
                                 p_before=s.p_before, facts=[FactRef.model_validate(f) for f in s.facts],
                                 anchor_id=chain.anchor_id, target_key=out.key)
                signs = op.fact_signs(step)
                moved = s.direction
                up = moved == "up"
                lead = [fid for c in s.claims if c.role == moved for fid in c.facts]
                against = [fid for c in s.claims if c.role not in (moved, "context") for fid in c.facts]
                assert lead and all(signs[fid] == 0.0 or (signs[fid] > 0) == up for fid in lead)
                # at most one fact against the move: the strongest shown one, with its own role
                others = [f.fact_id for f in step.facts if signs.get(f.fact_id, 0.0) and (signs[f.fact_id] > 0) != up]
                assert len(against) <= 1 and all((signs[fid] > 0) != up for fid in against)
                if others:
                    strongest = max(abs(signs[f]) for f in others)
                    assert against and abs(signs[against[0]]) == strongest
                    with_against += 1
                checked += 1
    assert checked > 0 and with_against > 0
    assert sigmoid(0) == 0.5


def test_a_step_cites_trials_of_the_target_s_phase_before_earlier_ones(lstore, fitted):
    """Among the facts that agree with a move, a trial run in the target's phase or later comes
    before an earlier-phase one (a reader weighs a phase 1 result little for a phase 3 trial),
    then the strongest: the claims the reader sees first are the most relevant ones."""
    from kgimagine.trials.evidence import phase_group

    model, pool = fitted
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    mixed = reordered = 0
    for (a, _), (b, _) in itertools.combinations(DRUGS, 2):
        for disease, _ in DISEASES[:2]:
            out = pred.predict(TrialSpec.build(drugs=[a.lower(), b.lower()], diseases=[disease], phase="phase 3",
                                               criteria=_criteria(random.Random(2), True)))
            for chain in out.chains:
                for s in chain.steps:
                    if not s.supported or s.direction == "none":
                        continue
                    subject = {f.fact_id: f.subject for f in s.facts}
                    lead = [fid for c in s.claims if c.role == s.direction for fid in c.facts]
                    early = [(phase_group(pool[k][0].phase) or "9") < "3" if (k := subject[fid].removeprefix(
                        "clinicaltrials:")) in pool else False for fid in lead]
                    assert early == sorted(early), (s.anchor_value, s.target_value, lead)  # never a later-phase one after an earlier one
                    mixed += len(set(early)) > 1
                    reordered += bool(early) and not early[0]
    assert mixed > 0 and reordered > 0


def test_steps_move_only_by_what_their_facts_state(lstore, fitted):
    """Columns no single fact states (counts, neighbour records, mechanism overlap, arms listed)
    form the summary part, applied at the chain's start; a step's trial facts carry their
    leave-one-out effect on the step where it points the way the fact reads (a succeeded trial of
    the target's drug up); and on this graph every learned step is grounded (a step that does not
    move cites context facts, one that moves cites facts that move it the same way)."""
    from kgimagine.reasoning.operators.learned import SUMMARY, part_of
    from kgimagine.traces import FactRef, StepInput, rule_fact_signs
    from kgimagine.types import Factor

    model, pool = fitted
    assert part_of(Factor.DRUG, "drug_rate") == "drug" and part_of(Factor.DRUG, "mechanism_overlap") == SUMMARY
    assert part_of(Factor.DRUG, "n_targets") == SUMMARY and part_of(Factor.DISEASE, "disease_genes") == SUMMARY
    assert part_of(Factor.DISEASE, "disease_n") == SUMMARY and part_of(Factor.DRUG, "drug_n") == SUMMARY
    # a step column whose weight goes against its facts' reading would move steps no fact explains
    assert part_of(Factor.DISEASE, "disease_rate", -0.1) == SUMMARY and part_of(Factor.DISEASE, "disease_rate", 0.1) == "disease"
    assert part_of(Factor.DISEASE, "related_rate") == SUMMARY and part_of(Factor.POPULATION, "criteria_text_score") == "population"
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    steps, checked, recs, shifted = [], 0, 0, 0
    for (dname, _), (other, _) in zip(DRUGS, DRUGS[1:] + DRUGS[:1]):
        for sname in ("cancer", DISEASES[0][0]):  # two drugs: every anchor differs in drug
            out = pred.predict(TrialSpec.build(drugs=[dname.lower(), other.lower()], diseases=[sname],
                                               phase="phase 2", criteria=_criteria(random.Random(2), True)))
            assert SUMMARY in op._targets[out.key][0]
            for chain in out.chains:
                for s in chain.steps:
                    steps.append(s)
                    step = StepInput(factor=s.factor, anchor_value=s.anchor_value, target_value=s.target_value,
                                     p_before=s.p_before, facts=[FactRef.model_validate(f) for f in s.facts],
                                     anchor_id=chain.anchor_id, target_key=out.key)
                    signs = op.fact_signs(step)
                    reading = rule_fact_signs(step)
                    ev = op.evidence
                    for f in step.facts:
                        if f.relation != ("TESTS" if s.factor is Factor.DRUG else "STUDIES"):
                            continue
                        key = f.subject.removeprefix("clinicaltrials:")
                        # its leave-one-out effect on the step: on the target's score minus on the
                        # anchor's, each where that side's record holds the trial (a drug's record:
                        # its trials in the disease family; a drug step reads the anchor's drugs in
                        # the target's diseases)
                        effect = 0.0
                        # (neither side reads the anchor's own outcome: it is the chain's start)
                        akey = chain.anchor_id.removeprefix("clinicaltrials:")
                        target, anchor = op._targets[out.key][1], pool[akey][0]
                        mixed = _in_target_diseases(ev, target, anchor) if s.factor is Factor.DRUG else None
                        a_side = (anchor, {akey, target.key}, mixed) if mixed is not None else (anchor, {akey}, None)
                        t_side = (target, {akey}, None)
                        only = _changed_only(ev, target, anchor) if s.factor is Factor.DRUG else None
                        if only is not None:  # sides keep a drug: records over the drugs that change
                            a_side, t_side = (anchor, {akey, target.key}, only[0]), (target, {akey}, only[1])
                        for side, (desc, ex, ents) in ((1, t_side), (-1, a_side)):
                            ent = ents or ev.resolve(desc)
                            if s.factor is Factor.DRUG:
                                family = set(ent.disease_ids) | set(ev.related(ent.disease_ids))
                                held = {m for m in ev.pool_trials(drugs=ent.drug_ids)
                                        if not family or set(ev.resolve(pool[m][0]).disease_ids) & family}
                            else:
                                held = ev.pool_trials(diseases=ent.disease_ids)
                            if key in held and key not in ex:
                                with_it = model.step_score(s.factor, ev.evidence(desc, exclude=ex, entities=ents).features[s.factor])
                                without = model.step_score(s.factor, ev.evidence(desc, exclude=ex | {key}, entities=ents).features[s.factor])
                                effect += side * (with_it - without)
                        # kept only where it points the way the fact reads
                        agrees = effect * reading[f.fact_id] > 0
                        assert signs[f.fact_id] == pytest.approx(effect if agrees else 0.0)
                        checked += agrees
                    # the step moves between the two sides' records as the pool holds them (the
                    # anchor itself left out of both), not between out-of-fold parts; the known
                    # indication the disease change makes (the anchor's drugs in the target's
                    # diseases) moves the disease step, not the drug step
                    akey = chain.anchor_id.removeprefix("clinicaltrials:")
                    if s.supported and s.factor in (Factor.DRUG, Factor.DISEASE):
                        move = _record_move(model, ev, s.factor, op._targets[out.key][1], pool[akey][0], akey)
                        want = sigmoid(logit(s.p_before) + move)
                        shifted += move != _record_move(model, ev, s.factor, op._targets[out.key][1], pool[akey][0],
                                                        akey, split=False)
                        if s.direction == "none":  # a move within the verifier's 0.005 counts as none
                            assert abs(want - s.p_before) <= 0.0055
                        else:  # up to the answer's three decimals
                            assert s.p_after == pytest.approx(want, abs=6e-4)
                        recs += 1
                    # targets and disease genes are counts: no single one moves a step
                    assert all(signs[f.fact_id] == 0.0 for f in step.facts if f.relation in ("TARGETS", "ASSOCIATED_WITH"))
    assert steps and checked > 0 and recs > 0 and shifted > 0
    assert all(s.supported for s in steps), [s.error for s in steps if not s.supported]


def test_no_step_moves_by_the_target_s_own_outcome(lstore, fitted):
    """A target that is a labelled trial of the graph (e.g. `predict` on a validation trial whose
    label the graph holds, or a teacher chain) is hidden from its own facts; the anchor's record
    must not read it either, or a step would move by the very outcome being predicted. Flipping
    the target's label in the pool leaves every step's move unchanged."""
    from kgimagine.types import Factor

    model, pool = fitted
    moves = []
    for flip in (False, True):
        for key in sorted(pool)[:12]:
            p = dict(pool)
            if flip:
                p[key] = (pool[key][0], 1 - pool[key][1])
            op = LearnedOperator(lstore, model, pool=p)
            op.prepare_target(key, pool[key][0])
            anchors = [a for a in sorted(pool) if a != key and op._holds(pool[a][0], key)][:4]
            moves.append([round(op.delta(f, f"clinicaltrials:{a}", key), 9) for a in anchors
                          for f in (Factor.DISEASE, Factor.DRUG)])
    n = len(moves) // 2
    assert any(m for m in moves[:n]) and any(x != 0 for m in moves[:n] for x in m)
    assert moves[:n] == moves[n:]


def test_a_labelled_training_trial_gets_its_out_of_fold_scores(lstore, fitted):
    """Teacher chains for training trials must not read their own label through the text model."""
    model, pool = fitted
    op = LearnedOperator(lstore, model)
    key = sorted(pool)[0]
    desc = pool[key][0]
    assert op.prepare_target(key, desc) == model.oof[key][0]
    in_sample = model.factor_scores(desc, op.evidence)
    assert in_sample != model.oof[key][0]
    # the same trial described with other criteria is a new trial: scored by the model
    other = TrialDescription(key=key, drugs=desc.drugs, diseases=desc.diseases, phase=desc.phase, criteria="Inclusion: adults.")
    assert op.prepare_target("new", other) == model.factor_scores(other, op.evidence)


def test_labels_use_the_threshold_of_the_trial_phase(lstore, fitted):
    model, _ = fitted
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=2, threshold=0.0, phase_thresholds={"2": 0.999})
    crit = _criteria(random.Random(5), True)
    two = pred.predict(TrialSpec.build(drugs=["imatinib"], diseases=["cancer"], phase="phase 2", criteria=crit))
    three = pred.predict(TrialSpec.build(drugs=["imatinib"], diseases=["cancer"], phase="phase 3", criteria=crit))
    assert (two.threshold, two.label) == (0.999, 0) and (three.threshold, three.label) == (0.0, 1)
    # the fit keeps one per phase where the pool has enough trials of that phase (30+, both outcomes)
    assert set(model.meta["phase_thresholds"]) <= {"1", "2", "3"}
    # threshold None (Studio): the operator's own, per phase where it has one
    model.meta["phase_thresholds"] = {"3": 0.001}
    auto = Predictor(lstore, op, k=2, threshold=None)
    got = auto.predict(TrialSpec.build(drugs=["imatinib"], diseases=["cancer"], phase="phase 3", criteria=crit))
    other = auto.predict(TrialSpec.build(drugs=["imatinib"], diseases=["cancer"], phase="phase 2", criteria=crit))
    assert got.threshold == 0.001 and other.threshold == model.threshold
    model.meta.pop("phase_thresholds")


def test_labels_the_graph_does_not_hold_move_the_start_not_a_step(lstore, fitted):
    """kgimagine eval gives the model other folds' labels that are not graph facts. No fact can
    show them, so steps move between the records the graph holds and their effect joins the chain's
    start: every step stays grounded and each chain still ends at the model's estimate."""
    from kgimagine.types import Factor

    model, pool = fitted
    model.lam = 0.0
    # twelve succeeded metformin trials the graph does not hold (metformin mostly fails in it)
    extra = {f"NCTX{n:04d}": (TrialDescription(key=f"NCTX{n:04d}", drugs=("metformin",), diseases=(DISEASES[1][0],),
                                               phase="phase 2", criteria="Inclusion: adults."), 1) for n in range(12)}
    op = LearnedOperator(lstore, model, pool={**pool, **extra})
    assert op.records is not op.evidence and set(op.record_pool) == set(pool)
    pred = Predictor(lstore, op, k=3)
    spec = TrialSpec.build(drugs=["metformin", "sunitinib"], diseases=["cancer"], phase="phase 2",
                           criteria=_criteria(random.Random(4), True))  # every anchor differs in drug
    out = pred.predict(spec)
    steps = [s for c in out.chains for s in c.steps]
    assert any(s.factor is Factor.DRUG for s in steps)
    assert all(s.supported for s in steps), [s.error for s in steps if not s.supported]
    graph_ev = EvidenceBuilder(lstore)
    graph_ev.set_pool(pool)
    target = op._targets[out.key][1]
    for chain in out.chains:  # each drug step moves by the graph's records, never by the extra labels
        akey = chain.anchor_id.removeprefix("clinicaltrials:")
        for s in chain.steps:
            if s.factor is Factor.DRUG and s.direction != "none":
                move = _record_move(model, graph_ev, Factor.DRUG, target, pool[akey][0], akey)
                assert s.p_after == pytest.approx(sigmoid(logit(s.p_before) + move), abs=6e-4)
    estimate = op.target_probability(spec.key())
    for chain in out.chains:
        assert chain.p_end == pytest.approx(estimate, abs=2e-3)
    # over the graph's labels alone, one pool serves both
    plain = LearnedOperator(lstore, model, pool=pool)
    assert plain.records is plain.evidence


def test_a_target_with_no_disease_in_the_graph_has_no_record_step(lstore, fitted):
    """A target naming no disease the graph holds reads its drugs' records over every disease: the
    estimate keeps that record, but no fact could state a step into diseases the graph does not
    know (a failed trial in an unrelated disease, an indication that "leaves" by the graph's gap),
    so the disease and drug changes join each chain's start and the flag says so."""
    from kgimagine.types import Factor

    model, pool = fitted
    model.lam = 0.0
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    crit = _criteria(random.Random(5), True)
    placed = pred.predict(TrialSpec.build(drugs=["metformin", "sunitinib"], diseases=["hepatocellular carcinoma"],
                                          phase="phase 2", criteria=crit))  # every anchor differs in drug
    moving = [s for c in placed.chains for s in c.steps if s.factor in (Factor.DRUG, Factor.DISEASE)
              and s.direction != "none"]
    assert moving  # with its disease in the graph, the same trial's record changes are steps
    for drug in ("metformin", "imatinib"):
        spec = TrialSpec.build(drugs=[drug, "sunitinib"], diseases=["quantum flux syndrome"], phase="phase 2",
                               criteria=crit)
        out = pred.predict(spec)
        assert any("no disease in the graph" in f and LearnedOperator.unplaced_note in f for f in out.flags)
        steps = [s for c in out.chains for s in c.steps if s.factor in (Factor.DRUG, Factor.DISEASE)]
        assert steps and all(s.direction == "none" and s.supported for s in steps)
        assert all(cl.role == "context" for s in steps for cl in s.claims)
        estimate = op.target_probability(spec.key())
        assert all(c.p_end == pytest.approx(estimate, abs=2e-3) for c in out.chains)
        # the drugs' records, read over every disease, still reach the estimate
        assert op.evidence.evidence(op._targets[spec.key()][1]).features[Factor.DRUG][0] != 0.0


def test_a_drug_both_sides_keep_carries_no_drug_step(lstore, fitted):
    """Adding a drug to a kept one changes a pooled record by dilution: the kept drug's trials
    would carry the step though no fact about them states the change. Each side's record is read
    over its drugs that change, so no claim cites a trial of a kept drug alone, and the chain
    still ends at the model's estimate (the difference joins the start)."""
    from kgimagine.types import Factor

    model, pool = fitted
    model.lam = 0.0
    op = LearnedOperator(lstore, model)
    pred = Predictor(lstore, op, k=3)
    names = {did: n.lower() for n, did in DRUGS}
    checked = 0
    for (a, _), (b, _) in itertools.permutations(DRUGS, 2):
        spec = TrialSpec.build(drugs=[a.lower(), b.lower()], diseases=[DISEASES[0][0]], phase="phase 2",
                               criteria=_criteria(random.Random(6), True))
        out = pred.predict(spec)
        estimate = op.target_probability(spec.key())
        for chain in out.chains:
            akey = chain.anchor_id.removeprefix("clinicaltrials:")
            kept = {names[d] for d in op.records.resolve(pool[akey][0]).drug_ids} & {a.lower(), b.lower()}
            for s in chain.steps:
                if s.factor is not Factor.DRUG or s.direction == "none" or not kept:
                    continue
                facts = {f.fact_id: f for f in s.facts}
                for c in s.claims:
                    for fid in c.facts:
                        f = facts[fid]
                        if f.relation == "TESTS" and f.subject.removeprefix("clinicaltrials:") in pool:
                            trial_drugs = set(pool[f.subject.removeprefix("clinicaltrials:")][0].drugs)
                            assert not trial_drugs <= kept, (s.anchor_value, s.target_value, f.text)
                checked += 1
            if all(s.supported for s in chain.steps):  # (a move within 0.005 is "none" and not taken)
                none = sum(s.direction == "none" for s in chain.steps)
                assert chain.p_end == pytest.approx(estimate, abs=2e-3 + 0.005 * none)
    assert checked > 0


def test_known_indication_moves_the_step_whose_change_makes_it(lstore, fitted):
    """Known indication is of the drugs IN the diseases. Imatinib treats GIST, not HCC: moving an
    imatinib-in-GIST anchor to an imatinib-in-HCC target loses the indication with the disease
    step, and "Imatinib TREATS GIST" is the fact that states it; a drug step in the same disease
    cannot move by it, and a kept drug's indication backs no drug step."""
    from kgimagine.kg import queries
    from kgimagine.reasoning.nodes import fact_ref
    from kgimagine.traces import FactRef, StepInput
    from kgimagine.types import Factor

    model, pool = fitted
    assert model.meta["weights"]["drug:known_indication"] > 0  # a step column in this fit
    op = LearnedOperator(lstore, model)
    akey = next(k for k, (d, _) in sorted(pool.items())
                if d.drugs == ("imatinib",) and d.diseases == ("gastrointestinal stromal tumor",))
    target = TrialDescription(key="new-hcc", drugs=("imatinib", "sunitinib"), diseases=("hepatocellular carcinoma",),
                              phase="phase 2", criteria="Inclusion: adults.")
    op.prepare_target("new-hcc", target)
    anchor_id = f"clinicaltrials:{akey}"
    a_rec, t_rec = op._step_parts(anchor_id, "new-hcc")
    # the disease step carries the lost indication (its part falls by it), the drug step does not
    plain = op._record(akey)  # the anchor's record as it stands
    assert op.records.indicated([G.IMATINIB], [G.GIST]) == 1.0 and op.records.indicated([G.IMATINIB], [G.HCC]) == 0.0
    w = model.meta["weights"]["drug:known_indication"]
    scale = dict(zip(model.meta["columns"], model.scale))["drug:known_indication"]
    shift = -model.platt[0] * w / scale  # the indication lost with GIST
    assert a_rec[Factor.DISEASE.value] == pytest.approx(plain[Factor.DISEASE.value] - shift)
    # the drug step reads both sides in HCC (imatinib's lost indication is the disease step's), and
    # imatinib is on both sides: each side's record is read over the drugs that change (none on the
    # anchor's side, sunitinib on the target's), so imatinib's trials move no drug step
    anchor = pool[akey][0]
    d = Factor.DRUG
    move = _changed_move(model, op.records, target, anchor, akey)
    assert t_rec[d.value] - a_rec[d.value] == pytest.approx(move)
    sunitinib_only = model.step_score(d, op.records.evidence(target, exclude={akey}, entities=_changed_only(
        op.records, target, anchor)[1]).features[d]) - model.step_score(d, op.records.evidence(
            anchor, exclude={akey, "new-hcc"}, entities=_changed_only(op.records, target, anchor)[0]).features[d])
    assert move == pytest.approx(sunitinib_only)  # (the indications in HCC read alike either way)

    def step(factor, a_ids, t_ids, a_val, t_val):
        facts = queries.facts_for_change(lstore, factor, a_ids, t_ids, budget=40,
                                         context_ids=[G.IMATINIB, G.SUNITINIB] if factor is Factor.DISEASE else [G.GIST, G.HCC])
        return StepInput(factor=factor, anchor_value=a_val, target_value=t_val, p_before=0.5,
                         facts=[FactRef.model_validate(fact_ref(f).model_dump()) for f in facts],
                         anchor_id=anchor_id, target_key="new-hcc")

    dis = step(Factor.DISEASE, [G.GIST], [G.HCC], f"gastrointestinal stromal tumor [{G.GIST}]",
               f"hepatocellular carcinoma [{G.HCC}]")
    signs = op.fact_signs(dis)
    gist = [f for f in dis.facts if f.relation == "TREATS" and f.subject == G.IMATINIB and f.object == G.GIST]
    assert gist and all(signs[f.fact_id] == pytest.approx(shift) for f in gist)  # it states the fall
    drug = step(Factor.DRUG, [G.IMATINIB], [G.IMATINIB, G.SUNITINIB], f"Imatinib [{G.IMATINIB}]",
                f"Imatinib [{G.IMATINIB}], Sunitinib [{G.SUNITINIB}]")
    dsigns = op.fact_signs(drug)
    kept = [f for f in drug.facts if f.relation == "TREATS" and f.subject == G.IMATINIB]
    assert kept and all(dsigns[f.fact_id] == 0.0 for f in kept)  # imatinib is on both sides


def test_a_statement_is_cited_once_when_two_edges_read_alike(lstore, fitted):
    """One source row can be two edges that read the same (repoDB's approval ends at the Mondo
    and at the DOID node of one disease): a step cites it once, and moves as it did before."""
    from kgimagine.kg import queries
    from kgimagine.reasoning.nodes import fact_ref
    from kgimagine.traces import FactRef, StepInput, distinct_statements
    from kgimagine.types import Factor

    model, pool = fitted
    op = LearnedOperator(lstore, model)
    akey = next(k for k, (d, _) in sorted(pool.items())
                if d.drugs == ("imatinib",) and d.diseases == ("gastrointestinal stromal tumor",))
    target = TrialDescription(key="new-hcc2", drugs=("imatinib",), diseases=("hepatocellular carcinoma",),
                              phase="phase 2", criteria="Inclusion: adults.")
    op.prepare_target("new-hcc2", target)
    facts = [FactRef.model_validate(fact_ref(f).model_dump()) for f in queries.facts_for_change(
        lstore, Factor.DISEASE, [G.GIST], [G.HCC], budget=40, context_ids=[G.IMATINIB])]
    treats = next(f for f in facts if f.relation == "TREATS" and f.subject == G.IMATINIB and f.object == G.GIST)
    twin = treats.model_copy(update={"fact_id": "fact:twin-of-the-treats-edge"})

    def answer(fs):
        return op.answer(StepInput(factor=Factor.DISEASE, anchor_value=f"gastrointestinal stromal tumor [{G.GIST}]",
                                   target_value=f"hepatocellular carcinoma [{G.HCC}]", p_before=0.5, facts=fs,
                                   anchor_id=f"clinicaltrials:{akey}", target_key="new-hcc2"))

    once, twice = answer(facts), answer([*facts, twin])
    assert once.direction == "down" and treats.fact_id in [i for c in once.claims for i in c.facts]
    cited = [i for c in twice.claims for i in c.facts]
    assert (twice.direction, twice.probability) == (once.direction, once.probability)
    assert len({treats.fact_id, twin.fact_id} & set(cited)) == 1
    texts = {f.fact_id: f.text for f in [*facts, twin]}
    assert len({texts[i] for i in cited}) == len(cited)
    # the same statement from another source is corroboration, not a repeat
    other = treats.model_copy(update={"fact_id": "fact:other-source", "text": treats.text.replace("(", "(drugcentral ", 1)})
    assert distinct_statements([treats.fact_id, twin.fact_id, other.fact_id], [treats, twin, other]) == [
        treats.fact_id, other.fact_id]


def test_train_operator_if_missing_refits_an_operator_fitted_by_other_code(tmp_path, lstore, monkeypatch):
    """``scripts/run-main`` runs ``train operator --if-missing``: an operator fitted for this graph
    by this code is kept; one fitted by other operator code is refitted, not silently reused."""
    import json as _json

    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    g = tmp_path / "g"
    on_disk = NetworkXGraphStore(g)
    on_disk.upsert_nodes(list(lstore.iter_nodes()))
    on_disk.upsert_edges(list(lstore.iter_edges()))
    on_disk.save()
    monkeypatch.setenv("KGIMAGINE_CACHE", str(tmp_path / "cache"))
    args = ["train", "operator", "--store", str(g), "--out", str(tmp_path / "op"), "--no-embed", "--k", "3", "--if-missing"]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    manifest = tmp_path / "op" / "manifest.json"
    kept = runner.invoke(app, args)
    assert kept.exit_code == 0 and "already fitted" in kept.output
    m = _json.loads(manifest.read_text())
    manifest.write_text(_json.dumps({**m, "fit_code": "older code"}))
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "other operator code" in again.output, again.output
    assert _json.loads(manifest.read_text())["fit_code"] != "older code"
