"""Time the main job (`scripts/run-main`) from an empty cache.

    python benchmarks/main_job.py                       # empty cache: creates the venv too (installs torch)
    python benchmarks/main_job.py --venv ~/.cache/kgimagine/venv
                                                        # reuse a ready venv; graph, model conversion and
                                                        # embeddings still start from an empty cache

Runs `scripts/run-main` with `KGIMAGINE_CACHE` (and `KGIMAGINE_GRAPH`) in a fresh temporary folder, so
the graph is built, the SmolLM2 GGUF converted and the MiniLM anchor embeddings computed from scratch.
With `--venv` the setup step is skipped (`KGIMAGINE_READY_VENV`) and this checkout's `src/` is put
first on `PYTHONPATH`, so the venv's editable install is not re-pointed. Records wall time, the
children's CPU time and peak RSS, the load average and the graph version, and writes
benchmarks/results/main_job.md (the command line included).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=None, help="a ready venv (skips scripts/setup)")
    ap.add_argument("--data-dir", type=Path, default=None, help="KGIMAGINE_DATA_DIR (default: run-main's search)")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "main_job.md")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="kgimagine-main-job-") as tmp:
        cache = Path(tmp) / "cache"
        env.update(KGIMAGINE_CACHE=str(cache), KGIMAGINE_GRAPH=str(cache / "graph"),
                   MAIN_TRIALS=str(args.trials), MAIN_K=str(args.k))
        env.pop("XDG_CACHE_HOME", None)
        if args.venv is not None:
            env["KGIMAGINE_READY_VENV"] = str(args.venv.expanduser())
            env["PYTHONPATH"] = str(ROOT / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if args.data_dir is not None:
            env["KGIMAGINE_DATA_DIR"] = str(args.data_dir)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([str(ROOT / "scripts" / "run-main")], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        graph_version = _graph_version(cache / "graph")
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        print(f"run-main failed with exit code {proc.returncode}", file=sys.stderr)
        return proc.returncode
    command = "python benchmarks/main_job.py" + "".join(
        f" {k} {shlex.quote(str(v))}" for k, v in (("--venv", args.venv), ("--data-dir", args.data_dir)) if v
    ) + (f" --trials {args.trials}" if args.trials != 3 else "") + (f" --k {args.k}" if args.k != 5 else "")
    setup = "venv reused (setup skipped)" if args.venv else "venv created by scripts/setup"
    lines = [
        "# Main job from an empty cache (`benchmarks/main_job.py`)", "",
        f"Command: `{command}`",
        f"Graph version: {graph_version}",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), Python "
        f"{platform.python_version()}, CPU only; load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end.",
        "",
        "`scripts/run-main` with `KGIMAGINE_CACHE` in an empty temporary folder: prediction-graph build "
        "(every labelled split), learned-operator fit (MiniLM anchor embeddings included) and "
        f"{args.trials} new trials of tests/data/reasoning/new_trials.csv predicted with the default (learned) "
        f"operator, k={args.k}; {setup}.",
        "",
        "| wall | CPU (user + sys, children) | peak RSS (largest child) | target |",
        "|---|---|---|---|",
        f"| {wall // 60:.0f} min {wall % 60:.0f} s | {usage.ru_utime + usage.ru_stime:.0f} s | "
        f"{usage.ru_maxrss / 1024 / 1024:.2f} GiB | < 5 min |",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def _graph_version(graph: Path) -> str:
    import json

    manifest = graph / "manifest.json"
    if not manifest.is_file():
        return "(no graph manifest)"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return str(data.get("graph_version") or data.get("version") or "(not in the manifest)")


if __name__ == "__main__":
    raise SystemExit(main())
