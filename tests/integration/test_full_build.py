"""The full graph from every shared source: known facts end to end, coverage, leakage, idempotence.

The embedded build runs once per session (target <= 20 s on a quiet 2-core machine); the
Neo4j build (marked ``neo4j``) must give the same counts per label / type and the same
graph version.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kgimagine.loaders.base import LoadContext
from kgimagine.loaders.build import build_graph, default_loaders

from tests.integration.conftest import LABELS_FROM
from kgimagine.loaders.top import DEFAULT_SPLITS, read_top_csv
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R



def test_every_source_loaded(full_build) -> None:
    _, report, _ = full_build
    names = [s.name for s in report.sources]
    assert names[-2:] == ["repodb", "top"]
    assert {"hetionet", "drugbank", "drugcentral", "ontology"} <= set(names)
    by = {s.name: s for s in report.sources}
    assert by["top"].nodes == 1913  # 1,951 rows, 38 trials listed in two splits
    assert all(s.nodes + s.edges > 0 for s in report.sources)


def test_drug_targets_from_drugbank(full_build) -> None:
    st, _, _ = full_build
    targets = {nb.node.id: nb for nb in st.neighbours("drugbank:DB00619", rel_types=[R.TARGETS], limit=1000)
               if nb.edge.provenance.source == "drugbank"}
    assert "ncbigene:25" in targets  # imatinib -> ABL1
    assert targets["ncbigene:25"].node.name == "ABL1"


def test_top_trial_linked_to_resolved_drugs_and_mondo_disease(full_build) -> None:
    st, _, _ = full_build
    trial = st.get_node("clinicaltrials:NCT01187615")  # regorafenib (bay73-4506) - ... / cisplatin / pemetrexed
    assert trial.properties["split"] == "phase_I_train" and trial.properties["outcome_label"] == 0
    nbs = st.neighbours(trial.id, rel_types=[R.TESTS, R.STUDIES])
    drugs = {nb.node.id for nb in nbs if nb.edge.type is R.TESTS}
    assert drugs == {"drugbank:DB08896", "drugbank:DB00515", "drugbank:DB00642"}
    diseases = {nb.node.id for nb in nbs if nb.edge.type is R.STUDIES}
    assert "mondo:0008433" in diseases  # small cell lung carcinoma
    assert all(nb.edge.provenance.source == "top" for nb in nbs)


def test_disease_by_name_confirmed_by_icd10_parent_code(full_build) -> None:
    st, _, _ = full_build
    # NCT00332085 lists "type 2 diabetes" and E11.65, E11.9, ...: the name resolves (short form of
    # "type 2 diabetes mellitus"); E11 on that node, the parent of the listed codes, confirms it
    edges = {nb.node.id: nb.edge for nb in st.neighbours("clinicaltrials:NCT00332085", rel_types=[R.STUDIES])}
    edge = edges["mondo:0005148"]
    assert edge.properties["method"] == "rule:abbreviation+icd10_confirmed"
    assert edge.properties["name_in_trial"] == "type 2 diabetes" and "E11.9" in edge.properties["icd10"]


def test_stored_top_trials_equal_their_description_resolved_as_new(full_build, shared_data) -> None:
    """Parity on real rows: a TOP trial's graph links are TrialResolver's output for its row."""
    from kgimagine.reasoning.retrieval import TargetResolver
    from kgimagine.reasoning.spec import TrialSpec
    from kgimagine.trials.resolve import TrialResolver

    st, _, _ = full_build
    resolver, target = TrialResolver(st), TargetResolver(st)
    rows = list(read_top_csv(shared_data / DEFAULT_SPLITS["phase_II_valid"]))[:60]
    for row in rows:
        tid = f"clinicaltrials:{row.nctid}"
        stored = {(nb.edge.type, nb.node.id) for nb in st.neighbours(tid, rel_types=[R.TESTS, R.STUDIES], limit=10_000)}
        spec = TrialSpec.from_top_row(row)
        ent = resolver.resolve(spec.drugs, spec.diseases, spec.icd10)
        assert {t for r, t in stored if r is R.STUDIES} == set(ent.disease_ids), row.nctid
        assert {t for r, t in stored if r is R.TESTS} == set(ent.drug_ids), row.nctid
        got = target.resolve(spec)
        assert (got.drug_ids, got.disease_ids) == (list(ent.drug_ids), list(ent.disease_ids)), row.nctid
    assert "E11" in st.get_node("mondo:0005148").properties["icd10"]
    assert not any("E11.9" == c for c in st.get_node("mondo:0005148").properties["icd10"])


def test_coverage_targets_met(full_build) -> None:
    _, report, _ = full_build
    cov = report.coverage
    assert cov["trials"] == 1913
    assert cov["with_targeted_drug"]["share"] >= 0.65, cov["with_targeted_drug"]
    assert cov["with_disease"]["share"] >= 0.80, cov["with_disease"]
    assert set(cov["by_split"]) == set(DEFAULT_SPLITS)
    assert {"drugbank", "drugcentral", "hetionet"} <= set(cov["targeted_drug_by_source"])


def test_no_outcome_of_evaluated_splits_in_the_graph(full_build, shared_data: Path) -> None:
    """Scan every node and edge for the outcome of trials outside labels_from."""
    st, _, _ = full_build
    evaluated: set[str] = set()
    for split, rel in DEFAULT_SPLITS.items():
        if split not in LABELS_FROM:
            evaluated |= {r.nctid for r in read_top_csv(shared_data / rel)}
    assert len(evaluated) > 800
    eval_ids = {f"clinicaltrials:{n}" for n in evaluated}
    outcome_keys = {"outcome_label", "label", "status", "why_stop"}
    labelled = 0
    for node in st.iter_nodes(L.TRIAL):
        if node.id in eval_ids:
            assert not outcome_keys & set(node.properties), node.id
        elif "outcome_label" in node.properties:
            labelled += 1
    assert labelled == 1044 - 32  # train trials that are not also in phase_II_valid
    for edge in st.iter_edges():
        if edge.source in eval_ids or edge.target in eval_ids:
            assert not outcome_keys & set(edge.properties), edge
        if edge.type is R.TRIALLED_FOR:
            assert edge.key not in evaluated and edge.properties.get("nct_id") not in evaluated
            if "status" in edge.properties:
                assert edge.key and edge.key not in evaluated


def test_rerun_changes_no_counts(full_build, shared_data: Path, tmp_path: Path) -> None:
    st, report, graph_dir = full_build
    before = (dict(st.stats().nodes_by_label), dict(st.stats().edges_by_type), st.graph_version())
    # a checkpointed re-run of a finished build skips every source
    ctx = LoadContext(data_dir=shared_data, cache_dir=tmp_path, labels_from=LABELS_FROM)
    again = build_graph(st, ctx, default_loaders(shared_data), checkpoint=graph_dir / "build-state.json",
                        compute_coverage=False)
    assert again.resumed and all(s.skipped for s in again.sources)
    # and re-upserting every source into the built graph (no checkpoint) changes nothing either
    ctx = LoadContext(data_dir=shared_data, cache_dir=tmp_path, labels_from=LABELS_FROM)
    build_graph(st, ctx, default_loaders(shared_data), compute_coverage=False)
    assert (dict(st.stats().nodes_by_label), dict(st.stats().edges_by_type), st.graph_version()) == before
    assert before[2] == report.graph_version


def test_saved_graph_reloads_and_cli_reads_it(full_build) -> None:
    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    _, report, graph_dir = full_build
    runner = CliRunner(env={"COLUMNS": "250"})
    res = runner.invoke(app, ["kg", "show", "clinicaltrials:NCT01187615", "--store", str(graph_dir)])
    assert res.exit_code == 0, res.output
    assert "drugbank:DB08896" in res.output and "phase_I_train" in res.output
    res = runner.invoke(app, ["kg", "stats", "--store", str(graph_dir)])
    assert res.exit_code == 0, res.output
    # the saved graph reloads with the same content hash
    assert report.graph_version in res.output
    assert "Trial" in res.output and "1913" in res.output and "phase_II_valid" in res.output


@pytest.mark.neo4j
def test_neo4j_build_matches_embedded(full_build, shared_data: Path, neo4j_store_factory, tmp_path: Path) -> None:
    st, report, _ = full_build
    neo = neo4j_store_factory()
    ctx = LoadContext(data_dir=shared_data, cache_dir=tmp_path, labels_from=LABELS_FROM)
    t0 = time.perf_counter()
    rep = build_graph(neo, ctx, default_loaders(shared_data), checkpoint=tmp_path / "build-state.json")
    print(f"\nfull Neo4j build: {time.perf_counter() - t0:.1f} s")
    assert (rep.node_count, rep.edge_count) == (report.node_count, report.edge_count)
    assert rep.nodes_by_label == report.nodes_by_label and rep.edges_by_type == report.edges_by_type
    assert rep.graph_version == report.graph_version
    assert rep.coverage == report.coverage
