"""Sceptical-reader audit of grounded steps: do the cited facts say what the move claims?

The verifier checks every citation mechanically (the fact exists, names the step's entities, and
what it states points the way the step moves). This audit asks the question a reader asks: read
as it stands, is the cited fact a reason for *this* move? A person who did not build the chain
judges a seeded sample of supported, moving steps of the default chain.

1. ``sample``: ``kgimagine predict --file F --json`` (default settings) on ``--trials`` trials
   drawn with ``--seed`` from the phase II and III validation files (each trial's own outcome is
   hidden by predict: never an anchor, never a fact), then ``--steps`` supported steps that move
   the estimate, drawn with the same seed; writes the judging sheet (one row per step: the change
   as ``predict`` shows it, both full values, the move, each cited fact with its side tag, and
   the target's "unresolved" flags as ``predict`` prints them).
2. ``score``: joins the sheet with the judgments (``step_id, verdict, reason``; verdict
   ``accept`` = the fact is a reason for this move, ``weak`` = true and pointing this way but a
   poor reason, ``reject`` = it does not say what the move claims) and writes
   benchmarks/results/grounding_audit.md with the shares and their 95 % Wilson intervals.

3. ``relevance``: an automatic reading of the same question at scale. For every supported,
   moving step it asks what a reader checks first: were the trials cited for the move run in an
   earlier phase than the target's, in another disease family than the target's (drug steps:
   none of the target's resolved diseases or their one-hop ontology neighbours), or do they only
   concern what both sides keep (the move is the dilution of a kept record)? It cross-tabulates
   those flags with the judged verdicts, to show how far they track a reader, then counts them on
   every supported step of ``--trials`` further trials; writes benchmarks/results/grounding_relevance.md.

    python benchmarks/grounding_audit.py sample --store /tmp/g-all --out tests/data/grounding_audit/sheet.tsv
    python benchmarks/grounding_audit.py score --sheet tests/data/grounding_audit/sheet.tsv \
        --judgments tests/data/grounding_audit/judgments.tsv --store /tmp/g-all
    python benchmarks/grounding_audit.py relevance --store /tmp/g-all --trials 200
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import RunRecord, command_lines, graph_recipe_of, graph_version_of  # noqa: E402

from kgimagine.config import find_shared_data_dir  # noqa: E402
from kgimagine.kg.queries import find_ids  # noqa: E402
from kgimagine.reasoning.readable import change_text, side_of, statement, values  # noqa: E402

FILES = ("phase_II_valid.csv", "phase_III_valid.csv")
SHEET_COLUMNS = ["step_id", "nctid", "anchor", "factor", "change", "anchor_value", "target_value",
                 "p_before", "p_after", "direction", "cited", "target_flags"]
VERDICTS = ("accept", "weak", "reject")
RESULTS = REPO / "benchmarks" / "results" / "grounding_audit.md"
RELEVANCE = REPO / "benchmarks" / "results" / "grounding_relevance.md"


def read_rows(data_dir: Path) -> list[dict[str, str]]:
    """The rows of the phase II/III validation files, in file order."""
    csv.field_size_limit(sys.maxsize)
    rows = []
    for name in FILES:
        with open(data_dir / "top" / name, newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def draw_trials(data_dir: Path, n: int, seed: int, out: Path, *, skip: set[str] = frozenset()) -> int:
    """``n`` rows drawn from the phase II/III validation files into a predict CSV (no label
    columns); ``skip``: trial ids never drawn."""
    rows = [r for r in read_rows(data_dir) if r["nctid"] not in skip]
    rng = random.Random(seed)
    picked = rng.sample(rows, n)
    cols = ["nctid", "phase", "diseases", "icdcodes", "drugs", "criteria"]
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(picked)
    return len(picked)


def sheet_rows(predictions: list[dict], n_steps: int, seed: int) -> list[dict[str, str]]:
    """``n_steps`` supported steps that move the estimate, drawn with ``seed``, as sheet rows."""
    steps = []
    for pred in predictions:
        for chain in pred.get("chains", []):
            for s in chain["steps"]:
                if s["supported"] and s["direction"] in ("up", "down"):
                    steps.append((pred["nct_id"], chain["anchor_id"].split(":", 1)[-1], s))
    rng = random.Random(seed)
    picked = rng.sample(steps, min(n_steps, len(steps)))
    flags = {p["nct_id"]: " || ".join(f for f in p.get("flags", []) if f.startswith("unresolved")) for p in predictions}
    out = []
    for i, (nct, anchor, s) in enumerate(picked, 1):
        by_id = {f["fact_id"]: f for f in s["facts"]}
        ids = set(find_ids(s["target_value"])), set(find_ids(s["anchor_value"]))
        cited = []
        for c in s["claims"]:
            if c["role"] != s["direction"]:
                continue
            for fid in c["facts"]:
                f = by_id.get(fid)
                if f is None:
                    continue
                fact = _Fact(f)
                tag = side_of(fact, *ids)
                cited.append((f"({tag}) " if tag else "") + statement(fact))
        out.append({
            "step_id": f"s{i:03d}", "nctid": nct, "anchor": anchor, "factor": s["factor"],
            "change": change_text(values(s["anchor_value"]), values(s["target_value"]), 200),
            "anchor_value": values(s["anchor_value"]), "target_value": values(s["target_value"]),
            "p_before": f"{s['p_before']:.3f}", "p_after": f"{s['p_after']:.3f}", "direction": s["direction"],
            "cited": " || ".join(dict.fromkeys(cited)), "target_flags": flags.get(nct, ""),
        })
    return out


class _Fact:
    """The fields of a JSON fact that ``readable`` reads."""

    def __init__(self, f: dict) -> None:
        self.fact_id, self.text = f["fact_id"], f["text"]
        self.subject, self.object = f.get("subject") or "", f.get("object") or ""


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def predict_sample(store: Path, data_dir: Path, n: int, seed: int, *, skip: set[str] = frozenset()) -> list[dict]:
    """``kgimagine predict --file F --json`` (default settings) on ``n`` drawn trials."""
    with tempfile.TemporaryDirectory() as tmp:
        trials = Path(tmp) / "trials.csv"
        draw_trials(data_dir, n, seed, trials, skip=skip)
        cmd = [sys.executable, "-m", "kgimagine.cli.app", "predict", "--store", str(store), "--file", str(trials), "--json"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"predict failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip().startswith("{")]


def shared_data(args: argparse.Namespace) -> Path:
    data_dir = args.data_dir or find_shared_data_dir(REPO)
    if data_dir is None:
        sys.exit("no shared data dir; pass --data-dir")
    return Path(data_dir)


def cmd_sample(args: argparse.Namespace) -> int:
    preds = predict_sample(args.store, shared_data(args), args.trials, args.seed)
    rows = sheet_rows(preds, args.steps, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(preds)} predictions, {len(rows)} steps -> {args.out} (graph {graph_version_of(args.store)})")
    return 0


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def cmd_score(args: argparse.Namespace) -> int:
    run = RunRecord()
    sheet = {r["step_id"]: r for r in read_tsv(args.sheet)}
    judged = {r["step_id"]: r for r in read_tsv(args.judgments)}
    bad = sorted(set(judged) - set(sheet)) + [k for k, r in judged.items() if r["verdict"] not in VERDICTS]
    if bad:
        sys.exit(f"judgments name unknown steps or verdicts: {bad[:5]}")
    missing = sorted(set(sheet) - set(judged))
    n = len(judged)
    count = {v: sum(1 for r in judged.values() if r["verdict"] == v) for v in VERDICTS}
    lines = ["# Sceptical-reader audit of grounded steps", "",
             *command_lines(graph_version=graph_version_of(args.store), graph_build=graph_recipe_of(args.store)),
             run.line(), "",
             f"Sheet `{args.sheet.relative_to(REPO) if args.sheet.is_absolute() else args.sheet}`: {len(sheet)} supported, "
             f"moving steps of the default chain; {n} judged" + (f", {len(missing)} not judged" if missing else "") + ".", "",
             "| verdict | steps | share | 95 % interval |", "|---|---|---|---|"]
    for v in VERDICTS:
        lo, hi = wilson(count[v], n)
        lines.append(f"| {v} | {count[v]} | {count[v] / max(n, 1):.2f} | [{lo:.2f}, {hi:.2f}] |")
    for folder in args.compare:
        before = {r["step_id"]: r["verdict"] for r in read_tsv(folder / "judgments.tsv")}
        m = len(before)
        where = folder.relative_to(REPO) if folder.is_absolute() and folder.is_relative_to(REPO) else folder
        lines.append(f"| *earlier sheet `{where}`* | " + ", ".join(
            f"{v} {sum(x == v for x in before.values())}" for v in VERDICTS) + f" of {m} | "
            + ", ".join(f"{sum(x == v for x in before.values()) / max(m, 1):.2f}" for v in VERDICTS) + " | |")
    by_factor: dict[str, dict[str, int]] = {}
    for k, r in judged.items():
        by_factor.setdefault(sheet[k]["factor"], dict.fromkeys(VERDICTS, 0))[r["verdict"]] += 1
    lines += ["", "| factor | " + " | ".join(VERDICTS) + " |", "|---" * (len(VERDICTS) + 1) + "|"]
    lines += [f"| {f} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |" for f, c in sorted(by_factor.items())]
    for v in ("reject", "weak"):
        lines += ["", f"Steps judged {v}:", ""]
        lines += [f"- {k} {sheet[k]['nctid']} <- {sheet[k]['anchor']}, {sheet[k]['factor']} `{sheet[k]['change']}` "
                  f"{sheet[k]['direction']}: {sheet[k]['cited']} — *{judged[k]['reason']}*"
                  for k in sorted(judged) if judged[k]["verdict"] == v] or ["- none"]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


#: one cited trial fact as the sheet shows it: "(kept) NCT01005251 (phase 2, failed) STUDIES ..."
_CITED_TRIAL = re.compile(r"^(?:\((anchor|target|kept)\) )?(NCT\d{8}) \(([^,()]*), (?:succeeded|failed)\) (TESTS|STUDIES) ")
FLAGS = ("earlier phase only", "other disease family only", "kept only")


class Relevance:
    """Reads which trials a step cites against the target: their phases, and (drug steps)
    whether they studied a disease of the target's family."""

    def __init__(self, store_dir: Path, data_dir: Path) -> None:
        from kgimagine.evaluation.runner import read_labelled_trials
        from kgimagine.kg.connect import open_store
        from kgimagine.trials.evidence import EvidenceBuilder, TrialDescription
        from kgimagine.types import RelationType

        self.evidence = EvidenceBuilder(open_store(store_dir))
        self.studies = [RelationType.STUDIES]
        self.targets = {}
        for name in FILES:
            for t in read_labelled_trials(data_dir / "top" / name)[0]:
                self.targets[t.nctid] = TrialDescription(key=t.nctid, drugs=t.drugs, diseases=t.diseases,
                                                         icd10=t.icdcodes, phase=t.phase, criteria="")

    def family(self, nctid: str) -> frozenset[str]:
        """The target's disease family as its drug records read it (``EvidenceBuilder.family``;
        empty when none of its diseases is in the graph)."""
        return self.evidence.family(self.evidence.resolve(self.targets[nctid]).disease_ids) or frozenset()

    def flags(self, row: dict[str, str]) -> dict[str, bool] | None:
        """The step's ``FLAGS`` (None: it cites no labelled trial, e.g. only indications)."""
        from kgimagine.trials.evidence import phase_group

        cited = [m for part in row["cited"].split(" || ") if (m := _CITED_TRIAL.match(part))]
        if not cited:
            return None
        target_phase = phase_group(self.targets[row["nctid"]].phase) or "0"
        earlier = all((phase_group(m.group(3)) or "9") < target_phase for m in cited)
        other = False
        if row["factor"] == "drug":
            fam = self.family(row["nctid"])
            other = all(not (self.evidence.neighbours.hop(f"clinicaltrials:{m.group(2)}", self.studies) & fam)
                        for m in cited)
        kept = all(m.group(1) == "kept" for m in cited)
        return dict(zip(FLAGS, (earlier, other, kept)))


