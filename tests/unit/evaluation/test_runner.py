"""End to end: files -> audit -> methods -> scores -> report, and the `kgimagine eval` command."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kgimagine.errors import EvaluationError, LeakageError
from kgimagine.evaluation.report import write_plots, write_report
from kgimagine.evaluation.runner import EvaluationConfig, run_evaluation

from .graphs import build_store
from .trialfiles import write_top_csv


@pytest.fixture()
def files(tmp_path):
    write_top_csv(tmp_path / "train.csv", 100, 60, seed=1, phase="phase 1")
    write_top_csv(tmp_path / "valid.csv", 200, 40, seed=2)
    write_top_csv(tmp_path / "eval.csv", 300, 40, seed=3)
    return tmp_path


def _fake_chain(seen):
    def predict(trials):
        for t in trials:
            seen.append(t)
            yield SimpleNamespace(probability=0.8 if "responsive" in t.criteria else 0.3, grounding_rate=0.5,
                                  steps_total=4, steps_supported=3, timings={"total": 0.01})
    return predict


def test_cross_validated_run_scores_every_method(files):
    seen = []
    cfg = EvaluationConfig(eval_file=files / "eval.csv", train_file=files / "train.csv",
                           methods=("prior", "text", "graph-lr", "graph-gbm", "text+graph", "chain-statistical"),
                           n_folds=3, n_resamples=100)
    res = run_evaluation(cfg, build_store(), chain_predict={"chain-statistical": _fake_chain(seen)})
    rep = res.report
    assert rep.audit.passed and rep.n_trials == 40
    by = {s.name: s for s in rep.scores}
    assert set(by) == set(cfg.methods)
    # the prior ranks nothing: its ROC-AUC is exactly 0.5; the text signal is learnable
    assert by["prior"].overall["roc_auc"].value == 0.5
    assert by["text"].overall["roc_auc"].value > 0.7
    assert by["text"].versus_text == {} and "average_precision" in by["graph-lr"].versus_text
    # chain methods are also compared with text+graph (baselines are not)
    assert "roc_auc" in by["chain-statistical"].versus_text_graph and by["graph-lr"].versus_text_graph == {}
    chain = by["chain-statistical"].chain
    assert chain.grounding_rate == 0.5 and chain.unsupported_step_rate == 0.25 and chain.steps_per_trial == 4
    # the chain saw each evaluated trial once, and never a label
    assert len(seen) == 40 and not any(hasattr(t, "label") for t in seen)
    assert set(by["text"].per_phase) == {"phase 1/phase 2", "phase 2"}
    md = rep.to_markdown()
    assert "Chain methods against text+graph" in md
    assert "Leakage audit: **PASSED**" in md and "within noise" in md or "Difference with the text" in md
    out = files / "out"
    paths = write_report(out, rep)
    plots = write_plots(out, res.labels, res.runs, "t")
    data = json.loads(paths["metrics"].read_text())
    assert data["methods"][0]["metrics"]["roc_auc"]["ci95"] is not None
    assert all(p.stat().st_size > 1000 for p in plots)


def test_heldout_run_with_a_validation_file(files):
    cfg = EvaluationConfig(eval_file=files / "eval.csv", valid_file=files / "valid.csv",
                           train_file=files / "train.csv", methods=("prior", "text"), n_folds=3, n_resamples=50)
    res = run_evaluation(cfg)
    text = next(s for s in res.report.scores if s.name == "text")
    assert len(text.thresholds) == 1 and "validation file" in text.protocol
    assert res.report.mode.startswith("held-out")


def test_validation_file_must_differ_from_the_evaluated_file(files):
    cfg = EvaluationConfig(eval_file=files / "eval.csv", valid_file=files / "eval.csv", methods=("prior",))
    with pytest.raises(EvaluationError, match="threshold must come from another file"):
        run_evaluation(cfg)


def test_leaky_graph_is_refused_unless_allowed(tmp_path):
    # the evaluated file holds trials whose labels are in the graph (the training trials)
    write_top_csv(tmp_path / "leaky.csv", 0, 5, seed=4, ids=[f"NCT0000000{i}" for i in range(1, 6)])
    write_top_csv(tmp_path / "train.csv", 100, 30, seed=1)
    cfg = EvaluationConfig(eval_file=tmp_path / "leaky.csv", train_file=tmp_path / "train.csv",
                           methods=("prior", "graph-lr"), n_folds=2, n_resamples=20)
    with pytest.raises(LeakageError, match="trial-node-label"):
        run_evaluation(cfg, build_store())
    cfg2 = EvaluationConfig(**{**cfg.__dict__, "allow_leakage": True})
    rep = run_evaluation(cfg2, build_store()).report
    assert not rep.audit.passed and "**FAILED**" in rep.to_markdown()


def test_graph_methods_need_a_store(files):
    cfg = EvaluationConfig(eval_file=files / "eval.csv", methods=("graph-lr",))
    with pytest.raises(EvaluationError, match="--store"):
        run_evaluation(cfg)


def test_unlabelled_file_is_refused(tmp_path):
    write_top_csv(tmp_path / "nolabel.csv", 0, 5, seed=1, with_label=False)
    with pytest.raises(EvaluationError, match="label"):
        run_evaluation(EvaluationConfig(eval_file=tmp_path / "nolabel.csv", methods=("prior",)))


def test_eval_command_writes_metrics_report_and_plots(files, tmp_path):
    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    out = tmp_path / "cli-out"
    result = CliRunner().invoke(app, ["eval", str(files / "eval.csv"), "--train-file", str(files / "train.csv"),
                                      "--methods", "prior,text", "--folds", "3", "--resamples", "50",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("metrics.json", "report.md", "roc.png", "pr.png", "calibration.png"):
        assert (out / name).is_file()
    assert json.loads((out / "metrics.json").read_text())["audit"]["passed"] is True
    bad = CliRunner().invoke(app, ["eval", str(files / "eval.csv"), "--methods", "prior,nonsense"])
    assert bad.exit_code != 0


def test_statistical_chain_through_the_real_predictor(tmp_path):
    ids = ["NCT00000011", "NCT00000012", "NCT00000021", "NCT00000022", "NCT00000023", "NCT00000024"]
    write_top_csv(tmp_path / "eval.csv", 0, 6, seed=5, ids=ids)
    cfg = EvaluationConfig(eval_file=tmp_path / "eval.csv", methods=("chain-statistical",), n_folds=2,
                           n_resamples=20)
    res = run_evaluation(cfg, build_store())
    score = res.report.scores[0]
    assert res.report.audit.passed and score.n == 6
    assert ((res.runs[0].probability >= 0) & (res.runs[0].probability <= 1)).all()
    assert score.chain is not None and score.chain.n_trials == 6 and score.chain.steps_per_trial > 0
    assert 0 <= score.chain.grounding_rate <= 1


def test_chain_learned_is_refitted_per_fold_on_the_other_folds(files):
    """chain-learned in CV: fitted on the graph's labelled trials + train + the other folds (never the
    evaluated fold), threshold from its own out-of-fold fit; it learns the criteria signal the
    evaluated file carries and reports its chain statistics."""
    cfg = EvaluationConfig(eval_file=files / "eval.csv", train_file=files / "train.csv",
                           methods=("text", "text+graph", "chain-learned"), n_folds=3, n_resamples=50, embeddings=False)
    res = run_evaluation(cfg, build_store())
    by = {s.name: s for s in res.report.scores}
    run = next(r for r in res.runs if r.name == "chain-learned")
    assert run.n_fits == 3 and "other folds" in run.protocol and run.thresholds
    assert by["chain-learned"].overall["roc_auc"].value > 0.7
    assert by["chain-learned"].chain is not None and by["chain-learned"].chain.n_trials == 40
    assert "roc_auc" in by["chain-learned"].versus_text_graph
