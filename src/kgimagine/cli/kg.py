"""``kgimagine kg …``: build, inspect and export the knowledge graph."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("stats")
def stats_cmd(
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI (bolt://, neo4j+s://)."),
) -> None:
    """Print node and edge counts per label / relation type."""
    from rich.console import Console
    from rich.table import Table

    from kgimagine.cli.settings import open_configured_store

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
        Console().print(table)
    finally:
        st.close()
