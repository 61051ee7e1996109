"""Entity resolution: drug labels, ICD-10 codes, disease names, coverage (hand-built graph)."""

from __future__ import annotations

import pytest

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.loaders.resolve import (
    DiseaseResolver,
    DrugResolver,
    coverage,
    icd10_parents,
    normalize_drug_name,
    split_combination,
)
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R


def _p(source: str, rec: str = "r1") -> Provenance:
    return Provenance(source, "test-1", "CC0-1.0", rec)


#: What the drug/disease loaders would have written before TOP and repoDB run.
FIXTURE_NODES = [
    Node("drugbank:DB00619", L.DRUG, "Imatinib", {"aliases": ["Gleevec", "STI571", "Imatinib mesylate"]}),
    Node("drugbank:DB08896", L.DRUG, "Regorafenib", {"aliases": ["BAY 73-4506", "Stivarga"]}),
    Node("drugbank:DB00515", L.DRUG, "Cisplatin", {"aliases": ["Platinol"]}),
    Node("drugbank:DB00642", L.DRUG, "Pemetrexed", {"aliases": ["Alimta"]}),
    Node("drugbank:DB08907", L.DRUG, "Canagliflozin", {"aliases": ["Invokana"]}),
    Node("drugbank:DB01268", L.DRUG, "Sunitinib", {"aliases": ["SU011248", "Sutent"]}),
    Node("drugcentral:5000", L.DRUG, "examplimab"),
    Node("ncbigene:25", L.GENE, "ABL1"),
    Node("ncbigene:3815", L.GENE, "KIT"),
    Node("ncbigene:6523", L.GENE, "SLC5A2"),
    Node("mondo:0008903", L.DISEASE, "lung cancer", {"icd10": ["C34"], "umls": ["C0242379"]}),
    Node("mondo:0005233", L.DISEASE, "non-small cell lung carcinoma", {"icd10": ["C34.90"]}),
    Node("mondo:0005148", L.DISEASE, "type 2 diabetes mellitus", {"icd10": ["E11"], "umls": ["C0011860"]}),
    Node("doid:1324", L.DISEASE, "lung cancer"),
    Node("doid:162", L.DISEASE, "cancer"),
]
FIXTURE_EDGES = [
    Edge("drugbank:DB00619", R.TARGETS, "ncbigene:25", _p("drugbank")),
    Edge("drugbank:DB08896", R.TARGETS, "ncbigene:3815", _p("drugcentral")),
    Edge("drugbank:DB01268", R.TARGETS, "ncbigene:3815", _p("hetionet")),
    Edge("drugbank:DB08907", R.TARGETS, "ncbigene:6523", _p("drugbank")),
    Edge("mondo:0008903", R.SAME_AS, "doid:1324", _p("mondo")),
    Edge("doid:1324", R.SUBCLASS_OF, "doid:162", _p("disease-ontology")),
]


def fixture_store(path=None) -> NetworkXGraphStore:
    st = NetworkXGraphStore(path)
    st.upsert_nodes(FIXTURE_NODES)
    st.upsert_edges(FIXTURE_EDGES)
    return st


@pytest.fixture
def drugs() -> DrugResolver:
    return DrugResolver.from_store(fixture_store())


@pytest.fixture
def diseases() -> DiseaseResolver:
    return DiseaseResolver.from_store(fixture_store())


# -- normalisation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Imatinib Mesylate", "imatinib"),
        ("regorafenib (bay73-4506) - sequential", "regorafenib sequential"),
        ("canagliflozin 300mg", "canagliflozin"),
        ("Cisplatin 75 mg/m2 IV q3w", "cisplatin"),
        ("drug X 10 mg/kg [arm A]", "drug x"),
        ("Pazopanib Hydrochloride tablets", "pazopanib"),
        ("5-fluorouracil", "5 fluorouracil"),
        ("interleukin-2 1 MIU", "interleukin 2"),
        ("CNTO 1275 45 mg", "cnto1275"),  # a development code keeps its digits
    ],
)
def test_normalize_drug_name(raw: str, norm: str) -> None:
    assert normalize_drug_name(raw) == norm


def test_split_combination_on_every_separator() -> None:
    assert split_combination("a / b + c and d, e; f plus g with h vs i followed by j") == list("abcdefghij")
    assert split_combination("regorafenib (bay73-4506) - sequential / cisplatin / pemetrexed") == [
        "regorafenib - sequential", "cisplatin", "pemetrexed",
    ]


def test_icd10_parents() -> None:
    assert icd10_parents("C34.90") == ["C34.9", "C34"]
    assert icd10_parents("c34") == []


