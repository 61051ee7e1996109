"""The build orchestrator: run loaders in order, write their records in batches, report.

``build_graph`` is backend-agnostic: it only uses the ``GraphStore`` protocol (plus
``save()`` when the store has one, i.e. the embedded store).

Per batch, nodes are upserted before edges; an edge whose endpoint is missing, or whose
endpoints have labels its relation does not allow, becomes a reject instead of an error.

A store without ``save`` (Neo4j) is not written source by source: every source is staged in
an in-memory ``NetworkXGraphStore`` (same batches, rejects, unknowns and per-source reports;
the later loaders resolve names against the stage), then the whole graph is written once with
``store.write_graph`` (plain ``CREATE`` for the ids that are absent: several times faster
than batch upserts). The exception: a build without ``checkpoint`` into a store that already
holds nodes (``kg build --sources``, ``kg import-rdf``) upserts into it directly, because its
loaders must see the nodes already there.

Resumability (``checkpoint`` = path of ``build-state.json``). The state file holds a
fingerprint of the build (sources, labels_from, source file sizes, and the code that decides
what is written: ``code_fingerprint``) and, once a source is done, its report row, rejects and
unknowns:

* Embedded store (it has ``save``): the records each source wrote are journalled to
  ``<checkpoint dir>/build-journal/NN-<source>.jsonl`` (fsynced before the state names the
  source as done), and the graph is saved once at the end. A re-run after a crash or
  ``kill -9`` clears the in-memory graph, replays the journals of the finished sources and
  loads the rest. (Saving the whole graph after every source cost 2-4x the build time.)
* Neo4j (staged): the state is written (incomplete) before anything is written to the store,
  so the store never holds anything but part of this very build until the state says
  complete. A re-run with the same fingerprint does not clear the store: it stages every
  source again (the stage is in memory; seconds) and ``write_graph`` creates only what is
  missing and upserts what is there.
* A finished build whose graph version still matches is skipped entirely. Any fingerprint
  mismatch clears the store and rebuilds, so a graph built with other ``labels_from`` can
  never keep stale outcome labels.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import orjson

from kgimagine.errors import LeakageError, LoaderError, SourceFileMissingError
from kgimagine.kg.model import Edge, Node
from kgimagine.kg.schema import RELATIONS
from kgimagine.kg.store import DEFAULT_BATCH_SIZE
from kgimagine.loaders.base import LoadContext, Loader, Record, Reject, SourceFile, SourceSpec

STATE_FORMAT = "kgimagine-build-state/1"


@dataclass(frozen=True, slots=True)
class SourceReport:
    name: str
    nodes: int
    edges: int
    rejects: int
    unknowns: int
    seconds: float
    skipped: bool = False  # finished in an earlier (interrupted) run and not redone
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BuildReport:
    sources: tuple[SourceReport, ...]
    node_count: int
    edge_count: int
    nodes_by_label: dict[str, int]
    edges_by_type: dict[str, int]
    graph_version: str
    seconds: float
    rejects_path: Path | None
    coverage: dict[str, Any]
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [
                {"name": s.name, "nodes": s.nodes, "edges": s.edges, "rejects": s.rejects, "unknowns": s.unknowns,
                 "seconds": round(s.seconds, 3), "skipped": s.skipped, "stats": s.stats}
                for s in self.sources
            ],
            "node_count": self.node_count,
            "edge_count": self.edge_count,
            "nodes_by_label": self.nodes_by_label,
            "edges_by_type": self.edges_by_type,
            "graph_version": self.graph_version,
            "seconds": round(self.seconds, 3),
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
            "coverage": self.coverage,
            "resumed": self.resumed,
        }


@dataclass(frozen=True, slots=True)
class BuildEvent:
    """Progress callback payload: ``stage`` is start | batch | done | skipped."""

    source: str
    stage: str
    records: int = 0
    index: int = 0  # position of the source in the build (0-based)
    total_sources: int = 0


class OntologyFileLoader:
    """Wraps ``kg.rdf.import_ontology(path)`` (an OBO/OWL/TTL disease ontology) as a loader."""

    def __init__(self, path: str | Path, name: str = "do-cancer-slim") -> None:
        self.path = Path(path)
        self.name = name
        self.spec = SourceSpec(
            name=name,
            version=f"{self.path.name}",
            licence="CC0 1.0 (DiseaseOntology/HumanDiseaseOntology)",
            homepage="https://github.com/DiseaseOntology/HumanDiseaseOntology",
            files=(),
        )

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        from kgimagine.kg.rdf import import_ontology  # the other engineer's module; lazy

        if not self.path.is_file():
            raise SourceFileMissingError(f"{self.name}: missing {self.path}")
        yield from import_ontology(self.path, source=self.name, licence=self.spec.licence)


def loader_name(loader: Any) -> str:
    name = getattr(loader, "name", None) or getattr(getattr(loader, "spec", None), "name", None)
    if not name:
        raise LoaderError(f"loader {loader!r} has neither .name nor .spec.name")
    return str(name)


def default_loaders(
    data_dir: Path | None,
    *,
    sources: Sequence[str] | None = None,
    top_splits: dict[str, str | Path] | None = None,
) -> list[Any]:
    """The standard order: the registry's source loaders, the DO cancer slim through
    ``kg.rdf.import_ontology`` (when the file and that module exist), then repoDB and TOP (they resolve names against what
    the earlier loaders wrote). ``sources`` filters by loader name, keeping this order."""
    from kgimagine.loaders.repodb import RepoDBLoader
    from kgimagine.loaders.top import TopTrialLoader

    try:
        from kgimagine.loaders.registry import ALL_LOADERS  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name != "kgimagine.loaders.registry":
            raise
        ALL_LOADERS = ()  # noqa: N806  (the source loaders are not part of this install)
    base = list(ALL_LOADERS.values()) if isinstance(ALL_LOADERS, dict) else list(ALL_LOADERS)
    loaders: list[Any] = [lo() if isinstance(lo, type) else lo for lo in base]
    loaders = [lo for lo in loaders if loader_name(lo) not in ("top", "repodb")]
    slim = (data_dir / "rdf" / "DO_cancer_slim.owl") if data_dir is not None else None
    if slim is not None and slim.is_file() and importlib.util.find_spec("kgimagine.kg.rdf") is not None:
        loaders.append(OntologyFileLoader(slim))
    loaders.append(RepoDBLoader(top_splits=top_splits))
    loaders.append(TopTrialLoader(top_splits))
    if sources:
        wanted = [s.strip() for s in sources if s.strip()]
        known = [loader_name(lo) for lo in loaders]
        bad = [s for s in wanted if s not in known]
        if bad:
            raise LoaderError(f"unknown source(s) {', '.join(bad)}; known: {', '.join(known)}")
        loaders = [lo for lo in loaders if loader_name(lo) in wanted]
    return loaders


# --------------------------------------------------------------------------------------
#: the packages and modules whose code decides what a build writes (a change to any of them makes
#: an earlier finished build stale: ``_fingerprint``)
GRAPH_CODE = ("loaders", "kg", "trials", "types.py")


def code_fingerprint() -> str:
    """A hash of the source of ``GRAPH_CODE`` (file names and contents), so a store built by an
    older version of the loaders, the resolver or the schema is rebuilt, not silently reused."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=12)
    for name in GRAPH_CODE:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _fingerprint(loaders: Sequence[Any], ctx: LoadContext) -> str:
    parts: list[Any] = [sorted(ctx.labels_from), code_fingerprint()]
    for lo in loaders:
        files: list[Any] = []
        spec: SourceSpec | None = getattr(lo, "spec", None)
        for f in getattr(spec, "files", ()) or ():
            files.append([f.relpath, _file_size(ctx, f)])
        for attr in ("path", "splits", "top_splits"):
            v = getattr(lo, attr, None)
            if v is not None:
                files.append([attr, str(v) if not isinstance(v, dict) else sorted((k, str(p)) for k, p in v.items())])
        parts.append([loader_name(lo), files])
    return hashlib.blake2b(orjson.dumps(parts), digest_size=12).hexdigest()


