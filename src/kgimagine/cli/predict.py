"""``kgimagine predict``: predict trial outcomes or arm-level questions with grounded chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import typer

from kgimagine.errors import ConfigError


def _read_specs(path: Path) -> Iterator[Any]:
    """CSV rows as TrialSpecs (label/status/why_stop columns, if any, are not read).

    Columns ``phase, diseases, drugs, criteria`` (+ optional ``nctid``, ``icdcodes``): TOP's
    format, or names as plain text separated by ``;`` (``read_top_csv(lenient=True)``). A row
    without an NCT id (a planned trial) is predicted under ``TrialSpec.key()``, a hash of its
    content; a binary or non-UTF-8 file is one ``FileEncodingError``."""
    from kgimagine.loaders.base import RejectSink
    from kgimagine.loaders.top import read_top_csv
    from kgimagine.reasoning.spec import TrialSpec

    if not path.is_file():
        raise ConfigError(f"--file {path} does not exist; pass a CSV with columns phase, diseases, drugs, criteria (+ optional nctid, icdcodes); TOP's files work as they are")
    rejects = RejectSink()
    for row in read_top_csv(path, rejects, require_nctid=False, lenient=True):
        yield TrialSpec.from_top_row(row)
    for r in rejects.rejects:
        typer.echo(f"kgimagine: skipped {path}:{r.line}: {r.reason}", err=True)


def _read_questions(path: Path) -> Iterator[Any]:
    from kgimagine.errors import SpecValidationError
    from kgimagine.reasoning.spec import ArmQuestion

    if not path.is_file():
        raise ConfigError(f"--questions {path} does not exist; pass a JSONL file with one question per line")
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield ArmQuestion.parse(line)
                except SpecValidationError as exc:
                    raise SpecValidationError(f"{path}:{lineno}: {exc}") from None


def _make_operator(kind: str, store: Any, *, model: str | None, adapter: Path | None, cache_dir: Path) -> Any:
    """The operator named by the flags, completed from the environment (``kgimagine.config``).

    ``auto`` (the default): the learned operator fitted for this graph, else the statistical one."""
    from kgimagine.cli.settings import resolve_operator
    from kgimagine.reasoning.operators.registry import build_operator

    return build_operator(resolve_operator(kind, model=model, adapter=adapter), store, cache_dir=cache_dir,
                          on_fallback=lambda why: typer.echo(f"kgimagine: {why}", err=True))


def _json_line(pred: Any) -> str:
    data = pred.model_dump(mode="json")
    head: dict[str, Any] = {}
    if pred.question_type == "trial":
        head = {"nct_id": pred.nct_id or pred.key, "probability": pred.probability, "label": pred.label}
    elif pred.question_type == "endpoint":
        head = {"question_id": pred.question_id, "probability": pred.probability, "label": pred.label}
    else:
        head = {"question_id": pred.question_id, "comparisons": data["comparisons"]}
    head.update({"grounding_rate": pred.grounding_rate, "steps_supported": pred.steps_supported,
                 "steps_total": pred.steps_total, "flags": pred.flags, "chains": data["chains"],
                 "anchors": pred.anchors, "operator": pred.operator, "graph_version": pred.graph_version})
    return json.dumps(head, ensure_ascii=False)


def _console() -> Any:
    """A rich console as wide as the terminal; when the output is not a terminal, ``COLUMNS``
    columns if set (at least 60: ``COLUMNS=200 kgimagine predict … > chains.txt`` keeps long
    facts whole), else 100."""
    import os
    import sys

    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    cols = os.environ.get("COLUMNS", "").strip()
    return Console(width=max(60, int(cols)) if cols.isdigit() else 100)


_MARK = {"supported": ("✓", "green"), "unsupported": ("✗", "red"), "refuted": ("✗✗", "red")}


def _step_line(step: Any, width: int) -> Any:
    """One line: verdict mark, factor, anchor value -> target value, probability move, and the facts
    that moved it (or why the step was excluded), cut to ``width`` with an ellipsis."""
    from rich.text import Text

    from kgimagine.reasoning.readable import step_parts

    sym, colour = _MARK.get(step.verdict, ("?", "yellow"))
    _, factor, change, move, detail = step_parts(step, width)
    line = Text("  ")
    line.append(f"{sym:<2} ", style=colour)
    line.append(f"{factor} ", style="cyan")
    line.append(f"{change} ")
    line.append(f"{move}  ")
    if step.supported:
        line.append(detail)
    else:
        verdict, _, reason = detail.partition(": ")
        line.append(f"{verdict}: ", style=colour)
        line.append(reason)
    line.truncate(width, overflow="ellipsis")
    return line


def _print_rich(console: Any, pred: Any, *, explain: str = "short") -> None:
    """Per trial: the probability, then per anchor one line per step (factor, anchor value ->
    target value, probability move, the facts that moved it or why the step was excluded,
    verdict), and one provenance footer. ``explain="full"`` adds every fact, claim and reason."""
    from rich.markup import escape as esc
    from rich.table import Table

    from kgimagine.reasoning.readable import anchor_line, head_lines, sources

    title, grounding = head_lines(pred)
    name, _, rest = title.partition("  ")
    console.print(f"[bold]{esc(name)}[/bold]  {esc(rest)}")
    console.print(esc(grounding), style="dim")
    for flag in pred.flags:
        console.print(f"  [yellow]! {esc(flag)}[/yellow]")
    mark = {k: f"[{c}]{m}[/{c}]" for k, (m, c) in _MARK.items()}
    for chain in pred.chains:
        console.print(esc(anchor_line(chain)), style="bold")
        if explain != "full":
            for s in chain.steps:
                console.print(_step_line(s, console.width), overflow="ellipsis", no_wrap=True)
            continue
        for s in chain.steps:
            console.print(f"  {mark.get(s.verdict, '?')} {s.factor.value}: {esc(s.anchor_value)} → {esc(s.target_value)}   "
                          f"p {s.p_before:.2f} → {s.p_after:.2f} ({s.verdict}, direction {s.direction})")
            if s.claim:
                console.print(f"    rationale: {esc(s.claim)}")
            for i, c in enumerate(s.claims, 1):
                console.print(f"    claim {i} ({c.role}): {esc(', '.join(c.facts))} → {c.verdict}"
                              + (f": {esc(c.reason)}" if c.reason else ""))
            if s.error:
                console.print(f"    [red]{esc(s.error)}[/red]")
            t = Table(show_header=False, box=None, padding=(0, 1))
            for f in s.facts:
                verdict = s.verdicts.get(f.fact_id, "")
                t.add_row(esc(f"    [{f.fact_id}]"), esc(f.text), verdict)
            for cid, verdict in s.verdicts.items():
                if verdict != "verified":
                    t.add_row(esc(f"    [{cid}]"), "(cited, not shown)", f"[red]{verdict}[/red]")
            console.print(t)
    srcs = sources(pred, every_fact=explain == "full")
    line = "sources:"
    for i, src in enumerate(srcs):  # wrapped between sources, never inside one, never before the first
        piece = f" {src}" + (" ·" if i < len(srcs) - 1 else "")
        if len(line) + len(piece) > console.width and line.strip() not in ("", "sources:"):
            console.print(line, style="dim", markup=False, highlight=False, no_wrap=True, overflow="ellipsis")
            line = " " * 8
        line += piece
    if srcs:
        console.print(line, style="dim", markup=False, highlight=False, no_wrap=True, overflow="ellipsis")


def predict_cmd(
    nct: list[str] = typer.Option(None, "--nct", help="NCT id of a trial in the graph (repeatable)."),
    file: Path = typer.Option(None, "--file", help="CSV of trials: phase, diseases, drugs, criteria (+ nctid, icdcodes); TOP's format, or names separated by ';'. Label columns are ignored."),
    questions: Path = typer.Option(None, "--questions", help="JSONL of arm-level questions."),
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI."),
    operator: str = typer.Option(
        "auto", "--operator",
        help="auto (the learned operator when one is fitted for this graph, else statistical) | learned | statistical | local | openai",
    ),
    model: str = typer.Option(None, "--model", help="Model path/name (local/openai), weights JSON (statistical) or fitted directory (learned)."),
    adapter: Path = typer.Option(None, "--adapter", help="LoRA adapter directory (local operator)."),
    k: int = typer.Option(5, "--k", min=1, help="Anchors per prediction."),
    threshold: float = typer.Option(
        None, "--threshold", min=0.0, max=1.0,
        help="Label threshold (default: the learned operator's, F1-optimal on its out-of-fold predictions, per phase; else 0.5).",
    ),
    embed: bool = typer.Option(True, "--embed/--no-embed", help="Use MiniLM criteria similarity in anchor retrieval."),
    learned_skeleton: bool = typer.Option(
        False, "--learned-skeleton",
        help="With --operator local/openai: the model answers the steps of the learned operator's chains (its starts, "
             "plan and thresholds; how a distilled student is trained) instead of the plain served chain.",
    ),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="JSONL of finished predictions; a rerun resumes."),
    limit: int = typer.Option(None, "--limit", min=1, help="Predict only the first N trials/questions of the input."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    explain: str = typer.Option("short", "--explain", help="short: one line per step; full: every fact, claim and verdict."),
    labels_ok: bool = typer.Option(
        False, "--labels-ok",
        help="Allow --nct for a trial whose outcome label is in the graph (its label is hidden, but say you know).",
    ),
) -> None:
    """Predict outcomes with successive counterfactual imagination from labelled anchor trials."""
    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.kg.queries import trial_outcome
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec

    if explain not in ("short", "full"):
        raise ConfigError(f"--explain {explain!r} is unknown; use short or full")
    given = [x for x in (nct, file, questions) if x]
    if len(given) != 1:
        raise ConfigError("give exactly one of --nct, --file or --questions")
    paths = resolve_paths()
    st = open_configured_store(store)
    try:
        if nct:
            items: Any = []
            for n in nct:
                spec = TrialSpec.from_graph(st, n)
                node = st.get_node(f"clinicaltrials:{spec.nct_id}")
                if trial_outcome(node) is not None and not labels_ok:
                    raise ConfigError(
                        f"{spec.nct_id} has its outcome label in the graph (split {node.properties.get('split')!r}); "
                        "it is hidden from the chains, but pass --labels-ok to confirm you want this prediction"
                    )
                items.append(spec)
        elif file:
            items = _read_specs(file)
        else:
            items = _read_questions(questions)
        if limit is not None:
            items = list(items)[:limit]
        embedder = None
        if embed:
            from kgimagine.reasoning.embedding import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        if learned_skeleton and operator not in ("local", "openai"):
            raise ConfigError(f"--learned-skeleton is for a model that answers steps (--operator local or openai), "
                              f"not --operator {operator}")
        op = _make_operator(operator, st, model=model, adapter=adapter, cache_dir=paths.cache_dir)
        if learned_skeleton:
            from kgimagine.config import OperatorConfig
            from kgimagine.reasoning.operators.distilled import DistilledOperator
            from kgimagine.reasoning.operators.registry import build_operator

            # the learned operator fitted for this graph (not KGIMAGINE_MODEL, which names the student)
            op = DistilledOperator(op, build_operator(OperatorConfig(kind="learned"), st, cache_dir=paths.cache_dir))
        per_phase: dict[str, float] = {}
        if threshold is None:  # the operator's: F1-optimal on its out-of-fold predictions, per phase where it has one
            threshold = float(getattr(op, "threshold", 0.5))
            per_phase = dict(getattr(op, "phase_thresholds", {}) or {})
        predictor = Predictor(st, op, k=k, threshold=threshold, embedder=embedder, cache_dir=paths.cache_dir,
                              phase_thresholds=per_phase)
        console = _console()
        rates: list[float] = []
        for pred in predictor.predict_many(items, checkpoint_path=checkpoint):
            if pred.grounding_rate is not None:
                rates.append(pred.grounding_rate)
            if as_json:
                typer.echo(_json_line(pred))
            else:
                _print_rich(console, pred, explain=explain)
        if not as_json and rates:
            console.print(f"[bold]batch grounding rate (mean over predictions): {sum(rates) / len(rates):.0%}[/bold]")
    finally:
        st.close()


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
