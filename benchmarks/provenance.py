"""What every results file records about how it was made: the exact command line, the graph's
version and build recipe where a graph is involved, and when and on how busy a machine it ran, so
``benchmarks/results.py`` can tell current figures from stale ones and a reader can judge timings.

Import it from a benchmark script (``python benchmarks/<name>.py`` puts this folder on sys.path).

    run = RunRecord()                       # at the start of the script
    ...
    lines = [*command_lines(graph_version=graph_version_of(DIR), graph_build=graph_recipe_of(DIR)),
             run.line()]                    # when the results are written
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

#: ``kgimagine kg build`` options that change the graph's content (the others — --store,
#: --data-dir, --download, --batch-size, --fresh — only say where and how it is written).
RECIPE_OPTIONS = ("--labels-from", "--sources")
#: The prediction graph (``scripts/run-main``, ``kgimagine predict``): a unit that names a graph
#: version without a ``Graph build:`` line was made on it.
PREDICTION_RECIPE = "--labels-from all"
#: ``kgimagine kg build``'s own default for ``--labels-from``.
CLI_DEFAULT_LABELS = "phase_I_train"


def command_line(argv: list[str] | None = None) -> str:
    """``python benchmarks/<script>.py <args>`` as this process was started (arguments quoted)."""
    args = sys.argv if argv is None else argv
    script = Path(args[0])
    name = f"benchmarks/{script.name}" if script.suffix == ".py" else args[0]
    return "python " + " ".join([name, *map(shlex.quote, args[1:])])


def command_lines(*, graph_version: str | None = None, graph_build: str | None = None,
                  argv: list[str] | None = None) -> list[str]:
    """The header lines results.py reads: ``Command: `...` ``, ``Graph version: kg-…`` and
    ``Graph build: `kgimagine kg build <recipe>` `` (the recipe of that graph, see ``graph_recipe_of``)."""
    lines = [f"Command: `{command_line(argv)}`"]
    if graph_version is not None:
        lines.append(f"Graph version: {graph_version}")
    if graph_build is not None:
        lines.append(f"Graph build: `kgimagine kg build {graph_build}`")
    return lines


def normalise_recipe(text: str | None) -> str:
    """The content-relevant ``kgimagine kg build`` options of ``text`` in one canonical form:
    ``--labels-from all`` or ``--labels-from a,b`` (sorted) [``--sources x,y`` (sorted)].
    None or "" (no recipe given): the prediction graph."""
    if not text or not text.strip():
        return PREDICTION_RECIPE
    words = shlex.split(text)
    if words[:3] == ["kgimagine", "kg", "build"]:
        words = words[3:]
    opts: dict[str, str] = {}
    i = 0
    while i < len(words):
        w = words[i]
        name, _, value = w.partition("=")
        if name in RECIPE_OPTIONS:
            if not value and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            opts[name] = value
        elif name.startswith("--") and not value and i + 1 < len(words) and not words[i + 1].startswith("--") \
                and name not in ("--download", "--fresh"):
            i += 1  # another option's value (--store DIR, --data-dir D, --batch-size N)
        i += 1
    labels = opts.get("--labels-from", CLI_DEFAULT_LABELS).strip()
    parts = [f"--labels-from {'all' if labels == 'all' else ','.join(sorted(s.strip() for s in labels.split(',') if s.strip()))}"]
    if opts.get("--sources"):
        parts.append("--sources " + ",".join(sorted(s.strip() for s in opts["--sources"].split(",") if s.strip())))
    return " ".join(parts)


def labels_recipe(trials: Iterable[tuple[Any, bool]]) -> str:
    """``--labels-from`` of a graph read off its trials, ``(split property, has an outcome label)``
    each: the splits of the labelled trials (the build keeps a label only when every split of the
    trial is allowed); ``all`` when that is every split the graph's trials come from."""
    every: set[str] = set()
    labelled: set[str] = set()
    for split, has_label in trials:
        splits = {str(s) for s in (split if isinstance(split, (list, tuple)) else [split]) if s}
        every |= splits
        if has_label:
            labelled |= splits
    if labelled and labelled == every:
        return "--labels-from all"
    return "--labels-from " + (",".join(sorted(labelled)) or "none")


def graph_version_of(graph: Path) -> str:
    """The version of an embedded graph (its manifest.json)."""
    manifest = Path(graph) / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{graph} has no manifest.json; build it with `kgimagine kg build --store {graph}`")
    return str(json.loads(manifest.read_text(encoding="utf-8"))["graph_version"])


