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


def test_units_are_checked_against_the_version_of_their_own_graph_recipe(tmp_path):
    """A unit made on an evaluation graph (``Graph build:`` line) is current when that recipe's
    graph has its version today, whatever the prediction graph's version is."""
    R = load_results_module()
    bench, results = tmp_path / "benchmarks", tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (bench / "verifier.py").write_text('RESULTS = REPO / "benchmarks" / "results" / "verifier.md"\n')
    (bench / "reasoning.py").write_text('RESULTS = REPO / "benchmarks" / "results" / "reasoning.md"\n')
    (bench / "gold_counts.py").write_text('x = "results" / "gold_counts.md"\n')
    pred, ev, old = "kg-" + "a" * 16, "kg-" + "c" * 16, "kg-" + "b" * 16
    (results / "verifier.md").write_text(
        f"Command: `python benchmarks/verifier.py --graph g`\nGraph version: {ev}\n"
        "Graph build: `kgimagine kg build --store /tmp/x --labels-from=phase_I_train`\n")
    (results / "reasoning.md").write_text(
        f"Command: `python benchmarks/reasoning.py --graph g`\nGraph version: {old}\n"
        "Graph build: `kgimagine kg build --labels-from phase_I_train`\n")
    (results / "gold_counts.md").write_text(f"Command: `python benchmarks/gold_counts.py --store g`\n{pred}\n")
    units = R.read_units(results)
    assert {u.key: u.recipe for u in units} == {"verifier.md": "--labels-from phase_I_train",
                                                "reasoning.md": "--labels-from phase_I_train",
                                                "gold_counts.md": "--labels-from all"}
    R.judge(units, graph_versions={"--labels-from all": pred, "--labels-from phase_I_train": ev},
            benchmarks=bench, invalidated={})
    status = {u.key: (u.status, " ".join(u.stale)) for u in units}
    assert status["verifier.md"] == ("current", "")
    assert status["gold_counts.md"] == ("current", "")
    assert status["reasoning.md"][0] == "STALE"
    assert f"the current `kgimagine kg build --labels-from phase_I_train` build is {ev}" in status["reasoning.md"][1]
    # a recipe nobody built is not checked, and says how to check it
    units = R.read_units(results)
    R.judge(units, graph_versions={"--labels-from all": pred}, benchmarks=bench, invalidated={})
    status = {u.key: (u.status, " ".join(u.stale)) for u in units}
    assert status["gold_counts.md"] == ("current", "")
    assert status["verifier.md"][0] == "STALE" and "was not checked" in status["verifier.md"][1]
    md = R.render(units, graph_versions={"--labels-from all": pred}, graph_sources={"--labels-from all": "/g"})
    assert f"- `kgimagine kg build --labels-from all`: {pred} (/g)" in md


def test_a_graphs_recipe_is_read_off_its_labelled_splits(tmp_path):
    import json

    R = load_results_module()

    def graph(name, trials):
        d = tmp_path / name
        d.mkdir()
        (d / "manifest.json").write_text(json.dumps({"graph_version": "kg-" + "d" * 16, "nodes_file": "n.jsonl"}))
        rows = [["drugbank:DB1", "Drug", "x", {}]]
        rows += [[f"clinicaltrials:NCT{i}", "Trial", f"NCT{i}", {"split": split, **({"outcome_label": y} if y is not None else {})}]
                 for i, (split, y) in enumerate(trials)]
        (d / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return d

    every = graph("all", [("phase_I_train", 1), ("phase_II_valid", 0), (["phase_I_train", "phase_II_valid"], 1)])
    train = graph("train", [("phase_I_train", 1), ("phase_II_valid", None), (["phase_I_train", "phase_II_valid"], None)])
    assert R.graph_recipe_of(every) == "--labels-from all"
    assert R.graph_recipe_of(train) == "--labels-from phase_I_train"
    assert R.normalise_recipe("kgimagine kg build --data-dir d --labels-from b,a --fresh") == "--labels-from a,b"
    assert R.normalise_recipe("kgimagine kg build") == "--labels-from phase_I_train"  # the CLI default
    assert R.normalise_recipe(None) == "--labels-from all"  # no line: the prediction graph
