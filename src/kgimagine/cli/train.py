"""``kgimagine train …``: mine pairs, collect teacher steps, LoRA SFT, GRPO, merge.

The only place where training meets reasoning: ``train chains`` runs the reasoning ``Predictor``
and writes its steps as trace files, and builds the verifier GRPO's rewards call; ``training``
itself reads only trace files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kgimagine.errors import ConfigError, KgimagineError

app = typer.Typer(no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="train", help="Mine training pairs and chains, LoRA-train and merge adapters.")


def _split_list(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"))


@app.command("operator")
def operator_cmd(
    out: Path = typer.Option(None, "--out", help="Directory to save the fitted operator (default: the cache, per graph version; predict finds it there)."),
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI (default: the cached graph)."),
    k: int = typer.Option(5, "--k", min=1, help="Anchors per trial when fitting the residual weight (as predict uses)."),
    embed: bool = typer.Option(True, "--embed/--no-embed", help="MiniLM criteria similarity in anchor retrieval (as predict's default)."),
    folds: int = typer.Option(5, "--folds", min=2, help="Folds of the out-of-fold encodings."),
    if_missing: bool = typer.Option(False, "--if-missing", help="Do nothing when an operator is already fitted there for this graph."),
) -> None:
    """Fit the learned step operator on the graph's labelled trials (the default operator of predict)."""
    from rich.console import Console

    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.reasoning.operators.learned import LearnedModel, default_operator_dir, describe_fit, fit_code_fingerprint
    from kgimagine.reasoning.retrieval import AnchorIndex
    from kgimagine.trials.evidence import EvidenceBuilder, labelled_pool

    console = Console(stderr=True)
    paths = resolve_paths()
    st = open_configured_store(store)
    try:
        version = st.graph_version()
        target = out or default_operator_dir(paths.cache_dir, version)
        if if_missing and (target / "manifest.json").is_file():
            try:
                LearnedModel.load(target, graph_version=version)
                fitted_by = json.loads((target / "manifest.json").read_text()).get("fit_code")
                if fitted_by == fit_code_fingerprint():
                    console.print(f"learned operator already fitted for this graph: {target}", soft_wrap=True)
                    typer.echo(str(target))
                    return
                console.print("refitting: the operator there was fitted by other operator code")
            except KgimagineError as exc:
                console.print(f"refitting: {exc}")
        pool = labelled_pool(st)
        embedder = None
        if embed:
            from kgimagine.reasoning.embedding import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        index = AnchorIndex.build(st, embedder=embedder, cache_dir=paths.cache_dir)
        model = LearnedModel.fit(EvidenceBuilder(st), pool, anchors=index, k=k, n_folds=folds)
        model.save(target, graph_version=version)
        console.print(f"learned operator: {describe_fit(model.meta)}")
        typer.echo(str(target))
    finally:
        st.close()


