"""Scores with bootstrap intervals, paired comparisons with the text baseline, Markdown and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from kgimagine.evaluation.audit import AuditReport
from kgimagine.evaluation.metrics import (
    BOOTSTRAP_SEED,
    ECE_BINS,
    N_BOOTSTRAP,
    Interval,
    PairedDifference,
    average_precision,
    bootstrap,
    brier_score,
    calibration_bins,
    expected_calibration_error,
    f1_at,
    paired_bootstrap,
    roc_auc,
)
from kgimagine.evaluation.protocol import MethodRun

#: headline metrics: name -> (function of (y, probability-or-decision), uses decisions, higher is better)
HEADLINE: dict[str, tuple[Any, bool, bool]] = {
    "average_precision": (average_precision, False, True),
    "roc_auc": (roc_auc, False, True),
    "f1": (lambda y, d: f1_at(y, d, 0.5), True, True),
    "brier": (brier_score, False, False),
    "ece": (lambda y, p: expected_calibration_error(y, p, ECE_BINS), False, False),
}
COMPARED = ("average_precision", "roc_auc", "f1", "brier")
BASELINE_FOR_COMPARISON = "text"
#: The second baseline chain methods are compared with (text plus the trial's graph features).
GRAPH_BASELINE_FOR_COMPARISON = "text+graph"


@dataclass
class ChainSummary:
    n_trials: int
    grounding_rate: float | None
    unsupported_step_rate: float | None
    steps_per_trial: float | None
    seconds_per_trial: float | None
    errors: int = 0
    no_anchor: int = 0  # trials without any anchor chain (phase base rate / model estimate, flagged)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class MethodScore:
    name: str
    n: int
    overall: dict[str, Interval]
    per_phase: dict[str, dict[str, Any]]
    thresholds: list[float]
    protocol: str
    seconds_per_trial: float
    fit_seconds: float
    n_fits: int
    calibration: list[dict[str, float]]
    versus_text: dict[str, PairedDifference] = field(default_factory=dict)
    #: chain methods only: paired differences with the text+graph baseline
    versus_text_graph: dict[str, PairedDifference] = field(default_factory=dict)
    chain: ChainSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "metrics": {k: v.to_dict() for k, v in self.overall.items()},
            "per_phase": {
                ph: {"n": d["n"], "n_positive": d["n_positive"], "metrics": {k: v.to_dict() for k, v in d["metrics"].items()}}
                for ph, d in self.per_phase.items()
            },
            "thresholds": self.thresholds,
            "protocol": self.protocol,
            "seconds_per_trial": self.seconds_per_trial,
            "fit_seconds": self.fit_seconds,
            "n_fits": self.n_fits,
            "calibration_bins": self.calibration,
            "versus_text": {k: v.to_dict() for k, v in self.versus_text.items()},
            "versus_text_graph": {k: v.to_dict() for k, v in self.versus_text_graph.items()},
            "chain": None if self.chain is None else self.chain.to_dict(),
        }


def _score_all(y: np.ndarray, run: MethodRun, idx: np.ndarray | None, n_resamples: int, seed: int) -> dict[str, Interval]:
    yy = y if idx is None else y[idx]
    p = run.probability if idx is None else run.probability[idx]
    d = run.predicted_positive if idx is None else run.predicted_positive[idx]
    out = {}
    for name, (fn, uses_decisions, _) in HEADLINE.items():
        out[name] = bootstrap(fn, yy, d.astype(np.float64) if uses_decisions else p, n_resamples=n_resamples, seed=seed)
    return out


def score_run(y: np.ndarray, run: MethodRun, phases: Sequence[str], *, n_resamples: int = N_BOOTSTRAP,
              seed: int = BOOTSTRAP_SEED, chain: ChainSummary | None = None) -> MethodScore:
    y = np.asarray(y, dtype=np.int64)
    per_phase: dict[str, dict[str, Any]] = {}
    phases_arr = np.asarray(list(phases), dtype=object)
    for ph in sorted(set(phases_arr.tolist())):
        idx = np.nonzero(phases_arr == ph)[0]
        per_phase[ph or "(none)"] = {
            "n": int(idx.size),
            "n_positive": int(y[idx].sum()),
            "metrics": _score_all(y, run, idx, n_resamples, seed),
        }
    n = len(y)
    return MethodScore(
        name=run.name,
        n=n,
        overall=_score_all(y, run, None, n_resamples, seed),
        per_phase=per_phase,
        thresholds=[float(t) for t in run.thresholds],
        protocol=run.protocol,
        seconds_per_trial=run.predict_seconds / n if n else 0.0,
        fit_seconds=run.fit_seconds,
        n_fits=run.n_fits,
        calibration=[_bin_dict(b) for b in calibration_bins(y, run.probability)],
        chain=chain,
    )


def _bin_dict(b: Any) -> dict[str, float]:
    return {"lower": b.lower, "upper": b.upper, "count": b.count, "mean_predicted": b.mean_predicted,
            "fraction_positive": b.fraction_positive}


def compare_with(y: np.ndarray, run: MethodRun, baseline: MethodRun, *, n_resamples: int = N_BOOTSTRAP,
                 seed: int = BOOTSTRAP_SEED) -> dict[str, PairedDifference]:
    """Paired bootstrap of ``run - baseline`` for the compared metrics (same resamples for both)."""
    out = {}
    for name in COMPARED:
        fn, uses_decisions, _ = HEADLINE[name]
        a = run.predicted_positive.astype(np.float64) if uses_decisions else run.probability
        b = baseline.predicted_positive.astype(np.float64) if uses_decisions else baseline.probability
        out[name] = paired_bootstrap(fn, y, a, b, n_resamples=n_resamples, seed=seed)
    return out


@dataclass
class EvaluationReport:
    title: str
    evaluated_file: str
    n_trials: int
    n_positive: int
    mode: str
    scores: list[MethodScore]
    audit: AuditReport
    notes: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "evaluated_file": self.evaluated_file,
            "n_trials": self.n_trials,
            "n_positive": self.n_positive,
            "mode": self.mode,
            "bootstrap": {"resamples": N_BOOTSTRAP, "seed": BOOTSTRAP_SEED, "interval": "95% percentile"},
            "ece_bins": ECE_BINS,
            "audit": self.audit.to_dict(),
            "methods": [s.to_dict() for s in self.scores],
            "notes": self.notes,
            "context": self.context,
        }

    def to_markdown(self, heading_level: int = 2) -> str:
        h = "#" * heading_level
        lines = [f"{h} {self.title}", ""]
        lines.append(f"Evaluated file `{self.evaluated_file}`: {self.n_trials} trials, {self.n_positive} successes "
                     f"({self.n_positive / max(self.n_trials, 1):.1%}). Mode: {self.mode}.")
        for k, v in self.context.items():
            lines.append(f"- {k}: {v}")
        lines += ["", self.audit.to_markdown(), ""]
        lines += [f"{h}# Headline metrics (95 % bootstrap CI, {N_BOOTSTRAP} resamples, seed {BOOTSTRAP_SEED})", "",
                  "| method | AP | ROC-AUC | F1 (threshold) | Brier | ECE (10 bins) | s/trial |",
                  "|---|---|---|---|---|---|---|"]
        for s in self.scores:
            o = s.overall
            thr = (f"{s.thresholds[0]:.3f}" if len(s.thresholds) == 1
                   else f"{min(s.thresholds):.3f}–{max(s.thresholds):.3f}")
            lines.append(f"| {s.name} | {o['average_precision']} | {o['roc_auc']} | {o['f1']} (t={thr}) | "
                         f"{o['brier']} | {o['ece']} | {s.seconds_per_trial:.4f} |")
        compared = [s for s in self.scores if s.versus_text]
        if compared:
            lines += ["", f"{h}# Difference with the text baseline (paired bootstrap, same resamples)", "",
                      "A difference whose 95 % interval contains 0 is marked *within noise* and is not claimed. "
                      "Brier: lower is better, so a negative difference is an improvement.", "",
                      "| method | ΔAP | ΔROC-AUC | ΔF1 | ΔBrier |", "|---|---|---|---|---|"]
            for s in compared:
                v = s.versus_text
                lines.append(f"| {s.name} | {v['average_precision']} | {v['roc_auc']} | {v['f1']} | {v['brier']} |")
        compared = [s for s in self.scores if s.versus_text_graph]
        if compared:
            lines += ["", f"{h}# Chain methods against text+graph (paired bootstrap, same resamples)", "",
                      "| method | ΔAP | ΔROC-AUC | ΔF1 | ΔBrier |", "|---|---|---|---|---|"]
            for s in compared:
                v = s.versus_text_graph
                lines.append(f"| {s.name} | {v['average_precision']} | {v['roc_auc']} | {v['f1']} | {v['brier']} |")
        chains = [(s, s.chain) for s in self.scores if s.chain is not None]
        if chains:
            lines += ["", f"{h}# Chain methods", "",
                      "| method | trials | grounding rate | unsupported-step rate | steps/trial | s/trial | errors | no anchor |",
                      "|---|---|---|---|---|---|---|---|"]
            for s, c in chains:
                fmt = lambda x, f=".3f": "n/a" if x is None else format(x, f)  # noqa: E731
                lines.append(f"| {s.name} | {c.n_trials} | {fmt(c.grounding_rate)} | {fmt(c.unsupported_step_rate)} | "
                             f"{fmt(c.steps_per_trial, '.1f')} | {fmt(c.seconds_per_trial, '.2f')} | {c.errors} | {c.no_anchor} |")
        lines += ["", f"{h}# Per phase", ""]
        phases = sorted({ph for s in self.scores for ph in s.per_phase})
        lines += ["| method | phase | n (succ.) | AP | ROC-AUC | F1 | Brier | ECE |", "|---|---|---|---|---|---|---|---|"]
        for s in self.scores:
            for ph in phases:
                d = s.per_phase.get(ph)
                if d is None:
                    continue
                m = d["metrics"]
                lines.append(f"| {s.name} | {ph} | {d['n']} ({d['n_positive']}) | {m['average_precision']} | "
                             f"{m['roc_auc']} | {m['f1']} | {m['brier']} | {m['ece']} |")
        lines += ["", f"{h}# Calibration bins (plot numbers: mean predicted / observed success, count)", ""]
        for s in self.scores:
            cells = ", ".join(f"[{b['lower']:.1f},{b['upper']:.1f}) {b['mean_predicted']:.2f}/"
                              f"{b['fraction_positive']:.2f} n={b['count']}" for b in s.calibration)
            lines.append(f"- {s.name}: {cells}")
        lines += ["", f"{h}# Protocol per method", ""]
        for s in self.scores:
            lines.append(f"- {s.name}: {s.protocol} ({s.n_fits} fits, {s.fit_seconds:.1f} s fitting)")
        if self.notes:
            lines += ["", f"{h}# Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def curve_points(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    """ROC and precision-recall curve points (scikit-learn, imported lazily)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out: dict[str, list[float]] = {}
    if 0 < int(np.sum(y)) < len(y):
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        out = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "precision": prec.tolist(), "recall": rec.tolist()}
    return out


