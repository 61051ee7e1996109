"""SIDER 4.1 (dhimmel/SIDER4): drug side effects from drug labels.

``meddra_all_se.tsv.gz`` (no header: STITCH flat id, STITCH stereo id, UMLS CUI on the label,
MedDRA concept type, UMLS CUI of the MedDRA term, its name). Only preferred-term (``PT``) rows
are used; the side effect is the MedDRA-term CUI (``umls:C…``, the ids of Hetionet's Side
Effect nodes). The STITCH flat id ``CID1xxxxxxxx`` is PubChem CID + 100000000; the CID maps to
DrugBank through ``pubchem-mapping.tsv`` (one CID may map to several DrugBank ids: one edge
each). Unmapped CIDs are reported through ``ctx.report_unknown`` and counted. One ``CAUSES``
edge per drug–side-effect pair; provenance source ``sider``.

Side-effect names come from ``side-effect-terms.tsv`` when it is available, otherwise from the
name column of the PT rows themselves (the same MedDRA names).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterator

from kgimagine.errors import SourceFileMissingError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, NodeRefs, Record, SourceFile, SourceSpec, iter_table
from kgimagine.loaders.drugbank import PUBCHEM_MAPPING, read_pubchem_mapping
from kgimagine.loaders.hetionet import UMLS_CUI_RE
from kgimagine.types import NodeLabel, RelationType

_COMMIT = "be3adebc0d845baaddb907a880890cb5e85f5801"
_RAW = f"https://raw.githubusercontent.com/dhimmel/SIDER4/{_COMMIT}"

MEDDRA_ALL_SE = SourceFile(
    "sider/meddra_all_se.tsv.gz", f"{_RAW}/download/meddra_all_se.tsv.gz",
    "119b2f5319a9398da83e5fe3419889010dbacf8d3eef590251b00c025e2b3f99",
)
SIDE_EFFECT_TERMS = SourceFile(
    "sider/side-effect-terms.tsv", f"{_RAW}/data/side-effect-terms.tsv",
    "0f70cdff145fb811fd767064860ceae526fec269278a78e9a6ede723e2991cdc",
)
MEDDRA_COLUMNS = ("stitch_flat", "stitch_stereo", "umls_label", "meddra_type", "umls_meddra", "name")
STITCH_FLAT_RE = re.compile(r"^CID1(\d{8})$")
STITCH_OFFSET = 100_000_000


def parse_stitch_flat(stitch_id: str) -> int:
    """``CID100002244`` -> PubChem CID 2244; ``ValueError`` for anything else."""
    m = STITCH_FLAT_RE.match(stitch_id)
    if m is None:
        raise ValueError(f"bad STITCH flat id {stitch_id!r} (expected CID1 + 8 digits)")
    return int(stitch_id[3:]) - STITCH_OFFSET


class SiderLoader:
    name = "sider"
    spec = SourceSpec(
        name="sider",
        version=f"4.1 (dhimmel/SIDER4@{_COMMIT[:7]})",
        licence="CC BY-NC-SA 4.0",
        homepage="http://sideeffects.embl.de",
        files=(MEDDRA_ALL_SE, SIDE_EFFECT_TERMS, PUBCHEM_MAPPING),
    )

    def __init__(self) -> None:
        self.summary: Counter[str] = Counter()

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        src, f = self.spec.name, MEDDRA_ALL_SE
        cid_to_drugs = read_pubchem_mapping(ctx, src, self.spec)
        names = self._read_terms(ctx)
        pairs: dict[tuple[str, str], int] = {}  # (drug, side effect) -> first line
        label_names: dict[str, str] = {}
        unmapped: set[str] = set()
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      columns=MEDDRA_COLUMNS):
            if row["meddra_type"] != "PT":
                continue
            raw = "\t".join(row.values())
            try:
                cid = parse_stitch_flat(row["stitch_flat"])
            except ValueError as exc:
                ctx.rejects.reject(src, f.relpath, lineno, str(exc), raw)
                continue
            cui = row["umls_meddra"].strip()
            if not UMLS_CUI_RE.match(cui):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad UMLS CUI {cui!r}", raw)
                continue
            drugs = cid_to_drugs.get(cid)
            if not drugs:
                if row["stitch_flat"] not in unmapped:
                    unmapped.add(row["stitch_flat"])
                    ctx.report_unknown(src, f"{row['stitch_flat']} (PubChem CID {cid})")
                self.summary["pt_rows_unmapped_drug"] += 1
                continue
            if row["name"].strip():
                label_names.setdefault(cui, row["name"].strip())
            for drug in drugs:
                pairs.setdefault((drug, f"umls:{cui}"), lineno)
        self.summary["stitch_ids_unmapped"] = len(unmapped)

        side_effects = sorted({se for _, se in pairs})
        for se in side_effects:
            cui = se.removeprefix("umls:")
            self.summary["nodes_SideEffect"] += 1
            yield Node(se, NodeLabel.SIDE_EFFECT, names.get(cui) or label_names.get(cui, ""))
        drugs_seen = NodeRefs()
        prov_version, licence = self.spec.version, self.spec.licence
        for (drug, se), lineno in sorted(pairs.items()):
            if (node := drugs_seen.first(drug, NodeLabel.DRUG)) is not None:
                yield node
            self.summary["edges_CAUSES"] += 1
            yield Edge(drug, RelationType.CAUSES, se, Provenance(src, prov_version, licence, f"{f.relpath}:{lineno}"))

    def _read_terms(self, ctx: LoadContext) -> dict[str, str]:
        f = SIDE_EFFECT_TERMS
        try:
            path = ctx.path(self.spec, f)
        except SourceFileMissingError:
            self.summary["side_effect_terms_file_missing"] = 1
            return {}
        out: dict[str, str] = {}
        for lineno, row in iter_table(path, source=self.spec.name, file=f.relpath, rejects=ctx.rejects,
                                      required=("umls_cui_from_meddra", "side_effect_name")):
            cui, name = row["umls_cui_from_meddra"].strip(), row["side_effect_name"].strip()
            if not UMLS_CUI_RE.match(cui) or not name:
                ctx.rejects.reject(self.spec.name, f.relpath, lineno, f"bad CUI {cui!r} or empty name",
                                   "\t".join(row.values()))
                continue
            out[cui] = name
        return out