def _file_size(ctx: LoadContext, f: SourceFile) -> int | None:
    for base in (ctx.data_dir, ctx.cache_dir / "sources"):
        if base is not None and (base / f.relpath).is_file():
            return (base / f.relpath).stat().st_size
    return None


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return state if isinstance(state, dict) and state.get("format") == STATE_FORMAT else None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def stale_label_trials(store: Any, labels_from: frozenset[str] | set[str]) -> list[str]:
    """Trial ids that carry ``outcome_label`` although one of their splits is not in
    ``labels_from`` (left by an earlier build with other labels_from: upserts merge)."""
    from kgimagine.types import NodeLabel

    bad: list[str] = []
    for node in store.iter_nodes(NodeLabel.TRIAL):
        if "outcome_label" not in node.properties:
            continue
        splits = node.properties.get("splits") or [node.properties.get("split")]
        if not all(s in labels_from for s in (splits if isinstance(splits, list) else [splits])):
            bad.append(node.id)
    return bad


def _replay(store: Any, path: Path, batch_size: int) -> bool:
    """Re-apply a finished source's journal; False when it is missing or unreadable."""
    try:
        fh = open(path, "rb")
    except OSError:
        return False
    nodes: list[Node] = []
    edges: list[Edge] = []

    def flush() -> None:
        if nodes:
            store.upsert_nodes(nodes, batch_size=batch_size)
            nodes.clear()
        if edges:
            store.upsert_edges(edges, batch_size=batch_size)
            edges.clear()

    with fh:
        for line in fh:
            try:
                kind, d = orjson.loads(line)
            except (orjson.JSONDecodeError, ValueError):
                return False
            if kind == "n":
                if edges:
                    flush()
                nodes.append(Node.from_dict(d))
            else:
                edges.append(Edge.from_dict(d))
            if len(nodes) + len(edges) >= batch_size:
                flush()
    flush()
    return True


