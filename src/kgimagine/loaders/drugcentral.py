"""DrugCentral drug–target interactions (2017/18 release): ``TARGETS`` edges for human targets.

Drugs: a DrugCentral ``DRUG_NAME`` that equals (case-insensitively) exactly one DrugBank name —
or, failing that, exactly one DrugBank alias — becomes that DrugBank drug; otherwise the drug is
a ``drugcentral:<STRUCT_ID>`` node named by DrugCentral. Targets: the ``GENE`` column (one or
more HGNC symbols separated by ``|``) maps to Entrez through Hetionet's gene symbols and the
``gene_symbol`` column of ``DaG-association.tsv``; an unknown or ambiguous symbol is reported
(``ctx.report_unknown``) and sent to rejects, the row's other symbols still load. Non-human rows
are skipped (counted). Provenance source ``drugcentral``; edge key
``<ACCESSION>|<ACT_TYPE>|<ACT_SOURCE>`` separates DrugCentral's records of one pair.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, NodeRefs, Record, SourceFile, SourceSpec, iter_table
from kgimagine.loaders.drugbank import ALIASES_JSON, DRUGBANK_TSV, read_drug_names
from kgimagine.loaders.hetionet import DAG_ASSOCIATION, HETIONET_NODES, read_gene_symbols
from kgimagine.types import NodeLabel, RelationType

_COMMIT = "5ca9a5aed7983ff3ad273cce6bc6dd5fa0b9a4e2"

DRUG_TARGET_INTERACTIONS = SourceFile(
    "drugcentral/drug.target.interaction.tsv.gz",
    f"https://raw.githubusercontent.com/kenmcgarry/ComplexNetworks/{_COMMIT}/data/drug.target.interaction.tsv.gz",
    "2bdf566a228f6c8ba6e16494b258c5f3b83c56b2f39d40078d41e272466549bb",
)
HUMAN = "Homo sapiens"


def _float(value: str) -> float | None:
    value = value.strip()
    return float(value) if value else None


class DrugCentralLoader:
    name = "drugcentral"
    spec = SourceSpec(
        name="drugcentral",
        version=f"2017/18 drug.target.interaction.tsv (kenmcgarry/ComplexNetworks@{_COMMIT[:7]})",
        licence="CC BY-SA 4.0",
        homepage="https://drugcentral.org",
        files=(DRUG_TARGET_INTERACTIONS, DRUGBANK_TSV, ALIASES_JSON, HETIONET_NODES, DAG_ASSOCIATION),
    )

    def __init__(self) -> None:
        self.summary: Counter[str] = Counter()

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        src, f = self.spec.name, DRUG_TARGET_INTERACTIONS
        names, aliases = read_drug_names(ctx, src, self.spec)
        symbols = read_gene_symbols(ctx, src, self.spec)
        drug_of: dict[str, str] = {}  # STRUCT_ID -> drug CURIE
        refs = NodeRefs()
        seen: set[tuple[str, str, str]] = set()
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      quoted=True,
                                      required=("DRUG_NAME", "STRUCT_ID", "ACCESSION", "GENE", "ACT_VALUE",
                                                "ACT_UNIT", "ACT_TYPE", "ACT_SOURCE", "MOA", "ACTION_TYPE",
                                                "TARGET_CLASS", "ORGANISM")):
            raw = "\t".join(row.values())
            if row["ORGANISM"].strip() != HUMAN:
                self.summary["rows_non_human_skipped"] += 1
                continue
            struct_id, drug_name = row["STRUCT_ID"].strip(), row["DRUG_NAME"].strip()
            if not struct_id.isdigit():
                ctx.rejects.reject(src, f.relpath, lineno, f"STRUCT_ID {struct_id!r} is not an integer", raw)
                continue
            if not drug_name:
                ctx.rejects.reject(src, f.relpath, lineno, f"empty DRUG_NAME for STRUCT_ID {struct_id}", raw)
                continue
            try:
                act_value = _float(row["ACT_VALUE"])
            except ValueError:
                ctx.rejects.reject(src, f.relpath, lineno, f"ACT_VALUE {row['ACT_VALUE']!r} is not a number", raw)
                continue
            gene_symbols = [s.strip() for s in row["GENE"].split("|") if s.strip()]
            if not gene_symbols:
                ctx.rejects.reject(src, f.relpath, lineno, "empty GENE (no target gene symbol)", raw)
                continue

            drug = drug_of.get(struct_id)
            if drug is None:
                drug = self._match_drug(drug_name, struct_id, names, aliases)
                drug_of[struct_id] = drug
                if drug.startswith("drugcentral:"):
                    refs.add(drug)
                    self.summary["drugs_unmapped_to_drugbank"] += 1
                    yield Node(drug, NodeLabel.DRUG, drug_name)
                else:
                    self.summary["drugs_mapped_to_drugbank"] += 1
            if (node := refs.first(drug, NodeLabel.DRUG)) is not None:
                yield node

            for symbol in gene_symbols:
                entrez = symbols.get(symbol, set())
                if len(entrez) != 1:
                    why = "unknown" if not entrez else f"ambiguous ({', '.join(sorted(entrez))})"
                    ctx.report_unknown(src, f"gene symbol {symbol}")
                    ctx.rejects.reject(src, f.relpath, lineno, f"{why} gene symbol {symbol!r}", raw)
                    self.summary["targets_unmapped_symbol"] += 1
                    continue
                gene = next(iter(entrez))
                key = f"{row['ACCESSION'].strip()}|{row['ACT_TYPE'].strip()}|{row['ACT_SOURCE'].strip()}"
                if (drug, gene, key) in seen:
                    self.summary["rows_duplicate"] += 1
                    continue
                seen.add((drug, gene, key))
                if (node := refs.first(gene, NodeLabel.GENE)) is not None:
                    yield node
                self.summary["edges_TARGETS"] += 1
                yield Edge(
                    drug, RelationType.TARGETS, gene,
                    Provenance(src, self.spec.version, self.spec.licence, f"{f.relpath}:{lineno}"),
                    properties={
                        "act_value": act_value,
                        "act_unit": row["ACT_UNIT"].strip() or None,
                        "act_type": row["ACT_TYPE"].strip() or None,
                        "act_source": row["ACT_SOURCE"].strip() or None,
                        "action_type": row["ACTION_TYPE"].strip() or None,
                        "moa": row["MOA"].strip() == "1",
                        "target_class": row["TARGET_CLASS"].strip() or None,
                        "uniprot_id": row["ACCESSION"].strip() or None,
                        "drugcentral_name": drug_name,
                    },
                    key=key,
                )

    @staticmethod
    def _match_drug(name: str, struct_id: str, names: dict[str, set[str]], aliases: dict[str, set[str]]) -> str:
        for table in (names, aliases):
            hits = table.get(name.lower(), set())
            if len(hits) == 1:
                return next(iter(hits))
        return f"drugcentral:{struct_id}"
