"""trials.resolve: diseases by name first (ICD-10 only confirms), drugs, methods; build parity."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.loaders.base import LoadContext
from kgimagine.loaders.build import build_graph
from kgimagine.loaders.top import TopTrialLoader, read_top_csv
from kgimagine.reasoning.retrieval import TargetResolver
from kgimagine.reasoning.spec import TrialSpec
from kgimagine.trials.resolve import TrialResolver, bag_key, name_variants
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R

ROWS = Path(__file__).resolve().parents[2] / "data" / "trials" / "top_rows.csv"


def _p(source: str) -> Provenance:
    return Provenance(source, "test-1", "CC0-1.0", "r1")


NODES = [
    Node("drugbank:DB00072", L.DRUG, "Trastuzumab", {"aliases": ["Herceptin"]}),
    Node("drugbank:DB01248", L.DRUG, "Docetaxel", {"aliases": ["Taxotere"]}),
    Node("drugbank:DB00958", L.DRUG, "Carboplatin", {"aliases": ["Paraplatin"]}),
    Node("drugbank:DB00188", L.DRUG, "Bortezomib", {"aliases": ["Velcade"]}),
    Node("drugbank:DB00997", L.DRUG, "Doxorubicin", {"aliases": ["Adriamycin"]}),
    Node("drugbank:DB00275", L.DRUG, "Olmesartan", {"aliases": ["Olmesartan medoxomil", "Benicar"]}),
    Node("drugbank:DB00631", L.DRUG, "Clofarabine", {}),
    # diseases named by the trials, and the wrong ones their noisy ICD-10 codes point at
    Node("mondo:0007254", L.DISEASE, "breast cancer", {"icd10": ["C50"]}),
    Node("doid:1612", L.DISEASE, "breast cancer", {"synonyms": ["malignant neoplasm of breast"]}),
    Node("mondo:0002158", L.DISEASE, "tongue squamous cell carcinoma", {"icd10": ["C02.9"]}),
    Node("mondo:0003063", L.DISEASE, "breast benign neoplasm", {"icd10": ["D24", "D24.9"]}),
    Node("mondo:0008170", L.DISEASE, "ovarian cancer", {"icd10": ["C56"]}),
    Node("mondo:0001056", L.DISEASE, "gastric cancer", {"icd10": ["C16", "C16.0"]}),
    Node("mondo:0005044", L.DISEASE, "hypertension", {"icd10": ["I10"]}),
    Node("mondo:0004991", L.DISEASE, "pseudotumor cerebri", {"icd10": ["G93.2"]}),
    Node("doid:2531", L.DISEASE, "hematologic cancer", {}),
    Node("mondo:0009576", L.DISEASE, "albinism", {"icd10": ["E70.339"]}),
    Node("mondo:0005233", L.DISEASE, "non-small cell lung carcinoma", {"icd10": ["C34.90"]}),
    Node("mondo:0008903", L.DISEASE, "lung cancer", {"icd10": ["C34"]}),
    Node("mondo:0005148", L.DISEASE, "type 2 diabetes mellitus", {"icd10": ["E11"]}),
    Node("mondo:0005002", L.DISEASE, "chronic obstructive pulmonary disease", {}),
    Node("mondo:0005086", L.DISEASE, "renal cell carcinoma", {}),
    Node("mondo:0006047", L.DISEASE, "pancreatic adenocarcinoma", {}),
    Node("mondo:0018874", L.DISEASE, "acute myeloid leukemia", {}),
    # two unrelated concepts sharing a synonym: ICD-10 breaks the tie
    Node("mondo:0000001", L.DISEASE, "concept one", {"synonyms": ["shared name"], "icd10": ["A01"]}),
    Node("mondo:0000002", L.DISEASE, "concept two", {"synonyms": ["shared name"], "icd10": ["B02"]}),
    Node("doid:6354", L.DISEASE, "chronic lymphocytic leukemia/small lymphocytic lymphoma", {}),
    Node("doid:7230", L.DISEASE, "postgerminal center chronic lymphocytic leukemia/small lymphocytic lymphoma", {}),
]
EDGES = [Edge("mondo:0007254", R.SAME_AS, "doid:1612", _p("mondo"))]


@pytest.fixture(scope="module")
def store() -> NetworkXGraphStore:
    st = NetworkXGraphStore()
    st.upsert_nodes(NODES)
    st.upsert_edges(EDGES)
    return st


@pytest.fixture(scope="module")
def resolver(store) -> TrialResolver:
    return TrialResolver(store)


def _diseases(resolver: TrialResolver, name: str, icd=()) -> dict[str, str]:
    ent = resolver.resolve([], [name], icd)
    return {m.node_id: m.method for m in ent.disease_matches}


# -- pure helpers -------------------------------------------------------------------------------
def test_bag_key_ignores_order_plurals_stop_words_and_organ_adjectives() -> None:
    assert bag_key("adenocarcinoma of the pancreas") == bag_key("Pancreatic Adenocarcinoma")
    assert bag_key("Neoplasms, Breast") == bag_key("breast neoplasm")
    assert bag_key("carcinoma, renal cell") == bag_key("renal cell carcinoma")


def test_variants_try_fewer_rules_first() -> None:
    rules = [r for r, _ in name_variants("stage iv non-small cell lung cancer (nsclc)")]
    assert rules[0] == () and all(len(a) <= len(b) for a, b in zip(rules, rules[1:]))


# -- diseases -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected", "method"),
    [
        ("Breast Cancer", {"mondo:0007254", "doid:1612"}, "exact_label"),
        ("malignant neoplasm of breast", {"doid:1612", "mondo:0007254"}, "synonym"),
        ("stage IV breast cancer", {"mondo:0007254", "doid:1612"}, "rule:qualifier"),
        ("recurrent metastatic ovarian cancer", {"mondo:0008170"}, "rule:qualifier"),
        ("Diabetes Mellitus, Type 2", {"mondo:0005148"}, "rule:word_order"),
        ("type 2 diabetes", {"mondo:0005148"}, "rule:abbreviation"),
        ("carcinoma, renal cell", {"mondo:0005086"}, "rule:word_order"),
        ("non-small cell lung cancer", {"mondo:0005233"}, "rule:neoplasm"),
        ("NSCLC", {"mondo:0005233"}, "rule:abbreviation"),
        ("chronic obstructive pulmonary disease (COPD)", {"mondo:0005002"}, "rule:brackets"),
        ("adenocarcinoma of the pancreas", {"mondo:0006047"}, "rule:word_order"),
        ("adult acute myeloid leukemia with t(8;21)(q22;q22)", {"mondo:0018874"}, "rule:qualifier"),
        ("hematologic malignancies", {"doid:2531"}, "rule:neoplasm"),
    ],
)
def test_disease_names_resolve_by_the_least_rewriting(resolver, name, expected, method) -> None:
    got = _diseases(resolver, name)
    assert set(got) == expected
    assert all(m.split("+")[0] == method for m in got.values()), got


def test_equivalent_of_a_matched_node_is_linked_as_same_as(resolver) -> None:
    ent = resolver.resolve([], ["malignant neoplasm of breast"])
    assert ent.disease_match("mondo:0007254").method == "synonym+same_as"
    assert ent.disease_match("doid:1612").matched == "malignant neoplasm of breast"


def test_unresolved_names_are_reported_never_guessed(resolver) -> None:
    ent = resolver.resolve([], ["healthy volunteers", "breast cancer"], ["E70.339"])
    assert ent.unresolved_diseases == ("healthy volunteers",)
    assert set(ent.disease_ids) == {"mondo:0007254", "doid:1612"}  # albinism (E70.339) is not added


@pytest.mark.parametrize(
    ("row", "expected", "wrong"),
    [
        ("NCT00232479", {"mondo:0007254", "doid:1612"}, {"mondo:0002158", "mondo:0003063"}),
        ("NCT00610792", {"mondo:0008170"}, {"mondo:0001056"}),
        ("NCT00151775", {"mondo:0005044"}, {"mondo:0004991"}),
        ("NCT00477542", {"doid:2531"}, {"mondo:0009576"}),
    ],
)
def test_noisy_icd10_codes_never_add_a_disease(resolver, row, expected, wrong) -> None:
    r = next(x for x in read_top_csv(ROWS) if x.nctid == row)
    ent = resolver.resolve(r.drugs, r.diseases, r.icdcodes)
    assert set(ent.disease_ids) == expected and not set(ent.disease_ids) & wrong


def test_icd10_confirms_and_breaks_ties(resolver) -> None:
    assert _diseases(resolver, "hypertension", ["I10"]) == {"mondo:0005044": "exact_label+icd10_confirmed"}
    assert set(_diseases(resolver, "shared name")) == {"mondo:0000001", "mondo:0000002"}  # no code, same size: both
    assert _diseases(resolver, "shared name", ["B02.1"]) == {"mondo:0000002": "synonym+icd10_confirmed"}


def test_slash_label_parts_and_the_shortest_label_wins_a_tie(resolver) -> None:
    assert _diseases(resolver, "recurrent small lymphocytic lymphoma") == {"doid:6354": "rule:qualifier+synonym"}


def test_icd10_codes_alone_only_when_no_name_is_listed(resolver) -> None:
    ent = resolver.resolve([], [], ["E11", "Z99.9"])
    assert ent.disease_ids == ("mondo:0005148",) and ent.disease_matches[0].method == "icd10_exact"


# -- drugs --------------------------------------------------------------------------------------
def test_combination_string_split_and_dose_words_stripped(resolver) -> None:
    ent = resolver.resolve(["trastuzumab, docetaxel and carboplatin in dose dense regimen"], [])
    assert ent.drug_ids == ("drugbank:DB00072", "drugbank:DB01248", "drugbank:DB00958")
    assert ent.drug_match("drugbank:DB00958").method == "rule:span"
    assert ent.unresolved_drugs == ()


def test_salts_brands_comparators_and_unknown_drugs(resolver) -> None:
    ent = resolver.resolve(["olmesartan medoxomil", "Velcade 1.3 mg/m2", "placebo", "best supportive care",
                            "xyz-9876"], [])
    assert ent.drug_ids == ("drugbank:DB00275", "drugbank:DB00188")
    assert ent.drug_match("drugbank:DB00275").method == "synonym"
    assert ent.drug_match("drugbank:DB00188").method == "rule:normalized+synonym"
    assert ent.comparators == ("placebo", "best supportive care")
    assert ent.unresolved_drugs == ("xyz-9876",)


def test_regimen_acronyms_name_their_drugs(store) -> None:
    st = NetworkXGraphStore()
    st.upsert_nodes(NODES + [Node("drugbank:DB00650", L.DRUG, "Leucovorin"), Node("drugbank:DB00544", L.DRUG, "Fluorouracil"),
                             Node("drugbank:DB00526", L.DRUG, "Oxaliplatin")])
    ent = TrialResolver(st).resolve(["bortezomib plus folfox6", "5-FU"], [])
    assert ent.drug_ids == ("drugbank:DB00188", "drugbank:DB00650", "drugbank:DB00544", "drugbank:DB00526")
    assert ent.drug_match("drugbank:DB00188").method == "rule:component"
    assert ent.drug_match("drugbank:DB00526").method == "rule:abbreviation+component"


def test_graph_ids_pass_through(resolver) -> None:
    ent = resolver.resolve(["drugbank:DB00631"], ["mondo:0005044"])
    assert ent.drug_ids == ("drugbank:DB00631",) and ent.disease_ids == ("mondo:0005044",)
    assert {m.method for m in ent.drug_matches + ent.disease_matches} == {"node_id"}


# -- parity: the build links exactly what the resolver returns ----------------------------------
def test_stored_trial_and_described_trial_resolve_to_the_same_ids(store, tmp_path) -> None:
    graph = NetworkXGraphStore()
    graph.upsert_nodes(NODES)
    graph.upsert_edges(EDGES)
    ctx = LoadContext(data_dir=ROWS.parent, cache_dir=tmp_path, labels_from=frozenset())
    build_graph(graph, ctx, [TopTrialLoader({"rows": ROWS})], compute_coverage=False)
    target = TargetResolver(graph)
    rows = list(read_top_csv(ROWS))
    assert len(rows) == 4
    for row in rows:
        tid = f"clinicaltrials:{row.nctid}"
        stored = {(e.type, e.target): e for e in graph.iter_edges() if e.source == tid}
        spec = TrialSpec.from_top_row(row)
        described = TrialResolver(graph).resolve(spec.drugs, spec.diseases, spec.icd10)
        assert {t for (r, t) in stored if r is R.STUDIES} == set(described.disease_ids)
        assert {t for (r, t) in stored if r is R.TESTS} == set(described.drug_ids)
        for m in described.disease_matches:
            props = stored[(R.STUDIES, m.node_id)].properties
            assert (props["method"], props["matched"], props["score"]) == (m.method, m.matched, m.score)
        resolved = target.resolve(spec)
        assert resolved.trial_id == tid
        assert resolved.disease_ids == list(described.disease_ids)
        assert resolved.drug_ids == list(described.drug_ids)


# -- embedding fallback (a fake encoder: bag-of-letters vectors) --------------------------------
class _LetterEncoder:
    model_id = "letters/test"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        import numpy as np

        self.calls += 1
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_embedding_fallback_only_above_threshold_and_cached_on_disk(store, tmp_path) -> None:
    from kgimagine.trials.resolve import cached_label_vectors

    enc = _LetterEncoder()
    plain = TrialResolver(store)
    vecs = cached_label_vectors(plain, enc, tmp_path)
    again = cached_label_vectors(plain, enc, tmp_path)
    assert enc.calls == 1 and (vecs == again).all() and len(list(tmp_path.glob("*.npy"))) == 1
    strict = TrialResolver(store, embedder=enc, embedding_threshold=0.95, label_vectors=vecs)
    loose = TrialResolver(store, embedder=enc, embedding_threshold=0.85, label_vectors=vecs)
    # "hypertensive" is 0.884 from "hypertension" with this encoder: kept at 0.85, not at 0.95
    assert strict.resolve([], ["hypertensive"]).unresolved_diseases == ("hypertensive",)
    m = loose.resolve([], ["hypertensive"]).disease_matches[0]
    assert (m.node_id, m.method, m.matched, m.score) == ("mondo:0005044", "embedding", "hypertension", 0.8839)
    assert loose.resolve([], ["zzzz qqq"]).unresolved_diseases == ("zzzz qqq",)
    assert plain.resolve([], ["hypretension"]).unresolved_diseases == ("hypretension",)  # off by default


def test_bare_organ_words_are_not_diseases(resolver) -> None:
    ent = resolver.resolve([], ["breast", "pancreatic", "hypertension"])
    assert ent.unresolved_diseases == ("breast", "pancreatic") and ent.disease_ids == ("mondo:0005044",)