def _save(store: Any) -> None:
    save = getattr(store, "save", None)
    if callable(save) and getattr(store, "path", None) is not None:
        save()


class _Writer:
    """Buffers one source's records and writes them in batches (nodes first)."""

    def __init__(self, store: Any, ctx: LoadContext, source: str, batch_size: int, journal: Any = None) -> None:
        self.store, self.ctx, self.source, self.batch_size = store, ctx, source, batch_size
        self.journal = journal
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.n_nodes = self.n_edges = 0

    def add(self, record: Record) -> bool:
        if isinstance(record, Node):
            self.nodes.append(record)
        elif isinstance(record, Edge):
            self.edges.append(record)
        else:
            raise LoaderError(f"loader {self.source} yielded {type(record).__name__}; expected Node or Edge")
        if len(self.nodes) + len(self.edges) >= self.batch_size:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if self.nodes:
            self.n_nodes += self.store.upsert_nodes(self.nodes, batch_size=self.batch_size)
            if self.journal is not None:
                self.journal.write(b"".join(orjson.dumps(["n", n.to_dict()]) + b"\n" for n in self.nodes))
            self.nodes = []
        if self.edges:
            ends = {e.source for e in self.edges} | {e.target for e in self.edges}
            found = self.store.get_nodes(ends)
            ok: list[Edge] = []
            for e in self.edges:
                s, t = found.get(e.source), found.get(e.target)
                if s is None or t is None:
                    missing = [i for i, n in ((e.source, s), (e.target, t)) if n is None]
                    self.ctx.rejects.reject(
                        self.source, "", 0,
                        f"edge {e.type.value} {e.source} -> {e.target}: unknown node(s) {', '.join(missing)}",
                        e.provenance.record_id,
                    )
                    continue
                spec = RELATIONS[e.type]
                if s.label is not spec.domain or t.label is not spec.range:
                    self.ctx.rejects.reject(
                        self.source, "", 0,
                        f"edge {e.type.value} {e.source} -> {e.target}: goes {spec.domain.value} -> "
                        f"{spec.range.value}, got {s.label.value} -> {t.label.value}",
                        e.provenance.record_id,
                    )
                    continue
                ok.append(e)
            if ok:
                self.n_edges += self.store.upsert_edges(ok, batch_size=self.batch_size)
                if self.journal is not None:
                    self.journal.write(b"".join(orjson.dumps(["e", e.to_dict()]) + b"\n" for e in ok))
            self.edges = []