@app.command("pairs")
def pairs_cmd(
    out: Path = typer.Option(..., "--out", help="JSONL trace file to write (one StepExample per pair)."),
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI (default: the cached graph)."),
    splits: str = typer.Option(None, "--splits", help="Comma-separated splits to use (default: every split the graph labels)."),
    budget: int = typer.Option(12, "--budget", help="Facts retrieved per change (as the reasoning layer does)."),
    max_anchors: int = typer.Option(5, "--max-anchors", help="Anchors kept per target trial."),
    near: bool = typer.Option(True, "--near/--exact-only", help="Also keep near pairs (one main difference)."),
    min_similarity: float = typer.Option(0.5, "--min-similarity", help="Near pairs: least Jaccard of the other factors."),
    smoothing: float = typer.Option(
        0.7, "--smoothing",
        help="Outcome -> probability: smoothing*label + (1-smoothing)*phase base rate (the reasoning chain's rule).",
    ),
) -> None:
    """Mine one-factor pairs of labelled trials from the graph and write them as step examples."""
    from rich.console import Console

    from kgimagine.cli.settings import open_configured_store
    from kgimagine.traces import write_traces
    from kgimagine.training.pairs import PairStats, iter_pair_examples

    console = Console(stderr=True)
    st = open_configured_store(store)
    stats = PairStats()
    try:
        with _progress() as progress:
            task = progress.add_task("pairs", total=None, info="")

            def on_pair(k: int, n: int) -> None:
                progress.update(task, total=n, completed=k, info=f"{stats.examples} kept")

            n = write_traces(out, iter_pair_examples(
                st, allowed_splits=_split_list(splits) or None, near=near, min_similarity=min_similarity,
                max_anchors_per_target=max_anchors, budget=budget, smoothing=smoothing, stats=stats,
                on_pair=on_pair))
    finally:
        st.close()
    s = stats.as_dict()
    console.print(f"labelled trials {s['labelled']} (skipped: {s['skipped_split']} other split, "
                  f"{s['skipped_incomplete']} without drug or disease); exact pairs {s['exact_pairs']}, "
                  f"near pairs {s['near_pairs']}; {s['dropped_no_facts']} without facts dropped")
    typer.echo(f"wrote {n} pair examples to {out}")


def _training_splits(labelled: set[str], wanted: list[str]) -> set[str]:
    """The splits teacher chains may read: training splits only (``*_train``), never evaluation ones."""
    bad = [w for w in wanted if not w.endswith("_train")]
    if bad:
        raise ConfigError(f"--splits {','.join(bad)}: teacher chains are written for training splits only "
                          "(names ending in _train); evaluation trials must stay unseen")
    return set(wanted) if wanted else {s for s in labelled if s.endswith("_train")}


def _student_check(store: object):
    """The verifier a served student meets (rule evidence signs, no operator model), as a StepCheck."""
    from kgimagine.reasoning.verifier import NameIndex, verify_step

    names = NameIndex.from_store(store)  # type: ignore[arg-type]

    def check(answer, step):
        v = verify_step(answer, step, names, store=store)  # type: ignore[arg-type]
        return [c.verdict for c in v.claims], v.supported

    return check


