"""PharmacotherapyDB v1.0 (dhimmel/indications): physician-curated drug–disease indications.

``DM`` (disease-modifying) rows become ``TREATS``, ``SYM`` (symptomatic) rows ``PALLIATES``;
``NOT`` rows record that a drug is *not* an indication and are skipped (counted in ``summary``).
Provenance source ``pharmacotherapydb``. Drugs and diseases are yielded minimally (DrugBank and
the ontology loader own their names).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from kgimagine.kg.model import Edge, Provenance
from kgimagine.loaders.base import LoadContext, NodeRefs, Record, SourceSpec, iter_table
from kgimagine.loaders.hetionet import DOID_RE, DRUGBANK_ID_RE, INDICATIONS
from kgimagine.types import NodeLabel, RelationType

CATEGORIES: dict[str, RelationType | None] = {
    "DM": RelationType.TREATS,
    "SYM": RelationType.PALLIATES,
    "NOT": None,
}


def _count(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    return int(value)  # ValueError is turned into a reject by the caller


class PharmacotherapyDBLoader:
    name = "pharmacotherapydb"
    spec = SourceSpec(
        name="pharmacotherapydb",
        version="1.0 (dhimmel/indications@11d535b)",
        licence="CC0 1.0",
        homepage="https://github.com/dhimmel/indications",
        files=(INDICATIONS,),
    )

    def __init__(self) -> None:
        self.summary: Counter[str] = Counter()

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        src, f = self.spec.name, INDICATIONS
        refs = NodeRefs()
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("doid_id", "drugbank_id", "category", "n_curators",
                                                "n_resources")):
            raw = "\t".join(row.values())
            db, doid, category = row["drugbank_id"].strip(), row["doid_id"].strip(), row["category"].strip()
            m = DOID_RE.match(doid)
            if not DRUGBANK_ID_RE.match(db) or m is None:
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DrugBank id {db!r} or DOID {doid!r}", raw)
                continue
            if category not in CATEGORIES:
                ctx.rejects.reject(src, f.relpath, lineno, f"unknown category {category!r}; expected DM, SYM or NOT",
                                   raw)
                continue
            try:
                n_curators, n_resources = _count(row["n_curators"]), _count(row["n_resources"])
            except ValueError:
                ctx.rejects.reject(src, f.relpath, lineno, "n_curators/n_resources must be integers", raw)
                continue
            rel = CATEGORIES[category]
            if rel is None:
                self.summary["not_indications_skipped"] += 1
                continue
            drug, disease = f"drugbank:{db}", f"doid:{m.group(1)}"
            for node_id, label in ((drug, NodeLabel.DRUG), (disease, NodeLabel.DISEASE)):
                if (node := refs.first(node_id, label)) is not None:
                    yield node
            self.summary[f"edges_{rel.value}"] += 1
            yield Edge(
                drug, rel, disease,
                Provenance(src, self.spec.version, self.spec.licence, f"{f.relpath}:{lineno}"),
                properties={"category": category, "n_curators": n_curators, "n_resources": n_resources},
            )