def graph_recipe_of(graph: Path) -> str:
    """The build recipe (normalised ``kgimagine kg build`` options) of an embedded graph, read off
    its trial nodes (stdlib only: the nodes JSON Lines file named in manifest.json; see
    ``labels_recipe``). ``--sources`` cannot be read off a graph: a partial build reads as full."""
    graph = Path(graph)
    manifest = json.loads((graph / "manifest.json").read_text(encoding="utf-8"))
    trials = []
    with open(graph / manifest["nodes_file"], encoding="utf-8") as fh:
        for line in fh:
            if '"Trial"' not in line[:300]:
                continue
            node = json.loads(line)
            if node[1] != "Trial":
                continue
            props = node[3] if len(node) > 3 and isinstance(node[3], dict) else {}
            label = props.get("outcome_label")
            trials.append((props.get("split"), label is not None and str(label).strip() in {"0", "1"}))
    return normalise_recipe(labels_recipe(trials))


# -- when and on how busy a machine -----------------------------------------------------------------


def _machine_busy_s() -> float | None:
    """CPU-seconds the whole machine has spent busy since boot (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (f + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU-seconds of this process and its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _pid_cpu_s(pid: int) -> float | None:
    """CPU-seconds of process ``pid`` (Linux /proc), None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class RunRecord:
    """One benchmark run: its start (UTC), wall time, and how busy the machine was meanwhile
    (load average sampled every ``every`` seconds; machine CPU from /proc/stat against the CPU of
    this process tree and of the servers it uses, ``track_pid_file``). ``line()`` is the results
    file's ``Run:`` line."""

    def __init__(self, every: float = 5.0) -> None:
        self.started = datetime.now(timezone.utc)
        self._t0 = time.perf_counter()
        self._busy0, self._own0 = _machine_busy_s(), _own_cpu_s()
        self.loads = [os.getloadavg()[0]]
        self._pid_files: list[Path] = []
        self._pid_cpu: dict[int, tuple[float, float]] = {}  # pid -> (CPU when first seen, CPU last seen)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(every,), daemon=True)
        self._thread.start()

    def track_pid_file(self, path: Path, *, started_here: bool = False) -> None:
        """Count the CPU of the server whose pid ``path`` holds (e.g. a Neo4j instance's
        ``run/neo4j.pid``) as the benchmark's own: from now on, or all of it when the server is
        started during the run (``started_here``, or not running yet). Sampled with the load."""
        with self._lock:
            self._pid_files.append(Path(path))
            if not started_here:
                self._poll_pids(first_seen_zero=False)

    def _poll_pids(self, *, first_seen_zero: bool = True) -> None:
        for path in self._pid_files:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
            cpu = _pid_cpu_s(pid) if pid else None
            if cpu is None:
                continue
            first = self._pid_cpu.get(pid, (0.0 if first_seen_zero else cpu, cpu))[0]
            self._pid_cpu[pid] = (first, cpu)

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            self.loads.append(os.getloadavg()[0])
            with self._lock:
                self._poll_pids()

    def line(self) -> str:
        wall = time.perf_counter() - self._t0
        self.loads.append(os.getloadavg()[0])
        with self._lock:
            self._poll_pids()
            servers = sum(last - first for first, last in self._pid_cpu.values())
        cores = os.cpu_count() or 1
        busy1 = _machine_busy_s()
        text = (f"Run: {self.started:%Y-%m-%d %H:%M} UTC, {wall:.0f} s wall on {cores} cores; load average "
                f"{min(self.loads):.1f}–{max(self.loads):.1f} during the run (sampled every few seconds)")
        if self._busy0 is not None and busy1 is not None and wall > 0:
            busy = (busy1 - self._busy0) / wall
            own = (_own_cpu_s() - self._own0 + servers) / wall
            other = max(0.0, busy - own)
            text += (f"; CPU busy {busy:.2f} of {cores} cores on average, {own:.2f} of them this benchmark"
                     + (" (its Neo4j server included)" if self._pid_cpu else "") + f", {other:.2f} other processes")
            loaded = other >= 0.25
        else:
            loaded = max(self.loads) >= cores
        text += (": the machine was shared with other CPU-heavy work, so timings are conservative (slower than "
                 "on an idle machine)." if loaded else ": the machine was otherwise close to idle.")
        return text