def write_plots(out_dir: Path, y: np.ndarray, runs: Sequence[MethodRun], title: str) -> list[Path]:
    """ROC, precision-recall and calibration PNGs with every method overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    y = np.asarray(y, dtype=np.int64)
    curves = {r.name: curve_points(y, r.probability) for r in runs}
    for kind, (xk, yk, xl, yl) in {"roc": ("fpr", "tpr", "false positive rate", "true positive rate"),
                                    "pr": ("recall", "precision", "recall", "precision")}.items():
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for name, c in curves.items():
            if c:
                ax.plot(c[xk], c[yk], label=name, lw=1.2)
        if kind == "roc":
            ax.plot([0, 1], [0, 1], ls=":", c="grey")
        else:
            ax.axhline(y.mean(), ls=":", c="grey", label="base rate")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(f"{title}: {'ROC' if kind == 'roc' else 'precision-recall'}", fontsize=9)
        ax.legend(fontsize=7)
        path = out_dir / f"{kind}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    for r in runs:
        bins = calibration_bins(y, r.probability)
        ax.plot([b.mean_predicted for b in bins], [b.fraction_positive for b in bins], marker="o", ms=3, label=r.name)
    ax.set_xlabel("mean predicted probability (10 equal-width bins)")
    ax.set_ylabel("observed success rate")
    ax.set_title(f"{title}: calibration", fontsize=9)
    ax.legend(fontsize=7)
    path = out_dir / "calibration.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


def write_report(out_dir: Path, report: EvaluationReport, extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = report.to_dict()
    if extra:
        payload.update(extra)
    mj = out_dir / "metrics.json"
    mj.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    md = out_dir / "report.md"
    md.write_text(report.to_markdown(), encoding="utf-8")
    return {"metrics": mj, "report": md}
