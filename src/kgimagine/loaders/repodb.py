"""repoDB: approved and failed drug-indication pairs (Brown & Patel, Sci Data 2017).

``repodb_full.csv`` rows become Drug -> Disease edges:

* ``Approved``  -> ``APPROVED_FOR`` (one fact per pair).
* any other status (Terminated / Withdrawn / Suspended) -> ``TRIALLED_FOR``.

LEAKAGE RULE. Every non-approved repoDB row is a *failed* trial, so a repoDB NCT id is an
outcome label. Therefore:

* NCT id of a TOP trial all of whose splits are in ``ctx.labels_from``: the edge is keyed by the NCT id
  and keeps ``status``, ``phase`` and ``nct_id``.
* NCT id of a TOP trial of any other split (an evaluated trial): the row is withheld (not
  loaded at all; counted in ``stats["withheld_evaluation_trials"]``), since the pair edge
  would exist only because that very trial failed.
* any other NCT id (not a shared TOP trial; it may be in a hidden test split): the edge is
  loaded as "was trialled for" only: no status, no NCT id, one fact per drug-disease pair.

Indications are UMLS CUIs, mapped to Disease nodes through their ``umls`` property;
unmapped CUIs are reported as unknowns and rejects. ``DetailedStatus`` (a why-stopped text)
is never read.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Mapping

from kgimagine.errors import LoaderError
from kgimagine.kg.model import Edge, Provenance
from kgimagine.loaders.base import LoadContext, Record, SourceFile, SourceSpec, iter_csv_records
from kgimagine.types import NodeLabel, RelationType

SOURCE = "repodb"
REPODB_FILE = SourceFile(
    "repodb/repodb_full.csv",
    "https://raw.githubusercontent.com/adam-sam-brown/repoDB/cd4edec67e57df1d2a5f552e30a6960a38d79432/"
    "Shiny_Application/data/shiny.RData (repodb_full.csv is derived from it; see shared/data/SOURCES.md)",
    "0be2d32e02523ce19581a314bdef02502ac5620556e100306872a6aa46810101",
)
REPODB_SPEC = SourceSpec(
    name=SOURCE,
    version="repoDB v1.0 (adam-sam-brown/repoDB@cd4edec, shiny.RData drug.fr)",
    licence="not stated (research data; attribution required: Brown & Patel, Sci Data 2017)",
    homepage="http://apps.chiragjpgroup.org/repoDB/",
    files=(REPODB_FILE,),
)
REQUIRED_COLUMNS = ("drug_id", "ind_id", "status", "nct_id")
_DB = re.compile(r"^DB\d{5}$")
_CUI = re.compile(r"^C\d{7}$")
_NCT = re.compile(r"^NCT\d{8}$")


def normalize_cui(value: str) -> str:
    v = value.strip().upper()
    for prefix in ("UMLS:", "UMLS_CUI:", "UMLS."):
        if v.startswith(prefix):
            v = v[len(prefix):]
    return v


class RepoDBLoader:
    """Drug -> Disease APPROVED_FOR / TRIALLED_FOR edges from repoDB (see the leakage rule)."""

    spec = REPODB_SPEC
    name = SOURCE

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        top_splits: Mapping[str, str | Path] | None = None,
        umls_index: Mapping[str, list[str]] | None = None,
        drug_ids: set[str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.top_splits = top_splits
        self.umls_index = umls_index
        self.drug_ids = drug_ids
        self.stats: dict[str, int] = {}

    def prepare(self, store: Any) -> None:
        """Index Disease nodes by UMLS CUI and note which Drug nodes exist."""
        index: dict[str, set[str]] = defaultdict(set)
        for node in store.iter_nodes(NodeLabel.DISEASE):
            cuis = node.properties.get("umls") or []
            if isinstance(cuis, str):
                cuis = [cuis]
            for c in cuis:
                if isinstance(c, str) and c.strip():
                    index[normalize_cui(c)].add(node.id)
        self.umls_index = {k: sorted(v, key=lambda d: (not d.startswith("mondo:"), d)) for k, v in index.items()}
        self.drug_ids = {n.id for n in store.iter_nodes(NodeLabel.DRUG)}

    def _trial_sets(self, ctx: LoadContext) -> tuple[set[str], set[str]]:
        """(NCT ids of labelled splits, NCT ids of every other TOP split)."""
        from kgimagine.loaders.top import TopTrialLoader, labelled_and_evaluated_ids

        paths = TopTrialLoader(self.top_splits).split_paths(ctx)
        return labelled_and_evaluated_ids(paths, frozenset(ctx.labels_from))

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        if self.umls_index is None:
            raise LoaderError("RepoDBLoader needs a UMLS index: call prepare(store) or pass umls_index")
        path = self.path or ctx.path(REPODB_SPEC, REPODB_FILE)
        labelled, evaluated = self._trial_sets(ctx)
        stats = {"rows": 0, "approved": 0, "trialled_labelled": 0, "trialled_unlabelled": 0,
                 "withheld_evaluation_trials": 0, "unmapped_indication": 0, "unknown_drug": 0}
        try:
            fh = open(path, newline="", encoding="utf-8")
        except OSError as exc:
            raise LoaderError(f"cannot read repoDB file {path}: {exc}") from exc
        with fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise LoaderError(f"repoDB file {path} lacks column(s) {', '.join(missing)}")
            def bad_quoting(line: int, reason: str) -> None:
                ctx.rejects.reject(SOURCE, str(path), line, reason)

            for start, row in iter_csv_records(reader, bad_quoting):
                stats["rows"] += 1
                yield from self._row(row, start, path, labelled, evaluated, ctx, stats)
        self.stats = stats

    def _row(
        self,
        row: dict[str, str],
        line: int,
        path: Path,
        labelled: set[str],
        evaluated: set[str],
        ctx: LoadContext,
        stats: dict[str, int],
    ) -> Iterator[Record]:
        assert self.umls_index is not None
        drug = (row.get("drug_id") or "").strip()
        cui = normalize_cui(row.get("ind_id") or "")
        status = (row.get("status") or "").strip()
        nct = (row.get("nct_id") or "").strip()
        raw = ",".join(str(v) for v in row.values())
        if not _DB.match(drug):
            ctx.rejects.reject(SOURCE, str(path), line, f"bad DrugBank id {drug!r}", raw)
            return
        if not _CUI.match(cui):
            ctx.rejects.reject(SOURCE, str(path), line, f"bad UMLS CUI {cui!r}", raw)
            return
        if not status:
            ctx.rejects.reject(SOURCE, str(path), line, "empty status", raw)
            return
        approved = status.lower() == "approved"
        if not approved and nct and not _NCT.match(nct):
            ctx.rejects.reject(SOURCE, str(path), line, f"bad NCT id {nct!r}", raw)
            return
        if not approved and nct in evaluated:
            stats["withheld_evaluation_trials"] += 1
            return  # an evaluated trial's failure record: never enters the graph
        drug_id = f"drugbank:{drug}"
        if self.drug_ids is not None and drug_id not in self.drug_ids:
            stats["unknown_drug"] += 1
            ctx.report_unknown(SOURCE, drug_id)
            ctx.rejects.reject(SOURCE, str(path), line, f"drug {drug_id} is not in the graph", raw)
            return
        diseases = self.umls_index.get(cui)
        if not diseases:
            stats["unmapped_indication"] += 1
            ctx.report_unknown(SOURCE, f"umls:{cui}")
            ctx.rejects.reject(SOURCE, str(path), line, f"indication UMLS {cui} maps to no Disease node", raw)
            return
        prov = Provenance(SOURCE, REPODB_SPEC.version, REPODB_SPEC.licence, f"{path.name}:{line}")
        if approved:
            stats["approved"] += 1
            for d in diseases:
                yield Edge(drug_id, RelationType.APPROVED_FOR, d, prov, {"indication_umls": cui})
        elif nct in labelled:
            stats["trialled_labelled"] += 1
            props = {"indication_umls": cui, "status": status.lower(), "phase": (row.get("phase") or "").strip().lower(),
                     "nct_id": nct}
            for d in diseases:
                yield Edge(drug_id, RelationType.TRIALLED_FOR, d, prov, props, key=nct)
        else:
            stats["trialled_unlabelled"] += 1
            for d in diseases:
                yield Edge(drug_id, RelationType.TRIALLED_FOR, d, prov, {"indication_umls": cui})