# -- drugs --------------------------------------------------------------------------------
def test_exact_name_and_alias(drugs: DrugResolver) -> None:
    r = drugs.resolve("Gleevec")
    assert [(c.drug_id, c.method) for c in r.components] == [("drugbank:DB00619", "exact")]
    assert drugs.resolve("SU011248").drug_ids == ["drugbank:DB01268"]


def test_normalized_whole_label(drugs: DrugResolver) -> None:
    r = drugs.resolve("Imatinib Mesylate 400 mg daily")
    assert r.drug_ids == ["drugbank:DB00619"]
    assert r.components[0].method == "normalized"


def test_combination_is_split_and_placebo_flagged(drugs: DrugResolver) -> None:
    r = drugs.resolve("regorafenib (bay73-4506) - sequential / cisplatin / pemetrexed")
    assert r.drug_ids == ["drugbank:DB08896", "drugbank:DB00515", "drugbank:DB00642"]
    assert [c.method for c in r.components] == ["span", "component", "component"]
    assert not r.is_placebo
    r = drugs.resolve("canagliflozin 300mg/placebo")
    assert r.drug_ids == ["drugbank:DB08907"] and r.is_placebo
    assert [c.method for c in r.components] == ["component", "placebo"]


@pytest.mark.parametrize("raw", ["placebo", "Saline", "sham procedure", "vehicle cream", "Matching placebo tablets"])
def test_placebo_labels(drugs: DrugResolver, raw: str) -> None:
    r = drugs.resolve(raw)
    assert r.is_placebo and r.drug_ids == [] and r.unresolved == []


@pytest.mark.parametrize("raw", ["standard of care", "Best Supportive Care", "standard-of-care chemotherapy"])
def test_standard_of_care_labels(drugs: DrugResolver, raw: str) -> None:
    r = drugs.resolve(raw)
    assert r.is_standard_of_care and r.drug_ids == []


def test_drugcentral_only_drug_and_soc_component(drugs: DrugResolver) -> None:
    r = drugs.resolve("examplimab plus best supportive care")
    assert r.drug_ids == ["drugcentral:5000"]
    assert r.is_standard_of_care


def test_unresolved_names_stay_visible(drugs: DrugResolver) -> None:
    r = drugs.resolve("Unknownumab + cisplatin")
    assert r.drug_ids == ["drugbank:DB00515"]
    assert r.unresolved == ["unknownumab"]


def test_span_never_matches_generic_or_short_words() -> None:
    res = DrugResolver.from_entries([("drugbank:DB1", "Dose", []), ("drugbank:DB2", "ab", [])])
    assert res.resolve("high dose arm ab").drug_ids == []


def test_drugbank_wins_a_shared_name() -> None:
    res = DrugResolver.from_entries([("drugcentral:9", "aspirin", []), ("drugbank:DB00945", "Aspirin", [])])
    assert res.resolve("aspirin").drug_ids == ["drugbank:DB00945"]


def test_fuzzy_is_off_by_default_and_precise_when_on() -> None:
    entries = [("drugbank:DB00515", "Cisplatin", []), ("drugbank:DB00958", "Carboplatin", [])]
    assert DrugResolver.from_entries(entries).resolve("cisplatine").drug_ids == []
    fuzzy = DrugResolver.from_entries(entries, fuzzy=True)
    assert [(c.drug_id, c.method) for c in fuzzy.resolve("cisplatine").components] == [("drugbank:DB00515", "fuzzy")]
    assert fuzzy.resolve("oxaliplatin").drug_ids == []  # close-ish, but below the cutoff


# -- diseases -----------------------------------------------------------------------------
def test_icd_exact_then_parent(diseases: DiseaseResolver) -> None:
    exact = diseases.resolve_code("C34.90")
    assert [(m.disease_id, m.match) for m in exact] == [("mondo:0005233", "exact")]
    parent = diseases.resolve_code("C34.1")
    assert [(m.disease_id, m.match, m.matched_code) for m in parent] == [("mondo:0008903", "parent", "C34")]
    assert diseases.resolve_code("Z99.99") == []


def test_doid_and_slim_through_same_as_and_subclass(diseases: DiseaseResolver) -> None:
    assert diseases.equivalents("mondo:0008903") == ["doid:1324"]
    assert diseases.ancestors("mondo:0008903") == ["doid:162"]


def test_disease_name_fallback(diseases: DiseaseResolver) -> None:
    hits = diseases.resolve_name("Type 2 Diabetes Mellitus")
    assert [(m.disease_id, m.match) for m in hits] == [("mondo:0005148", "name")]
    # a name shared by Mondo and DOID lists Mondo first
    assert [m.disease_id for m in diseases.resolve_name("Lung Cancer")] == ["mondo:0008903", "doid:1324"]


