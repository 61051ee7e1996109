"""DrugBank 4.2 (dhimmel/drugbank extracts): Drug nodes and drug–protein TARGETS edges.

Provenance ``source`` per file (fact ids are keyed by it):

* ``drugbank`` — ``proteins.tsv`` (DrugBank's own target/enzyme/carrier/transporter records;
  human proteins only, the edge ``key`` is the category, so a gene that is both target and
  enzyme of a drug gives two facts);
* ``hetionet-integrate`` — ``CbG-binding.tsv`` (Hetionet's compiled binding table: DrugBank,
  ChEMBL, BindingDB, DrugCentral rows), with each row's own licence.

Drug nodes carry ``type``, ``groups``, ``atc_codes``, ``categories``, ``inchikey``, ``aliases``
(synonyms and brand names from ``aliases.json``, the name itself left out), ``chembl`` and
``pubchem_cid``. Genes are yielded minimally (Hetionet owns their names).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterator

import orjson

from kgimagine.errors import LoaderError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, NodeRefs, Record, SourceFile, SourceSpec, iter_table
from kgimagine.loaders.hetionet import CBG_BINDING, DRUGBANK_ID_RE, ENTREZ_RE, INTEGRATE_VERSION
from kgimagine.types import NodeLabel, RelationType

_COMMIT = "6b9ae386d6ba4a0eca2d66d4b0337a6e90fe81f4"
_RAW = f"https://raw.githubusercontent.com/dhimmel/drugbank/{_COMMIT}"

DRUGBANK_TSV = SourceFile(
    "drugbank-dhimmel/drugbank.tsv", f"{_RAW}/data/drugbank.tsv",
    "66050d51cb7a614ea6e951d630d2cf40893b75026ebe8f56c6cc37c0e73c3edd",
)
ALIASES_JSON = SourceFile(
    "drugbank-dhimmel/aliases.json", f"{_RAW}/data/aliases.json",
    "b6993c6c4e085e646a4101a8f44c7f75569136b3db4b51b7952791d14f33ae04",
)
CHEMBL_MAPPING = SourceFile(
    "drugbank-dhimmel/mapping-chembl.tsv", f"{_RAW}/data/mapping/chembl.tsv",
    "3a54bd96e62f4bad3e9d5793598d85bba961e381427802b11f1f7450d3bf0c5f",
)
PUBCHEM_MAPPING = SourceFile(
    "drugbank-dhimmel/pubchem-mapping.tsv", f"{_RAW}/data/pubchem-mapping.tsv",
    "c842d787d39741bd8957b2224c4899d21afa5cb353b152fdef5658467d93c292",
)
PROTEINS_TSV = SourceFile(
    "drugbank-dhimmel/proteins.tsv", f"{_RAW}/data/proteins.tsv",
    "8f78ad48e0dc9414074b00bf28e47048a1eafe9d5810a415547b8df69972c4e8",
)

DRUGBANK_VERSION = f"4.2 (dhimmel/drugbank@{_COMMIT[:7]})"
DRUGBANK_LICENCE = "CC BY-NC 4.0"
CHEMBL_RE = re.compile(r"^CHEMBL\d+$")
PROTEIN_CATEGORIES = frozenset({"target", "enzyme", "carrier", "transporter"})
_BLANK_CBG_LICENCE = "not stated (blank in dhimmel/integrate CbG-binding.tsv; see the row's sources)"


def _split(value: str) -> list[str]:
    return [v for v in (x.strip() for x in value.split("|")) if v]


def read_pubchem_mapping(ctx: LoadContext, source: str, spec: SourceSpec) -> dict[int, list[str]]:
    """PubChem CID -> DrugBank CURIEs (``pubchem-mapping.tsv``); bad rows go to rejects."""
    out: dict[int, list[str]] = {}
    f = PUBCHEM_MAPPING
    for lineno, row in iter_table(ctx.path(spec, f), source=source, file=f.relpath, rejects=ctx.rejects,
                                  required=("drugbank_id", "pubchem_cid")):
        db, cid = row["drugbank_id"].strip(), row["pubchem_cid"].strip()
        if not DRUGBANK_ID_RE.match(db) or not cid.isdigit():
            ctx.rejects.reject(source, f.relpath, lineno, f"bad DrugBank id {db!r} or PubChem CID {cid!r}",
                               f"{db}\t{cid}")
            continue
        ids = out.setdefault(int(cid), [])
        if f"drugbank:{db}" not in ids:
            ids.append(f"drugbank:{db}")
    return out


def read_drug_names(ctx: LoadContext, source: str, spec: SourceSpec) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(lower-cased DrugBank name -> CURIEs, lower-cased alias -> CURIEs) for name matching."""
    names: dict[str, set[str]] = {}
    f = DRUGBANK_TSV
    for _, row in iter_table(ctx.path(spec, f), source=source, file=f.relpath, rejects=ctx.rejects,
                             quoted=True, required=("drugbank_id", "name")):
        if DRUGBANK_ID_RE.match(row["drugbank_id"]) and row["name"].strip():
            names.setdefault(row["name"].strip().lower(), set()).add(f"drugbank:{row['drugbank_id']}")
    aliases: dict[str, set[str]] = {}
    for db, values in _read_aliases(ctx, source, spec).items():
        for alias in values:
            aliases.setdefault(alias.lower(), set()).add(f"drugbank:{db}")
    return names, aliases


