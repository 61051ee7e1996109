"""TOP (HINT) clinical-trial outcome benchmark: a robust CSV reader and the Trial loader.

Leakage rules enforced here:

* ``status`` and ``why_stop`` are read by the csv module and dropped at once: ``TopRow`` has
  no field for them, so nothing downstream can use them.
* ``label`` is kept on ``TopRow`` (``int | None``) but reaches the graph (as the Trial
  property ``outcome_label``) only for trials whose *every* split is named in
  ``ctx.labels_from``: TOP lists some trials in two splits (32 phase_I_train trials are also
  in phase_II_valid), and such a trial is an evaluated trial first.
"""

from __future__ import annotations

import ast
import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from kgimagine.errors import FileEncodingError, LoaderError
from kgimagine.kg.model import Edge, Node, Provenance
from kgimagine.loaders.base import LoadContext, Record, RejectSink, SourceFile, SourceSpec, iter_csv_records
from kgimagine.loaders.resolve import is_placebo_text, is_standard_of_care_text, normalize_icd10
from kgimagine.types import NodeLabel, RelationType

if TYPE_CHECKING:
    from kgimagine.trials.resolve import TrialResolver

SOURCE = "top"
_BASE = "https://raw.githubusercontent.com/futianfan/clinical-trial-outcome-prediction/8dc0497f23fdb84e2905da7655924a91e6e79798/data/"
DEFAULT_SPLITS: dict[str, str] = {
    "phase_I_train": "top/phase_I_train.csv",
    "phase_I_valid": "top/phase_I_valid.csv",
    "phase_II_valid": "top/phase_II_valid.csv",
    "phase_III_valid": "top/phase_III_valid.csv",
}
DEFAULT_LABELS_FROM: frozenset[str] = frozenset({"phase_I_train"})
_SHA = {
    "phase_I_train": "4db18b0f1469f215ed828c814acd6ed18ca3b7b49ae13483252553767f1a057a",
    "phase_I_valid": "a170fca5f42781c98a3bf892bc81a46695c7c88810e4712555d6c68bd1765f44",
    "phase_II_valid": "c5905bfc5b646e30321bd8e671d7bd946b8fb1dfe5c30a74bb29fa40e2a711e7",
    "phase_III_valid": "8fc1d2a900e595685dc447dea0a2dd5bb9d500288b1c53166780da789f30cda2",
}
TOP_SPEC = SourceSpec(
    name=SOURCE,
    version="TOP (HINT) futianfan/clinical-trial-outcome-prediction@8dc0497",
    licence="TOP Benchmark Usage Agreement (non-commercial)",
    homepage="https://github.com/futianfan/clinical-trial-outcome-prediction",
    files=tuple(
        SourceFile(rel, _BASE + Path(rel).name, _SHA[name]) for name, rel in DEFAULT_SPLITS.items()
    ),
)

REQUIRED_COLUMNS = ("nctid", "phase", "diseases", "icdcodes", "drugs", "criteria")
# a user's own trials (``lenient``): no NCT id or ICD-10 codes needed
USER_REQUIRED_COLUMNS = ("phase", "diseases", "drugs", "criteria")
_PLAIN_SEP = re.compile(r"\s*[;|]\s*")
_NCT = re.compile(r"^NCT\d{8}$")


@dataclass(frozen=True, slots=True)
class TopRow:
    """One TOP trial. No ``status``/``why_stop`` fields on purpose (outcome information)."""

    nctid: str
    label: int | None  # 1 success, 0 failure; None when the file has no label column
    phase: str
    diseases: tuple[str, ...]
    icdcodes: tuple[str, ...]  # flat list of codes as written
    drugs: tuple[str, ...]
    smiless: tuple[str, ...]
    criteria: str
    line: int  # 1-based physical line where the record starts


class TopRowError(ValueError):
    """A row cannot be parsed (kept inside this module: the reader turns it into a reject)."""


