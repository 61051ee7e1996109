from __future__ import annotations

import pytest

from kgimagine.errors import ReasoningError
from kgimagine.kg import queries
from kgimagine.reasoning.aggregate import logit
from kgimagine.reasoning.operators.statistical import ALL_NAMES, RULE_WEIGHTS, StatisticalOperator, pair_design
from kgimagine.reasoning.predictor import Predictor
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.reasoning.nodes import fact_ref
from kgimagine.reasoning.verifier import NameIndex, verify_step
from kgimagine.traces import StepInput, parse_step_answer, role_of
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G


def _step(store, factor, a_val, t_val, a_ids, t_ids, ctx, p=0.5, summary_t="new trial (phase 2): x"):
    facts = queries.facts_for_change(store, factor, a_ids, t_ids, context_ids=ctx)
    return StepInput(
        factor=factor, anchor_value=a_val, target_value=t_val, p_before=p,
        facts=[fact_ref(f) for f in facts],
        anchor_summary=f"anchor: {' '.join(f'[{i}]' for i in ctx)}", target_summary=summary_t,
    )


def test_answer_is_deterministic_json_citing_shown_facts(rstore):
    op = StatisticalOperator(rstore)
    step = _step(rstore, Factor.DRUG, f"Sorafenib [{G.SORAFENIB}]", f"Sunitinib [{G.SUNITINIB}]",
                 [G.SORAFENIB], [G.SUNITINIB], [G.HCC])
    raw = op.imagine(step)
    assert raw == op.imagine(step, feedback="anything")
    ans = parse_step_answer(raw)
    shown = {f.fact_id for f in step.facts}
    assert ans.cited and set(ans.cited) <= shown
    # the reverse swap gains the indication (sorafenib TREATS HCC) and a better record: higher
    rev = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"Sunitinib [{G.SUNITINIB}]",
                                             f"Sorafenib [{G.SORAFENIB}]", [G.SUNITINIB], [G.SORAFENIB], [G.HCC])))
    assert rev.probability > ans.probability


def test_more_mechanism_overlap_gives_higher_probability(rstore):
    op = StatisticalOperator(rstore)
    close = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"x [{G.IMATINIB}]", f"y [{G.SUNITINIB}]",
                                               [G.IMATINIB], [G.SUNITINIB], [G.GIST])))
    far = parse_step_answer(op.imagine(_step(rstore, Factor.DRUG, f"x [{G.IMATINIB}]", f"y [{G.METFORMIN}]",
                                             [G.IMATINIB], [G.METFORMIN], [G.GIST])))
    assert close.probability > far.probability


def test_fit_save_load(rstore, tmp_path):
    rows, offsets, labels = pair_design(rstore, k=3)
    assert len(rows) == len(offsets) == len(labels) > 0 and all(len(r) == len(ALL_NAMES) for r in rows)
    op = StatisticalOperator.fit(rstore, k=3, l2=1.0)
    assert op.weights != RULE_WEIGHTS and op.name.startswith("statistical:fitted@kg-")
    path = op.save(tmp_path / "w.json")
    again = StatisticalOperator.load(path, rstore)
    assert again.weights == pytest.approx(op.weights)
    with pytest.raises(ReasoningError, match="unknown statistical-operator weights"):
        StatisticalOperator(rstore, weights={"nope": 1.0})
    with pytest.raises(ReasoningError, match="cannot read"):
        StatisticalOperator.load(tmp_path / "missing.json", rstore)


def _predict_trial8(extra_nodes=(), extra_edges=()):
    from tests.unit.reasoning.graph_fixture import fixture_store

    st = fixture_store()
    st.upsert_nodes(list(extra_nodes))
    st.upsert_edges(list(extra_edges))
    return Predictor(st, StatisticalOperator(st), k=3).predict(TrialSpec.from_graph(st, "NCT00000008"))


def test_statistical_chain_moves_with_the_graph_evidence():
    # trial 8 tests sorafenib in GIST; the graph gains one fact: sorafenib TREATS GIST
    from kgimagine.kg.model import Edge
    from kgimagine.types import RelationType
    from tests.unit.reasoning.graph_fixture import prov

    base = _predict_trial8()
    indication = Edge(G.SORAFENIB, RelationType.TREATS, G.GIST, prov("pharmacotherapydb", "new"))
    more = _predict_trial8(extra_edges=[indication])
    assert base.steps_total > 0 and more.steps_total > 0
    assert more.probability > base.probability  # an indication for the target raises the estimate
    assert any(indication.fact_id in s.cited for c in more.chains for s in c.steps)  # and is cited


