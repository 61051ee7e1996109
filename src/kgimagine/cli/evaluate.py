"""``kgimagine eval``: metrics JSON, a Markdown report and plots for trial or question files."""

from __future__ import annotations

from pathlib import Path

import typer

from kgimagine.errors import ConfigError

DEFAULT_METHODS = "prior,text,graph-lr,graph-gbm,text+graph,chain-learned,chain-statistical"


def _default_train_file() -> Path | None:
    from kgimagine.cli.settings import resolve_paths

    data_dir = resolve_paths().data_dir
    if data_dir is None:
        return None
    path = data_dir / "top" / "phase_I_train.csv"
    return path if path.is_file() else None


def eval_cmd(
    file: Path = typer.Argument(..., help="TOP-format CSV with a label column, or a questions JSONL file."),
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI (default: the cache graph)."),
    valid_file: Path = typer.Option(
        None, "--valid-file",
        help="Labelled validation CSV: F1 threshold (and extra training data). Without it: K-fold CV within FILE.",
    ),
    train_file: Path = typer.Option(
        None, "--train-file", help="Labelled training CSV for the learned baselines (default: shared top/phase_I_train.csv)."
    ),
    methods: str = typer.Option(
        DEFAULT_METHODS, "--methods",
        help="Comma list of prior,text,graph-lr,graph-gbm,text+graph (+ '-noapproval' variants), "
             "chain-learned (the default predictor),chain-statistical,chain-statistical-fit,chain-local,chain-adapter, or 'all'.",
    ),
    out: Path = typer.Option(Path("eval-out"), "--out", help="Output directory (metrics.json, report.md, *.png)."),
    folds: int = typer.Option(5, "--folds", help="K for the cross-validation / inner threshold folds."),
    chain_sample: int = typer.Option(
        20, "--chain-sample", help="Trials evaluated by chain-local / chain-adapter (SmolLM2 runs ~20 tok/s on CPU); 0 = all."
    ),
    adapter: Path = typer.Option(None, "--adapter", help="LoRA adapter directory for chain-adapter."),
    model: str = typer.Option(None, "--model", help="Local base model folder for chain-local/chain-adapter."),
    learned_skeleton: bool = typer.Option(
        False, "--learned-skeleton",
        help="chain-local/chain-adapter answer the steps of the learned operator's chains (its starts and plan; "
             "a distilled student's setting) instead of the plain served chain.",
    ),
    answers: Path = typer.Option(None, "--answers", help="Questions only: JSONL of question_id + answer (gold)."),
    allow_leakage: bool = typer.Option(
        False, "--allow-leakage", help="Report instead of refusing when the leakage audit fails (demonstration only)."
    ),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples for the 95 % intervals."),
) -> None:
    """Evaluate methods on FILE: AP, ROC-AUC, F1 at a validation threshold, Brier, ECE, per phase, with CIs."""
    from rich.console import Console

    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.evaluation.baselines import CHAIN_METHODS, GRAPH_METHODS, parse_methods
    from kgimagine.evaluation.report import write_plots, write_report
    from kgimagine.evaluation.runner import EvaluationConfig, build_chain_predict, run_evaluation

    console = Console(stderr=True)
    if not file.is_file():
        raise ConfigError(f"{file} does not exist; pass a TOP-format CSV with a label column or a questions JSONL")
    if file.suffix.lower() in (".jsonl", ".json"):
        _eval_questions(file, answers, store, out, allow_leakage=allow_leakage)
        return
    names = parse_methods(methods)
    needs_store = any(m in GRAPH_METHODS or m in CHAIN_METHODS for m in names)
    st = open_configured_store(store) if needs_store else None
    try:
        chain_predict = {}
        for name in names:
            if name in ("chain-local", "chain-adapter"):
                from kgimagine.reasoning.operators.local import LocalOperator

                if name == "chain-adapter" and adapter is None:
                    raise ConfigError("chain-adapter needs --adapter DIR (a distilled LoRA adapter)")
                op = LocalOperator(model_path=model, adapter=adapter if name == "chain-adapter" else None,
                                   cache_dir=resolve_paths().cache_dir)
                if learned_skeleton:
                    from kgimagine.config import OperatorConfig
                    from kgimagine.reasoning.operators.distilled import DistilledOperator
                    from kgimagine.reasoning.operators.registry import build_operator

                    # the learned operator fitted for this graph (not KGIMAGINE_MODEL, which names the student)
                    teacher = build_operator(OperatorConfig(kind="learned"), st, cache_dir=resolve_paths().cache_dir)
                    op = DistilledOperator(op, teacher)
                chain_predict[name] = build_chain_predict(name, st, operator=op)
        config = EvaluationConfig(
            eval_file=file,
            valid_file=valid_file,
            train_file=train_file or _default_train_file(),
            methods=names,
            n_folds=folds,
            allow_leakage=allow_leakage,
            chain_sample=chain_sample or None,
            n_resamples=resamples,
        )
        result = run_evaluation(config, st, chain_predict=chain_predict,
                                progress=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    finally:
        if st is not None:
            st.close()
    paths = write_report(out, result.report)
    plots = write_plots(out, result.labels, [r for r in result.runs if r.name not in result.sampled],
                        result.report.title)
    typer.echo(result.report.to_markdown())
    console.print(f"wrote {paths['metrics']}, {paths['report']}, " + ", ".join(str(p) for p in plots))


def _eval_questions(file: Path, answers: Path | None, store: str | None, out: Path, *,
                    allow_leakage: bool = False) -> None:
    """Arm-level questions with the statistical-operator chain (gold never reaches the predictor).

    The questions' trials get the same leakage audit as a trial file, before any prediction."""
    import json

    from kgimagine.cli.settings import open_configured_store
    from kgimagine.evaluation.audit import audit_leakage, enforce
    from kgimagine.evaluation.runner import question_probabilities, read_questions, score_questions

    questions, items = read_questions(file, answers)  # gold fields are removed from `questions` here
    from kgimagine.reasoning.operators.statistical import StatisticalOperator
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import ArmQuestion

    parsed = [ArmQuestion.parse(q) for q in questions]
    st = open_configured_store(store)
    try:
        audit = audit_leakage(st, {q.nct_id for q in parsed if q.nct_id})
        enforce(audit, allow_leakage=allow_leakage)
        predictor = Predictor(st, StatisticalOperator(st))
        preds = {p.question_id: p for p in predictor.predict_many(parsed)}
    finally:
        st.close()
    scores = score_questions(items, question_probabilities(preds, items))
    out.mkdir(parents=True, exist_ok=True)
    (out / "questions.json").write_text(json.dumps(
        {"method": "chain-statistical", "per_type": scores, "leakage_audit": audit.to_dict(),
         "errors": {qid: p.error for qid, p in preds.items() if p.error}}, indent=2) + "\n")
    lines = ["| question type | items | balanced accuracy | macro-F1 | cross-entropy |", "|---|---|---|---|---|"]
    for qtype, s in scores.items():
        lines.append(f"| {qtype} | {s['n_items']} | {s['balanced_accuracy']:.3f} | {s['macro_f1']:.3f} | "
                     f"{s['cross_entropy']:.3f} |")
    n_err = sum(1 for p in preds.values() if p.error)
    lines.append(f"\nQuestions whose prediction failed (probability 0.5 stands in): {n_err} of {len(preds)}")
    (out / "questions.md").write_text("\n".join(lines) + "\n\n" + audit.to_markdown() + "\n")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
