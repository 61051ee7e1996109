"""A small hand-written graph for the reasoning tests (drugs, genes, diseases, labelled trials)."""

from __future__ import annotations

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R


def prov(source: str, rec: str, licence: str = "CC0-1.0") -> Provenance:
    return Provenance(source=source, source_version="test-1", licence=licence, record_id=rec)


IMATINIB, SUNITINIB, SORAFENIB, METFORMIN = "drugbank:DB00619", "drugbank:DB01268", "drugbank:DB00398", "drugbank:DB00331"
GIST, CML, HCC, T2D, CANCER = "doid:9253", "doid:8552", "doid:684", "doid:9352", "doid:162"


def trial(n: int) -> str:
    return f"clinicaltrials:NCT{n:08d}"


CRIT = {
    1: "Inclusion: adults with KIT-positive gastrointestinal stromal tumor, ECOG 0-1. Exclusion: prior imatinib.",
    2: "Inclusion: chronic phase chronic myeloid leukemia, Philadelphia chromosome positive adults.",
    3: "Inclusion: gastrointestinal stromal tumor after imatinib failure, measurable disease.",
    4: "Inclusion: advanced hepatocellular carcinoma, Child-Pugh A, no prior systemic therapy.",
    5: "Inclusion: advanced hepatocellular carcinoma, Child-Pugh A, first-line treatment.",
    6: "Inclusion: type 2 diabetes, HbA1c 7-10%, on diet and exercise.",
    7: "Inclusion: hepatocellular carcinoma with diabetes, Child-Pugh A or B.",
    8: "Inclusion: gastrointestinal stromal tumor, KIT mutation, progression on prior therapy.",
}

NODES = [
    Node(IMATINIB, L.DRUG, "Imatinib", {"aliases": ["Gleevec", "STI571"], "groups": ["approved"]}),
    Node(SUNITINIB, L.DRUG, "Sunitinib", {"aliases": ["Sutent", "SU11248"]}),
    Node(SORAFENIB, L.DRUG, "Sorafenib", {"aliases": ["Nexavar"]}),
    Node(METFORMIN, L.DRUG, "Metformin", {"aliases": ["Glucophage"]}),
    Node("ncbigene:25", L.GENE, "ABL1"),
    Node("ncbigene:3815", L.GENE, "KIT"),
    Node("ncbigene:5159", L.GENE, "PDGFRB"),
    Node("ncbigene:3791", L.GENE, "KDR"),
    Node("ncbigene:5562", L.GENE, "PRKAA1"),
    Node(GIST, L.DISEASE, "gastrointestinal stromal tumor", {"icd10": ["C49.A0"]}),
    Node(CML, L.DISEASE, "chronic myeloid leukemia", {"icd10": ["C92.1"]}),
    Node(HCC, L.DISEASE, "hepatocellular carcinoma", {"icd10": ["C22.0"]}),
    Node(T2D, L.DISEASE, "type 2 diabetes mellitus", {"icd10": ["E11"]}),
    Node(CANCER, L.DISEASE, "cancer"),
    Node("umls:C0027497", L.SIDE_EFFECT, "Nausea"),
    Node("umls:C0011991", L.SIDE_EFFECT, "Diarrhoea"),
]

# (n, drug, disease, phase, split, label or None)
TRIALS = [
    (1, IMATINIB, GIST, "phase 2", "train", 1),
    (2, IMATINIB, CML, "phase 3", "train", 1),
    (3, SUNITINIB, GIST, "phase 2", "train", 1),
    (4, SORAFENIB, HCC, "phase 3", "train", 1),
    (5, SUNITINIB, HCC, "phase 3", "train", 0),
    (6, METFORMIN, T2D, "phase 2", "train", 0),
    (7, METFORMIN, HCC, "phase 2", "train", 0),
    (8, SORAFENIB, GIST, "phase 2", "valid", None),  # evaluation split: no label in the graph
]
_NAME = {n.id: n.name for n in NODES}
for n, drug, dis, phase, split, label in TRIALS:
    # the names a TOP row gives, as the loader stores them
    props = {"phase": phase, "split": split, "criteria": CRIT[n], "drug_names": [_NAME[drug].lower()],
             "disease_names": [_NAME[dis]]}
    if label is not None:
        props["outcome_label"] = label
    NODES.append(Node(trial(n), L.TRIAL, f"NCT{n:08d}", props))

