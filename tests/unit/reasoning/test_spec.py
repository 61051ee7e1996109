from __future__ import annotations

import json

import pytest

from kgimagine.errors import SpecValidationError
from kgimagine.reasoning.spec import ArmQuestion, TrialSpec
from tests.unit.reasoning import graph_fixture as G


def test_empty_spec_names_the_problem():
    with pytest.raises(SpecValidationError, match="empty spec"):
        TrialSpec.build()


@pytest.mark.parametrize("phase", ["phase 3/phase 1", "phase 1/phase 3"])
def test_contradictory_phase(phase):
    with pytest.raises(SpecValidationError, match=r"phase: .*contradictory"):
        TrialSpec.build(drugs=["imatinib"], phase=phase)


def test_bad_phase_and_nct_name_the_field():
    with pytest.raises(SpecValidationError, match="phase"):
        TrialSpec.build(drugs=["x"], phase="final")
    with pytest.raises(SpecValidationError, match="nct_id"):
        TrialSpec.build(nct_id="ABC123")
    with pytest.raises(SpecValidationError, match="unknown_field"):
        TrialSpec.build(drugs=["x"], unknown_field=1)


def test_valid_spec_normalises():
    s = TrialSpec.build(nct_id="clinicaltrials:nct01288573", drugs=["imatinib"], phase="Phase 2/Phase 3")
    assert s.nct_id == "NCT01288573" and s.phase == "phase 2/phase 3"
    assert s.key() == "NCT01288573"
    assert TrialSpec.build(drugs=["a"]).key().startswith("spec-")


def test_from_top_row_dict_ignores_outcome_columns():
    row = {
        "nctid": "NCT00000042", "status": "completed", "why_stop": "", "label": "1", "phase": "phase 2",
        "diseases": "['gastrointestinal stromal tumor']", "icdcodes": "[\"['C49.A0', 'C49.A1']\"]",
        "drugs": "['imatinib', 'placebo']", "criteria": "Inclusion: adults",
    }
    s = TrialSpec.from_top_row(row)
    assert s.drugs == ["imatinib", "placebo"] and s.icd10 == ["C49.A0", "C49.A1"]
    assert "completed" not in s.model_dump_json() and "label" not in s.model_dump()


def test_from_top_row_toprow():
    from kgimagine.loaders.top import TopRow

    row = TopRow(nctid="NCT00000042", label=1, phase="phase 1", diseases=("cancer",), icdcodes=("C80",),
                 drugs=("sorafenib",), smiless=(), criteria="adults", line=2)
    s = TrialSpec.from_top_row(row)
    assert (s.nct_id, s.drugs, s.diseases, s.icd10, s.phase) == ("NCT00000042", ["sorafenib"], ["cancer"], ["C80"], "phase 1")


def test_from_graph(rstore):
    s = TrialSpec.from_graph(rstore, "NCT00000008")
    assert s.drugs == [G.SORAFENIB] and s.diseases == [G.GIST] and s.phase == "phase 2"
    with pytest.raises(SpecValidationError, match="NCT09999999"):
        TrialSpec.from_graph(rstore, "NCT09999999")


QUESTION = {
    "question_id": "q1", "nct_id": "NCT00000099", "brief_title": "Sorafenib in hepatocellular carcinoma",
    "endpoint": {"measure": "OS", "description": "overall survival", "timeFrame": "2 years", "outcome_type": "primary"},
    "arms": [
        {"label": "A", "type": "EXPERIMENTAL", "interventionNames": ["Drug: Sorafenib"],
         "interventions": [{"type": "DRUG", "name": "Sorafenib", "description": "400 mg bid", "otherNames": []}]},
        {"label": "B", "type": "PLACEBO_COMPARATOR", "interventionNames": ["Drug: Placebo"],
         "interventions": [{"type": "DRUG", "name": "Placebo"}]},
    ],
    "question_type": "superiority", "comparisons": [["A", "B"]],
    "results": {"p_value": 0.001},  # must be ignored
}


def test_arm_question_parses_and_ignores_extra_fields():
    q = ArmQuestion.parse(json.dumps(QUESTION))
    assert q.comparisons == [("A", "B")] and q.arm("A").drug_names() == ["Sorafenib"]
    assert "p_value" not in q.model_dump_json()


def test_arm_question_errors():
    bad = dict(QUESTION, comparisons=[["A", "C"]])
    with pytest.raises(SpecValidationError, match="comparisons: arm 'C'"):
        ArmQuestion.parse(bad)
    with pytest.raises(SpecValidationError, match="comparisons"):
        ArmQuestion.parse(dict(QUESTION, comparisons=[]))
    with pytest.raises(SpecValidationError, match="not valid JSON"):
        ArmQuestion.parse("{nope")
    assert ArmQuestion.parse(dict(QUESTION, question_type="endpoint", comparisons=[])).question_type == "endpoint"


def test_names_that_look_like_lists_are_kept():
    row = {"nctid": "NCT00000043", "phase": "phase 1", "diseases": "['cancer']", "icdcodes": "[]",
           "drugs": "['[18F]FDG', '[11C]choline pet']", "criteria": ""}
    assert TrialSpec.from_top_row(row).drugs == ["[18F]FDG", "[11C]choline pet"]
    assert TrialSpec.build(drugs=["x"], icd10=["[\"['C22.0']\"]"]).icd10 == ["[\"['C22.0']\"]"]  # by hand: as given
