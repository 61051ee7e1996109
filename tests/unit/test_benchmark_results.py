"""benchmarks/results.py: RESULTS.md is assembled from results files, and a figure whose recorded
command does not reproduce it (no command, another output file, another graph) is marked stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_results_module():
    spec = importlib.util.spec_from_file_location("bench_results", REPO / "benchmarks" / "results.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    import sys

    sys.modules["bench_results"] = mod  # dataclasses resolve annotations through the module
    spec.loader.exec_module(mod)
    return mod


def test_units_are_judged_by_their_recorded_command_and_graph(tmp_path):
    R = load_results_module()
    bench, results = tmp_path / "benchmarks", tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (bench / "kg_build.py").write_text('OUT = HERE / "results" / "kg_build.md"\n')
    (bench / "evaluate.py").write_text('OUT = HERE / "results" / "evaluation.md"\n')
    now, old = "kg-" + "a" * 16, "kg-" + "b" * 16
    (results / "kg_build.md").write_text(
        f"# Build\n\nCommand: `python benchmarks/kg_build.py`\nGraph version: {now}\n\n| embedded | 9.5 | x |\n")
    (results / "evaluation.md").write_text(f"# Eval\n\nCommand: `python benchmarks/evaluate.py --store g`\n\n{old}\n")
    (results / "evaluation_fit.md").write_text(f"# Eval fit\n\nCommand: `python benchmarks/evaluate.py --store g`\n{now}\n")
    (results / "train.md").write_text("notes\n<!-- a:start -->\nCommand: `python benchmarks/gone.py`\n<!-- a:end -->\n"
                                      "<!-- b:start -->\nno command here\n<!-- b:end -->\n")
    units = R.read_units(results)
    R.judge(units, graph_version=now, benchmarks=bench, invalidated={})
    status = {u.key: (u.status, " ".join(u.stale)) for u in units}
    assert status["kg_build.md"] == ("current", "")
    assert status["evaluation.md"][0] == "STALE" and old in status["evaluation.md"][1]
    assert status["evaluation_fit.md"][0] == "STALE" and "writes results/evaluation.md" in status["evaluation_fit.md"][1]
    assert status["train.md#a"][0] == "STALE" and "no longer exists" in status["train.md#a"][1]
    assert status["train.md#b"][0] == "STALE" and "no command recorded" in status["train.md#b"][1]
    md = R.render(units, graph_version=now, graph="g")
    # the target row reads its figure from the unit and carries that unit's status
    row = next(line for line in md.splitlines() if "full build, embedded" in line)
    assert "9.5 s" in row and "| yes |" in row and row.endswith("| current |")
    assert "> **STALE**: made on graph " + old in md
