"""Graph features: counts read from the store, approval ablation, out-of-fold prior rates."""

from __future__ import annotations

import numpy as np
import pytest

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.features import (
    APPROVAL_FEATURES,
    FEATURE_INPUT_COLUMNS,
    FORBIDDEN_COLUMNS,
    GraphFeatureBuilder,
    TrialInput,
    check_feature_columns,
    fold_of,
)

from .graphs import EVAL, TRAIN, build_store


NAMES = {"drugbank:DB00001": "alpha", "drugbank:DB00002": "beta", "drugbank:DB00003": "gamma",
         "mondo:0000001": "d1", "mondo:0000002": "d2"}


def _trial(nct, phase="phase 2"):
    """The trial AS A USER DESCRIBES IT: its drug and disease names (features never read its node)."""
    drugs, diseases = EVAL[nct] if nct in EVAL else TRAIN[nct][1:] if nct in TRAIN else ([], [])
    return TrialInput(nct, phase, tuple(NAMES[d] for d in diseases), (), tuple(NAMES[d] for d in drugs), "criteria")


def test_trial_input_has_no_outcome_columns():
    assert not FORBIDDEN_COLUMNS & set(FEATURE_INPUT_COLUMNS)
    assert check_feature_columns() == FEATURE_INPUT_COLUMNS
    with pytest.raises(EvaluationError, match="label"):
        check_feature_columns(["nctid", "criteria", "label"])
    with pytest.raises(EvaluationError, match="status"):
        check_feature_columns(["status"])
    # from_row copies the allowed columns only, whatever the row carries
    t = TrialInput.from_row({"nctid": "NCT00000011", "phase": "Phase 2", "label": 1, "status": "completed",
                             "drugs": ["x"], "criteria": "c"})
    assert not hasattr(t, "label") and not hasattr(t, "status") and t.phase == "phase 2"


def test_counts_and_approval_ablation():
    st = build_store()
    b = GraphFeatureBuilder(st)
    x = b.build([_trial("NCT00000011"), _trial("NCT00000012"), _trial("NCT09999999")])
    row = dict(zip(b.feature_names, x[0]))
    assert row["in_graph"] == 1 and row["n_drugs_resolved"] == 1 and row["n_diseases_resolved"] == 1
    assert row["n_targets"] == pytest.approx(np.log1p(2))  # G1, G2
    assert row["n_target_disease_overlap"] == pytest.approx(np.log1p(1))  # G1 shared with d1
    assert row["n_side_effects"] == pytest.approx(np.log1p(2))
    assert row["n_known_indications"] == 1 and row["n_drugs_with_any_indication"] == 1
    assert (row["phase_1"], row["phase_2"], row["phase_3"]) == (0, 1, 0)
    assert dict(zip(b.feature_names, x[1]))["n_known_indications"] == 0
    missing = dict(zip(b.feature_names, x[2]))
    assert missing["in_graph"] == 0 and missing["n_drugs_resolved"] == 0
    # as a new trial: the same names under an id the graph has never seen get the same features
    same = b.build([TrialInput("NCT07777777", "phase 2", ("d1",), (), ("alpha",), "criteria")])
    np.testing.assert_array_equal(same[0], x[0])
    nb = GraphFeatureBuilder(st, include_approval=False)
    assert not set(APPROVAL_FEATURES) & set(nb.feature_names)
    assert nb.build([_trial("NCT00000011")]).shape == (1, len(nb.feature_names))


def test_prior_rates_use_allowed_splits_and_smoothing():
    st = build_store()
    b = GraphFeatureBuilder(st, smoothing=0.0)
    row = dict(zip(b.feature_names, b.build([_trial("NCT00000011")])[0]))
    # DB00001 was tested by NCT..01 and NCT..02, both successes
    assert row["prior_drug_rate"] == 1.0 and row["prior_drug_n"] == pytest.approx(np.log1p(2))
    # d1: NCT..01 (1), NCT..03 (0), NCT..05 (1)
    assert row["prior_disease_rate"] == pytest.approx(2 / 3)
    # no allowed split: no prior pool at all
    empty = GraphFeatureBuilder(st, allowed_splits=("other",), smoothing=0.0)
    assert empty.labelled_trials() == {}
    r2 = dict(zip(empty.feature_names, empty.build([_trial("NCT00000011")])[0]))
    assert r2["prior_drug_n"] == 0


def test_prior_rates_are_out_of_fold_for_labelled_trials():
    st = build_store()
    n_folds = 2
    b = GraphFeatureBuilder(st, smoothing=0.0, n_folds=n_folds)
    pool = b.labelled_trials()
    for nct, (label, drugs, _) in TRAIN.items():
        row = dict(zip(b.feature_names, b.build([_trial(nct, "phase 1")])[0]))
        own_fold = fold_of(nct, n_folds)
        others = [p for tid, p in pool.items() if p.fold != own_fold and p.drugs & set(drugs)]
        assert row["prior_drug_n"] == pytest.approx(np.log1p(len(others)))
        if others:
            assert row["prior_drug_rate"] == pytest.approx(np.mean([p.label for p in others]))
    # the encoding never sees the trial's own label: flipping it leaves its own features unchanged
    x_before = b.build([_trial("NCT00000001", "phase 1")])
    from kgimagine.kg.model import Node
    from kgimagine.types import NodeLabel

    st.upsert_nodes([Node("clinicaltrials:NCT00000001", NodeLabel.TRIAL, "NCT00000001",
                          {"phase": "phase 1", "split": "phase_I_train", "outcome_label": 0})])
    x_after = GraphFeatureBuilder(st, smoothing=0.0, n_folds=n_folds).build([_trial("NCT00000001", "phase 1")])
    np.testing.assert_array_equal(x_before, x_after)
