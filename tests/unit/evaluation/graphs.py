"""A tiny hand-written graph for the evaluation tests (drugs, targets, diseases, trials)."""

from __future__ import annotations

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.types import NodeLabel, RelationType as R

PROV = Provenance("test", "1", "CC0", "tests/unit/evaluation/graphs.py")

# train trials (labelled in the graph): nctid -> (label, drugs, diseases)
TRAIN = {
    "NCT00000001": (1, ["drugbank:DB00001"], ["mondo:0000001"]),
    "NCT00000002": (1, ["drugbank:DB00001"], ["mondo:0000002"]),
    "NCT00000003": (0, ["drugbank:DB00002"], ["mondo:0000001"]),
    "NCT00000004": (0, ["drugbank:DB00002", "drugbank:DB00003"], ["mondo:0000002"]),
    "NCT00000005": (1, ["drugbank:DB00003"], ["mondo:0000001"]),
}
# evaluated trials: in the graph, without labels
EVAL = {
    "NCT00000011": (["drugbank:DB00001"], ["mondo:0000001"]),
    "NCT00000012": (["drugbank:DB00002"], ["mondo:0000002"]),
}


def build_store(path=None, *, eval_split: str = "phase_I_valid") -> NetworkXGraphStore:
    st = NetworkXGraphStore(path)
    nodes = [
        Node("drugbank:DB00001", NodeLabel.DRUG, "alpha"),
        Node("drugbank:DB00002", NodeLabel.DRUG, "beta"),
        Node("drugbank:DB00003", NodeLabel.DRUG, "gamma"),
        Node("ncbigene:1", NodeLabel.GENE, "G1"),
        Node("ncbigene:2", NodeLabel.GENE, "G2"),
        Node("ncbigene:3", NodeLabel.GENE, "G3"),
        Node("mondo:0000001", NodeLabel.DISEASE, "d1"),
        Node("mondo:0000002", NodeLabel.DISEASE, "d2"),
        Node("umls:C0000001", NodeLabel.SIDE_EFFECT, "nausea"),
        Node("umls:C0000002", NodeLabel.SIDE_EFFECT, "rash"),
    ]
    for nct, (label, _, _) in TRAIN.items():
        nodes.append(Node(f"clinicaltrials:{nct}", NodeLabel.TRIAL, nct,
                          {"phase": "phase 1", "split": "phase_I_train", "outcome_label": label}))
    for nct in EVAL:
        nodes.append(Node(f"clinicaltrials:{nct}", NodeLabel.TRIAL, nct, {"phase": "phase 2", "split": eval_split}))
    st.upsert_nodes(nodes)
    edges = [
        Edge("drugbank:DB00001", R.TARGETS, "ncbigene:1", PROV),
        Edge("drugbank:DB00001", R.TARGETS, "ncbigene:2", PROV),
        Edge("drugbank:DB00002", R.TARGETS, "ncbigene:3", PROV),
        Edge("drugbank:DB00003", R.TARGETS, "ncbigene:1", PROV),
        Edge("mondo:0000001", R.ASSOCIATED_WITH, "ncbigene:1", PROV),
        Edge("mondo:0000002", R.ASSOCIATED_WITH, "ncbigene:3", PROV),
        Edge("drugbank:DB00001", R.TREATS, "mondo:0000001", PROV),
        Edge("drugbank:DB00001", R.CAUSES, "umls:C0000001", PROV),
        Edge("drugbank:DB00001", R.CAUSES, "umls:C0000002", PROV),
        Edge("drugbank:DB00002", R.CAUSES, "umls:C0000001", PROV),
        # repoDB-style trial record without status for a train trial (allowed)
        Edge("drugbank:DB00002", R.TRIALLED_FOR, "mondo:0000002", PROV, {"phase": "phase 2"}, key="NCT00000004"),
    ]
    for nct, (_, drugs, diseases) in TRAIN.items():
        edges += [Edge(f"clinicaltrials:{nct}", R.TESTS, d, PROV) for d in drugs]
        edges += [Edge(f"clinicaltrials:{nct}", R.STUDIES, d, PROV) for d in diseases]
    for nct, (drugs, diseases) in EVAL.items():
        edges += [Edge(f"clinicaltrials:{nct}", R.TESTS, d, PROV) for d in drugs]
        edges += [Edge(f"clinicaltrials:{nct}", R.STUDIES, d, PROV) for d in diseases]
    st.upsert_edges(edges)
    return st
