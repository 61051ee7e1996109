"""Chain methods of the evaluation: the statistical chain with rule and fitted weights."""

from __future__ import annotations

import pytest

from kgimagine.evaluation.features import TrialInput
from kgimagine.evaluation.runner import build_chain_predict
from kgimagine.errors import EvaluationError, OperatorError

from tests.unit.reasoning.graph_fixture import fixture_store


def _trials(store):
    out = []
    for node in store.iter_nodes("Trial"):
        if "outcome_label" in node.properties:
            continue  # evaluate the unlabelled trial(s) only
        out.append(TrialInput(nctid=node.id.split(":", 1)[1], phase=node.properties.get("phase", ""),
                              diseases=tuple(node.properties.get("disease_names", [])), icdcodes=(),
                              drugs=tuple(node.properties.get("drug_names", [])),
                              criteria=node.properties.get("criteria", "")))
    return out


@pytest.mark.parametrize("method", ["chain-statistical", "chain-statistical-fit"])
def test_statistical_chains_predict_probabilities(method):
    store = fixture_store()
    trials = _trials(store)
    assert trials, "the fixture graph has an unlabelled trial to predict"
    preds = list(build_chain_predict(method, store)(trials))
    assert len(preds) == len(trials)
    for p in preds:
        assert 0.0 <= p.probability <= 1.0


def test_local_chain_needs_an_operator():
    with pytest.raises(EvaluationError, match="needs an operator"):
        build_chain_predict("chain-local", fixture_store())


def test_operator_failures_are_counted_not_fatal():
    # an operator that cannot answer: every trial errs, the batch still returns one row per trial
    from kgimagine.evaluation.baselines import ChainMethod, TrialTable
    from kgimagine.reasoning.operators.scripted import ScriptedOperator

    store = fixture_store()
    trials = _trials(store)
    failing = ScriptedOperator(["{}"], name="failing")
    failing.imagine = lambda step, feedback=None: (_ for _ in ()).throw(OperatorError("backend down"))
    method = ChainMethod("chain-local", build_chain_predict("chain-local", store, operator=failing))
    p = method.predict_proba(TrialTable(tuple(trials)))
    assert len(p) == len(trials)
    assert set(method.stats.errors) == {t.nctid for t in trials}
    assert all("backend down" in e for e in method.stats.errors.values())


def test_trials_without_anchors_are_counted():
    # a trial whose drug, disease and criteria match no labelled trial gets no chain: it is counted
    from kgimagine.evaluation.baselines import ChainMethod, TrialTable
    from kgimagine.evaluation.runner import _chain_summary

    store = fixture_store()
    lonely = TrialInput(nctid="NCT09999999", phase="", diseases=("xyzzy syndrome",), icdcodes=(), drugs=("plugh",),
                        criteria="")
    known = _trials(store)
    method = ChainMethod("chain-statistical", build_chain_predict("chain-statistical", store))
    method.predict_proba(TrialTable(tuple(known + [lonely])))
    summary = _chain_summary(method, [t.nctid for t in known + [lonely]])
    assert "NCT09999999" in method.stats.no_anchor and summary.no_anchor == 1
