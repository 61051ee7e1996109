"""Source loaders: hand-written fixtures (incl. malformed rows) and the real shared data."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from kgimagine.errors import LoaderError, SourceFileMissingError
from kgimagine.kg.model import Edge, Node
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.loaders.base import LoadContext, sha256_file
from kgimagine.loaders.drugbank import DrugBankLoader
from kgimagine.loaders.drugcentral import DrugCentralLoader
from kgimagine.loaders.hetionet import HetionetLoader, parse_hetionet_id
from kgimagine.loaders.ontology import OntologyLoader
from kgimagine.loaders.pharmacotherapydb import PharmacotherapyDBLoader
from kgimagine.loaders.registry import ALL_LOADERS, get_loader
from kgimagine.loaders.sider import SiderLoader, parse_stitch_flat
from kgimagine.types import NodeLabel, RelationType

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "loaders"


def make_ctx(data_dir: Path, tmp_path: Path) -> LoadContext:
    return LoadContext(data_dir=data_dir, cache_dir=tmp_path / "cache")


def run(loader, ctx: LoadContext) -> tuple[dict[str, Node], list[Edge]]:
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for rec in loader.iter_records(ctx):
        if isinstance(rec, Node):
            assert rec.id not in nodes, f"{rec.id} yielded twice"
            nodes[rec.id] = rec
        else:
            # nodes before the edges that need them
            assert rec.source in nodes and rec.target in nodes, f"edge before its nodes: {rec}"
            edges.append(rec)
    return nodes, edges


def rejected(ctx: LoadContext, file_suffix: str) -> dict[int, str]:
    return {r.line: r.reason for r in ctx.rejects.rejects if r.file.endswith(file_suffix)}


def pairs(edges: list[Edge], rel: RelationType | None = None) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in edges if rel is None or e.type is rel}


# --- fixtures: one loader at a time ------------------------------------------------------------
def test_hetionet_fixture_loads_good_rows_and_rejects_bad_ones(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    loader = HetionetLoader()
    nodes, edges = run(loader, ctx)
    assert nodes["drugbank:DB00619"].name == "Imatinib"
    assert nodes["ncbigene:25"].name == "ABL1" and nodes["ncbigene:25"].label is NodeLabel.GENE
    assert nodes["doid:1324"].label is NodeLabel.DISEASE
    assert nodes["umls:C0015672"].label is NodeLabel.SIDE_EFFECT
    assert "ncbigene:3815" not in nodes and "ncbigene:7157" not in nodes
    assert not any(n.startswith("uberon") for n in nodes)
    assert pairs(edges) == {
        ("drugbank:DB00619", "ncbigene:25"),
        ("drugbank:DB00619", "ncbigene:5156"),
        ("doid:1324", "ncbigene:25"),
        ("drugbank:DB01268", "doid:9256"),
    }
    assert {e.type for e in edges} == {RelationType.TARGETS, RelationType.ASSOCIATED_WITH, RelationType.TREATS}
    assert rejected(ctx, "hetionet-v1.0-nodes.tsv").keys() == {5, 8, 13}
    assert "DBXYZ" in rejected(ctx, "hetionet-v1.0-nodes.tsv")[5]
    edge_rejects = rejected(ctx, "subset-edges.sif.gz")
    assert edge_rejects.keys() == {4, 7, 8}
    assert "Gene::7157" in edge_rejects[4] and "XyZ" in edge_rejects[7] and "3 columns" in edge_rejects[8]
    assert all(e.provenance.source == "hetionet" for e in edges)
    assert loader.summary["nodes_other_kinds_skipped"] == 1


def test_hetionet_derives_edges_from_public_inputs_without_the_subset_file(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    (data / "hetionet" / "hetionet-v1.0-subset-edges.sif.gz").unlink()
    ctx = make_ctx(data, tmp_path)
    loader = HetionetLoader()
    _, edges = run(loader, ctx)
    assert loader.summary["edges_from_subset_file"] == 0
    # CbG rows whose both ends are Hetionet nodes (the affinity of row 3 does not matter here),
    # DaG rows with a Hetionet gene (EGFR 1956 is not one), DM/SYM indications
    assert pairs(edges, RelationType.TARGETS) == {
        ("drugbank:DB00619", "ncbigene:25"),
        ("drugbank:DB00619", "ncbigene:5156"),
        ("drugbank:DB01268", "ncbigene:5156"),
    }
    assert pairs(edges, RelationType.ASSOCIATED_WITH) == {("doid:1324", "ncbigene:25")}
    # row 6 is DM with an unparsable n_curators: the ids are fine, and Hetionet ignores the counts
    assert pairs(edges, RelationType.TREATS) == {("drugbank:DB01268", "doid:9256"), ("drugbank:DB00619", "doid:1324")}
    assert pairs(edges, RelationType.PALLIATES) == {("drugbank:DB00619", "doid:1324")}


def test_parse_hetionet_id():
    assert parse_hetionet_id("Compound::DB00619") == ("Compound", "drugbank:DB00619")
    assert parse_hetionet_id("Disease::DOID:1324") == ("Disease", "doid:1324")
    assert parse_hetionet_id("Anatomy::UBERON:0000002") is None
    with pytest.raises(ValueError, match="bad Gene id"):
        parse_hetionet_id("Gene::ABL1")


def test_drugbank_fixture(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    nodes, edges = run(DrugBankLoader(), ctx)
    ima = nodes["drugbank:DB00619"]
    assert ima.name == "Imatinib"
    assert ima.properties["aliases"] == ["Gleevec", "STI-571"]  # the name itself is left out
    assert ima.properties["groups"] == ["approved"]
    assert ima.properties["categories"] == ["Antineoplastic Agents", "Protein Kinase Inhibitors"]
    assert ima.properties["chembl"] == ["CHEMBL941"]
    assert ima.properties["pubchem_cid"] == [5291]
    assert ima.properties["inchikey"].startswith("InChIKey=KTUF")
    assert nodes["drugbank:DB01268"].properties["groups"] == ["approved", "investigational"]
    assert "drugbank:DB99999" not in nodes and "drugbank:DB00002" not in nodes
    # genes are referenced minimally
    assert nodes["ncbigene:25"].name == ""
    db = [e for e in edges if e.provenance.source == "drugbank"]
    assert {(e.source, e.target, e.key) for e in db} == {
        ("drugbank:DB00619", "ncbigene:25", "target"),
        ("drugbank:DB00619", "ncbigene:5243", "enzyme"),
    }
    abl1 = next(e for e in db if e.target == "ncbigene:25")
    assert abl1.properties["actions"] == ["inhibitor"] and abl1.properties["pubmed_ids"] == ["111", "222"]
    assert abl1.provenance.record_id == "drugbank-dhimmel/proteins.tsv:2"
    integ = {(e.source, e.target): e for e in edges if e.provenance.source == "hetionet-integrate"}
    assert set(integ) == {("drugbank:DB00619", "ncbigene:25"), ("drugbank:DB01268", "ncbigene:5156")}
    assert integ["drugbank:DB00619", "ncbigene:25"].properties["affinity_nM"] == 21.0
    assert integ["drugbank:DB00619", "ncbigene:25"].provenance.licence == "CC BY-NC 4.0"
    assert "not stated" in integ["drugbank:DB01268", "ncbigene:5156"].provenance.licence
    # the drug-level row of proteins.tsv for sunitinib lacks a column -> rejected
    assert rejected(ctx, "drugbank.tsv").keys() == {5, 6, 7}  # DB00619 spans lines 2-3
    assert rejected(ctx, "proteins.tsv").keys() == {5, 6, 7}
    assert "widget" in rejected(ctx, "proteins.tsv")[5]
    assert rejected(ctx, "CbG-binding.tsv").keys() == {3, 5}
    assert "not a number" in rejected(ctx, "CbG-binding.tsv")[3]
    assert rejected(ctx, "aliases.json").keys() == {3}
    assert rejected(ctx, "mapping-chembl.tsv").keys() == {3}
    assert rejected(ctx, "pubchem-mapping.tsv").keys() == {4}


def test_drugcentral_fixture(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    loader = DrugCentralLoader()
    nodes, edges = run(loader, ctx)
    got = {(e.source, e.target): e for e in edges}
    assert set(got) == {
        ("drugbank:DB00619", "ncbigene:25"),  # "imatinib" = DrugBank name
        ("drugbank:DB00619", "ncbigene:1956"),  # STRUCT_ID 1 again; EGFR known from DaG-association
        ("drugcentral:4242", "ncbigene:25"),  # no DrugBank match -> own node
    }
    assert nodes["drugcentral:4242"].name == "newdrugamab"
    assert nodes["drugbank:DB00619"].name == ""  # referenced, owned by DrugBank
    e = got["drugbank:DB00619", "ncbigene:25"]
    assert e.properties["act_value"] == 8.2 and e.properties["act_type"] == "IC50"
    assert e.properties["action_type"] == "INHIBITOR" and e.properties["moa"] is True
    assert e.provenance.source == "drugcentral"
    rej = rejected(ctx, "drug.target.interaction.tsv.gz")
    assert rej.keys() == {3, 6, 7}
    assert "NOSUCHGENE" in rej[3] and "ACT_VALUE" in rej[6] and "STRUCT_ID" in rej[7]
    assert "gene symbol NOSUCHGENE" in ctx.unknown["drugcentral"]
    assert loader.summary["rows_non_human_skipped"] == 1


def test_drugcentral_matches_aliases_when_the_name_is_no_drugbank_name(tmp_path):
    names = {"imatinib": {"drugbank:DB00619"}}
    aliases = {"gleevec": {"drugbank:DB00619"}, "dup": {"drugbank:DB1", "drugbank:DB2"}}
    match = DrugCentralLoader._match_drug
    assert match("Gleevec", "1", names, aliases) == "drugbank:DB00619"
    assert match("dup", "9", names, aliases) == "drugcentral:9"  # ambiguous alias


def test_pharmacotherapydb_fixture(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    loader = PharmacotherapyDBLoader()
    nodes, edges = run(loader, ctx)
    assert {(e.source, e.type, e.target) for e in edges} == {
        ("drugbank:DB01268", RelationType.TREATS, "doid:9256"),
        ("drugbank:DB00619", RelationType.PALLIATES, "doid:1324"),
    }
    assert loader.summary["not_indications_skipped"] == 1
    assert rejected(ctx, "indications.tsv").keys() == {5, 6, 7}
    treats = next(e for e in edges if e.type is RelationType.TREATS)
    assert treats.properties == {"category": "DM", "n_curators": 1, "n_resources": 2}


def test_sider_fixture_dedupes_pairs_and_reports_unmapped(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    loader = SiderLoader()
    nodes, edges = run(loader, ctx)
    assert pairs(edges, RelationType.CAUSES) == {
        ("drugbank:DB00619", "umls:C0000737"),
        ("drugbank:DB00619", "umls:C0015672"),
        ("drugbank:DB01268", "umls:C0018681"),
    }
    assert len(edges) == 3  # line 4 repeats line 3
    assert nodes["umls:C0018681"].name == "Headache"  # side-effect-terms.tsv is absent: names from PT rows
    assert loader.summary["side_effect_terms_file_missing"] == 1
    assert ctx.unknown["sider"] == {"CID100099999 (PubChem CID 99999)"}
    assert rejected(ctx, "meddra_all_se.tsv.gz").keys() == {6, 7, 9}


def test_sider_uses_side_effect_terms_when_present(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    (data / "sider" / "side-effect-terms.tsv").write_text(
        "umls_cui_from_meddra\tside_effect_name\nC0018681\tHeadache (terms file)\nC1\tbad\n", encoding="utf-8"
    )
    ctx = make_ctx(data, tmp_path)
    nodes, _ = run(SiderLoader(), ctx)
    assert nodes["umls:C0018681"].name == "Headache (terms file)"
    assert rejected(ctx, "side-effect-terms.tsv").keys() == {3}


def test_parse_stitch_flat():
    assert parse_stitch_flat("CID100002244") == 2244
    with pytest.raises(ValueError, match="STITCH"):
        parse_stitch_flat("CID000002244")


def test_ontology_fixture(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    nodes, edges = run(OntologyLoader(), ctx)
    lung = nodes["doid:1324"]
    assert lung.name == "lung cancer" and lung.properties["do_slim"] is True
    assert lung.properties["icd10"] == ["C34"] and lung.properties["umls"] == ["C0242379"]
    assert lung.properties["mesh"] == ["D008175"]
    assert nodes["doid:0050861"].properties["icd10"] == ["C18.9"]  # node from xrefs alone
    mondo = nodes["mondo:0008903"]
    assert mondo.name == "lung cancer"
    assert mondo.properties["icd10"] == ["C34.90", "C34.9", "C34"]
    assert mondo.properties["umls"] == ["C0242379"] and mondo.properties["mesh"] == ["D008175"]
    assert set(n for n in nodes if n.startswith("mondo:")) == {"mondo:0008903", "mondo:0005233", "mondo:0005575"}
    assert "doid:4" not in nodes  # mondo:0000001 matches no DOID of the DO files and has no ICD-10 code
    assert {(e.source, e.type, e.target) for e in edges} == {
        ("doid:3908", RelationType.SUBCLASS_OF, "doid:1324"),
        ("doid:1520", RelationType.SUBCLASS_OF, "doid:9256"),
        ("mondo:0008903", RelationType.SAME_AS, "doid:1324"),
        ("mondo:0005233", RelationType.SAME_AS, "doid:3908"),
    }
    sub = next(e for e in edges if e.source == "doid:3908")
    assert sub.properties["min_distance"] == 2 and sub.provenance.source == "disease-ontology"
    assert rejected(ctx, "slim-terms.tsv").keys() == {4}
    assert rejected(ctx, "slim-terms-prop.tsv").keys() == {4}
    assert rejected(ctx, "xrefs.tsv").keys() == {6}
    assert rejected(ctx, "mondo_exactmatch_doid.sssom.tsv").keys() == {8}  # comment lines counted
    assert rejected(ctx, "mondo_exactmatch_icd10cm.sssom.tsv").keys() == {7}
    assert rejected(ctx, "mondo_exactmatch_umls.sssom.tsv").keys() == {7}


def test_ontology_scope_all_keeps_every_mondo_term(tmp_path):
    nodes, edges = run(OntologyLoader(mondo_scope="all"), make_ctx(FIXTURES, tmp_path))
    assert nodes["mondo:0000001"].properties["umls"] == ["C0012634"]
    assert nodes["doid:4"].name == "disease"  # named from the SSSOM object label
    assert ("mondo:0000001", "doid:4") in pairs(edges, RelationType.SAME_AS)
    with pytest.raises(LoaderError, match="mondo_scope"):
        OntologyLoader(mondo_scope="some")  # type: ignore[arg-type]


def test_fixture_graph_loads_into_a_store_without_dangling_edges(tmp_path):
    ctx = make_ctx(FIXTURES, tmp_path)
    store = NetworkXGraphStore()
    for name in ALL_LOADERS:
        records = list(get_loader(name).iter_records(ctx))
        store.upsert_nodes(r for r in records if isinstance(r, Node))
        store.upsert_edges(r for r in records if isinstance(r, Edge))  # raises on a missing endpoint
    # names survive minimal re-references by later sources
    assert store.get_node("drugbank:DB00619").name == "Imatinib"
    assert store.get_node("doid:1324").name == "lung cancer"
    assert store.get_node("ncbigene:25").name == "ABL1"


# --- errors and registry -------------------------------------------------------------------
def test_missing_file_names_the_path_and_the_download_address(tmp_path):
    ctx = make_ctx(tmp_path / "empty", tmp_path)
    with pytest.raises(SourceFileMissingError, match="raw.githubusercontent.com/dhimmel/indications"):
        list(PharmacotherapyDBLoader().iter_records(ctx))


def test_a_file_without_the_expected_columns_is_a_loader_error(tmp_path):
    data = tmp_path / "data"
    (data / "pharmacotherapydb").mkdir(parents=True)
    (data / "pharmacotherapydb" / "indications.tsv").write_text("a\tb\n1\t2\n", encoding="utf-8")
    with pytest.raises(LoaderError, match="has no column"):
        list(PharmacotherapyDBLoader().iter_records(make_ctx(data, tmp_path)))


def test_registry_order_and_lookup():
    assert list(ALL_LOADERS) == ["hetionet", "drugbank", "ontology", "drugcentral", "pharmacotherapydb", "sider"]
    for name in ALL_LOADERS:
        loader = get_loader(name)
        assert loader.spec.files and all(f.url.startswith("https://") and len(f.sha256) == 64 for f in loader.spec.files)
    with pytest.raises(LoaderError, match="unknown source 'nope'"):
        get_loader("nope")


def test_fixture_gz_files_are_gzip():
    with gzip.open(FIXTURES / "sider" / "meddra_all_se.tsv.gz", "rt") as fh:
        assert fh.readline().startswith("CID1")


# --- real shared data ---------------------------------------------------------------------
def test_spec_checksums_match_the_shared_copies(shared_data):
    checked = 0
    for name in ALL_LOADERS:
        for f in get_loader(name).spec.files:
            local = shared_data / f.relpath
            if local.is_file():
                assert sha256_file(local) == f.sha256, f"{f.relpath}: checksum differs from the spec"
                checked += 1
    assert checked >= 15


@pytest.fixture(scope="module")
def full_graph(shared_data, tmp_path_factory):
    ctx = make_ctx(shared_data, tmp_path_factory.mktemp("cache"))
    store = NetworkXGraphStore()
    counts: dict[str, tuple[int, int]] = {}
    for name in ALL_LOADERS:
        records = list(get_loader(name).iter_records(ctx))
        nodes = [r for r in records if isinstance(r, Node)]
        edges = [r for r in records if isinstance(r, Edge)]
        store.upsert_nodes(nodes)
        store.upsert_edges(edges)  # NodeNotFoundError on a dangling edge
        counts[name] = (len(nodes), len(edges))
    return store, counts, ctx


@pytest.mark.slow
def test_real_data_counts_are_in_sane_ranges(full_graph):
    store, counts, ctx = full_graph
    expected = {  # (min nodes, max nodes, min edges, max edges)
        "hetionet": (28_000, 29_000, 25_000, 26_000),
        "drugbank": (7_700, 13_000, 35_000, 45_000),
        "ontology": (10_000, 15_000, 6_000, 10_000),
        "drugcentral": (2_000, 5_000, 10_000, 16_000),
        "pharmacotherapydb": (400, 800, 1_100, 1_200),
        "sider": (2_000, 6_000, 50_000, 150_000),
    }
    for name, (nmin, nmax, emin, emax) in expected.items():
        n, e = counts[name]
        assert nmin <= n <= nmax and emin <= e <= emax, f"{name}: {n} nodes, {e} edges"
    stats = store.stats()
    assert stats.nodes_by_label["Drug"] >= 7_759
    assert ctx.rejects.count() < 100  # the published files are almost clean


@pytest.mark.slow
def test_real_data_facts(full_graph):
    store, _, _ = full_graph
    ima = store.get_node("drugbank:DB00619")
    assert ima.name == "Imatinib" and "Gleevec" in ima.properties["aliases"]
    targets = {(e.target, e.provenance.source) for e in store.facts(["drugbank:DB00619"], rel_types=[RelationType.TARGETS])}
    assert ("ncbigene:25", "drugbank") in targets  # imatinib TARGETS ABL1 (DrugBank)
    assert ("ncbigene:25", "hetionet-integrate") in targets
    assert ("ncbigene:25", "drugcentral") in targets
    assert store.get_node("ncbigene:25").name == "ABL1"
    treats = store.facts(["drugbank:DB00843"], rel_types=[RelationType.TREATS])  # donepezil
    assert any(e.target == "doid:10652" and e.provenance.source == "pharmacotherapydb" for e in treats)
    causes = store.facts(["drugbank:DB00619"], rel_types=[RelationType.CAUSES])
    assert causes and all(e.provenance.source == "sider" for e in causes)
    assert {store.get_node(e.target).label for e in causes} == {NodeLabel.SIDE_EFFECT}
    breast = store.get_node("mondo:0007254")
    assert breast.name == "breast cancer" and "C50" in breast.properties["icd10"]
    assert store.get_node("mondo:0005148").properties["icd10"] == ["E11"]  # type 2 diabetes
    assert "C0242379" in store.get_node("mondo:0008903").properties["umls"]  # lung cancer
    same = store.facts(["mondo:0008903"], rel_types=[RelationType.SAME_AS])
    assert [e.target for e in same] == ["doid:1324"]
    sub = store.facts(["doid:3908"], rel_types=[RelationType.SUBCLASS_OF])  # NSCLC under lung cancer
    assert any(e.target == "doid:1324" for e in sub)
    assert store.get_node("doid:1324").properties["do_slim"] is True


def test_real_hetionet_edges_derived_from_public_inputs_equal_the_subset_file(shared_data, tmp_path):
    derived_dir = tmp_path / "data"
    (derived_dir / "hetionet").mkdir(parents=True)
    (derived_dir / "hetionet" / "hetionet-v1.0-nodes.tsv").symlink_to(shared_data / "hetionet" / "hetionet-v1.0-nodes.tsv")
    for sub in ("hetionet-integrate", "pharmacotherapydb"):
        (derived_dir / sub).symlink_to(shared_data / sub)
    _, from_file = run(HetionetLoader(), make_ctx(shared_data, tmp_path))
    loader = HetionetLoader()
    _, derived = run(loader, make_ctx(derived_dir, tmp_path))
    assert loader.summary["edges_from_subset_file"] == 0
    assert len(from_file) == 25_339
    assert {e.fact_id: e for e in derived} == {e.fact_id: e for e in from_file}  # same facts, same provenance


def test_obsolete_mondo_terms_are_not_nodes(tmp_path):
    # Mondo's deprecated terms ("obsolete hyperuricemia") are no disease to link a trial to: no
    # node, no SAME_AS, and their label is nobody's synonym; the live DOID they matched stays
    import shutil

    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    with open(data / "mondo-mappings" / "mondo_exactmatch_doid.sssom.tsv", "a", encoding="utf-8") as fh:
        fh.write("MONDO:0002144\tobsolete hyperuricemia\tskos:exactMatch\tDOID:1920\thyperuricemia\tsemapv:ManualMappingCuration\n")
        fh.write("MONDO:0000238\tobsolete pestis minor\tskos:exactMatch\tDOID:0050068\tobsolete pestis minor\tsemapv:ManualMappingCuration\n")
    with open(data / "mondo-mappings" / "mondo_exactmatch_icd10cm.sssom.tsv", "a", encoding="utf-8") as fh:
        fh.write("MONDO:0002144\tobsolete hyperuricemia\tskos:exactMatch\tICD10CM:E79.0\tHyperuricemia\tsemapv:ManualMappingCuration\n")
        fh.write("MONDO:0000238\tobsolete pestis minor\tskos:exactMatch\tICD10CM:A20.8\tOther plague\tsemapv:ManualMappingCuration\n")
    loader = OntologyLoader()
    nodes, edges = run(loader, make_ctx(data, tmp_path))
    assert "mondo:0002144" not in nodes and "mondo:0000238" not in nodes
    assert nodes["doid:1920"].name == "hyperuricemia" and "synonyms" not in nodes["doid:1920"].properties
    assert "doid:0050068" not in nodes  # its only name says it is obsolete too
    assert not [e for e in edges if "mondo:0002144" in (e.source, e.target) or "mondo:0000238" in (e.source, e.target)]
    assert not [n for n in nodes.values() if n.name.lower().startswith("obsolete")
                or any(str(x).lower().startswith("obsolete") for x in n.properties.get("synonyms", []))]
    assert loader.summary["mondo_obsolete_skipped"] == 2
    assert set(n for n in nodes if n.startswith("mondo:")) == {"mondo:0008903", "mondo:0005233", "mondo:0005575"}
