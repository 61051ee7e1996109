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
    assert "NCT10000001" in res.output and "grounded" in res.output and "grounding rate" in res.output
    assert "no graph support" in res.output  # the made-up trial
    assert "[fact:" not in res.output and "sources: " in res.output  # short: no ids, one provenance footer
    full = _run(["--file", str(DATA / "trials.csv"), "--store", str(rstore.path), "--no-embed", "--k", "2",
                 "--explain", "full"], tmp_path)
    assert full.exit_code == 0, full.output
    assert "[fact:" in full.output and "[doid:684]" in full.output  # ids survive rich markup
    assert "verified" in full.output and "claim 1" in full.output


def test_default_output_of_one_trial_is_short_and_readable(rstore):
    """k=5, one trial, 100 columns (not a terminal): at most 60 lines, one line per step, each
    source with its version and licence once."""
    import io
    import re

    from rich.console import Console

    from kgimagine.cli.predict import _print_rich
    from kgimagine.reasoning.operators.scripted import ScriptedOperator, cite_first
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec

    def show(op):
        pred = Predictor(rstore, op, k=5).predict(TrialSpec.from_graph(rstore, "NCT00000008"))
        buf = io.StringIO()
        _print_rich(Console(file=buf, width=100, color_system=None), pred)
        return pred, buf.getvalue(), buf.getvalue().splitlines()

    pred, text, lines = show(ScriptedOperator([cite_first(0.7)], repeat_last=True))
    steps = sum(len(c.steps) for c in pred.chains)
    assert len(pred.chains) == 5 and steps > 5 and pred.steps_supported > 0
    assert len(lines) <= 60 and max(map(len, lines)) <= 100
    assert lines[0].startswith("NCT00000008") and "P(success)" in lines[0]
    footer = next(i for i, l in enumerate(lines) if l.startswith("sources: "))
    assert footer == 2 + len(pred.flags) + 5 + steps  # header, one line per anchor and per step
    step_lines = [l for l in lines if l.startswith(("  ✓", "  ✗"))]
    relation = re.compile(r" (TARGETS|TREATS|ASSOCIATED|SUBCLASS_OF|TESTS|STUDIES|CAUSES)")  # (may be cut at the width)
    assert len(step_lines) == steps and [l for l in step_lines if not relation.search(l)] == []  # the facts that moved it
    cited = {(f.source, f.source_version, f.licence) for c in pred.chains for s in c.steps for f in s.facts
             if f.fact_id in s.cited}
    assert "TOP non-commercial" in {lic for _, _, lic in cited}
    # each cited source with its licence once, in the footer (sources may share a licence)
    assert all(" ".join(text.split()).count(f"{src} {ver} ({lic})") == 1 for src, ver, lic in cited)
    from kgimagine.reasoning.readable import lines as readable_lines

    assert readable_lines(pred)[:footer] == lines[:footer]  # Studio's view is the same text
    # a terminal narrower than a source: the footer still starts with one, wrapped between sources only
    buf = io.StringIO()
    _print_rich(Console(file=buf, width=40, color_system=None), pred)
    narrow = buf.getvalue().splitlines()
    first = next(l for l in narrow if l.startswith("sources:"))
    assert first.strip() != "sources:" and len(first) > len("sources: ")
    # a rationale that names no cited entity: every step is excluded, and its line says why
    pred, text, lines = show(ScriptedOperator([cite_first(0.7, "scripted")], repeat_last=True))
    step_lines = [l for l in lines if l.startswith(("  ✓", "  ✗"))]
    assert pred.grounding_rate == 0.0 and all("unsupported: " in l for l in step_lines)
    assert any("unsupported: the rationale" in l for l in step_lines)


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


def test_predict_user_csv_needs_no_nct_id_or_icd_codes_and_takes_plain_names(rstore, tmp_path, monkeypatch, capsys):
    """A trial described from scratch: no nctid or icdcodes column, names as plain text; the
    plain-text row predicts exactly as the same trial written in TOP's list format."""
    plain = tmp_path / "mine.csv"
    plain.write_text(
        "phase,diseases,drugs,criteria\n"
        "phase 2,hepatocellular carcinoma,Sutent; placebo,planned trial\n", encoding="utf-8")
    top = tmp_path / "top.csv"
    top.write_text(
        "phase,diseases,drugs,criteria\n"
        "phase 2,['hepatocellular carcinoma'],\"['Sutent', 'placebo']\",planned trial\n", encoding="utf-8")
    got = []
    for f in (plain, top):
        code, out = _main(["--file", str(f), "--store", str(rstore.path), "--no-embed", "--json", "--k", "2"],
                          tmp_path, monkeypatch, capsys)
        assert code == 0, out.err
        (line,) = [json.loads(l) for l in out.out.strip().splitlines()]
        got.append(line)
    assert got[0]["probability"] == got[1]["probability"] and 0 < got[0]["probability"] < 1
    assert not any("unresolved drugs" in f for f in got[0]["flags"])  # Sutent resolved from plain text
    missing = tmp_path / "missing.csv"
    missing.write_text("phase,diseases,criteria\nphase 2,x,y\n", encoding="utf-8")
    code, out = _main(["--file", str(missing), "--store", str(rstore.path), "--no-embed"], tmp_path, monkeypatch, capsys)
    assert code == 1 and out.err.count("\n") == 1
    assert "lacks column(s) drugs" in out.err and "optional nctid, icdcodes, label" in out.err


def test_learned_skeleton_is_for_step_answering_models_only(rstore, tmp_path, monkeypatch, capsys):
    code, out = _main(["--nct", "NCT00000008", "--store", str(rstore.path), "--no-embed", "--learned-skeleton"],
                      tmp_path, monkeypatch, capsys)
    assert code == 1 and out.err.count("\n") == 1 and "--operator local or openai" in out.err


def test_output_width_off_a_terminal_follows_columns(monkeypatch):
    from kgimagine.cli.predict import _console

    for value, width in (("200", 200), ("10", 60), ("wide", 100), ("", 100)):
        monkeypatch.setenv("COLUMNS", value)
        assert _console().width == width  # pytest's captured stdout is not a terminal
