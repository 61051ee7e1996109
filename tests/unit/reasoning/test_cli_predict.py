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


# -- input robustness ---------------------------------------------------------------------------
def _main(args, tmp_path, monkeypatch, capsys):
    from kgimagine.cli.app import main

    monkeypatch.setenv("KGIMAGINE_CACHE", str(tmp_path / "cache"))
    try:
        main(["predict", "--operator", "statistical", *args])  # input checks; no operator notice on stderr
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


def test_predict_binary_csv_is_one_line_error(rstore, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "trials.csv"
    bad.write_bytes(b"nctid,phase\x00\x01\x02\xff\xfe" * 50)
    code, out = _main(["--file", str(bad), "--store", str(rstore.path), "--no-embed"], tmp_path, monkeypatch, capsys)
    assert code == 1
    assert out.err.startswith("kgimagine: error: ") and out.err.count("\n") == 1
    assert "binary" in out.err and "Traceback" not in out.err


def test_predict_non_utf8_csv_is_one_line_error(rstore, tmp_path, monkeypatch, capsys):
    text = (DATA / "trials.csv").read_text(encoding="utf-8").replace("Adults", "Adultes âgés")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(text.encode("latin-1"))
    code, out = _main(["--file", str(bad), "--store", str(rstore.path), "--no-embed", "--json"],
                      tmp_path, monkeypatch, capsys)
    assert code == 1
    err = out.err.strip().splitlines()
    assert err[-1].startswith("kgimagine: error: ") and "UTF-8" in err[-1]
    assert "UnicodeDecodeError" not in out.err


def test_predict_row_without_nct_id_gets_a_generated_id(rstore, tmp_path, monkeypatch, capsys):
    f = tmp_path / "planned.csv"
    f.write_text(
        "nctid,phase,diseases,icdcodes,drugs,criteria\n"
        ",phase 2,['hepatocellular carcinoma'],\"[\"\"['C22.0']\"\"]\",['Sutent'],planned trial\n",
        encoding="utf-8",
    )
    code, out = _main(["--file", str(f), "--store", str(rstore.path), "--no-embed", "--json", "--k", "2"],
                      tmp_path, monkeypatch, capsys)
    assert code == 0, out.err
    lines = [json.loads(l) for l in out.out.strip().splitlines()]
    assert len(lines) == 1 and lines[0]["nct_id"].startswith("spec-")
    assert 0 < lines[0]["probability"] < 1
