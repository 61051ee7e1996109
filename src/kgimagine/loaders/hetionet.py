"""Hetionet v1.0: Compound, Gene, Disease and Side Effect nodes, and the CbG/DaG/CtD/CpD edges.

Nodes come from ``hetionet-v1.0-nodes.tsv`` (other kinds are skipped). Hetionet's full edge
file is Git-LFS only; the edges come from ``hetionet-v1.0-subset-edges.sif.gz`` (a derived file
in the team's data folder holding exactly Hetionet's CbG, DaG, CtD and CpD edges) when it is
present, otherwise they are derived the same way from the public build inputs
(``CbG-binding.tsv``, ``DaG-association.tsv``, PharmacotherapyDB ``indications.tsv``). Both
routes give the same edges with the same provenance (record id = Hetionet's own edge notation,
e.g. ``Compound::DB00619 CbG Gene::25``).

Also defines the dhimmel/integrate files that other loaders share.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, Record, SourceFile, SourceSpec, iter_table
from kgimagine.types import NodeLabel, RelationType

_HETIONET_COMMIT = "8a6cc0c5604d0e2908786e4de38af67b8e46ee4a"
_INTEGRATE_COMMIT = "93feba1765fbcd76fd79e22f25121f5399629148"
_INDICATIONS_COMMIT = "11d535ba0884ee56c3cd5756fdfb4985f313bd80"

HETIONET_NODES = SourceFile(
    "hetionet/hetionet-v1.0-nodes.tsv",
    f"https://raw.githubusercontent.com/hetio/hetionet/{_HETIONET_COMMIT}/hetnet/tsv/hetionet-v1.0-nodes.tsv",
    "3ad9eb86c031df8bc7d5efefa6edc93562182eb9a6a71e5129d3f18b9d42c50e",
)
CBG_BINDING = SourceFile(
    "hetionet-integrate/CbG-binding.tsv",
    f"https://raw.githubusercontent.com/dhimmel/integrate/{_INTEGRATE_COMMIT}/compile/CbG-binding.tsv",
    "6918200b27b90f312c6e6bc636079eb6f72f006aeda308144c1f1fc5cae6fced",
)
DAG_ASSOCIATION = SourceFile(
    "hetionet-integrate/DaG-association.tsv",
    f"https://raw.githubusercontent.com/dhimmel/integrate/{_INTEGRATE_COMMIT}/compile/DaG-association.tsv",
    "571b45f4007045d904d926d8a01840f359345d37bc9d1db15d4dab1d38691e84",
)
INDICATIONS = SourceFile(
    "pharmacotherapydb/indications.tsv",
    f"https://raw.githubusercontent.com/dhimmel/indications/{_INDICATIONS_COMMIT}/catalog/indications.tsv",
    "bc956b0092fab88975a07932b89382a0ed593d3d21df23395440cfd9a067a917",
)
#: Derived (not downloadable): read when present in the data dir, else the edges are rebuilt.
SUBSET_EDGES_RELPATH = "hetionet/hetionet-v1.0-subset-edges.sif.gz"

INTEGRATE_VERSION = f"dhimmel/integrate@{_INTEGRATE_COMMIT[:7]}"

DRUGBANK_ID_RE = re.compile(r"^DB\d{5}$")
ENTREZ_RE = re.compile(r"^\d+$")
DOID_RE = re.compile(r"^DOID:(\d+)$")
UMLS_CUI_RE = re.compile(r"^C\d{7}$")

#: Hetionet metaedge -> (relation, source kind, target kind, licence of the edges).
METAEDGES: dict[str, tuple[RelationType, str, str, str]] = {
    "CbG": (RelationType.TARGETS, "Compound", "Gene",
            "mixed per row: DrugBank CC BY-NC 4.0, ChEMBL CC BY-SA 3.0, BindingDB CC BY 3.0, "
            "DrugCentral CC BY 4.0 (see hetionet-integrate/CbG-binding.tsv)"),
    "DaG": (RelationType.ASSOCIATED_WITH, "Disease", "Gene",
            "mixed per row: DISEASES CC BY 4.0, DisGeNET ODbL 1.0, GWAS Catalog "
            "(see hetionet-integrate/DaG-association.tsv)"),
    "CtD": (RelationType.TREATS, "Compound", "Disease", "CC0 1.0 (PharmacotherapyDB v1.0)"),
    "CpD": (RelationType.PALLIATES, "Compound", "Disease", "CC0 1.0 (PharmacotherapyDB v1.0)"),
}

#: Hetionet node kind -> our label.
KINDS: dict[str, NodeLabel] = {
    "Compound": NodeLabel.DRUG,
    "Gene": NodeLabel.GENE,
    "Disease": NodeLabel.DISEASE,
    "Side Effect": NodeLabel.SIDE_EFFECT,
}


def parse_hetionet_id(hetionet_id: str) -> tuple[str, str] | None:
    """``Compound::DB00619`` -> (``Compound``, ``drugbank:DB00619``); ``None`` for kinds we skip.

    Raises ``ValueError`` for a malformed id of a kind we load.
    """
    kind, sep, local = hetionet_id.partition("::")
    if not sep:
        raise ValueError(f"not a Hetionet id (Kind::id): {hetionet_id!r}")
    if kind not in KINDS:
        return None
    if kind == "Compound" and DRUGBANK_ID_RE.match(local):
        return kind, f"drugbank:{local}"
    if kind == "Gene" and ENTREZ_RE.match(local):
        return kind, f"ncbigene:{local}"
    if kind == "Disease" and (m := DOID_RE.match(local)):
        return kind, f"doid:{m.group(1)}"
    if kind == "Side Effect" and UMLS_CUI_RE.match(local):
        return kind, f"umls:{local}"
    raise ValueError(f"bad {kind} id {local!r} in {hetionet_id!r}")


def read_gene_symbols(ctx: LoadContext, source: str, spec: SourceSpec) -> dict[str, set[str]]:
    """HGNC symbol -> Entrez CURIEs, from Hetionet Gene nodes and the DaG ``gene_symbol`` column
    (``spec`` is the calling loader's, for its error messages)."""
    symbols: dict[str, set[str]] = {}
    path = ctx.path(spec, HETIONET_NODES)
    for _, row in iter_table(path, source=source, file=HETIONET_NODES.relpath, rejects=ctx.rejects,
                             required=("id", "name", "kind")):
        if row["kind"] == "Gene":
            local = row["id"].partition("::")[2]
            if ENTREZ_RE.match(local) and row["name"]:
                symbols.setdefault(row["name"], set()).add(f"ncbigene:{local}")
    path = ctx.path(spec, DAG_ASSOCIATION)
    for _, row in iter_table(path, source=source, file=DAG_ASSOCIATION.relpath, rejects=ctx.rejects,
                             required=("entrez_gene_id", "gene_symbol")):
        if ENTREZ_RE.match(row["entrez_gene_id"]) and row["gene_symbol"]:
            symbols.setdefault(row["gene_symbol"], set()).add(f"ncbigene:{row['entrez_gene_id']}")
    return symbols


class HetionetLoader:
    """Hetionet v1.0 nodes (Drug, Gene, Disease, SideEffect) and CbG/DaG/CtD/CpD edges.

    Provenance source: ``hetionet``. ``summary`` counts what the last run loaded and skipped.
    """

    name = "hetionet"
    spec = SourceSpec(
        name="hetionet",
        version=f"v1.0 (hetio/hetionet@{_HETIONET_COMMIT[:7]})",
        licence="CC0 1.0 (Hetionet original content); edges carry their inputs' licences",
        homepage="https://het.io",
        files=(HETIONET_NODES, CBG_BINDING, DAG_ASSOCIATION, INDICATIONS),
    )

    def __init__(self) -> None:
        self.summary: Counter[str] = Counter()

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        src = self.spec.name
        known: dict[str, str] = {}  # hetionet id -> our CURIE, for the kinds we load
        path = ctx.path(self.spec, HETIONET_NODES)
        for lineno, row in iter_table(path, source=src, file=HETIONET_NODES.relpath, rejects=ctx.rejects,
                                      required=("id", "name", "kind")):
            try:
                parsed = parse_hetionet_id(row["id"])
            except ValueError as exc:
                ctx.rejects.reject(src, HETIONET_NODES.relpath, lineno, str(exc), "\t".join(row.values()))
                continue
            if parsed is None:
                self.summary["nodes_other_kinds_skipped"] += 1
                continue
            kind, curie = parsed
            if kind != row["kind"]:
                ctx.rejects.reject(src, HETIONET_NODES.relpath, lineno,
                                   f"kind column {row['kind']!r} disagrees with id {row['id']!r}",
                                   "\t".join(row.values()))
                continue
            name = row["name"].strip()
            if not name:
                ctx.rejects.reject(src, HETIONET_NODES.relpath, lineno, f"empty name for {row['id']}",
                                   "\t".join(row.values()))
                continue
            known[row["id"]] = curie
            self.summary[f"nodes_{KINDS[kind].value}"] += 1
            yield Node(curie, KINDS[kind], name)

        seen_edges: set[tuple[str, str, str]] = set()
        for file, lineno, s, metaedge, t in self._iter_edge_rows(ctx, set(known)):
            raw = f"{s}\t{metaedge}\t{t}"
            if metaedge not in METAEDGES:
                ctx.rejects.reject(src, file, lineno, f"unknown metaedge {metaedge!r}", raw)
                continue
            rel, s_kind, t_kind, licence = METAEDGES[metaedge]
            if not (s.startswith(s_kind + "::") and t.startswith(t_kind + "::")):
                ctx.rejects.reject(src, file, lineno, f"{metaedge} must go {s_kind} -> {t_kind}", raw)
                continue
            missing = [x for x in (s, t) if x not in known]
            if missing:
                ctx.rejects.reject(src, file, lineno, f"unknown Hetionet node(s) {', '.join(missing)}", raw)
                continue
            if (s, metaedge, t) in seen_edges:
                self.summary["edges_duplicate"] += 1
                continue
            seen_edges.add((s, metaedge, t))
            self.summary[f"edges_{rel.value}"] += 1
            yield Edge(
                known[s], rel, known[t],
                Provenance(src, self.spec.version, licence, f"{s} {metaedge} {t}"),
                properties={"metaedge": metaedge},
            )

    # -- edges ---------------------------------------------------------------------------
    def _iter_edge_rows(self, ctx: LoadContext, known: set[str]) -> Iterator[tuple[str, int, str, str, str]]:
        subset = _local_copy(ctx, SUBSET_EDGES_RELPATH)
        if subset is not None:
            self.summary["edges_from_subset_file"] = 1
            yield from _iter_sif(subset, SUBSET_EDGES_RELPATH, ctx, self.spec.name)
        else:
            self.summary["edges_from_subset_file"] = 0
            yield from self._derive_edges(ctx, known)

    def _derive_edges(self, ctx: LoadContext, known: set[str]) -> Iterator[tuple[str, int, str, str, str]]:
        """Rebuild Hetionet's CbG, DaG, CtD, CpD edges from their public inputs (rows whose both
        ends are Hetionet nodes)."""
        src = self.spec.name

        def emit(file: str, lineno: int, s: str, metaedge: str, t: str) -> Iterator[tuple[str, int, str, str, str]]:
            if s in known and t in known:
                yield file, lineno, s, metaedge, t

        f = CBG_BINDING
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("drugbank_id", "entrez_gene_id")):
            yield from emit(f.relpath, lineno, f"Compound::{row['drugbank_id']}", "CbG",
                            f"Gene::{row['entrez_gene_id']}")
        f = DAG_ASSOCIATION
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("doid_id", "entrez_gene_id")):
            yield from emit(f.relpath, lineno, f"Disease::{row['doid_id']}", "DaG", f"Gene::{row['entrez_gene_id']}")
        f = INDICATIONS
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("doid_id", "drugbank_id", "category")):
            metaedge = {"DM": "CtD", "SYM": "CpD"}.get(row["category"])
            if metaedge:
                yield from emit(f.relpath, lineno, f"Compound::{row['drugbank_id']}", metaedge,
                                f"Disease::{row['doid_id']}")


def _local_copy(ctx: LoadContext, relpath: str) -> Path | None:
    for base in (ctx.data_dir, ctx.cache_dir / "sources"):
        if base is not None and (base / relpath).is_file():
            return base / relpath
    return None


def _iter_sif(path: Path, relpath: str, ctx: LoadContext, source: str) -> Iterator[tuple[str, int, str, str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if lineno == 1 and fields == ["source", "metaedge", "target"]:
                continue
            if not line.strip():
                continue
            if len(fields) != 3:
                ctx.rejects.reject(source, relpath, lineno, f"expected 3 columns, got {len(fields)}", line)
                continue
            yield relpath, lineno, fields[0], fields[1], fields[2]