def _parse_list(value: str, column: str, *, plain: bool = False) -> tuple[str, ...]:
    """A Python list literal of strings; ``plain``: also a bare name or names separated by ``;``
    or ``|`` (a value that opens with ``[`` or ``(`` must still be a valid literal)."""
    value = (value or "").strip()
    if not value:
        return ()
    if plain and value[0] not in "[(":
        return tuple(x for x in _PLAIN_SEP.split(value) if x)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise TopRowError(f"column {column}: not a Python list literal ({type(exc).__name__})") from None
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(x, str) for x in parsed):
        raise TopRowError(f"column {column}: expected a list of strings, got {type(parsed).__name__}")
    return tuple(x.strip() for x in parsed if x.strip())


def _parse_icd(value: str, *, plain: bool = False) -> tuple[str, ...]:
    """TOP's list of list literals; ``plain``: also a flat list or ``;``-separated codes."""
    outer = _parse_list(value, "icdcodes", plain=plain)
    codes: list[str] = []
    for item in outer:
        inner = _parse_list(item, "icdcodes (inner list)", plain=plain)
        codes.extend(inner)
    seen: dict[str, None] = {}
    for c in codes:
        seen.setdefault(c, None)
    return tuple(seen)


def parse_top_record(
    row: Mapping[str, str | None], line: int, has_label: bool, *, require_nctid: bool = True,
    lenient: bool = False,
) -> TopRow:
    """Pure: one csv record (a dict) -> ``TopRow``; ``TopRowError`` names the bad column.

    ``require_nctid=False`` accepts an empty ``nctid`` (a planned trial has none): ``nctid == ""``.
    ``lenient`` (a user's trials): ``diseases``/``drugs``/``icdcodes`` may also be plain text,
    one name or several separated by ``;`` or ``|``, and ``icdcodes`` a flat list.
    """
    nctid = (row.get("nctid") or "").strip()
    if not nctid and require_nctid:
        raise TopRowError("empty nctid")
    if nctid and not _NCT.match(nctid):
        raise TopRowError(f"bad NCT id {nctid!r} (expected NCT + 8 digits)")
    label: int | None = None
    if has_label:
        raw_label = (row.get("label") or "").strip()
        if raw_label in ("0", "1", "0.0", "1.0"):
            label = int(float(raw_label))
        elif raw_label:
            raise TopRowError(f"label {raw_label!r} is not 0 or 1")
    return TopRow(
        nctid=nctid,
        label=label,
        phase=(row.get("phase") or "").strip(),
        diseases=_parse_list(row.get("diseases") or "", "diseases", plain=lenient),
        icdcodes=_parse_icd(row.get("icdcodes") or "", plain=lenient),
        drugs=_parse_list(row.get("drugs") or "", "drugs", plain=lenient),
        smiless=_parse_list(row.get("smiless") or "", "smiless"),
        criteria=(row.get("criteria") or "").strip(),
        line=line,
    )


def read_top_csv(
    path: str | Path,
    rejects: RejectSink | None = None,
    *,
    source: str = SOURCE,
    require_nctid: bool = True,
    lenient: bool = False,
) -> Iterator[TopRow]:
    """Yield the parsable rows of a TOP CSV; malformed rows go to ``rejects`` (file, line, reason).

    The file may lack ``label``/``status``/``why_stop`` (a user's own trials): ``label`` is None.
    ``require_nctid=False``: a row with an empty ``nctid`` is kept (``nctid == ""``).
    ``lenient`` (trials a user describes): the ``icdcodes`` column (and, with
    ``require_nctid=False``, ``nctid``) may be absent, and list cells may be plain text (see
    ``parse_top_record``).
    A missing required column or unreadable file raises ``LoaderError``; a binary or non-UTF-8
    file raises ``FileEncodingError``.
    """
    path = Path(path)
    try:
        yield from _read_top_csv(path, rejects, source, require_nctid, lenient)
    except UnicodeDecodeError as exc:
        raise FileEncodingError(
            f"TOP file {path} is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} cannot be decoded); "
            "save it as a UTF-8 CSV"
        ) from None


