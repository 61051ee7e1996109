from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kgimagine.cli.app import app

DATA = Path(__file__).resolve().parents[2] / "data" / "reasoning"
runner = CliRunner()


def _run(args, tmp_path):
    env = {"KGIMAGINE_CACHE": str(tmp_path / "cache")}
    return runner.invoke(app, ["predict", *args], env=env)


def test_predict_nct_json(rstore, tmp_path):
    res = _run(["--nct", "NCT00000008", "--store", str(rstore.path), "--json", "--no-embed", "--k", "2"], tmp_path)
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    assert obj["nct_id"] == "NCT00000008" and 0 < obj["probability"] < 1
    assert obj["grounding_rate"] == 1.0 and len(obj["chains"]) == 2


def test_predict_labelled_trial_needs_labels_ok(rstore, tmp_path):
    res = _run(["--nct", "NCT00000003", "--store", str(rstore.path), "--json", "--no-embed"], tmp_path)
    assert res.exit_code != 0 and "--labels-ok" in str(res.exception)
    ok = _run(["--nct", "NCT00000003", "--store", str(rstore.path), "--json", "--no-embed", "--labels-ok"], tmp_path)
    assert ok.exit_code == 0, ok.output


def test_predict_csv_without_label_columns_rich(rstore, tmp_path):
    res = _run(["--file", str(DATA / "trials.csv"), "--store", str(rstore.path), "--no-embed", "--k", "2"], tmp_path)
    assert res.exit_code == 0, res.output
    assert "NCT10000001" in res.output and "grounding rate" in res.output
    assert "no graph support" in res.output  # the made-up trial
    assert "[fact:" in res.output and "[doid:684]" in res.output  # ids survive rich markup
    assert "verified" in res.output


def test_predict_questions_json(rstore, tmp_path):
    ck = tmp_path / "ck.jsonl"
    args = ["--questions", str(DATA / "questions.jsonl"), "--store", str(rstore.path), "--json", "--no-embed",
            "--checkpoint", str(ck)]
    res = _run(args, tmp_path)
    assert res.exit_code == 0, res.output
    sup, end = [json.loads(l) for l in res.stdout.strip().splitlines()]
    assert sup["question_id"] == "q-sup-1" and sup["comparisons"][0]["arm_a"] == "A"
    assert 0 < sup["comparisons"][0]["probability"] < 1
    assert end["question_id"] == "q-end-1" and 0 < end["probability"] < 1
    assert len(ck.read_text().splitlines()) == 2


def test_predict_needs_exactly_one_input(rstore, tmp_path):
    res = _run(["--store", str(rstore.path)], tmp_path)
    assert res.exit_code != 0 and "exactly one of" in str(res.exception)