@app.command("chains")
def chains_cmd(
    out: Path = typer.Option(..., "--out", help="JSONL trace file: one StepExample per kept teacher step (and mixed-in pair)."),
    rejects: Path = typer.Option(None, "--rejects", help="--whole-chains: JSONL of rejected chains with the reason (default: OUT.rejects.jsonl)."),
    store: str = typer.Option(None, "--store", help="Embedded graph directory or Neo4j URI (default: the cached graph)."),
    operator: str = typer.Option("auto", "--operator", help="Teacher operator: auto (the learned one when fitted), learned, statistical, local or openai."),
    model: str = typer.Option(None, "--model", help="Teacher model (learned operator folder, local folder, served name, or statistical model file)."),
    adapter: Path = typer.Option(None, "--adapter", help="PEFT adapter for --operator local."),
    splits: str = typer.Option(None, "--splits", help="Comma-separated training splits (default: every labelled *_train split)."),
    limit: int = typer.Option(0, "--limit", help="At most this many trials (0: all)."),
    k: int = typer.Option(5, "--k", help="Anchors per trial."),
    threshold: float = typer.Option(None, "--threshold", help="--whole-chains: decision threshold (default: the teacher's, else 0.5)."),
    pairs: Path = typer.Option(None, "--pairs", help="Pair examples (`train pairs`) to mix in where the teacher and the outcomes agree."),
    student_check: bool = typer.Option(True, "--student-check/--no-student-check",
                                       help="Keep only claims that also hold under the verifier a served student meets (rule signs)."),
    whole_chains: bool = typer.Option(False, "--whole-chains", help="Write whole ChainRecords (every step verified and the final label right) instead of steps."),
) -> None:
    """Run a teacher (default: the learned operator) over labelled training trials and write the
    steps the verifier supports as step examples: the teacher's direction, probability and claims
    are the targets. Never reads evaluation trials."""
    import contextlib
    import json

    from kgimagine.cli.predict import _make_operator
    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.kg.queries import trial_outcome
    from kgimagine.reasoning.operators.recording import RecordingOperator
    from kgimagine.reasoning.predictor import Predictor
    from kgimagine.reasoning.spec import TrialSpec
    from kgimagine.traces import write_traces
    from kgimagine.training.datasets import chain_reject_reason
    from kgimagine.training.distill import DistillStats, teacher_step_example
    from kgimagine.types import NodeLabel

    st = open_configured_store(store)
    rejects_path = rejects or out.with_suffix(".rejects.jsonl")
    stats = DistillStats()
    kept = rejected = 0
    try:
        labelled = []
        for node in st.iter_nodes(NodeLabel.TRIAL):
            label = trial_outcome(node)
            if label is not None:
                labelled.append((node.id, str(node.properties.get("split", "")), label))
        allowed = _training_splits({s for _, s, _ in labelled}, _split_list(splits))
        trials = sorted(t for t in labelled if t[1] in allowed)
        if limit:
            trials = trials[:limit]
        if not trials:
            raise ConfigError("no labelled training trials to run on; build the graph with labels (kg build) or fix --splits")
        teacher = _make_operator(operator, st, model=model, adapter=adapter, cache_dir=resolve_paths().cache_dir)
        recorder = RecordingOperator(teacher)
        cut = threshold if threshold is not None else float(getattr(teacher, "threshold", 0.5))
        predictor = Predictor(st, recorder, k=k, threshold=cut)
        check = _student_check(st) if student_check and not whole_chains else None
        specs = [TrialSpec.from_graph(st, tid) for tid, _, _ in trials]
        meta = {tid.split(":", 1)[1]: (split, label) for tid, split, label in trials}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("", encoding="utf-8")
        rej_file = open(rejects_path, "w", encoding="utf-8") if whole_chains else contextlib.nullcontext()
        with _progress() as progress, rej_file as rej:
            task = progress.add_task("teacher chains", total=len(specs), info="")
            for pred in predictor.predict_many(specs):
                split, label = meta.get(pred.nct_id or "", ("", None))
                records = predictor.to_chain_records(pred, split=split, target_label=label)
                if whole_chains:
                    good = []
                    for chain in records:
                        reason = chain_reject_reason(chain, threshold=cut)
                        if reason is None:
                            good.append(chain)
                        else:
                            rejected += 1
                            rej.write(json.dumps({"target_id": chain.target_id, "anchor_id": chain.anchor_id,
                                                  "operator": chain.operator, "reason": reason}) + "\n")
                    kept += write_traces(out, good, append=True)
                else:
                    examples = [ex for chain in records for i, step in enumerate(chain.steps)
                                if (ex := teacher_step_example(
                                    step, recorder.input_of(chain.anchor_id, step), graph_version=chain.graph_version,
                                    split=split, anchor_id=chain.anchor_id, target_id=chain.target_id,
                                    target_label=int(label or 0), index=i, check=check, stats=stats)) is not None]
                    kept += write_traces(out, examples, append=True)
                recorder.clear()
                progress.update(task, advance=1, info=f"{kept} kept")
            if pairs is not None and not whole_chains:
                kept += write_traces(out, _mixed_pairs(pairs, teacher, check, stats), append=True)
    finally:
        st.close()
    if whole_chains:
        typer.echo(f"wrote {kept} verified, correct chains to {out}; {rejected} rejected (reasons in {rejects_path})")
        return
    stats_path = out.with_suffix(".stats.json")
    stats_path.write_text(json.dumps(stats.as_dict(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {kept} step examples to {out} (counts in {stats_path}: "
               + ", ".join(f"{k_} {v}" for k_, v in stats.as_dict().items()) + ")")


def _mixed_pairs(path: Path, teacher: object, check, stats):
    """Pairs of ``path`` whose observed outcome change the teacher's out-of-fold estimates agree with."""
    from kgimagine.reasoning.aggregate import sigmoid
    from kgimagine.traces import StepExample, iter_traces
    from kgimagine.training.distill import mix_pairs

    model = getattr(teacher, "model", None)
    oof = getattr(model, "oof", None)
    if oof is None:
        raise ConfigError("--pairs needs a teacher with out-of-fold trial estimates (the learned operator)")

    def p_of(trial_id: str) -> float | None:
        got = oof.get(trial_id.removeprefix("clinicaltrials:"))
        return None if got is None else sigmoid(model.logit_of(got[0]))  # type: ignore[union-attr]

    examples = [r for r in iter_traces(path) if isinstance(r, StepExample) and r.origin == "pair"
                and r.split.endswith("_train")]  # training trials only, as for the chains
    moves = {}
    for ex in examples:
        pa, pt = p_of(ex.anchor_id), p_of(ex.target_id)
        if pa is not None and pt is not None:
            moves[ex.example_id] = pt - pa
    return mix_pairs(examples, moves, check=check, stats=stats)


@app.command("sft")
def sft_cmd(
    data: str = typer.Option(..., "--data", help="Trace file(s), comma-separated: pairs.jsonl[,chains.jsonl]."),
    out: Path = typer.Option(..., "--out", help="Adapter folder to write (PEFT files + kgimagine-manifest.json + loss_curve.png)."),
    base: Path = typer.Option(None, "--base", help="Base model folder (default: the bundled SmolLM2-135M-Instruct, converted once)."),
    steps: int = typer.Option(100, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per micro-batch (per process)."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Micro-batches per optimizer step."),
    lr: float = typer.Option(2e-4, "--lr", help="Peak learning rate (cosine decay to 10 %)."),
    max_length: int = typer.Option(768, "--max-length", help="Longer examples are skipped (counted in the manifest)."),
    rank: int = typer.Option(8, "--rank", help="LoRA rank (alpha = 2 x rank)."),
    targets: str = typer.Option("q_proj,v_proj", "--targets", help="LoRA target modules, or all-linear."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, "--seed"),
    warmup: int = typer.Option(0, "--warmup", help="Warm-up steps."),
    gradient_checkpointing: Optional[bool] = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing",
                                                           help="Default: on for CUDA, off for CPU."),
) -> None:
    """LoRA SFT of the base model on trace files (loss on the answer only)."""
    from rich.console import Console

    from kgimagine.cli.settings import resolve_paths
    from kgimagine.local_models import ensure_base_model
    from kgimagine.training.lora import LoraSettings, parse_target_modules
    from kgimagine.training.trainer import SftConfig, run_sft

    console = Console(stderr=True)
    paths = [Path(p) for p in _split_list(data)]
    if not paths:
        raise ConfigError("--data is empty; pass pairs.jsonl[,chains.jsonl]")
    try:
        cfg = SftConfig(steps=steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr, max_length=max_length,
                        device=device, seed=seed, warmup_steps=warmup, gradient_checkpointing=gradient_checkpointing,
                        lora=LoraSettings(rank=rank, alpha=2 * rank, target_modules=parse_target_modules(targets)))
    except ValueError as exc:  # pydantic: a knob out of range
        raise ConfigError(f"invalid training setting: {str(exc).splitlines()[1] if len(str(exc).splitlines()) > 1 else exc}") from None
    base_dir = base if base is not None else ensure_base_model(resolve_paths().cache_dir)
    with _progress() as progress:
        task = progress.add_task("LoRA SFT", total=steps, info="")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, info=f"loss {loss:.4f}")

        result, manifest = run_sft(base_dir, paths, out, cfg, progress=on_step, log=lambda s: console.print(s))
    m = result.metrics()
    typer.echo(f"adapter written to {out} (loss {m['initial_loss']} -> {m['final_loss']}, "
               f"{m['tokens_per_s']} tokens/s, curve in {out / 'loss_curve.png'})")


@app.command("grpo")
def grpo_cmd(
    data: str = typer.Option(..., "--data", help="Step-example trace file(s), comma-separated (`train chains` output)."),
    out: Path = typer.Option(..., "--out", help="Adapter folder to write (PEFT files + manifest + grpo_log.json + rewards.jsonl)."),
    init: Path = typer.Option(None, "--init", help="Start from this adapter (the SFT one); default: a fresh LoRA."),
    store: str = typer.Option(None, "--store", help="The graph the examples come from (the verifier's names); default: the cached graph."),
    base: Path = typer.Option(None, "--base", help="Base model folder (default: the bundled SmolLM2-135M-Instruct)."),
    steps: int = typer.Option(50, "--steps", help="Optimizer steps."),
    prompts_per_step: int = typer.Option(2, "--prompts-per-step", help="Prompts per step (each sampled --generations times)."),
    generations: int = typer.Option(4, "--generations", help="Completions per prompt (the GRPO group)."),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens", help="Completion length cap."),
    max_prompt_tokens: int = typer.Option(1024, "--max-prompt-tokens", help="Longer prompts are skipped."),
    lr: float = typer.Option(1e-5, "--lr"),
    temperature: float = typer.Option(1.0, "--temperature"),
    beta: float = typer.Option(0.0, "--beta", help="KL weight to the starting model (0: none)."),
    rank: int = typer.Option(8, "--rank", help="LoRA rank of a fresh adapter (alpha = 2 x rank)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """GRPO with verifiable rewards (trl GRPOTrainer): verifier support, claim penalty, direction
    against the teacher, outcome log-likelihood for pairs."""
    from rich.console import Console

    from kgimagine.cli.settings import open_configured_store, resolve_paths
    from kgimagine.local_models import ensure_base_model
    from kgimagine.training.grpo import REWARD_LOG, TRAINER_LOG, GrpoConfig, run_grpo
    from kgimagine.training.lora import LoraSettings

    console = Console(stderr=True)
    paths = [Path(p) for p in _split_list(data)]
    if not paths:
        raise ConfigError("--data is empty; pass the step examples of `kgimagine train chains`")
    try:
        cfg = GrpoConfig(steps=steps, prompts_per_step=prompts_per_step, num_generations=generations,
                         max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens, lr=lr,
                         temperature=temperature, beta=beta, device=device, seed=seed,
                         lora=LoraSettings(rank=rank, alpha=2 * rank))
    except ValueError as exc:
        raise ConfigError(f"invalid GRPO setting: {exc}") from None
    base_dir = base if base is not None else ensure_base_model(resolve_paths().cache_dir)
    st = open_configured_store(store)
    try:
        metrics = run_grpo(base_dir, paths, out, cfg, _student_check(st), init_adapter=init,
                           log=lambda s: console.print(s))
    finally:
        st.close()
    typer.echo(f"adapter written to {out} (reward {metrics['reward_first']} -> {metrics['reward_last']}, "
               f"{metrics['lora_tensors_changed']}/{metrics['lora_tensors']} LoRA tensors changed; "
               f"logs {out / TRAINER_LOG}, {out / REWARD_LOG})")


@app.command("merge")
def merge_cmd(
    adapter: Path = typer.Argument(..., help="Adapter folder written by `kgimagine train sft`."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged model (safetensors + tokenizer)."),
    base: Path = typer.Option(None, "--base", help="Base model folder (default: the one the adapter manifest records)."),
) -> None:
    """Merge an adapter into its base model (merge_and_unload) and save it as a plain model folder."""
    from kgimagine.training.export import merge_adapter

    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} is not an adapter folder (no adapter_config.json)")
    path = merge_adapter(adapter, out, base_dir=base)
    typer.echo(f"merged model written to {path}")