def _read_top_csv(
    path: Path, rejects: RejectSink | None, source: str, require_nctid: bool, lenient: bool
) -> Iterator[TopRow]:
    sink = rejects if rejects is not None else RejectSink()
    required = REQUIRED_COLUMNS
    if lenient:
        required = (("nctid",) if require_nctid else ()) + USER_REQUIRED_COLUMNS
    try:
        with open(path, "rb") as raw:
            head = raw.read(8192)
        fh = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise LoaderError(f"cannot read TOP file {path}: {exc}") from exc
    if b"\x00" in head:
        fh.close()
        raise FileEncodingError(f"TOP file {path} is binary (it contains NUL bytes), not a CSV; pass a UTF-8 CSV")
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise LoaderError(f"TOP file {path} is empty; expected a header with {_expected(required)}") from None
        except csv.Error as exc:
            raise LoaderError(f"TOP file {path}: unreadable header ({exc})") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise LoaderError(f"TOP file {path} lacks column(s) {', '.join(missing)}; expected {_expected(required)}")
        has_label = "label" in header
        width = len(header)
        def bad_quoting(line: int, reason: str) -> None:
            sink.reject(source, str(path), line, reason)

        for start, fields in iter_csv_records(reader, bad_quoting):
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            if len(fields) != width:
                sink.reject(
                    source, str(path), start, f"{len(fields)} fields, header has {width}", ",".join(fields)[:500]
                )
                continue
            record = dict(zip(header, fields))
            # status / why_stop are dropped here and never leave this function
            record.pop("status", None)
            record.pop("why_stop", None)
            try:
                yield parse_top_record(record, start, has_label, require_nctid=require_nctid, lenient=lenient)
            except TopRowError as exc:
                sink.reject(source, str(path), start, str(exc), ",".join(fields)[:500])


def _expected(required: tuple[str, ...]) -> str:
    optional = [c for c in REQUIRED_COLUMNS if c not in required] + ["label"]
    return f"{', '.join(required)} (+ optional {', '.join(optional)})"


def _short_phase(phase: str) -> str:
    return phase.strip().lower()


class TopTrialLoader:
    """Trial nodes from TOP split files, with TESTS/STUDIES edges from ``trials.resolve``.

    ``splits`` maps a split name to a CSV path (absolute, or relative to the data dir);
    default: the four shared files. Call ``prepare(store)`` (the build does) or pass a
    ``TrialResolver`` before ``iter_records``. Each edge records how it was made (``method``,
    ``matched``, ``score``, the listed ``name_in_trial``; ``icd10``: the trial's codes that
    confirm a disease); the links are exactly ``TrialResolver.resolve(drugs, diseases, icdcodes)``.
    """

    spec = TOP_SPEC
    name = SOURCE

    def __init__(
        self,
        splits: Mapping[str, str | Path] | None = None,
        *,
        resolver: "TrialResolver | None" = None,
    ) -> None:
        self.splits: dict[str, Path] = {k: Path(v) for k, v in (splits or DEFAULT_SPLITS).items()}
        self.resolver = resolver
        self.stats: dict[str, int] = {}

    def prepare(self, store: Any) -> None:
        """Build the resolver from what the earlier loaders put in ``store``."""
        from kgimagine.trials.resolve import TrialResolver

        self.resolver = TrialResolver(store)

    def split_paths(self, ctx: LoadContext) -> dict[str, Path]:
        out: dict[str, Path] = {}
        default_files = {f.relpath: f for f in TOP_SPEC.files}
        for split, p in self.splits.items():
            if p.is_absolute():
                if not p.is_file():
                    raise LoaderError(f"TOP split {split}: file {p} does not exist")
                out[split] = p
            elif str(p) in default_files:
                out[split] = ctx.path(TOP_SPEC, default_files[str(p)])
            else:
                base = ctx.data_dir or ctx.cache_dir
                q = base / p
                if not q.is_file():
                    raise LoaderError(f"TOP split {split}: file {q} does not exist")
                out[split] = q
        return out

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        if self.resolver is None:
            raise LoaderError("TopTrialLoader needs a resolver: call prepare(store) or pass resolver=TrialResolver(store)")
        unknown_splits = sorted(set(ctx.labels_from) - set(self.splits))
        if unknown_splits:
            raise LoaderError(
                f"labels_from names unknown split(s) {', '.join(unknown_splits)}; known: {', '.join(sorted(self.splits))}"
            )
        stats = new_resolution_stats()
        stats.update({"trials_in_several_splits": 0, "labels_withheld_shared_with_eval_split": 0})
        # read every split first: TOP has trials in two splits (e.g. 32 phase_I_train trials are
        # also in phase_II_valid); such a trial is labelled only if ALL its splits are labelled
        rows: dict[str, list[tuple[str, Path, TopRow]]] = {}
        for split, path in self.split_paths(ctx).items():
            for row in read_top_csv(path, ctx.rejects):
                rows.setdefault(row.nctid, []).append((split, path, row))
        for nctid, seen in rows.items():
            split, path, row = seen[0]
            splits = [s for s, _, _ in seen]
            if len(seen) > 1:
                stats["trials_in_several_splits"] += 1
            with_labels = all(s in ctx.labels_from for s in splits)
            if not with_labels and any(s in ctx.labels_from for s in splits):
                stats["labels_withheld_shared_with_eval_split"] += 1
            prov = Provenance(SOURCE, TOP_SPEC.version, TOP_SPEC.licence, f"{path.name}:{row.line}")
            props: dict[str, Any] = {"split": split, "splits": splits}
            if with_labels and row.label is not None:
                props["outcome_label"] = row.label
            yield from trial_records(row, self.resolver, prov, props, ctx, stats)
        self.stats = stats