@pytest.mark.parametrize("label", [0, 1])
def test_statistical_chain_follows_a_twin_trials_outcome(label):
    # a labelled twin of trial 8 (same drug, disease, phase and criteria) pulls the estimate to its outcome
    from kgimagine.kg.model import Edge, Node
    from kgimagine.types import NodeLabel, RelationType
    from tests.unit.reasoning.graph_fixture import CRIT, prov

    twin = G.trial(9)
    node = Node(twin, NodeLabel.TRIAL, "NCT00000009",
                {"phase": "phase 2", "split": "train", "criteria": CRIT[8], "outcome_label": label})
    edges = [Edge(twin, RelationType.TESTS, G.SORAFENIB, prov("top", "train:9", "TOP non-commercial")),
             Edge(twin, RelationType.STUDIES, G.GIST, prov("top", "train:9", "TOP non-commercial"))]
    base = _predict_trial8()
    with_twin = _predict_trial8([node], edges)
    assert with_twin.anchors[0] == twin
    assert (with_twin.probability > base.probability) if label else (with_twin.probability < base.probability)


def test_statistical_operator_end_to_end_is_grounded_and_keeps_its_model(rstore):
    """Every step moves only by what its facts state and is supported; what the model adds that no
    fact states (the phase step's delta, factor biases) is carried to the chain's end, so each
    chain still ends at the model's full sum and says how much of it no fact states."""
    op = StatisticalOperator(rstore)
    pred = Predictor(rstore, op, k=3).predict(TrialSpec.from_graph(rstore, "NCT00000008"))
    assert pred.steps_total > 0 and pred.grounding_rate == 1.0 and 0 < pred.probability < 1
    assert any(abs(c.unstated) > 0 for c in pred.chains)
    for c in pred.chains:
        z = logit(c.p_start) + sum(logit(s.p_after) - logit(s.p_before) for s in c.steps)
        assert sum(s.unstated for s in c.steps) == pytest.approx(c.unstated)
        assert logit(c.p_end) == pytest.approx(z + c.unstated)
    phase = [s for c in pred.chains for s in c.steps if s.factor is Factor.PHASE]
    assert phase and all(s.p_after == s.p_before and s.unstated != 0 for s in phase)  # no fact states a phase's prior
    from kgimagine.reasoning.readable import lines

    assert any("priors no fact states" in line for line in lines(pred))


@pytest.mark.parametrize("factor, a, t, ctx", [
    (Factor.DRUG, G.SORAFENIB, G.SUNITINIB, [G.HCC]),
    (Factor.DRUG, G.IMATINIB, G.METFORMIN, [G.GIST]),
    (Factor.DISEASE, G.HCC, G.GIST, [G.SORAFENIB]),
])
def test_answers_agree_with_the_operators_own_signs(rstore, factor, a, t, ctx):
    """Roles are the signs of the operator's own evidence, and the answer passes the verifier."""
    op = StatisticalOperator(rstore)
    step = _step(rstore, factor, f"x [{a}]", f"y [{t}]", [a], [t], ctx, p=0.6)
    ans = op.answer(step)
    signs = op.fact_signs(step)
    assert ans.claims and all(c.role == role_of(sum(signs.get(f, 0.0) for f in c.facts))
                              or (ans.direction == "none" and c.role == "context") for c in ans.claims)
    # the answer moves by exactly what its facts state; the rest waits for the chain's end
    moved = logit(ans.probability) - logit(step.p_before)
    _, contrib, bias = op._contributions(step)
    assert moved + op.unstated_move(step) == pytest.approx(sum(contrib.values()) + bias)
    if ans.direction != "none":
        assert moved == pytest.approx(sum(signs.values()), abs=0.01)  # up to the 3-decimal answer
    assert set(signs) <= {f.fact_id for f in step.facts}
    v = verify_step(ans, step, NameIndex.from_store(rstore), store=rstore, fact_signs=signs)
    assert v.supported, v.reason


