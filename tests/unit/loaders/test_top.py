"""TOP reader and Trial loader, repoDB loader; the leakage rules of both."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kgimagine.errors import LoaderError
from kgimagine.kg.model import Edge, Node
from kgimagine.loaders.base import LoadContext, RejectSink
from kgimagine.loaders.repodb import RepoDBLoader
from kgimagine.loaders.top import TopRow, TopTrialLoader, read_top_csv
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R
from tests.unit.loaders.test_resolve import fixture_store

DATA = Path(__file__).resolve().parents[2] / "data" / "top"
SPLITS = {"train": DATA / "train.csv", "valid": DATA / "valid.csv"}
#: status / why_stop / DetailedStatus texts of the fixtures (unique tokens, never to be seen in the graph)
OUTCOME_TEXTS = ("zq17", "qx42", "rz88", "vw31", "kp55", "terminated", "completed")


def _ctx(tmp_path: Path, labels_from=frozenset({"train"})) -> LoadContext:
    return LoadContext(data_dir=DATA, cache_dir=tmp_path, labels_from=frozenset(labels_from))


def _load(tmp_path: Path, labels_from=frozenset({"train"})):
    st = fixture_store()
    ctx = _ctx(tmp_path, labels_from)
    loader = TopTrialLoader(SPLITS)
    loader.prepare(st)
    records = list(loader.iter_records(ctx))
    return records, ctx, loader


# -- reader -------------------------------------------------------------------------------
def test_reader_parses_lists_twice_parsed_icd_and_multiline_criteria() -> None:
    rows = list(read_top_csv(DATA / "train.csv"))
    assert [r.nctid for r in rows] == ["NCT00000101", "NCT00000102", "NCT00000103"]
    first = rows[0]
    assert first.icdcodes == ("C34.90", "C34.91")
    assert first.drugs == ("regorafenib (bay73-4506) - sequential / cisplatin / pemetrexed",)
    assert first.label == 0 and first.phase == "phase 1"
    assert "Hearing impairment" in first.criteria and "\n" in first.criteria
    # 1-based line where each record starts (the first record spans lines 2-10)
    assert [r.line for r in rows] == [2, 11, 12]


def test_top_row_has_no_status_fields() -> None:
    names = {f.name for f in dataclasses.fields(TopRow)}
    assert not names & {"status", "why_stop"}
    for row in read_top_csv(DATA / "train.csv"):
        assert not any(t in str(row) for t in ("zq17", "terminated"))


def test_malformed_rows_are_rejected_with_line_and_reason_and_reading_continues() -> None:
    sink = RejectSink()
    rows = list(read_top_csv(DATA / "malformed.csv", sink))
    assert [r.nctid for r in rows] == ["NCT00000401", "NCT00000409"]
    got = {r.line: r.reason for r in sink.rejects}
    assert set(got) == {3, 4, 5, 6, 7, 8, 9}
    assert "quoting" in got[3]
    assert "drugs" in got[4] and "literal" in got[4]
    assert got[5] == "empty nctid"
    assert "NCT123" in got[6]
    assert "6 fields" in got[7]
    assert "maybe" in got[8]
    assert "icdcodes" in got[9]
    assert all(r.source == "top" and r.file.endswith("malformed.csv") for r in sink.rejects)


def test_file_without_label_columns_gives_label_none() -> None:
    rows = list(read_top_csv(DATA / "unlabelled.csv"))
    assert [(r.nctid, r.label) for r in rows] == [("NCT00000301", None)]


def test_missing_required_column_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nctid,label\nNCT00000001,1\n")
    with pytest.raises(LoaderError, match="lacks column"):
        list(read_top_csv(bad))


# -- loader -------------------------------------------------------------------------------
def test_trial_nodes_and_resolved_edges(tmp_path: Path) -> None:
    records, ctx, _ = _load(tmp_path)
    nodes = {r.id: r for r in records if isinstance(r, Node)}
    edges = [r for r in records if isinstance(r, Edge)]
    t = nodes["clinicaltrials:NCT00000101"]
    assert t.name == "NCT00000101"
    assert t.properties["split"] == "train" and t.properties["phase"] == "phase 1"
    assert t.properties["icd10"] == ["C34.90", "C34.91"]
    assert t.properties["drug_names"] == ["regorafenib (bay73-4506) - sequential / cisplatin / pemetrexed"]
    tests = {(e.source, e.target): e for e in edges if e.type is R.TESTS}
    assert {d for s, d in tests if s == t.id} == {"drugbank:DB08896", "drugbank:DB00515", "drugbank:DB00642"}
    assert tests[(t.id, "drugbank:DB00515")].properties["name_in_trial"].startswith("regorafenib")
    assert tests[(t.id, "drugbank:DB00515")].properties["method"] == "rule:component"
    studies = {(e.source, e.target): e for e in edges if e.type is R.STUDIES}
    # by name: "non-small cell lung cancer" -> the NSCLC node (cancer/carcinoma rule), confirmed by
    # C34.90; C34.91 (whose parent C34 is lung cancer) adds nothing: codes never add a disease
    assert {d for s, d in studies if s == t.id} == {"mondo:0005233"}
    assert studies[(t.id, "mondo:0005233")].properties == {
        "name_in_trial": "non-small cell lung cancer", "method": "rule:neoplasm+icd10_confirmed",
        "matched": "non small cell lung carcinoma", "score": 0.94, "icd10": ["C34.90"],
    }
    # "lung cancer": the Mondo node and its SAME_AS DOID equivalent, both by exact label
    t2 = nodes["clinicaltrials:NCT00000102"]
    assert {d for s, d in studies if s == t2.id} == {"mondo:0008903", "doid:1324"}
    assert studies[(t2.id, "doid:1324")].properties["method"] == "exact_label+icd10_confirmed"
    # unknown drug stays visible; the unmapped ICD code changes nothing
    t3 = nodes["clinicaltrials:NCT00000103"]
    assert t3.properties["unresolved_drugs"] == ["unknownumab"]
    assert t3.properties["has_placebo_arm"] is True
    assert studies[(t3.id, "mondo:0005148")].properties["method"] == "exact_label"
    assert "drug:unknownumab" in ctx.unknown["top"]
    # "diabetes" -> "diabetes mellitus" is no node of the fixture: reported, not guessed from E11.9
    t4 = nodes["clinicaltrials:NCT00000202"]
    assert not [d for s, d in studies if s == t4.id]
    assert t4.properties["unresolved_diseases"] == ["diabetes"] and "disease:diabetes" in ctx.unknown["top"]
    assert all(e.provenance.source == "top" for e in edges)


def test_labels_only_for_labels_from_splits(tmp_path: Path) -> None:
    records, _, _ = _load(tmp_path, {"train"})
    labels = {r.id: r.properties.get("outcome_label") for r in records if isinstance(r, Node)}
    assert labels["clinicaltrials:NCT00000101"] == 0 and labels["clinicaltrials:NCT00000103"] == 1
    assert labels["clinicaltrials:NCT00000201"] is None and labels["clinicaltrials:NCT00000202"] is None
    # NCT00000102 is in train AND valid: an evaluated trial, so no label
    assert labels["clinicaltrials:NCT00000102"] is None
    records, _, loader = _load(tmp_path, {"train", "valid"})
    labels = {r.id: r.properties.get("outcome_label") for r in records if isinstance(r, Node)}
    assert labels["clinicaltrials:NCT00000201"] == 0 and labels["clinicaltrials:NCT00000102"] == 1
    assert loader.stats["trials_in_several_splits"] == 1


def test_trial_in_two_splits_is_one_node_listing_both(tmp_path: Path) -> None:
    records, _, loader = _load(tmp_path, {"train"})
    nodes = [r for r in records if isinstance(r, Node) and r.id == "clinicaltrials:NCT00000102"]
    assert len(nodes) == 1
    assert nodes[0].properties["split"] == "train" and nodes[0].properties["splits"] == ["train", "valid"]
    assert loader.stats["labels_withheld_shared_with_eval_split"] == 1


def test_no_outcome_of_unlabelled_splits_reaches_the_records(tmp_path: Path) -> None:
    """Scan every property of every record for the outcome of the valid trials."""
    records, _, _ = _load(tmp_path, {"train"})
    valid_ids = {"clinicaltrials:NCT00000201", "clinicaltrials:NCT00000202", "clinicaltrials:NCT00000102"}
    for r in records:
        props = dict(r.properties)
        touches_valid = (r.id in valid_ids) if isinstance(r, Node) else (r.source in valid_ids)
        if touches_valid:
            assert not any(k in props for k in ("outcome_label", "label", "status", "why_stop")), r
        blob = repr(r.to_dict()).lower()
        assert not any(t in blob for t in OUTCOME_TEXTS), r


def test_unknown_labels_from_split_is_an_error(tmp_path: Path) -> None:
    st = fixture_store()
    loader = TopTrialLoader(SPLITS)
    loader.prepare(st)
    with pytest.raises(LoaderError, match="phase_II_train"):
        list(loader.iter_records(_ctx(tmp_path, {"phase_II_train"})))


def test_loader_without_resolvers_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="prepare"):
        list(TopTrialLoader(SPLITS).iter_records(_ctx(tmp_path)))


# -- repoDB -------------------------------------------------------------------------------
def _repodb(tmp_path: Path, labels_from=frozenset({"train"})):
    st = fixture_store()
    ctx = _ctx(tmp_path, labels_from)
    loader = RepoDBLoader(DATA / "repodb.csv", top_splits=SPLITS)
    loader.prepare(st)
    return list(loader.iter_records(ctx)), ctx, loader


def test_repodb_edges_and_rejects(tmp_path: Path) -> None:
    edges, ctx, loader = _repodb(tmp_path)
    by = {(e.type, e.source): e for e in edges}
    assert (R.APPROVED_FOR, "drugbank:DB00619") in by
    assert by[(R.APPROVED_FOR, "drugbank:DB00619")].target == "mondo:0008903"
    reasons = [r.reason for r in ctx.rejects.rejects]
    assert any("C9999999" in r for r in reasons)
    assert any("drugbank:DB99999" in r for r in reasons)
    assert any("XX1" in r for r in reasons)
    assert "umls:C9999999" in ctx.unknown["repodb"]
    # NCT00000201 (valid) and NCT00000102 (train and valid) are evaluated trials
    assert loader.stats["withheld_evaluation_trials"] == 2


def test_repodb_status_kept_only_for_labelled_trials(tmp_path: Path) -> None:
    edges, _, _ = _repodb(tmp_path, {"train"})
    trialled = {e.source: e for e in edges if e.type is R.TRIALLED_FOR}
    # NCT00000101 is a train trial: status kept, keyed by the NCT id
    labelled = trialled["drugbank:DB08896"]
    assert labelled.key == "NCT00000101" and labelled.properties["status"] == "terminated"
    # NCT00000201 is a valid trial: its failure record is withheld entirely
    assert "drugbank:DB01268" not in trialled
    # NCT09999999 is no shared TOP trial: "was trialled for" only, no status, no NCT id
    plain = trialled["drugbank:DB00515"]
    assert plain.key == "" and "status" not in plain.properties and "nct_id" not in plain.properties
    for e in edges:
        blob = repr(e.to_dict()).lower()
        assert not any(n in blob for n in ("nct00000201", "nct00000102", "nct09999999"))
        assert not any(t in blob for t in ("rz88", "vw31", "kp55", "mm12"))  # DetailedStatus never read


def test_repodb_labels_from_valid_keeps_that_status(tmp_path: Path) -> None:
    edges, _, loader = _repodb(tmp_path, {"train", "valid"})
    trialled = {e.source: e for e in edges if e.type is R.TRIALLED_FOR}
    assert trialled["drugbank:DB01268"].properties["status"] == "terminated"
    assert trialled["drugbank:DB00619"].properties["status"] == "suspended"
    assert loader.stats["withheld_evaluation_trials"] == 0


def test_non_utf8_and_binary_files_are_one_encoding_error(tmp_path: Path) -> None:
    from kgimagine.errors import FileEncodingError

    latin = tmp_path / "latin1.csv"
    latin.write_bytes((DATA / "unlabelled.csv").read_text(encoding="utf-8").replace("lung", "lüng").encode("latin-1"))
    with pytest.raises(FileEncodingError, match="not UTF-8"):
        list(read_top_csv(latin))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FileEncodingError, match="binary"):
        list(read_top_csv(binary))


def test_row_without_nctid_kept_only_when_not_required(tmp_path: Path) -> None:
    f = tmp_path / "planned.csv"
    f.write_text("nctid,phase,diseases,icdcodes,drugs,criteria\n,phase 2,['lung cancer'],[],['imatinib'],x\n")
    sink = RejectSink()
    assert list(read_top_csv(f, sink)) == [] and sink.rejects[0].reason == "empty nctid"
    rows = list(read_top_csv(f, require_nctid=False))
    assert [(r.nctid, r.diseases) for r in rows] == [("", ("lung cancer",))]


def test_lenient_reader_takes_plain_names_flat_codes_and_no_icd_column(tmp_path: Path) -> None:
    f = tmp_path / "mine.csv"
    f.write_text(
        "nctid,phase,diseases,drugs,criteria\n"
        ",phase 2,lung cancer; melanoma ,imatinib | placebo,x\n"
        ",phase 1,['lung cancer'],\"['imatinib', 'placebo']\",y\n"
        ",phase 1,\"['lung cancer', 'melan\",['imatinib'],broken literal\n",
        encoding="utf-8",
    )
    with pytest.raises(LoaderError, match="lacks column.s. icdcodes"):
        list(read_top_csv(f, require_nctid=False))  # TOP's own format stays strict
    sink = RejectSink()
    rows = list(read_top_csv(f, sink, require_nctid=False, lenient=True))
    assert [(r.diseases, r.drugs, r.icdcodes) for r in rows] == [
        (("lung cancer", "melanoma"), ("imatinib", "placebo"), ()),
        (("lung cancer",), ("imatinib", "placebo"), ()),
    ]
    # a cell that opens a list literal must still be one: no guessing at a broken literal
    assert [(r.line, r.reason.split(":")[0]) for r in sink.rejects] == [(4, "column diseases")]
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "phase,diseases,icdcodes,drugs,criteria\n"
        "phase 2,x,\"['C22.0', 'C22.1']\",y,z\n"
        "phase 2,x,C22.0; C22.1,y,z\n"
        "phase 2,x,\"[\"\"['C22.0']\"\", \"\"['C22.1']\"\"]\",y,z\n",
        encoding="utf-8",
    )
    assert {r.icdcodes for r in read_top_csv(codes, require_nctid=False, lenient=True)} == {("C22.0", "C22.1")}
    no_id = tmp_path / "no_id_column.csv"
    no_id.write_text("phase,diseases,drugs,criteria\nphase 2,x,y,z\n", encoding="utf-8")
    with pytest.raises(LoaderError, match="lacks column.s. nctid"):
        list(read_top_csv(no_id, lenient=True))  # an NCT id still required when asked for
    assert [r.nctid for r in read_top_csv(no_id, require_nctid=False, lenient=True)] == [""]


def test_cli_add_trials_adds_unlabelled_linked_trials_and_rejects_with_lines(tmp_path: Path, monkeypatch, capsys) -> None:
    from kgimagine.cli.app import main
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    graph = tmp_path / "graph"
    st = fixture_store(graph)
    st.upsert_nodes([Node("clinicaltrials:NCT00000999", L.TRIAL, "NCT00000999", {"outcome_label": 1, "split": "train"})])
    st.save()
    f = tmp_path / "mine.csv"
    f.write_text(
        "nctid,label,status,why_stop,phase,diseases,icdcodes,drugs,criteria\n"
        "NCT00000501,1,completed,zq17,phase 2,['non-small cell lung cancer'],\"[\"\"['C34.90']\"\"]\","
        "\"['Gleevec 400 mg', 'placebo']\",adults\n"
        "NCT00000502,,,,phase 1,['healthy volunteers'],[],['newdrugumab'],unknowns\n"
        ",0,terminated,qx42,phase 2,['lung cancer'],[],['imatinib'],no id\n"
        "NCT00000999,1,completed,,phase 1,['lung cancer'],[],['imatinib'],already there\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KGIMAGINE_CACHE", str(tmp_path / "cache"))
    try:
        main(["kg", "add-trials", str(f), "--store", str(graph)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr()
    assert "added 2 trials" in out.out
    assert "unresolved: disease:healthy volunteers, drug:newdrugumab" in out.out
    assert f"{f}:4: empty nctid" in out.err and f"{f}:5: NCT00000999 is already in the graph" in out.err
    g = NetworkXGraphStore(graph)
    node = g.get_node("clinicaltrials:NCT00000501")
    assert "outcome_label" not in node.properties and node.properties["split"] == "user"
    assert not any(t in str(node.properties) for t in ("zq17", "completed"))
    links = {(e.type, e.target): e for e in g.iter_edges() if e.source == node.id}
    assert set(links) == {(R.TESTS, "drugbank:DB00619"), (R.STUDIES, "mondo:0005233")}
    assert links[(R.STUDIES, "mondo:0005233")].properties["method"] == "rule:neoplasm+icd10_confirmed"
    assert g.get_node("clinicaltrials:NCT00000999").properties == {"outcome_label": 1, "split": "train"}