# -- coverage -----------------------------------------------------------------------------
def test_coverage_counts_per_split_and_source() -> None:
    st = fixture_store()
    st.upsert_nodes([
        Node("clinicaltrials:NCT00000001", L.TRIAL, "t1", {"split": "a"}),
        Node("clinicaltrials:NCT00000002", L.TRIAL, "t2", {"split": "a"}),
        Node("clinicaltrials:NCT00000003", L.TRIAL, "t3", {"split": "b"}),
    ])
    st.upsert_edges([
        Edge("clinicaltrials:NCT00000001", R.TESTS, "drugbank:DB00619", _p("top")),  # drugbank target
        Edge("clinicaltrials:NCT00000002", R.TESTS, "drugbank:DB00515", _p("top")),  # no target
        Edge("clinicaltrials:NCT00000003", R.TESTS, "drugbank:DB08896", _p("top")),  # drugcentral target
        Edge("clinicaltrials:NCT00000001", R.STUDIES, "mondo:0008903", _p("top")),
    ])
    cov = coverage(st)
    assert cov["trials"] == 3
    assert cov["with_targeted_drug"] == {"count": 2, "share": round(2 / 3, 4)}
    assert cov["with_resolved_drug"]["count"] == 3
    assert cov["with_disease"]["count"] == 1
    assert cov["targeted_drug_by_source"]["drugbank"]["count"] == 1
    assert cov["targeted_drug_by_source"]["drugcentral"]["count"] == 1
    assert cov["targeted_drug_by_source"]["hetionet"]["count"] == 0
    assert cov["by_split"]["a"]["with_targeted_drug"]["count"] == 1
    assert cov["by_split"]["b"]["with_targeted_drug"]["count"] == 1


def test_span_ignores_generic_brand_aliases_and_finds_every_name() -> None:
    res = DrugResolver.from_entries([
        ("drugbank:DB00761", "Potassium Chloride", ["Extended Release", "ER", "Body"]),
        ("drugbank:DB01224", "Quetiapine", []),
        ("drugbank:DB00497", "Oxycodone", []),
        ("drugbank:DB01183", "Naloxone", []),
        ("drugbank:DB01268", "Sunitinib", ["SU011248"]),
    ])
    assert res.resolve("quetiapine extended release").drug_ids == ["drugbank:DB01224"]
    assert res.resolve("kg body wt sc").drug_ids == []
    r = res.resolve("oxycodone naloxone prolonged")
    assert r.drug_ids == ["drugbank:DB00497", "drugbank:DB01183"]
    assert {c.method for c in r.components} == {"span"}
    assert res.resolve("su011248 50 mg schedule 4/2").drug_ids == ["drugbank:DB01268"]
    # an alias of generic words only names no drug, not even as a whole label
    assert res.resolve("Extended Release").drug_ids == []


def test_development_codes_of_one_prefix_never_share_a_key() -> None:
    r = DrugResolver.from_entries([("drugbank:DB05679", "Ustekinumab", ["CNTO 1275"]),
                                   ("drugcentral:302", "bendamustine", [])])
    assert r.resolve("bendamustine at a dose of 100 mg/m2").drug_ids == ["drugcentral:302"]  # a dose, no code
    assert r.resolve("cnto 1275 90 mg").drug_ids == ["drugbank:DB05679"]
    assert r.resolve("cnto 1959 (15 mg)").drug_ids == []  # another CNTO code: not ustekinumab
    assert r.resolve("1 mg/kg cnto 136").drug_ids == []


def test_plain_alias_beats_a_normalised_one_and_brackets_name_the_drug() -> None:
    r = DrugResolver.from_entries([
        ("drugbank:DB00316", "Acetaminophen", ["Aspirin (free)"]),  # normalises to "aspirin"
        ("drugbank:DB00945", "Acetylsalicylic acid", ["Aspirin"]),
        ("drugbank:DB00350", "Minoxidil", ["Solution"]),
        ("drugbank:DB01590", "Everolimus", []),
        ("drugbank:DB01024", "Mycophenolic acid", []),
    ])
    assert r.resolve("aspirin").drug_ids == ["drugbank:DB00945"]
    assert r.resolve("minoxidil solution").drug_ids == ["drugbank:DB00350"]
    assert r.resolve("eye drops, solution").drug_ids == []
    res = r.resolve("rad001 (everolimus)")
    assert res.drug_ids == ["drugbank:DB01590"] and res.components[-1].method == "bracket"
    assert r.resolve("mycophenolate sodium").components[0].method == "acid"
