"""What every loader shares: the ``Loader`` protocol, the load context, the rejects sink and
the registry of public sources (download address, checksum, licence, version).

Loaders only *yield* ``Node``/``Edge`` records (nodes before the edges that need them); the
build writes them into a store in batches. A loader never writes to a store.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, TextIO

from kgimagine.errors import LoaderError, SourceFileMissingError
from kgimagine.kg.model import Edge, Node
from kgimagine.types import NodeLabel

Record = Node | Edge


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a public source: where it lives under the data dir and where to get it."""

    relpath: str  # path under the data directory, e.g. "drugbank-dhimmel/drugbank.tsv"
    url: str  # public download address
    sha256: str  # expected checksum of the file as published


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str  # short source name used in provenance, e.g. "drugbank"
    version: str  # e.g. "4.2 (dhimmel/drugbank@6b9ae38)"
    licence: str  # e.g. "CC BY-NC 4.0"
    homepage: str
    files: tuple[SourceFile, ...]


@dataclass(frozen=True, slots=True)
class Reject:
    source: str
    file: str
    line: int  # 1-based line (or record) number in the file; 0 when not line-based
    reason: str
    raw: str = ""


class RejectSink:
    """Collects malformed rows; ``write`` saves them as a TSV (source, file, line, reason, raw)."""

    def __init__(self) -> None:
        self.rejects: list[Reject] = []

    def reject(self, source: str, file: str, line: int, reason: str, raw: str = "") -> None:
        self.rejects.append(Reject(source, file, line, reason, raw[:500]))

    def count(self, source: str | None = None) -> int:
        return sum(1 for r in self.rejects if source is None or r.source == source)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(["source", "file", "line", "reason", "raw"])
            for r in self.rejects:
                w.writerow([r.source, r.file, r.line, r.reason, r.raw.replace("\n", "\\n").replace("\t", "\\t")])
        return path


@dataclass
class LoadContext:
    """Everything a loader may read. Built by the CLI; loaders never read env vars or cwd."""

    data_dir: Path | None  # local copies (the team's shared/data layout); None: use download cache
    cache_dir: Path  # where downloads land
    rejects: RejectSink = field(default_factory=RejectSink)
    labels_from: frozenset[str] = frozenset()  # TOP split names whose outcome labels may enter the graph
    allow_download: bool = False
    unknown: dict[str, set[str]] = field(default_factory=dict)  # source -> ids/names it could not resolve

    def report_unknown(self, source: str, what: str) -> None:
        self.unknown.setdefault(source, set()).add(what)

    def path(self, spec: SourceSpec, f: SourceFile) -> Path:
        """The local path of ``f``: the data dir copy, else a verified download in the cache."""
        if self.data_dir is not None:
            local = self.data_dir / f.relpath
            if local.is_file():
                return local
        cached = self.cache_dir / "sources" / f.relpath
        if cached.is_file():
            return cached
        if not self.allow_download:
            where = self.data_dir / f.relpath if self.data_dir is not None else cached
            raise SourceFileMissingError(
                f"{spec.name}: missing {where}; download it from {f.url} "
                "(or run `kgimagine kg build --download`)"
            )
        return download(f, cached)


def download(f: SourceFile, dest: Path, *, opener: Callable[[str], TextIO] | None = None) -> Path:
    """Download ``f.url`` to ``dest`` and verify its sha256; a mismatch deletes the file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(f.url, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LoaderError(f"cannot download {f.url}: {exc}") from exc
    digest = sha256_file(tmp)
    if digest != f.sha256:
        tmp.unlink(missing_ok=True)
        raise LoaderError(f"checksum mismatch for {f.url}: expected {f.sha256}, got {digest}")
    tmp.rename(dest)
    return dest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Loader(Protocol):
    """A source adapter: yields records, reports bad rows to ``ctx.rejects``."""

    spec: SourceSpec

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]: ...


# --- reading delimited source files ------------------------------------------------------
def iter_csv_records(reader: Any, reject: Callable[[int, str], None]) -> Iterator[tuple[int, Any]]:
    """``(line, row)`` for each record of a ``csv.reader``/``csv.DictReader``, ``line`` being the
    1-based physical line where the record starts (records may span lines). A record with bad
    quoting is passed to ``reject(line, reason)`` and skipped; reading goes on after it."""
    prev_end = reader.line_num
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reject(start, f"bad CSV quoting: {exc}")
            prev_end = reader.line_num
            continue
        prev_end = reader.line_num
        yield start, row


def iter_table(
    path: Path,
    *,
    source: str,
    file: str,
    rejects: RejectSink,
    required: tuple[str, ...] = (),
    columns: tuple[str, ...] | None = None,
    quoted: bool = False,
    comment: str | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a tab-separated file (``.gz`` read transparently) as ``(line number, row)``.

    The header (first non-comment line) names the columns unless ``columns`` is given (header-less
    files). A header lacking a ``required`` column raises ``LoaderError``; a row with the wrong
    number of fields goes to ``rejects`` and is skipped. ``quoted``: fields may be double-quoted
    (and then span lines). Line numbers are the 1-based physical line where a row starts.
    """
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    physical: list[int] = []  # with comments: physical line number of each line handed to the reader

    def lines(fh: TextIO) -> Iterator[str]:
        for i, line in enumerate(fh, start=1):
            if comment and line.startswith(comment):
                continue
            if comment:
                physical.append(i)
            yield line

    with opener(path, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        reader = csv.reader(lines(fh), delimiter="\t", quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
        header = list(columns) if columns is not None else None
        consumed = 0
        for fields in reader:
            lineno = physical[consumed] if comment else consumed + 1
            consumed = reader.line_num
            if header is None:
                header = fields
                missing = [c for c in required if c not in header]
                if missing:
                    raise LoaderError(
                        f"{source}: {file} has no column(s) {', '.join(missing)} (header: {', '.join(header)}); "
                        "is it the published file?"
                    )
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(header):
                rejects.reject(source, file, lineno, f"expected {len(header)} columns, got {len(fields)}",
                               "\t".join(fields))
                continue
            yield lineno, dict(zip(header, fields))


class NodeRefs:
    """Hands out each referenced node once: a loader yields it (minimal: id, label, empty name)
    before the first edge that needs it; ids in ``known`` were already yielded with full data."""

    __slots__ = ("_seen",)

    def __init__(self, known: set[str] | None = None) -> None:
        self._seen: set[str] = set(known or ())

    def add(self, node_id: str) -> None:
        self._seen.add(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._seen

    def first(self, node_id: str, label: NodeLabel) -> Node | None:
        """A minimal node the first time ``node_id`` is referenced, else ``None``."""
        if node_id in self._seen:
            return None
        self._seen.add(node_id)
        return Node(node_id, label)
