"""The hand-judged gold sets (tests/data/gold and its independent re-check sample, recheck/) are
well formed and match their sampler."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

GOLD = Path(__file__).resolve().parents[1] / "data" / "gold"
COLUMNS = ["nctid", "file", "phase", "listed_name", "expected", "also_ok", "reason"]
DISEASE_ID = re.compile(r"^(mondo:\d{7}|doid:\d+)$")
DRUG_ID = re.compile(r"^(drugbank:DB\d{5}|drugcentral:\d+)$")
TABLES = [("trial_disease.tsv", DISEASE_ID, {"none"}), ("trial_drug.tsv", DRUG_ID, {"none", "comparator"})]


def read(name: str) -> list[dict[str, str]]:
    with open(GOLD / name, newline="", encoding="utf-8") as fh:  # name: relative to GOLD
        reader = csv.DictReader(fh, delimiter="\t")
        assert reader.fieldnames == COLUMNS
        return list(reader)


#: (folder, least rows, least trials)
SETS = [("", 320, 150), ("recheck/", 150, 90)]


@pytest.mark.parametrize(("folder", "min_rows", "min_trials"), SETS)
@pytest.mark.parametrize(("name", "pattern", "words"), TABLES)
def test_rows_are_well_formed(folder: str, min_rows: int, min_trials: int, name: str,
                              pattern: re.Pattern[str], words: set[str]) -> None:
    rows = read(folder + name)
    assert len(rows) >= min_rows
    assert len({r["nctid"] for r in rows}) >= min_trials
    keys = [(r["nctid"], r["listed_name"]) for r in rows]
    assert len(keys) == len(set(keys)), "one row per (trial, listed name)"
    for r in rows:
        assert r["reason"].strip(), r
        expected = [] if r["expected"] in words else r["expected"].split("|")
        also = r["also_ok"].split("|") if r["also_ok"] else []
        assert all(pattern.match(i) for i in expected + also), r
        assert not set(expected) & set(also), r


def test_hard_cases_are_present() -> None:
    rows = {r["nctid"] for r in read("trial_disease.tsv")}
    assert {"NCT00232479", "NCT00096005", "NCT00477542", "NCT00151775", "NCT00610792"} <= rows


@pytest.mark.parametrize("folder", ["", "recheck/"])
def test_sampler_reproduces_the_rows(folder: str, shared_data: Path) -> None:
    args = ["--recheck"] if folder else []
    out = subprocess.run([sys.executable, str(GOLD / "sample.py"), str(shared_data), *args],
                         check=True, capture_output=True, text=True).stdout
    sampled = list(csv.DictReader(out.splitlines(), delimiter="\t"))
    for kind, name in (("disease", "trial_disease.tsv"), ("drug", "trial_drug.tsv")):
        want = {(r["nctid"], r["file"], r["phase"], r["listed_name"]) for r in sampled if r["kind"] == kind}
        have = {(r["nctid"], r["file"], r["phase"], r["listed_name"]) for r in read(folder + name)}
        assert have == want


def test_the_recheck_sample_shares_no_trial_with_the_first() -> None:
    first = {r["nctid"] for name, _, _ in TABLES for r in read(name)}
    again = {r["nctid"] for name, _, _ in TABLES for r in read("recheck/" + name)}
    assert again and not first & again
