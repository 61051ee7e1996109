"""``kgimagine kg …``: build, inspect and export the knowledge graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)

_STORE_HELP = "Embedded graph directory or Neo4j URI (bolt://, neo4j+s://). Default: the cache graph."


def _pct(block: dict[str, Any]) -> str:
    return f"{block['count']} ({100 * block['share']:.1f} %)"


def _coverage_table(cov: dict[str, Any]):
    from rich.table import Table

    table = Table(title="coverage (TOP trials)")
    table.add_column("split")
    table.add_column("trials", justify="right")
    table.add_column(">=1 drug with >=1 target", justify="right")
    table.add_column(">=1 mapped disease", justify="right")
    sources = sorted(cov.get("targeted_drug_by_source", {}))
    for src in sources:
        table.add_column(f"targets via {src}", justify="right")
    rows = [("all", cov)] + sorted(cov.get("by_split", {}).items())
    for name, block in rows:
        table.add_row(
            name, str(block["trials"]), _pct(block["with_targeted_drug"]), _pct(block["with_disease"]),
            *(_pct(block["targeted_drug_by_source"].get(s, {"count": 0, "share": 0.0})) for s in sources),
        )
    return table


def _parse_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _labels_from(value: str) -> frozenset[str]:
    """``all`` = every labelled TOP split shipped (the prediction graph); else the named splits."""
    from kgimagine.errors import ConfigError
    from kgimagine.loaders.top import DEFAULT_SPLITS

    names = _parse_list(value)
    if names == ["all"]:
        return frozenset(DEFAULT_SPLITS)
    unknown = sorted(set(names) - set(DEFAULT_SPLITS))
    if unknown:
        raise ConfigError(f"--labels-from: unknown split(s) {unknown}; use 'all' or some of {sorted(DEFAULT_SPLITS)}")
    return frozenset(names)


@app.command("build")
def build_cmd(
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
    data_dir: Path = typer.Option(None, "--data-dir", help="Folder with the public source files (shared/data layout)."),
    sources: str = typer.Option(None, "--sources", help="Comma-separated source names to load (default: all)."),
    labels_from: str = typer.Option(
        "phase_I_train", "--labels-from",
        help="TOP splits whose outcome labels may enter the graph (comma-separated, or 'all': the prediction "
        "graph). Never the splits you evaluate on: an evaluation graph keeps them out (kgimagine eval audits it).",
    ),
    download: bool = typer.Option(False, "--download", help="Download missing source files into the cache."),
    batch_size: int = typer.Option(5000, "--batch-size", min=1, help="Records per write batch."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore build-state.json and rebuild from an empty graph."),
) -> None:
    """Build the graph from the public sources (resumes an interrupted build).

    With --sources, the named sources are upserted into the existing graph (no resume).
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.kg.connect import is_neo4j_uri
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import BuildEvent, build_graph, default_loaders, loader_name

    paths = resolve_paths(data_dir=data_dir, graph_dir=Path(store) if store and not is_neo4j_uri(store) else None)
    ctx = LoadContext(
        data_dir=paths.data_dir, cache_dir=paths.cache_dir, labels_from=_labels_from(labels_from),
        allow_download=download,
    )
    loaders = default_loaders(paths.data_dir, sources=_parse_list(sources) or None)
    for lo in loaders:  # fail fast, before anything is written: one line naming path + URL
        spec = getattr(lo, "spec", None)
        for f in getattr(spec, "files", ()) or ():
            ctx.path(spec, f)
    if store and is_neo4j_uri(store):
        import re

        server = re.sub(r"[^A-Za-z0-9.-]+", "_", store)
        checkpoint = paths.cache_dir / "neo4j-build" / server / "build-state.json"
        st = open_configured_store(store, must_exist=False)
    else:
        checkpoint = paths.graph_dir / "build-state.json"
        st = open_configured_store(str(paths.graph_dir), must_exist=False)
    if fresh:
        checkpoint.unlink(missing_ok=True)
    if sources and not fresh:
        # a partial build upserts into the existing graph (no resume, no clearing); refuse when
        # that graph holds outcome labels the new labels_from does not allow
        from kgimagine.errors import ConfigError
        from kgimagine.loaders.build import stale_label_trials

        stale = stale_label_trials(st, ctx.labels_from)
        if stale:
            st.close()
            raise ConfigError(
                f"the graph holds outcome labels of {len(stale)} trials outside --labels-from {labels_from}; "
                "run a full build with --fresh"
            )
        checkpoint = None
    console = Console()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description:<20}"), TextColumn("{task.fields[status]}"),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            tasks = {loader_name(lo): bar.add_task(loader_name(lo), total=None, status="waiting", start=False)
                     for lo in loaders}

            def on_event(ev: BuildEvent) -> None:
                tid = tasks[ev.source]
                if ev.stage == "start":
                    bar.start_task(tid)
                    bar.update(tid, status="loading")
                elif ev.stage == "batch":
                    bar.update(tid, status=f"{ev.records:,} records")
                elif ev.stage == "done":
                    bar.update(tid, status=f"{ev.records:,} records, done", total=1, completed=1)
                    bar.stop_task(tid)
                elif ev.stage == "skipped":
                    bar.update(tid, status="done in an earlier run (skipped)", total=1, completed=1)

            report = build_graph(st, ctx, loaders, batch_size=batch_size, progress=on_event, checkpoint=checkpoint)
        table = Table(title=f"graph {report.graph_version}: {report.node_count:,} nodes, {report.edge_count:,} edges "
                            f"in {report.seconds:.1f} s")
        for col in ("source", "nodes", "edges", "rejects", "unknowns", "seconds"):
            table.add_column(col, justify="left" if col == "source" else "right")
        for s in report.sources:
            table.add_row(s.name + (" (resumed)" if s.skipped else ""), f"{s.nodes:,}", f"{s.edges:,}",
                          f"{s.rejects:,}", f"{s.unknowns:,}", f"{s.seconds:.1f}")
        console.print(table)
        if report.coverage.get("trials"):
            console.print(_coverage_table(report.coverage))
        console.print(f"rejects: {report.rejects_path}")
    finally:
        st.close()