def test_two_edges_that_read_alike_are_cited_once():
    """A claim list never repeats a statement: one source row that is two edges reading alike
    (as repoDB's approval at a disease's Mondo and DOID nodes) is cited once."""
    from kgimagine.kg.model import Edge, Node
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.types import NodeLabel, RelationType

    st = NetworkXGraphStore(None)
    G.load(st)
    mondo_hcc = "mondo:0007256"
    st.upsert_nodes([Node(mondo_hcc, NodeLabel.DISEASE, "hepatocellular carcinoma", {})])
    st.upsert_edges([Edge(mondo_hcc, RelationType.SAME_AS, G.HCC, G.prov("mondo", "m1")),
                     Edge(G.SORAFENIB, RelationType.TREATS, mondo_hcc, G.prov("pharmacotherapydb", "i3"))])
    op = StatisticalOperator(st)
    step = _step(st, Factor.DRUG, f"Sunitinib [{G.SUNITINIB}]", f"Sorafenib [{G.SORAFENIB}]",
                 [G.SUNITINIB], [G.SORAFENIB], [G.HCC, mondo_hcc])
    texts = {f.fact_id: f.text for f in step.facts}
    twins = [i for i, t in texts.items() if t.startswith("Sorafenib TREATS hepatocellular carcinoma")]
    signs = op.fact_signs(step)
    assert len(twins) == 2 and all(signs.get(i, 0.0) > 0 for i in twins)  # both shown, both state the move
    cited = [i for c in op.answer(step).claims for i in c.facts]
    assert len(set(twins) & set(cited)) == 1 and len({texts[i] for i in cited}) == len(cited)


# -- issue 14 item 10: no double-counted anchor label; a fitted per-chain intercept ---------------


def _anchor_label_graph(anchor_label: int):
    """Drug D tested by the anchor (label ``anchor_label``) and one other trial (failed); drug E new."""
    from kgimagine.kg.model import Edge, Node
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.types import NodeLabel, RelationType
    from tests.unit.reasoning.graph_fixture import prov

    d, e = "drugbank:DB90001", "drugbank:DB90002"
    st = NetworkXGraphStore()
    st.upsert_nodes([Node(d, NodeLabel.DRUG, "Drugd"), Node(e, NodeLabel.DRUG, "Druge"),
                     Node(G.GIST, NodeLabel.DISEASE, "gastrointestinal stromal tumor")])
    for n, label in ((1, anchor_label), (2, 0)):
        st.upsert_nodes([Node(G.trial(n), NodeLabel.TRIAL, f"NCT{n:08d}", {"phase": "phase 2", "outcome_label": label})])
        st.upsert_edges([Edge(G.trial(n), RelationType.TESTS, d, prov("top", f"train:{n}", "TOP non-commercial"))])
    return st, d, e


@pytest.mark.parametrize("anchor_label", [0, 1])
def test_anchor_outcome_is_not_counted_again_in_prior_features(anchor_label):
    st, d, e = _anchor_label_graph(anchor_label)
    step = StepInput(factor=Factor.DRUG, anchor_value=f"Drugd [{d}]", target_value=f"Druge [{e}]", p_before=0.5,
                     facts=[], anchor_summary=f"{G.trial(1)} (phase 2): Drugd [{d}] in x [{G.GIST}]",
                     target_summary=f"new trial (phase 2): Druge [{e}] in x [{G.GIST}]")
    # only the other trial (failed) counts: (0 + 0.5 * 2) / (1 + 2) - 0.5, whatever the anchor's label
    assert StatisticalOperator(st).evidence(step).features["anchor_prior_success"] == pytest.approx(1 / 3 - 0.5)
    # the same when the anchor comes as StepInput.anchor_id (the reasoning graph's route)
    by_id = step.model_copy(update={"anchor_summary": "", "anchor_id": G.trial(1)})
    assert StatisticalOperator(st).evidence(by_id).features["anchor_prior_success"] == pytest.approx(1 / 3 - 0.5)
    # and the anchor side never counts the anchor even when the target drug is the same drug
    ev = queries.change_evidence(st, Factor.DISEASE, [G.GIST], [G.CML], context_ids=[d], anchor_trial=G.trial(1))
    assert ev.features["anchor_prior_success"] == ev.features["target_prior_success"] == pytest.approx(1 / 3 - 0.5)
    assert not any(G.trial(1) in f for f in ev.support["anchor_prior_success"])


