"""benchmarks/grounding_audit.py reads the judged sheet it scores: every step has a verdict, and its
``relevance`` flags read every cited trial fact of the sheet (a format drift would silently count
no trial and flag nothing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AUDIT = REPO / "tests" / "data" / "grounding_audit"


def load_audit_module():
    spec = importlib.util.spec_from_file_location("bench_grounding_audit", REPO / "benchmarks" / "grounding_audit.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["bench_grounding_audit"] = mod
    spec.loader.exec_module(mod)
    return mod


FOLDERS = (AUDIT, AUDIT / "v1", AUDIT / "v2")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_sheet_step_is_judged_once_with_a_known_verdict(folder):
    A = load_audit_module()
    sheet = A.read_tsv(folder / "sheet.tsv")
    judged = A.read_tsv(folder / "judgments.tsv")
    assert [r["step_id"] for r in judged] == [r["step_id"] for r in sheet]
    assert {r["verdict"] for r in judged} <= set(A.VERDICTS)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_cited_trial_fact_of_the_sheet_is_read_with_its_side_and_phase(folder):
    A = load_audit_module()
    trial_facts = 0
    for row in A.read_tsv(folder / "sheet.tsv"):
        for part in row["cited"].split(" || "):
            if " TESTS " in part or " STUDIES " in part:
                m = A._CITED_TRIAL.match(part)
                assert m is not None, part
                assert m.group(2) in part and "phase" in m.group(3)
                trial_facts += 1
            else:  # indications: "Drug TREATS disease" (no trial, no phase)
                assert A._CITED_TRIAL.match(part) is None
    assert trial_facts >= 40
    m = A._CITED_TRIAL.match("(kept) NCT00265408 (phase 1, failed) TESTS Warfarin [in atrial fibrillation]")
    assert m is not None and m.groups() == ("kept", "NCT00265408", "phase 1", "TESTS")