@app.command("stats")
def stats_cmd(
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
    no_coverage: bool = typer.Option(False, "--no-coverage", help="Only the counts."),
) -> None:
    """Print node and edge counts per label / relation type, then TOP trial coverage."""
    from rich.console import Console
    from rich.table import Table

    from kgimagine.cli.settings import open_configured_store
    from kgimagine.loaders.resolve import coverage

    st = open_configured_store(store)
    try:
        s = st.stats()
        table = Table(title=f"graph {st.graph_version()}")
        table.add_column("kind")
        table.add_column("name")
        table.add_column("count", justify="right")
        for k, v in s.nodes_by_label.items():
            table.add_row("node", k, str(v))
        for k, v in s.edges_by_type.items():
            table.add_row("edge", k, str(v))
        console = Console()
        console.print(table)
        if not no_coverage:
            cov = coverage(st)
            if cov["trials"]:
                console.print(_coverage_table(cov))
    finally:
        st.close()


@app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", help="Output file."),
    fmt: str = typer.Option("ttl", "--format", help="ttl (Turtle) or nt (N-Triples)."),
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Export the whole graph as RDF."""
    from kgimagine.cli.settings import open_configured_store
    from kgimagine.errors import ConfigError
    from kgimagine.kg.rdf import export_graph

    if fmt not in ("ttl", "nt"):
        raise ConfigError(f"--format {fmt!r} is not supported; use ttl or nt")
    st = open_configured_store(store)
    try:
        n = export_graph(st, out, fmt)  # type: ignore[arg-type]
    finally:
        st.close()
    typer.echo(f"wrote {n:,} triples to {out}")


@app.command("import-rdf")
def import_rdf_cmd(
    file: Path = typer.Argument(..., help="An OWL (RDF/XML) or Turtle disease ontology."),
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
    batch_size: int = typer.Option(5000, "--batch-size", min=1),
) -> None:
    """Add the Disease classes and SUBCLASS_OF edges of an ontology file to the graph."""
    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.errors import ConfigError
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import OntologyFileLoader, build_graph

    if not file.is_file():
        raise ConfigError(f"ontology file {file} does not exist")
    paths = resolve_paths()
    st = open_configured_store(store, must_exist=False)
    try:
        ctx = LoadContext(data_dir=paths.data_dir, cache_dir=paths.cache_dir)
        report = build_graph(st, ctx, [OntologyFileLoader(file, name=f"rdf:{file.name}")], batch_size=batch_size,
                             compute_coverage=False)
    finally:
        st.close()
    s = report.sources[0]
    typer.echo(f"{file}: {s.nodes:,} nodes, {s.edges:,} edges, {s.rejects:,} rejects "
               f"(graph now {report.node_count:,} nodes, {report.edge_count:,} edges)")


@app.command("add-trials")
def add_trials_cmd(
    file: Path = typer.Argument(..., help="TOP-format CSV (nctid, phase, diseases, icdcodes, drugs, criteria)."),
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Add unlabelled trials to the graph, linked to their resolved drugs and diseases.

    Outcome columns (label, status, why_stop) are never read. Rows without an NCT id, malformed
    rows and trials already in the graph are rejected with their line number.
    """
    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.errors import ConfigError
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import build_graph
    from kgimagine.loaders.top import UserTrialLoader

    if not file.is_file():
        raise ConfigError(f"trial file {file} does not exist; pass a TOP-format CSV")
    paths = resolve_paths()
    st = open_configured_store(store)
    loader = UserTrialLoader(file)
    try:
        from kgimagine.kg.queries import labelled_trials

        # this command adds no label: the splits whose labels the graph already holds stay allowed
        kept: set[str] = set()
        for n in labelled_trials(st):
            splits = n.properties.get("splits") or [n.properties.get("split")]
            kept.update(str(x) for x in (splits if isinstance(splits, list) else [splits]))
        ctx = LoadContext(data_dir=paths.data_dir, cache_dir=paths.cache_dir, labels_from=frozenset(kept))
        report = build_graph(st, ctx, [loader], compute_coverage=False,
                             rejects_path=paths.cache_dir / "add-trials-rejects.tsv")
    finally:
        st.close()
    for r in ctx.rejects.rejects:
        typer.echo(f"kgimagine: rejected {r.file}:{r.line}: {r.reason}", err=True)
    s, stats = report.sources[0], loader.stats
    typer.echo(
        f"{file}: added {stats.get('trials', 0):,} trials ({s.edges:,} links; "
        f"{stats.get('trials_with_disease', 0):,} with a resolved disease), {s.rejects:,} rejects; "
        f"unresolved: {', '.join(sorted(ctx.unknown.get(loader.name, set()))) or 'none'}"
    )