def test_pair_design_hides_each_anchors_outcome(rstore):
    # the anchors of a target are other labelled trials: flipping one anchor's label never changes
    # the prior features of a pair whose anchor it is (only the offset, its start, moves)
    from kgimagine.kg.model import Node
    from kgimagine.reasoning.retrieval import AnchorIndex, ResolvedTarget

    rows, offsets, labels = pair_design(rstore, k=3)
    n4 = rstore.get_nodes([G.trial(4)])[G.trial(4)]
    flipped = Node(n4.id, n4.label, n4.name, {**n4.properties, "outcome_label": 0})
    rstore.upsert_nodes([flipped])
    rows2, offsets2, labels2 = pair_design(rstore, k=3)
    index = AnchorIndex.build(rstore)
    pairs = [(tid, a.trial_id) for tid, info in sorted(index.trials.items())
             for a in index.retrieve(ResolvedTarget(trial_id=tid, drug_ids=sorted(info.drugs),
                                                    disease_ids=sorted(info.diseases), phase=info.phase), k=3)]
    assert len(pairs) == len(rows2) == len(rows)
    anchored_on_4 = [i for i, (_, a) in enumerate(pairs) if a == G.trial(4)]
    priors = [ALL_NAMES.index(n) for n in ("anchor_prior_success", "target_prior_success", "target_prior_n")]
    assert anchored_on_4 and any(rows[i][ALL_NAMES.index("bias_drug")] for i in anchored_on_4)  # a drug step
    assert all(rows[i][c] == rows2[i][c] for i in anchored_on_4 for c in priors)


def test_fit_has_an_intercept_that_captures_a_base_rate_shift():
    # starts say 0.3, 90 % of targets succeed, features are zero-mean noise: only an intercept fits this
    import numpy as np

    from kgimagine.reasoning.operators.statistical import fit_logistic_offset

    rng = np.random.default_rng(0)
    n = 400
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), np.ones(n)])
    y = (rng.random(n) < 0.9).astype(float)
    offset = np.full(n, float(np.log(0.3 / 0.7)))
    w = fit_logistic_offset(X, offset, y, l2=1.0, unpenalised=[2])
    p = 1 / (1 + np.exp(-(offset + X @ w)))
    assert p.mean() == pytest.approx(y.mean(), abs=1e-6)  # calibrated in the large
    assert w[2] == pytest.approx(np.log(y.mean() / (1 - y.mean())) - np.log(0.3 / 0.7), abs=0.1)
    # without the column of ones the fit stays near the starts' 0.3
    w0 = fit_logistic_offset(X[:, :2], offset, y, l2=1.0)
    assert (1 / (1 + np.exp(-(offset + X[:, :2] @ w0)))).mean() < 0.5


def test_fit_on_graph_pairs_is_calibrated_in_the_large(rstore):
    # the graph's pairs: the fitted chain's mean probability is the targets' success rate
    import numpy as np

    rows, offsets, labels = pair_design(rstore, k=3)
    op = StatisticalOperator.fit(rstore, k=3, l2=1.0)
    z = np.asarray(offsets) + np.asarray(rows) @ np.asarray([op.weights[n] for n in ALL_NAMES])
    assert (1 / (1 + np.exp(-z))).mean() == pytest.approx(np.mean(labels), abs=1e-6)


def test_fitted_intercept_shifts_every_chain_start(rstore):
    op = StatisticalOperator.fit(rstore, k=3, l2=1.0)
    assert "intercept" in op.weights and op.start_offset == op.weights["intercept"]
    spec = TrialSpec.from_graph(rstore, "NCT00000008")
    shifted = StatisticalOperator(rstore, weights={**op.weights, "intercept": 1.0})
    base = StatisticalOperator(rstore, weights={**op.weights, "intercept": 0.0})
    a, b = Predictor(rstore, shifted, k=3).predict(spec), Predictor(rstore, base, k=3).predict(spec)
    from kgimagine.reasoning.aggregate import logit

    for ca, cb in zip(a.chains, b.chains):
        assert ca.anchor_id == cb.anchor_id
        assert logit(ca.p_start) - logit(cb.p_start) == pytest.approx(1.0, abs=1e-6)


def test_fit_weights_name_only_steps_the_plan_makes(rstore, tmp_path):
    import json

    assert not {"bias_dose", "bias_arm", "bias_endpoint"} & set(ALL_NAMES)
    op = StatisticalOperator.fit(rstore, k=3, l2=1.0)
    old = dict(op.weights)
    old.pop("intercept")
    old.update(bias_dose=0.0, bias_arm=0.0, bias_endpoint=0.0)  # a file written before this change
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"fitted_on": op.fitted_on, "weights": old}))
    again = StatisticalOperator.load(path, rstore)
    assert again.weights["intercept"] == 0.0 and set(again.weights) == set(ALL_NAMES)
    with pytest.raises(ReasoningError, match="unknown statistical-operator weights"):
        StatisticalOperator(rstore, weights={"bias_dosage": 1.0})
