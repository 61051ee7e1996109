"""What every results file records about how it was made: the exact command line (and, where a
graph is involved, its version), so ``benchmarks/results.py`` can tell current figures from stale ones.

Import it from a benchmark script (``python benchmarks/<name>.py`` puts this folder on sys.path).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def command_line(argv: list[str] | None = None) -> str:
    """``python benchmarks/<script>.py <args>`` as this process was started (arguments quoted)."""
    args = sys.argv if argv is None else argv
    script = Path(args[0])
    name = f"benchmarks/{script.name}" if script.suffix == ".py" else args[0]
    return "python " + " ".join([name, *map(shlex.quote, args[1:])])


def command_lines(*, graph_version: str | None = None, argv: list[str] | None = None) -> list[str]:
    """The two header lines results.py reads: ``Command: `...` `` and ``Graph version: kg-…``."""
    lines = [f"Command: `{command_line(argv)}`"]
    if graph_version is not None:
        lines.append(f"Graph version: {graph_version}")
    return lines
