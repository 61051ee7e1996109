"""A small, hand-written graph used by the contract suite (every store gets the same input)."""

from __future__ import annotations

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.types import NodeLabel as L
from kgimagine.types import RelationType as R


def prov(source: str, rec: str) -> Provenance:
    return Provenance(source=source, source_version="test-1", licence="CC0-1.0", record_id=rec)


NODES = [
    Node("drugbank:DB00619", L.DRUG, "Imatinib", {"groups": ["approved"], "mw": 493.6}),
    Node("drugbank:DB00398", L.DRUG, "Sorafenib", {"groups": ["approved", "investigational"]}),
    Node("drugbank:DB01268", L.DRUG, "Sunitinib"),
    Node("ncbigene:25", L.GENE, "ABL1"),
    Node("ncbigene:3815", L.GENE, "KIT"),
    Node("ncbigene:5159", L.GENE, "PDGFRB"),
    Node("ncbigene:3791", L.GENE, "KDR"),
    Node("doid:1040", L.DISEASE, "chronic lymphocytic leukemia"),
    Node("doid:9253", L.DISEASE, "gastrointestinal stromal tumor"),
    Node("doid:162", L.DISEASE, "cancer"),
    Node("mondo:0011996", L.DISEASE, "chronic myelogenous leukemia"),
    Node("umls:C0027497", L.SIDE_EFFECT, "Nausea"),
    Node("clinicaltrials:NCT00000001", L.TRIAL, "Imatinib in GIST", {"phase": "phase 2", "split": "train"}),
    Node("clinicaltrials:NCT00000002", L.TRIAL, "Sunitinib in GIST", {"phase": "phase 3", "split": "valid"}),
]

EDGES = [
    Edge("drugbank:DB00619", R.TARGETS, "ncbigene:25", prov("drugbank", "proteins.tsv:2"), {"actions": ["inhibitor"]}),
    Edge("drugbank:DB00619", R.TARGETS, "ncbigene:3815", prov("drugbank", "proteins.tsv:3")),
    Edge("drugbank:DB00619", R.TARGETS, "ncbigene:5159", prov("drugbank", "proteins.tsv:4")),
    Edge("drugbank:DB00619", R.TARGETS, "ncbigene:3815", prov("drugcentral", "dti:77"), {"act_value": 7.5}),
    Edge("drugbank:DB01268", R.TARGETS, "ncbigene:3815", prov("drugbank", "proteins.tsv:9")),
    Edge("drugbank:DB01268", R.TARGETS, "ncbigene:3791", prov("drugbank", "proteins.tsv:10")),
    Edge("drugbank:DB00398", R.TARGETS, "ncbigene:3791", prov("drugbank", "proteins.tsv:11")),
    Edge("doid:9253", R.ASSOCIATED_WITH, "ncbigene:3815", prov("hetionet", "DaG:1")),
    Edge("doid:9253", R.SUBCLASS_OF, "doid:162", prov("disease-ontology", "DOID:9253")),
    Edge("doid:1040", R.SUBCLASS_OF, "doid:162", prov("disease-ontology", "DOID:1040")),
    Edge("mondo:0011996", R.SAME_AS, "doid:1040", prov("mondo", "sssom:1")),
    Edge("drugbank:DB00619", R.TREATS, "doid:9253", prov("pharmacotherapydb", "ind:5")),
    Edge("drugbank:DB00619", R.CAUSES, "umls:C0027497", prov("sider", "se:1")),
    Edge("clinicaltrials:NCT00000001", R.TESTS, "drugbank:DB00619", prov("top", "phase_I_train.csv:2")),
    Edge("clinicaltrials:NCT00000001", R.STUDIES, "doid:9253", prov("top", "phase_I_train.csv:2")),
    Edge("clinicaltrials:NCT00000002", R.TESTS, "drugbank:DB01268", prov("top", "phase_I_valid.csv:2")),
    Edge("clinicaltrials:NCT00000002", R.STUDIES, "doid:9253", prov("top", "phase_I_valid.csv:2")),
    Edge("drugbank:DB01268", R.TRIALLED_FOR, "doid:9253", prov("repodb", "row:1"), key="NCT00000009"),
    Edge("drugbank:DB01268", R.TRIALLED_FOR, "doid:9253", prov("repodb", "row:2"), key="NCT00000010"),
]


def load(store) -> None:
    store.upsert_nodes(NODES)
    store.upsert_edges(EDGES)