def _read_aliases(ctx: LoadContext, source: str, spec: SourceSpec) -> dict[str, list[str]]:
    f = ALIASES_JSON
    try:
        data = orjson.loads(ctx.path(spec, f).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise LoaderError(f"{source}: {f.relpath} is not valid JSON ({exc}); re-download it from {f.url}") from exc
    if not isinstance(data, dict):
        raise LoaderError(f"{source}: {f.relpath} must hold a JSON object of DrugBank id -> names")
    out: dict[str, list[str]] = {}
    for record, (db, values) in enumerate(data.items(), start=1):
        if not DRUGBANK_ID_RE.match(str(db)) or not isinstance(values, list) or not all(
            isinstance(v, str) for v in values
        ):
            ctx.rejects.reject(source, f.relpath, record, f"entry {db!r} is not a DrugBank id -> list of names",
                               orjson.dumps({str(db): values}).decode())
            continue
        out[db] = [v.strip() for v in values if v.strip()]
    return out


class DrugBankLoader:
    """DrugBank 4.2 drugs and their targets (``proteins.tsv``) + Hetionet's ``CbG-binding.tsv``."""

    name = "drugbank"
    spec = SourceSpec(
        name="drugbank",
        version=DRUGBANK_VERSION,
        licence="CC BY-NC 4.0 (DrugBank 4.2 content); CbG-binding rows carry their own licence",
        homepage="https://github.com/dhimmel/drugbank",
        files=(DRUGBANK_TSV, ALIASES_JSON, CHEMBL_MAPPING, PUBCHEM_MAPPING, PROTEINS_TSV, CBG_BINDING),
    )

    def __init__(self) -> None:
        self.summary: Counter[str] = Counter()
        self._drugs: set[str] = set()  # DrugBank ids of drugbank.tsv, filled by the last run

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        self._drugs = set()
        yield from self._iter_drugs(ctx)
        genes = NodeRefs()
        yield from self._iter_protein_edges(ctx, genes)
        yield from self._iter_binding_edges(ctx, genes)

    # -- drugs ---------------------------------------------------------------------------
    def _iter_drugs(self, ctx: LoadContext) -> Iterator[Record]:
        src, spec = self.spec.name, self.spec
        aliases = _read_aliases(ctx, src, spec)
        chembl: dict[str, list[str]] = {}
        f = CHEMBL_MAPPING
        for lineno, row in iter_table(ctx.path(spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("drugbank_id", "chembl_id")):
            db, ch = row["drugbank_id"].strip(), row["chembl_id"].strip()
            if not DRUGBANK_ID_RE.match(db) or not CHEMBL_RE.match(ch):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DrugBank id {db!r} or ChEMBL id {ch!r}",
                                   f"{db}\t{ch}")
                continue
            chembl.setdefault(db, []).append(ch)
        pubchem: dict[str, list[int]] = {}
        for cid, dbs in read_pubchem_mapping(ctx, src, spec).items():
            for db in dbs:
                pubchem.setdefault(db.removeprefix("drugbank:"), []).append(cid)

        f = DRUGBANK_TSV
        for lineno, row in iter_table(ctx.path(spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      quoted=True, required=("drugbank_id", "name", "type", "groups", "atc_codes",
                                                "categories", "inchikey")):
            db, name = row["drugbank_id"].strip(), row["name"].strip()
            raw = "\t".join(row.values())
            if not DRUGBANK_ID_RE.match(db):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DrugBank id {db!r} (expected DB + 5 digits)", raw)
                continue
            if not name:
                ctx.rejects.reject(src, f.relpath, lineno, f"empty name for {db}", raw)
                continue
            if db in self._drugs:
                ctx.rejects.reject(src, f.relpath, lineno, f"duplicate DrugBank id {db}", raw)
                continue
            self._drugs.add(db)
            self.summary["nodes_Drug"] += 1
            yield Node(
                f"drugbank:{db}",
                NodeLabel.DRUG,
                name,
                {
                    "type": row["type"].strip() or None,
                    "groups": _split(row["groups"]),
                    "atc_codes": _split(row["atc_codes"]),
                    "categories": _split(row["categories"]),
                    "inchikey": row["inchikey"].strip() or None,
                    "aliases": [a for a in aliases.get(db, []) if a != name],
                    "chembl": sorted(set(chembl.get(db, []))),
                    "pubchem_cid": sorted(set(pubchem.get(db, []))),
                },
            )

    # -- targets -------------------------------------------------------------------------
    def _iter_protein_edges(self, ctx: LoadContext, genes: NodeRefs) -> Iterator[Record]:
        src, spec, f = "drugbank", self.spec, PROTEINS_TSV
        seen: set[tuple[str, str, str]] = set()
        for lineno, row in iter_table(ctx.path(spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("drugbank_id", "category", "uniprot_id", "entrez_gene_id",
                                                "organism", "known_action", "actions", "pubmed_ids")):
            db, entrez, category = row["drugbank_id"].strip(), row["entrez_gene_id"].strip(), row["category"].strip()
            raw = "\t".join(row.values())
            if not DRUGBANK_ID_RE.match(db) or db not in self._drugs:
                ctx.rejects.reject(src, f.relpath, lineno, f"DrugBank id {db!r} is malformed or not in drugbank.tsv",
                                   raw)
                continue
            if not ENTREZ_RE.match(entrez):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad Entrez gene id {entrez!r}", raw)
                continue
            if category not in PROTEIN_CATEGORIES:
                ctx.rejects.reject(src, f.relpath, lineno,
                                   f"unknown category {category!r}; expected one of {sorted(PROTEIN_CATEGORIES)}", raw)
                continue
            if row["organism"].strip() != "Human":
                self.summary["proteins_non_human_skipped"] += 1
                continue
            if (db, entrez, category) in seen:
                self.summary["proteins_duplicate"] += 1
                continue
            seen.add((db, entrez, category))
            gene = f"ncbigene:{entrez}"
            if (node := genes.first(gene, NodeLabel.GENE)) is not None:
                yield node
            self.summary["edges_TARGETS_drugbank"] += 1
            yield Edge(
                f"drugbank:{db}", RelationType.TARGETS, gene,
                Provenance(src, DRUGBANK_VERSION, DRUGBANK_LICENCE, f"{f.relpath}:{lineno}"),
                properties={
                    "category": category,
                    "uniprot_id": row["uniprot_id"].strip() or None,
                    "known_action": row["known_action"].strip() or None,
                    "actions": _split(row["actions"]),
                    "organism": "Human",
                    "pubmed_ids": _split(row["pubmed_ids"]),
                },
                key=category,
            )

    def _iter_binding_edges(self, ctx: LoadContext, genes: NodeRefs) -> Iterator[Record]:
        src, spec, f = "hetionet-integrate", self.spec, CBG_BINDING
        drugs = NodeRefs({f"drugbank:{d}" for d in self._drugs})
        seen: set[tuple[str, str]] = set()
        for lineno, row in iter_table(ctx.path(spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("drugbank_id", "entrez_gene_id", "sources", "pubmed_ids",
                                                "actions", "affinity_nM", "license")):
            db, entrez = row["drugbank_id"].strip(), row["entrez_gene_id"].strip()
            raw = "\t".join(row.values())
            if not DRUGBANK_ID_RE.match(db):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DrugBank id {db!r}", raw)
                continue
            if not ENTREZ_RE.match(entrez):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad Entrez gene id {entrez!r}", raw)
                continue
            affinity: float | None = None
            if row["affinity_nM"].strip():
                try:
                    affinity = float(row["affinity_nM"])
                except ValueError:
                    ctx.rejects.reject(src, f.relpath, lineno, f"affinity_nM {row['affinity_nM']!r} is not a number",
                                       raw)
                    continue
            if (db, entrez) in seen:
                self.summary["binding_duplicate"] += 1
                continue
            seen.add((db, entrez))
            drug, gene = f"drugbank:{db}", f"ncbigene:{entrez}"
            for node in (drugs.first(drug, NodeLabel.DRUG), genes.first(gene, NodeLabel.GENE)):
                if node is not None:
                    yield node
            self.summary["edges_TARGETS_hetionet-integrate"] += 1
            yield Edge(
                drug, RelationType.TARGETS, gene,
                Provenance(src, INTEGRATE_VERSION, row["license"].strip() or _BLANK_CBG_LICENCE,
                           f"{f.relpath}:{lineno}"),
                properties={
                    "sources": _split(row["sources"]),
                    "actions": _split(row["actions"]),
                    "affinity_nM": affinity,
                    "pubmed_ids": _split(row["pubmed_ids"]),
                },
            )
