"""Counts of the hand-judged gold sets (tests/data/gold and its re-check sample, recheck/) and,
optionally, a check of their ids.

    python benchmarks/gold_counts.py                          # counts only
    python benchmarks/gold_counts.py --store /tmp/graph-gold  # also: every id exists with the right label
    (add --no-write-results for a quick look; by default writes benchmarks/results/gold_counts.md)

The store check reads the embedded store's nodes JSONL directly (stdlib only), so it needs a graph
built with ``kgimagine kg build --store DIR``; it reports the graph version from manifest.json.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines, graph_recipe_of  # noqa: E402
GOLD = REPO / "tests" / "data" / "gold"
TABLES = (("disease", "trial_disease.tsv", "Disease"), ("drug", "trial_drug.tsv", "Drug"))


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def kind_of(expected: str) -> str:
    return expected if expected in ("none", "comparator") else "id"


def node_labels(store: Path) -> tuple[str, dict[str, str]]:
    manifest = json.loads((store / "manifest.json").read_text())
    labels: dict[str, str] = {}
    with open(store / manifest["nodes_file"], encoding="utf-8") as fh:
        for line in fh:
            node_id, label = json.loads(line)[:2]
            labels[node_id] = label
    return manifest["graph_version"], labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, help="embedded graph store to check the ids against")
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args(argv)
    run = RunRecord()
    problems: list[str] = []
    version, labels = node_labels(args.store) if args.store else (None, {})
    lines = ["# Gold set for trial->disease / trial->drug resolution: counts", "",
             *command_lines(graph_version=version, graph_build=graph_recipe_of(args.store) if args.store else None,
                            argv=None if argv is None else ["gold_counts.py", *argv]),
             "RUN", ""]
    if version:
        lines += [f"Ids checked against graph `{version}` ({len(labels)} nodes).", ""]
    for folder, kind, name, label in [(f, *t) for f in ("", "recheck/") for t in TABLES]:
        if not (GOLD / folder / name).is_file():
            continue
        name = folder + name
        rows = read(GOLD / name)
        trials = {r["nctid"] for r in rows}
        lines += [f"## {name}: {len(rows)} rows, {len(trials)} trials", "",
                  "| file | phase | rows | trials | id | none | comparator |", "|---|---|---|---|---|---|---|"]
        by = collections.defaultdict(list)
        for r in rows:
            by[(r["file"], r["phase"])].append(r)
        for (f, ph), rs in sorted(by.items()):
            k = collections.Counter(kind_of(r["expected"]) for r in rs)
            lines.append(f"| {f} | {ph} | {len(rs)} | {len({r['nctid'] for r in rs})} | {k['id']} | {k['none']} | {k['comparator']} |")
        k = collections.Counter(kind_of(r["expected"]) for r in rows)
        n_ids = sum(len(r["expected"].split("|")) for r in rows if kind_of(r["expected"]) == "id")
        n_also = sum(1 for r in rows if r["also_ok"])
        lines += [f"| **all** | | {len(rows)} | {len(trials)} | {k['id']} | {k['none']} | {k['comparator']} |", "",
                  f"Expected ids in total: {n_ids}; rows with a non-empty also_ok: {n_also}.", ""]
        if labels:
            for r in rows:
                ids = [] if kind_of(r["expected"]) != "id" else r["expected"].split("|")
                ids += r["also_ok"].split("|") if r["also_ok"] else []
                for i in ids:
                    if labels.get(i) != label:
                        problems.append(f"{name}: {r['nctid']} {r['listed_name']!r}: {i} is {labels.get(i, 'missing')}, not {label}")
    if labels:
        lines += ["## Id check", "", f"{len(problems)} problem(s)."] + [f"- {p}" for p in problems] + [""]
    lines[lines.index("RUN")] = run.line()
    text = "\n".join(lines)
    print(text)
    if not args.no_write_results:
        (REPO / "benchmarks" / "results" / "gold_counts.md").write_text(text, encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