def cmd_relevance(args: argparse.Namespace) -> int:
    run = RunRecord()
    data_dir = shared_data(args)
    rel = Relevance(args.store, data_dir)
    sheet = {r["step_id"]: r for r in read_tsv(args.sheet)}
    judged = {r["step_id"]: r["verdict"] for r in read_tsv(args.judgments)}
    lines = ["A supported step's cited trials are flagged when every one of them ran in an earlier phase "
             "group than the target's, (drug steps) when none studied a disease of the target's family "
             "(its resolved diseases and their one-hop ontology neighbours), or when all concern what both "
             "sides keep. \"Any flag\" is a step with at least one. Steps citing no labelled trial "
             "(indications only) are not counted.", "",
             f"## Against the judged sheet ({len(judged)} steps of `grounding_audit.md`)", "",
             "| flag | steps flagged | of them judged weak | weak among steps not flagged |", "|---|---|---|---|"]
    flagged = {k: rel.flags(sheet[k]) for k in judged}
    counted = {k: f for k, f in flagged.items() if f is not None}
    for name in (*FLAGS, "any flag"):
        on = [k for k, f in counted.items() if (any(f.values()) if name == "any flag" else f[name])]
        off = [k for k in counted if k not in on]
        weak_on, weak_off = sum(judged[k] != "accept" for k in on), sum(judged[k] != "accept" for k in off)
        lines.append(f"| {name} | {len(on)} | {weak_on} ({weak_on / max(len(on), 1):.2f}) | "
                     f"{weak_off} of {len(off)} ({weak_off / max(len(off), 1):.2f}) |")
    lines += ["", f"{len(judged) - len(counted)} judged step(s) cite no labelled trial. \"Weak\" here counts "
              "every verdict other than accept (weak or reject).", ""]
    preds = predict_sample(args.store, data_dir, args.trials, args.seed,
                           skip={r["nctid"] for r in sheet.values()})
    rows = sheet_rows(preds, 10**9, args.seed)
    by_factor: dict[str, list[dict[str, bool]]] = {}
    no_family = 0  # drug steps flagged "other disease family only" whose target has no disease in the graph
    for r in rows:
        f = rel.flags(r)
        if f is not None:
            by_factor.setdefault(r["factor"], []).append(f)
            no_family += bool(f[FLAGS[1]] and not rel.family(r["nctid"]))
    lines += [f"## Every supported, moving step of {len(preds)} more trials (seed {args.seed}; none of the sheet's)", "",
              f"{len(rows)} steps, {sum(map(len, by_factor.values()))} of them citing a labelled trial.", "",
              "| factor | steps | " + " | ".join(FLAGS) + " | any flag |", "|---" * (len(FLAGS) + 3) + "|"]
    for factor, fl in sorted(by_factor.items()):
        cells = [sum(f[name] for f in fl) for name in FLAGS] + [sum(any(f.values()) for f in fl)]
        lines.append(f"| {factor} | {len(fl)} | " + " | ".join(f"{c} ({c / len(fl):.2f})" for c in cells) + " |")
    lines += ["", f"Of the drug steps flagged \"{FLAGS[1]}\", {no_family} have a target none of whose diseases "
              "the graph holds (no family to keep to: its drugs' records are read over all their trials)."]
    head = ["# Relevance of the trials cited for a move (automatic)", "",
            *command_lines(graph_version=graph_version_of(args.store), graph_build=graph_recipe_of(args.store)),
            run.line(), ""]
    text = "\n".join(head + lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--store", type=Path, required=True)
    s.add_argument("--data-dir", type=Path, default=None)
    s.add_argument("--trials", type=int, default=40)
    s.add_argument("--steps", type=int, default=60)
    s.add_argument("--seed", type=int, default=20261129)
    s.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "grounding_audit" / "sheet.tsv")
    c = sub.add_parser("score")
    c.add_argument("--sheet", type=Path, default=REPO / "tests" / "data" / "grounding_audit" / "sheet.tsv")
    c.add_argument("--judgments", type=Path, default=REPO / "tests" / "data" / "grounding_audit" / "judgments.tsv")
    c.add_argument("--store", type=Path, required=True)
    c.add_argument("--out", type=Path, default=RESULTS)
    c.add_argument("--compare", type=Path, action="append", default=[],
                   help="a folder with an earlier judged sheet (sheet.tsv, judgments.tsv): its shares are listed too")
    r = sub.add_parser("relevance")
    r.add_argument("--sheet", type=Path, default=REPO / "tests" / "data" / "grounding_audit" / "sheet.tsv")
    r.add_argument("--judgments", type=Path, default=REPO / "tests" / "data" / "grounding_audit" / "judgments.tsv")
    r.add_argument("--store", type=Path, required=True)
    r.add_argument("--data-dir", type=Path, default=None)
    r.add_argument("--trials", type=int, default=200)
    r.add_argument("--seed", type=int, default=20261201)
    r.add_argument("--out", type=Path, default=RELEVANCE)
    args = ap.parse_args(argv)
    return {"sample": cmd_sample, "score": cmd_score, "relevance": cmd_relevance}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