def build_graph(
    store: Any,
    ctx: LoadContext,
    loaders: Iterable[Loader],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[BuildEvent], None] | None = None,
    checkpoint: str | Path | None = None,
    rejects_path: str | Path | None = None,
    compute_coverage: bool = True,
) -> BuildReport:
    """Run ``loaders`` in order into ``store`` and return the report.

    Without ``checkpoint`` the records are upserted into whatever ``store`` holds (re-running
    is idempotent). With ``checkpoint`` see the module docstring (resume or clear + rebuild).
    ``batch_size`` sizes the write batches of the sources (into the stage, for a store without
    ``save``); ``write_graph`` uses its own. Rejects are written to ``rejects_path`` (default:
    beside the checkpoint, else ``ctx.cache_dir/rejects.tsv``). Coverage is computed on the
    stage when a checkpoint is given (the store then holds exactly the staged graph), else on
    ``store``.
    """
    if batch_size < 1:
        raise LoaderError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    loaders = list(loaders)
    names = [loader_name(lo) for lo in loaders]
    if len(set(names)) != len(names):
        raise LoaderError(f"duplicate loader names in {names}")
    state_path = Path(checkpoint) if checkpoint is not None else None
    fingerprint = _fingerprint(loaders, ctx)
    embedded = callable(getattr(store, "save", None)) and getattr(store, "path", None) is not None
    journal_dir = state_path.parent / "build-journal" if state_path is not None else None
    # a store without save (Neo4j): stage in memory, write once; except when adding to a graph
    # without a checkpoint (its loaders must see the nodes already there)
    staged = not callable(getattr(store, "save", None)) and (state_path is not None or store.stats().node_count == 0)
    done: dict[str, dict[str, Any]] = {}
    resumed = False
    _complete_state_matched = False  # a finished build with the same graph: nothing to write
    if state_path is not None:
        assert journal_dir is not None
        state = _read_state(state_path)
        usable = state is not None and state.get("fingerprint") == fingerprint
        if usable and state.get("complete") and state.get("graph_version") == store.graph_version():
            done = {d["name"]: d for d in state.get("done", [])}
            _complete_state_matched = True
        elif usable and not state.get("complete") and staged:
            resumed = True  # the store holds part of this very build: keep it, restage, write the rest
        elif usable and not state.get("complete") and state.get("done"):  # embedded
            done = {d["name"]: d for d in state["done"]}
            store.clear()
            for d in state["done"]:
                if not _replay(store, journal_dir / d["journal"], batch_size):
                    done = {}
                    store.clear()
                    break
        if not done and not resumed:
            store.clear()
            if journal_dir.exists():
                shutil.rmtree(journal_dir)
        resumed = resumed or bool(done)
        if staged and not _complete_state_matched:
            # written before the store is: a kill from here on leaves part of this build only
            _write_state(state_path, {"format": STATE_FORMAT, "fingerprint": fingerprint, "complete": False,
                                      "done": []})
    stage: Any = None
    if staged:
        from kgimagine.kg.networkx_store import NetworkXGraphStore

        stage = NetworkXGraphStore()
    sink = stage if staged else store  # where the sources write
    reports: list[SourceReport] = []
    for idx, (lo, name) in enumerate(zip(loaders, names)):
        if name in done:
            d = done[name]
            for r in d.get("reject_rows", []):
                ctx.rejects.rejects.append(Reject(*r))
            for u in d.get("unknown", []):
                ctx.report_unknown(name, u)
            reports.append(SourceReport(name, d["nodes"], d["edges"], d["rejects"], d["unknowns"], d["seconds"],
                                        skipped=True, stats=d.get("stats", {})))
            if progress:
                progress(BuildEvent(name, "skipped", 0, idx, len(loaders)))
            continue
        ts = time.perf_counter()
        if progress:
            progress(BuildEvent(name, "start", 0, idx, len(loaders)))
        prepare = getattr(lo, "prepare", None)
        if callable(prepare):
            prepare(sink)
        rejects_before = len(ctx.rejects.rejects)
        journal_name = f"{idx:02d}-{name.replace('/', '_').replace(':', '_')}.jsonl"
        journal = None
        if journal_dir is not None and embedded:
            journal_dir.mkdir(parents=True, exist_ok=True)
            journal = open(journal_dir / journal_name, "wb")
        try:
            w = _Writer(sink, ctx, name, batch_size, journal)
            n = 0
            for record in lo.iter_records(ctx):
                n += 1
                if w.add(record) and progress:
                    progress(BuildEvent(name, "batch", n, idx, len(loaders)))
            w.flush()
            if journal is not None:
                journal.flush()
                os.fsync(journal.fileno())
        finally:
            if journal is not None:
                journal.close()
        new_rejects = ctx.rejects.rejects[rejects_before:]
        unknown = sorted(ctx.unknown.get(name, set()))
        rep = SourceReport(name, w.n_nodes, w.n_edges, len(new_rejects), len(unknown), time.perf_counter() - ts,
                           stats=dict(getattr(lo, "stats", {}) or {}))
        reports.append(rep)
        if progress:
            progress(BuildEvent(name, "done", n, idx, len(loaders)))
        if state_path is not None:
            done[name] = {
                "name": name, "nodes": rep.nodes, "edges": rep.edges, "rejects": rep.rejects,
                "unknowns": rep.unknowns, "seconds": rep.seconds, "stats": rep.stats, "journal": journal_name,
                "reject_rows": [[r.source, r.file, r.line, r.reason, r.raw] for r in new_rejects],
                "unknown": unknown,
            }
            if not staged:  # staged: nothing of this source is in the store yet
                _write_state(state_path, {"format": STATE_FORMAT, "fingerprint": fingerprint, "complete": False,
                                          "done": [done[x] for x in names if x in done]})
    # staged: the store holds nothing outside this build (it was empty, cleared, or holds part of
    # this build), so the stage is what it will hold: checked before anything is written
    view = stage if staged and not _complete_state_matched else store
    stale = stale_label_trials(view, ctx.labels_from)
    if stale:
        raise LeakageError(
            f"{len(stale)} trials (e.g. {stale[0]}) keep an outcome_label from a split outside labels_from "
            f"{sorted(ctx.labels_from)}: an earlier build used other labels_from; rebuild from scratch "
            "(`kgimagine kg build --fresh`, or build_graph with a checkpoint); nothing was saved"
        )
    if staged and not _complete_state_matched:
        store.write_graph(stage.iter_nodes(), stage.iter_edges())
    if embedded and not _complete_state_matched:
        _save(store)  # replaces the graph directory (journals inside it go with the old one)
    if state_path is not None:
        _write_state(state_path, {"format": STATE_FORMAT, "fingerprint": fingerprint, "complete": True,
                                  "graph_version": store.graph_version(),
                                  "done": [done[x] for x in names if x in done]})
        if journal_dir is not None and journal_dir.exists():
            shutil.rmtree(journal_dir)
    if rejects_path is None:
        rejects_path = (state_path.parent if state_path is not None else ctx.cache_dir) / "rejects.tsv"
    written = ctx.rejects.write(rejects_path)
    stats = store.stats()
    cov: dict[str, Any] = {}
    if compute_coverage:
        from kgimagine.loaders.resolve import coverage

        cov = coverage(view if state_path is not None else store)
    return BuildReport(
        sources=tuple(reports),
        node_count=stats.node_count,
        edge_count=stats.edge_count,
        nodes_by_label=dict(stats.nodes_by_label),
        edges_by_type=dict(stats.edges_by_type),
        graph_version=store.graph_version(),
        seconds=time.perf_counter() - t0,
        rejects_path=written,
        coverage=cov,
        resumed=resumed,
    )