EDGES = [
    Edge(IMATINIB, R.TARGETS, "ncbigene:25", prov("drugbank", "t1", "CC BY-NC 4.0")),
    Edge(IMATINIB, R.TARGETS, "ncbigene:3815", prov("drugbank", "t2", "CC BY-NC 4.0")),
    Edge(IMATINIB, R.TARGETS, "ncbigene:5159", prov("drugbank", "t3", "CC BY-NC 4.0")),
    Edge(SUNITINIB, R.TARGETS, "ncbigene:3815", prov("drugbank", "t4", "CC BY-NC 4.0")),
    Edge(SUNITINIB, R.TARGETS, "ncbigene:3791", prov("drugbank", "t5", "CC BY-NC 4.0")),
    Edge(SUNITINIB, R.TARGETS, "ncbigene:5159", prov("drugbank", "t6", "CC BY-NC 4.0")),
    Edge(SORAFENIB, R.TARGETS, "ncbigene:3791", prov("drugbank", "t7", "CC BY-NC 4.0")),
    Edge(SORAFENIB, R.TARGETS, "ncbigene:5159", prov("drugbank", "t8", "CC BY-NC 4.0")),
    Edge(METFORMIN, R.TARGETS, "ncbigene:5562", prov("drugbank", "t9", "CC BY-NC 4.0")),
    Edge(GIST, R.ASSOCIATED_WITH, "ncbigene:3815", prov("hetionet", "dag1")),
    Edge(GIST, R.ASSOCIATED_WITH, "ncbigene:5159", prov("hetionet", "dag2")),
    Edge(HCC, R.ASSOCIATED_WITH, "ncbigene:3791", prov("hetionet", "dag3")),
    Edge(HCC, R.ASSOCIATED_WITH, "ncbigene:5159", prov("hetionet", "dag4")),
    Edge(CML, R.ASSOCIATED_WITH, "ncbigene:25", prov("hetionet", "dag5")),
    Edge(GIST, R.SUBCLASS_OF, CANCER, prov("disease-ontology", "do1")),
    Edge(HCC, R.SUBCLASS_OF, CANCER, prov("disease-ontology", "do2")),
    Edge(CML, R.SUBCLASS_OF, CANCER, prov("disease-ontology", "do3")),
    Edge(IMATINIB, R.TREATS, GIST, prov("pharmacotherapydb", "i1")),
    Edge(IMATINIB, R.TREATS, CML, prov("pharmacotherapydb", "i2")),
    Edge(SORAFENIB, R.TREATS, HCC, prov("pharmacotherapydb", "i3")),
    Edge(METFORMIN, R.TREATS, T2D, prov("pharmacotherapydb", "i4")),
    Edge(SUNITINIB, R.TRIALLED_FOR, HCC, prov("repodb", "r1"), key="NCT00000005"),
    Edge(IMATINIB, R.CAUSES, "umls:C0027497", prov("sider", "s1")),
    Edge(SORAFENIB, R.CAUSES, "umls:C0027497", prov("sider", "s2")),
    Edge(SORAFENIB, R.CAUSES, "umls:C0011991", prov("sider", "s3")),
]
for n, drug, dis, phase, split, label in TRIALS:
    EDGES.append(Edge(trial(n), R.TESTS, drug, prov("top", f"{split}:{n}", "TOP non-commercial")))
    EDGES.append(Edge(trial(n), R.STUDIES, dis, prov("top", f"{split}:{n}", "TOP non-commercial")))


def load(store) -> None:
    store.upsert_nodes(NODES)
    store.upsert_edges(EDGES)


def fixture_store(path=None):
    from kgimagine.kg.networkx_store import NetworkXGraphStore

    st = NetworkXGraphStore(path)
    load(st)
    if path is not None:
        st.save()
    return st