def new_resolution_stats() -> dict[str, int]:
    return {"trials": 0, "drug_labels": 0, "drug_labels_resolved": 0, "disease_names": 0,
            "disease_names_resolved": 0, "trials_with_disease": 0, "icd_confirmed_links": 0}


def trial_records(
    row: TopRow,
    resolver: "TrialResolver",
    prov: Provenance,
    extra: Mapping[str, Any],
    ctx: LoadContext,
    stats: dict[str, int],
) -> Iterator[Record]:
    """The Trial node of one TOP row and its resolved TESTS / STUDIES edges.

    ``extra`` properties (split, outcome_label, ...) are added to the node; the label itself is
    the caller's decision. Unresolved names go to ``ctx.report_unknown`` and the node.
    """
    trial_id = f"clinicaltrials:{row.nctid}"
    ent = resolver.resolve(row.drugs, row.diseases, row.icdcodes)
    stats["trials"] += 1
    stats["drug_labels"] += len(row.drugs)
    stats["drug_labels_resolved"] += len({m.listed for m in ent.drug_matches})
    stats["disease_names"] += len(row.diseases)
    stats["disease_names_resolved"] += len({m.listed for m in ent.disease_matches} & set(row.diseases))
    stats["trials_with_disease"] += bool(ent.disease_ids)
    for text in ent.unresolved_drugs:
        ctx.report_unknown(prov.source, f"drug:{text}")
    for name in ent.unresolved_diseases:
        ctx.report_unknown(prov.source, f"disease:{name}")
    props: dict[str, Any] = {
        "phase": _short_phase(row.phase),
        "criteria": row.criteria,
        **extra,
        "drug_names": list(row.drugs),
        "disease_names": list(row.diseases),
        "icd10": list(row.icdcodes),
        "unresolved_drugs": list(ent.unresolved_drugs),
        "unresolved_diseases": list(ent.unresolved_diseases),
        "has_placebo_arm": any(is_placebo_text(c) for c in ent.comparators),
        "has_standard_of_care_arm": any(is_standard_of_care_text(c) for c in ent.comparators),
    }
    yield Node(trial_id, NodeLabel.TRIAL, row.nctid, props)
    seen: set[str] = set()
    for m in ent.drug_matches:
        if m.node_id not in seen:
            seen.add(m.node_id)
            yield Edge(trial_id, RelationType.TESTS, m.node_id, prov,
                       {"name_in_trial": m.listed, "method": m.method, "matched": m.matched, "score": m.score})
    seen.clear()
    for m in ent.disease_matches:
        if m.node_id in seen:
            continue
        seen.add(m.node_id)
        codes = [c for c in row.icdcodes if "icd10_confirmed" in m.method
                 and resolver.disease_index.icd_overlap(m.node_id, frozenset({normalize_icd10(c)}))]
        stats["icd_confirmed_links"] += bool(codes)
        yield Edge(trial_id, RelationType.STUDIES, m.node_id, prov,
                   {"name_in_trial": m.listed, "method": m.method, "matched": m.matched, "score": m.score,
                    "icd10": codes})


