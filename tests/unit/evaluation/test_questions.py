"""Arm-level question files: gold is separated from what the predictor sees; per-type scores."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn import metrics as skm

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.runner import question_probabilities, read_questions, score_questions

DATA = Path(__file__).resolve().parents[2] / "data" / "evaluation"


def test_gold_is_removed_and_answers_file_wins():
    questions, items = read_questions(DATA / "questions.jsonl", DATA / "answers.jsonl")
    assert all("answer" not in q and "label" not in q for q in questions)
    gold = {(i.question_id, i.comparison): i.gold for i in items}
    assert gold == {("q1", 0): 1, ("q2", 0): 0, ("q2", 1): 1, ("q3", None): 0, ("q4", None): 1}


def test_missing_gold_is_an_error():
    with pytest.raises(EvaluationError, match="q4.*no gold"):
        read_questions(DATA / "questions.jsonl")


def test_scores_per_type_match_sklearn():
    _, items = read_questions(DATA / "questions.jsonl", DATA / "answers.jsonl")
    preds = {
        "q1": SimpleNamespace(probability=0.7, comparisons=[SimpleNamespace(probability=0.7)]),
        "q2": SimpleNamespace(probability=0.5, comparisons=[SimpleNamespace(probability=0.6),
                                                             SimpleNamespace(probability=0.9)]),
        "q3": SimpleNamespace(probability=0.2, comparisons=[]),
        "q4": SimpleNamespace(probability=0.4, comparisons=[]),
    }
    p = question_probabilities(preds, items)
    np.testing.assert_allclose(p, [0.7, 0.6, 0.9, 0.2, 0.4])
    scores = score_questions(items, p)
    sup_gold, sup_p = np.array([1, 0, 1]), np.array([0.7, 0.6, 0.9])
    s = scores["superiority"]
    assert s["n_items"] == 3
    assert s["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(sup_gold, sup_p >= 0.5))
    assert s["macro_f1"] == pytest.approx(skm.f1_score(sup_gold, sup_p >= 0.5, average="macro"))
    assert s["cross_entropy"] == pytest.approx(skm.log_loss(sup_gold, sup_p, labels=[0, 1]))
    assert scores["endpoint"]["n_items"] == 2


def test_eval_command_scores_a_question_file(tmp_path):
    import json

    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    from .graphs import build_store

    st = build_store(tmp_path / "graph")
    st.save()
    st.close()
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", str(DATA / "questions.jsonl"), "--answers", str(DATA / "answers.jsonl"),
                                      "--store", str(tmp_path / "graph"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "questions.json").read_text())
    assert data["per_type"]["superiority"]["n_items"] == 3 and data["per_type"]["endpoint"]["n_items"] == 2
    for s in data["per_type"].values():
        assert 0 <= s["balanced_accuracy"] <= 1 and s["cross_entropy"] > 0
    assert data["leakage_audit"]["passed"] is True


def test_eval_command_audits_the_questions_trials(tmp_path):
    import json

    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    from .graphs import build_store

    st = build_store(tmp_path / "graph")
    st.save()
    st.close()
    # a question about NCT00000001, a trial whose outcome the graph holds (train split)
    q = json.loads((DATA / "questions.jsonl").read_text().splitlines()[0])
    q["nct_id"] = "NCT00000001"
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps(q) + "\n")
    args = ["eval", str(qfile), "--store", str(tmp_path / "graph"), "--out", str(tmp_path / "out")]
    refused = CliRunner().invoke(app, args)
    from kgimagine.errors import LeakageError

    assert isinstance(refused.exception, LeakageError) and "trial-node-label" in str(refused.exception)
    assert not (tmp_path / "out" / "questions.json").exists()
    shown = CliRunner().invoke(app, args + ["--allow-leakage"])
    assert shown.exit_code == 0, shown.output
    assert json.loads((tmp_path / "out" / "questions.json").read_text())["leakage_audit"]["passed"] is False