@app.command("show")
def show_cmd(
    node_id: str = typer.Argument(..., help="A node id, e.g. drugbank:DB00619 or clinicaltrials:NCT01187615."),
    store: str = typer.Option(None, "--store", help=_STORE_HELP),
    limit: int = typer.Option(50, "--limit", min=1, help="Most facts to list."),
) -> None:
    """A node with its properties and its facts (with provenance)."""
    from rich.console import Console
    from rich.table import Table

    from kgimagine.cli.settings import open_configured_store

    st = open_configured_store(store)
    try:
        node = st.get_node(node_id)
        facts = st.facts([node_id], limit=limit)
        others = st.get_nodes({e.target if e.source == node_id else e.source for e in facts})
    finally:
        st.close()
    console = Console()
    props = Table(title=f"{node.id} ({node.label.value}) {node.name}")
    props.add_column("property")
    props.add_column("value", overflow="fold")
    for k, v in sorted(node.properties.items()):
        text = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        props.add_row(k, text if len(text) <= 300 else text[:300] + " …")
    console.print(props)
    table = Table(title=f"facts (first {limit})")
    for col in ("fact", "relation", "other end", "name", "source", "version", "licence", "record", "properties"):
        table.add_column(col, overflow="fold")
    for e in facts:
        outgoing = e.source == node_id
        other = e.target if outgoing else e.source
        p = e.provenance
        table.add_row(e.fact_id, ("-" if outgoing else "<-") + e.type.value + ("->" if outgoing else "-"), other,
                      getattr(others.get(other), "name", ""), p.source, p.source_version, p.licence, p.record_id,
                      ", ".join(f"{k}={v}" for k, v in sorted(e.properties.items())))
    console.print(table)
