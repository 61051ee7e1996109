"""The leakage audit passes on a clean graph and FAILS when an evaluated outcome is planted."""

from __future__ import annotations

import pytest

from kgimagine.errors import LeakageError
from kgimagine.evaluation.audit import audit_leakage, enforce
from kgimagine.kg.model import Edge, Node
from kgimagine.types import NodeLabel, RelationType as R

from .graphs import EVAL, PROV, build_store

EVALUATED = list(EVAL)


def _failed(report):
    return {c.name for c in report.failures}


def test_clean_graph_passes():
    report = audit_leakage(build_store(), EVALUATED)
    assert report.passed, report.to_markdown()
    assert report.n_labelled_in_graph == 5 and report.labelled_splits == {"phase_I_train": 5}
    enforce(report)  # no error
    assert "PASSED" in report.to_markdown()


def test_planted_label_on_trial_node_fails():
    st = build_store()
    st.upsert_nodes([Node("clinicaltrials:NCT00000011", NodeLabel.TRIAL, "NCT00000011",
                          {"phase": "phase 2", "split": "phase_I_valid", "outcome_label": 1})])
    report = audit_leakage(st, EVALUATED)
    assert "trial-node-label" in _failed(report)
    # the planted node is also a labelled trial from a split that is not allowed
    assert "anchor-splits" in _failed(report)
    with pytest.raises(LeakageError, match="trial-node-label"):
        enforce(report)
    enforce(report, allow_leakage=True)  # demonstration mode


def test_planted_repodb_status_keyed_by_nct_fails():
    st = build_store()
    st.upsert_edges([Edge("drugbank:DB00002", R.TRIALLED_FOR, "mondo:0000002", PROV,
                          {"status": "terminated", "phase": "phase 2"}, key="NCT00000012")])
    report = audit_leakage(st, EVALUATED)
    assert _failed(report) == {"keyed-edge-status"}
    # the same status keyed by a training trial is not a leak for these evaluated trials
    st2 = build_store()
    st2.upsert_edges([Edge("drugbank:DB00002", R.TRIALLED_FOR, "mondo:0000002", PROV,
                           {"status": "terminated"}, key="NCT00000004")])
    assert audit_leakage(st2, EVALUATED).passed


def test_planted_label_in_any_property_fails():
    st = build_store()
    st.upsert_nodes([Node("drugbank:DB00001", NodeLabel.DRUG, "alpha", {"trial_results": ["NCT00000011: 1"]})])
    assert "property-mentions-outcome" in _failed(audit_leakage(st, EVALUATED))
    st = build_store()
    st.upsert_edges([Edge("clinicaltrials:NCT00000011", R.TESTS, "drugbank:DB00001", PROV, {"outcome": "success"})])
    assert "trial-edge-outcome" in _failed(audit_leakage(st, EVALUATED))


def test_citing_an_evaluated_trial_in_free_text_is_not_a_leak():
    st = build_store()
    st.upsert_nodes([Node("clinicaltrials:NCT00000001", NodeLabel.TRIAL, "NCT00000001",
                          {"phase": "phase 1", "split": "phase_I_train", "outcome_label": 1,
                           "criteria": "Patients who completed study NCT00000011 are eligible."})])
    assert audit_leakage(st, EVALUATED).passed


def test_evaluating_training_trials_fails():
    report = audit_leakage(build_store(), ["NCT00000001"])
    assert "trial-node-label" in _failed(report)


def test_feature_columns_with_an_outcome_fail():
    report = audit_leakage(build_store(), EVALUATED, feature_columns=["nctid", "criteria", "why_stop"])
    assert _failed(report) == {"feature-columns"}