USER_SOURCE = "user-trials"


class UserTrialLoader:
    """Unlabelled trials from a user's TOP-format CSV (``kgimagine kg add-trials``).

    ``label``/``status``/``why_stop`` columns, if present, are never read into the graph. Rows
    without an NCT id, and trials already in the graph, become rejects (with their line); the
    links are ``TrialResolver.resolve`` of each row, as for the TOP trials of the build.
    """

    def __init__(self, path: str | Path, *, resolver: "TrialResolver | None" = None) -> None:
        self.path = Path(path)
        self.name = USER_SOURCE
        self.spec = SourceSpec(name=USER_SOURCE, version=f"user file {self.path.name}",
                               licence="as supplied by the user", homepage="", files=())
        self.resolver = resolver
        self._store: Any = None
        self.stats: dict[str, int] = {}

    def prepare(self, store: Any) -> None:
        from kgimagine.trials.resolve import TrialResolver

        self._store = store
        if self.resolver is None:
            self.resolver = TrialResolver(store)

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        if self.resolver is None:
            raise LoaderError("UserTrialLoader needs a resolver: call prepare(store) or pass resolver=")
        if not self.path.is_file():
            raise LoaderError(f"trial file {self.path} does not exist; pass a TOP-format CSV "
                              f"({', '.join(REQUIRED_COLUMNS)})")
        stats = new_resolution_stats()
        seen: set[str] = set()
        for row in read_top_csv(self.path, ctx.rejects, source=USER_SOURCE):
            trial_id = f"clinicaltrials:{row.nctid}"
            if row.nctid in seen:
                ctx.rejects.reject(USER_SOURCE, str(self.path), row.line, f"{row.nctid} repeats an earlier row")
                continue
            if self._store is not None and self._store.has_node(trial_id):
                ctx.rejects.reject(USER_SOURCE, str(self.path), row.line, f"{row.nctid} is already in the graph")
                continue
            seen.add(row.nctid)
            prov = Provenance(USER_SOURCE, self.spec.version, self.spec.licence, f"{self.path.name}:{row.line}")
            yield from trial_records(row, self.resolver, prov, {"split": "user", "splits": ["user"]}, ctx, stats)
        self.stats = stats


def iter_trial_ids(paths: Mapping[str, Path], splits: set[str] | frozenset[str]) -> set[str]:
    """NCT ids of the named splits, read leniently: every NCT-shaped ``nctid`` counts, even on a
    row the full reader would reject (for leakage decisions a superset is the safe side)."""
    out: set[str] = set()
    for split, path in paths.items():
        if split not in splits:
            continue
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
                if "nctid" not in header:
                    raise LoaderError(f"TOP file {path} has no nctid column")
                col = header.index("nctid")
                while True:
                    try:
                        fields = next(reader)
                    except StopIteration:
                        break
                    except csv.Error:
                        continue
                    if len(fields) > col and _NCT.match(fields[col].strip()):
                        out.add(fields[col].strip())
        except OSError as exc:
            raise LoaderError(f"cannot read TOP file {path}: {exc}") from exc
    return out


def labelled_and_evaluated_ids(paths: Mapping[str, Path], labels_from: frozenset[str]) -> tuple[set[str], set[str]]:
    """(trials whose every split is in ``labels_from``, trials in at least one other split)."""
    evaluated = iter_trial_ids(paths, frozenset(set(paths) - set(labels_from)))
    labelled = iter_trial_ids(paths, labels_from) - evaluated
    return labelled, evaluated
