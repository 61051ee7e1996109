"""Diseases: Disease Ontology (DO) slim terms and xrefs, and Mondo SSSOM mappings.

What it yields (provenance source in brackets):

* ``doid:N`` Disease nodes for the 137 DO slim terms (Hetionet's diseases; ``do_slim: true``,
  ``pathophysiology``), every DOID that ``slim-terms-prop.tsv`` subsumes under one, every DOID in
  ``xrefs.tsv``, and the DOID targets of the Mondo matches kept. DO xrefs become the properties
  ``icd10``, ``umls`` and ``mesh`` (lists of codes as written, e.g. ``"C34.9"``, ``"C0024624"``).
* ``SUBCLASS_OF`` subsumed DOID -> slim DOID [``disease-ontology``], with ``min_distance``: the
  propagation to Hetionet's diseases (a transitive is-a, not the direct parent).
* ``mondo:NNNNNNN`` Disease nodes with ``icd10`` (``mondo_exactmatch_icd10cm``,
  ``mondo_hasdbxref_icd10cm``, ``mondo_exactmatch_icd10who``), ``umls`` and ``mesh`` properties,
  and ``SAME_AS`` mondo -> doid [``mondo``] from ``mondo_exactmatch_doid``.
* ``synonyms`` (list) on both sides of a one-to-one exact match: the DOID label of a Mondo
  term's only exact DOID match and the ICD-10 label of its exact ICD-10-CM / ICD-10 (WHO) match (code ranges
  excluded; ICD labels from any exact match); on a DOID node, the label of its exact Mondo match. Entity resolution matches
  trial disease names against names and synonyms (``kgimagine.trials.resolve``).

Which Mondo terms: with ``mondo_scope="linked"`` (default) those that match a DOID of the DO
files above or carry an ICD-10 code (6,427 terms in the 2026-08-04 mappings); ``"all"`` keeps
every live Mondo term of the mapping files (22,259). Deprecated Mondo terms (label "obsolete ...",
244 in the mappings) are never nodes; a live DOID one of them matched still is. The property
names ``icd10``, ``umls``, ``mesh`` are a contract with entity resolution.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Literal

from kgimagine.errors import LoaderError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, Record, SourceFile, SourceSpec, iter_table
from kgimagine.loaders.hetionet import DOID_RE, UMLS_CUI_RE
from kgimagine.types import NodeLabel, RelationType

_DO_COMMIT = "052ffcc960f5897a0575f5feff904ca84b7d2c1d"
_DO_RAW = f"https://raw.githubusercontent.com/dhimmel/disease-ontology/{_DO_COMMIT}/data"
_MONDO_COMMIT = "fad2512b4845f483fc1268cdf0bf7a8ef43697cb"
_MONDO_RAW = f"https://raw.githubusercontent.com/monarch-initiative/mondo/{_MONDO_COMMIT}/src/ontology/mappings"

SLIM_TERMS = SourceFile("disease-ontology/slim-terms.tsv", f"{_DO_RAW}/slim-terms.tsv",
                        "dc5a36f6257bbf92d2bd27c8d18a6e380c6e38dfcb4425aa0932af1276edf309")
SLIM_TERMS_PROP = SourceFile("disease-ontology/slim-terms-prop.tsv", f"{_DO_RAW}/slim-terms-prop.tsv",
                             "83a58d42d42327beff95f531de4748caa8fcf3e656532fe37a28a412f529bb60")
DO_XREFS = SourceFile("disease-ontology/xrefs.tsv", f"{_DO_RAW}/xrefs.tsv",
                      "5c40e411c58dab27fda5efd5bd061ece134d3e7fa8dfe210baaee9d4a3407a91")
MONDO_DOID = SourceFile("mondo-mappings/mondo_exactmatch_doid.sssom.tsv",
                        f"{_MONDO_RAW}/mondo_exactmatch_doid.sssom.tsv",
                        "1718d8644f1dc681c8921cbfd6aa2a46a56751fa49dc064fcd124767118400b0")
MONDO_ICD10CM = SourceFile("mondo-mappings/mondo_exactmatch_icd10cm.sssom.tsv",
                           f"{_MONDO_RAW}/mondo_exactmatch_icd10cm.sssom.tsv",
                           "c217ab67567945b3d7ed3a224a80a961c9b3106c920050d46e8c8c5df0ca2626")
MONDO_XREF_ICD10CM = SourceFile("mondo-mappings/mondo_hasdbxref_icd10cm.sssom.tsv",
                                f"{_MONDO_RAW}/mondo_hasdbxref_icd10cm.sssom.tsv",
                                "cc155324375bf29c1bb3ce7166cf8cf97e5de04711a736523ac8a689bf3e88f3")
MONDO_ICD10WHO = SourceFile("mondo-mappings/mondo_exactmatch_icd10who.sssom.tsv",
                            f"{_MONDO_RAW}/mondo_exactmatch_icd10who.sssom.tsv",
                            "fec46c7f14c657f0edfa529f9da83255c6a60a14d88d57316ba5f51682152272")
MONDO_UMLS = SourceFile("mondo-mappings/mondo_exactmatch_umls.sssom.tsv",
                        f"{_MONDO_RAW}/mondo_exactmatch_umls.sssom.tsv",
                        "b418ee92228b18ab178ea6e5bf67ed3acf826d59f6bbaf3157c55f0157fecf1d")
MONDO_MESH = SourceFile("mondo-mappings/mondo_exactmatch_mesh.sssom.tsv",
                        f"{_MONDO_RAW}/mondo_exactmatch_mesh.sssom.tsv",
                        "8285f827ad2b5900825ecbde24c2029e23fa48f2ccfe0c3ebc729f1af8e8535f")

DO_VERSION = f"dhimmel/disease-ontology@{_DO_COMMIT[:7]}"
DO_LICENCE = "CC BY 3.0 (Disease Ontology content)"
MONDO_VERSION = f"2026-08-04 (monarch-initiative/mondo@{_MONDO_COMMIT[:7]})"
MONDO_LICENCE = "CC0 1.0 (Mondo SSSOM mappings)"

MONDO_RE = re.compile(r"^MONDO:(\d{7})$")
ICD10_RE = re.compile(r"^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?(?:-[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?)?$")
MESH_RE = re.compile(r"^[CD]\d{6,9}$")
#: DO xref resource -> (property, pattern of a valid code).
DO_XREF_RESOURCES: dict[str, tuple[str, re.Pattern[str]]] = {
    "ICD10": ("icd10", ICD10_RE),
    "UMLS": ("umls", UMLS_CUI_RE),
    "MSH": ("mesh", MESH_RE),
}
#: Mondo mapping file -> (property or "doid", object prefix).
MONDO_FILES: tuple[tuple[SourceFile, str, str], ...] = (
    (MONDO_DOID, "doid", "DOID:"),
    (MONDO_ICD10CM, "icd10", "ICD10CM:"),
    (MONDO_XREF_ICD10CM, "icd10", "ICD10CM:"),
    (MONDO_ICD10WHO, "icd10", "ICD10WHO:"),
    (MONDO_UMLS, "umls", "UMLS:"),
    (MONDO_MESH, "mesh", "mesh:"),
)

#: Mapping files whose ``object_label`` is an exact synonym of the Mondo term (``synonyms``).
SYNONYM_FILES = frozenset({MONDO_DOID, MONDO_ICD10CM, MONDO_ICD10WHO})

MondoScope = Literal["linked", "all"]


@dataclass
class _Term:
    name: str = ""
    props: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, str | bool] = field(default_factory=dict)

    def add(self, prop: str, value: str) -> None:
        values = self.props.setdefault(prop, [])
        if value not in values:
            values.append(value)

    def node(self, node_id: str) -> Node:
        return Node(node_id, NodeLabel.DISEASE, self.name, {**self.extra, **self.props})


_OBSOLETE = re.compile(r"obsolete\b", re.IGNORECASE)


class OntologyLoader:
    name = "ontology"
    spec = SourceSpec(
        name="ontology",
        version=f"DO {DO_VERSION}; Mondo {MONDO_VERSION}",
        licence=f"{DO_LICENCE}; {MONDO_LICENCE}",
        homepage="https://disease-ontology.org; https://mondo.monarchinitiative.org",
        files=(SLIM_TERMS, SLIM_TERMS_PROP, DO_XREFS, *(f for f, _, _ in MONDO_FILES)),
    )

    source_do = "disease-ontology"  # provenance source of SUBCLASS_OF
    source_mondo = "mondo"  # provenance source of SAME_AS

    def __init__(self, mondo_scope: MondoScope = "linked") -> None:
        if mondo_scope not in ("linked", "all"):
            raise LoaderError(f"mondo_scope must be 'linked' or 'all', got {mondo_scope!r}")
        self.mondo_scope = mondo_scope
        self.summary: Counter[str] = Counter()

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        self.summary = Counter()
        doids: dict[str, _Term] = {}
        subclass: list[tuple[str, str, int, int]] = []  # (subsumed, slim, min_distance, line)
        self._read_slim(ctx, doids)
        self._read_prop(ctx, doids, subclass)
        self._read_xrefs(ctx, doids)
        mondo, same_as = self._read_mondo(ctx)

        do_known = set(doids)
        # Mondo's deprecated terms ("obsolete hyperuricemia") are not diseases to link a trial to:
        # no node, no SAME_AS, no synonym either way; the live DOID they matched keeps its own node
        obsolete = {m for m, term in mondo.items() if _OBSOLETE.match(term.name)}
        self.summary["mondo_obsolete_skipped"] = len(obsolete)
        keep = sorted(
            m for m, term in mondo.items()
            if m not in obsolete and (
                self.mondo_scope == "all"
                or "icd10" in term.props
                or any(d in do_known for d, _, _ in same_as.get(m, ())))
        )
        for m in sorted(obsolete):
            for d, label, _ in same_as.get(m, ()):
                if (d in do_known or "icd10" in mondo[m].props or self.mondo_scope == "all") and label \
                        and not _OBSOLETE.match(label):
                    term = doids.setdefault(d, _Term())
                    term.name = term.name or label
        matched_by: Counter[str] = Counter(d for m in keep for d, _, _ in same_as.get(m, ()))
        for m in keep:
            for d, label, _ in same_as.get(m, ()):
                term = doids.setdefault(d, _Term())
                term.name = term.name or label
                # a one-to-one exact match: each side's label is a synonym of the other
                one_to_one = len(same_as[m]) == 1 and matched_by[d] == 1
                if one_to_one and mondo[m].name and mondo[m].name.lower() != term.name.lower():
                    term.add("synonyms", mondo[m].name)
                if not one_to_one and label and "synonyms" in mondo[m].props and label in mondo[m].props["synonyms"]:
                    mondo[m].props["synonyms"].remove(label)
                    if not mondo[m].props["synonyms"]:
                        del mondo[m].props["synonyms"]

        for d in sorted(doids):
            self.summary["nodes_Disease_doid"] += 1
            yield doids[d].node(d)
        for m in keep:
            self.summary["nodes_Disease_mondo"] += 1
            yield mondo[m].node(m)

        do_prov = (self.source_do, DO_VERSION, DO_LICENCE)
        for subsumed, slim, distance, lineno in subclass:
            self.summary["edges_SUBCLASS_OF"] += 1
            yield Edge(subsumed, RelationType.SUBCLASS_OF, slim,
                       Provenance(*do_prov, f"{SLIM_TERMS_PROP.relpath}:{lineno}"),
                       properties={"min_distance": distance})
        for m in keep:
            for d, _, lineno in same_as.get(m, ()):
                self.summary["edges_SAME_AS"] += 1
                yield Edge(m, RelationType.SAME_AS, d,
                           Provenance(self.source_mondo, MONDO_VERSION, MONDO_LICENCE,
                                      f"{MONDO_DOID.relpath}:{lineno}"))

    # -- Disease Ontology ----------------------------------------------------------------
    def _read_slim(self, ctx: LoadContext, doids: dict[str, _Term]) -> None:
        src, f = self.source_do, SLIM_TERMS
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("doid", "name", "pathophysiology")):
            raw = "\t".join(row.values())
            m = DOID_RE.match(row["doid"].strip())
            if m is None:
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DOID {row['doid']!r}", raw)
                continue
            if not row["name"].strip():
                ctx.rejects.reject(src, f.relpath, lineno, f"empty name for {row['doid']}", raw)
                continue
            term = doids.setdefault(f"doid:{m.group(1)}", _Term())
            term.name = row["name"].strip()
            term.extra["do_slim"] = True
            if row["pathophysiology"].strip():
                term.extra["pathophysiology"] = row["pathophysiology"].strip()

    def _read_prop(self, ctx: LoadContext, doids: dict[str, _Term], subclass: list[tuple[str, str, int, int]]) -> None:
        src, f = self.source_do, SLIM_TERMS_PROP
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("slim_id", "subsumed_id", "subsumed_name", "min_distance")):
            raw = "\t".join(row.values())
            ms, mt = DOID_RE.match(row["subsumed_id"].strip()), DOID_RE.match(row["slim_id"].strip())
            if ms is None or mt is None:
                ctx.rejects.reject(src, f.relpath, lineno,
                                   f"bad DOID {row['subsumed_id']!r} or slim id {row['slim_id']!r}", raw)
                continue
            try:
                distance = int(row["min_distance"])
            except ValueError:
                ctx.rejects.reject(src, f.relpath, lineno, f"min_distance {row['min_distance']!r} is not an integer",
                                   raw)
                continue
            if not row["subsumed_name"].strip():
                ctx.rejects.reject(src, f.relpath, lineno, f"empty name for {row['subsumed_id']}", raw)
                continue
            subsumed, slim = f"doid:{ms.group(1)}", f"doid:{mt.group(1)}"
            if slim not in doids:
                ctx.rejects.reject(src, f.relpath, lineno, f"slim id {row['slim_id']} is not in slim-terms.tsv", raw)
                continue
            term = doids.setdefault(subsumed, _Term())
            term.name = term.name or row["subsumed_name"].strip()
            if subsumed != slim:
                subclass.append((subsumed, slim, distance, lineno))

    def _read_xrefs(self, ctx: LoadContext, doids: dict[str, _Term]) -> None:
        src, f = self.source_do, DO_XREFS
        for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                      required=("doid_code", "doid_name", "resource", "resource_id")):
            raw = "\t".join(row.values())
            m = DOID_RE.match(row["doid_code"].strip())
            if m is None:
                ctx.rejects.reject(src, f.relpath, lineno, f"bad DOID {row['doid_code']!r}", raw)
                continue
            wanted = DO_XREF_RESOURCES.get(row["resource"].strip())
            if wanted is None:
                continue
            prop, pattern = wanted
            code = row["resource_id"].strip()
            if not pattern.match(code):
                ctx.rejects.reject(src, f.relpath, lineno, f"bad {row['resource']} code {code!r}", raw)
                continue
            term = doids.setdefault(f"doid:{m.group(1)}", _Term())
            term.name = term.name or row["doid_name"].strip()
            term.add(prop, code)

    # -- Mondo ---------------------------------------------------------------------------
    def _read_mondo(self, ctx: LoadContext) -> tuple[dict[str, _Term], dict[str, list[tuple[str, str, int]]]]:
        src = self.source_mondo
        terms: dict[str, _Term] = {}
        same_as: dict[str, list[tuple[str, str, int]]] = {}
        for f, prop, prefix in MONDO_FILES:
            for lineno, row in iter_table(ctx.path(self.spec, f), source=src, file=f.relpath, rejects=ctx.rejects,
                                          comment="#", required=("subject_id", "subject_label", "object_id")):
                raw = "\t".join(row.values())
                m = MONDO_RE.match(row["subject_id"].strip())
                obj = row["object_id"].strip()
                if m is None:
                    ctx.rejects.reject(src, f.relpath, lineno, f"bad Mondo id {row['subject_id']!r}", raw)
                    continue
                if not obj.startswith(prefix):
                    ctx.rejects.reject(src, f.relpath, lineno, f"object {obj!r} lacks the prefix {prefix!r}", raw)
                    continue
                code = obj[len(prefix):]
                if prop == "doid":
                    ok = DOID_RE.match(obj) is not None
                elif prop == "icd10":
                    ok = ICD10_RE.match(code) is not None
                elif prop == "umls":
                    ok = UMLS_CUI_RE.match(code) is not None
                else:
                    ok = MESH_RE.match(code) is not None
                if not ok:
                    ctx.rejects.reject(src, f.relpath, lineno, f"bad {prefix.rstrip(':')} id {obj!r}", raw)
                    continue
                mondo = f"mondo:{m.group(1)}"
                term = terms.setdefault(mondo, _Term())
                term.name = term.name or row["subject_label"].strip()
                if f in SYNONYM_FILES and "-" not in code:  # an exact match's label names the same disease
                    label = (row.get("object_label") or "").strip()
                    if label and label.lower() != term.name.lower():
                        term.add("synonyms", label)
                if prop == "doid":
                    doid = f"doid:{code}"
                    targets = same_as.setdefault(mondo, [])
                    if all(d != doid for d, _, _ in targets):
                        targets.append((doid, row.get("object_label", "").strip(), lineno))
                else:
                    term.add(prop, code)
        return terms, same_as
