"""The README's Python example runs as written (only the graph path points at the test build)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    return blocks[0]


def test_readme_python_example_runs(full_build) -> None:
    _, _, graph_dir = full_build
    code = readme_example()
    line = 'GRAPH = os.path.expanduser("~/.cache/kgimagine/graph")'
    assert line in code
    code = code.replace(line, f"GRAPH = {str(graph_dir)!r}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue()
    m = re.search(r"P\(success\) = (\d\.\d\d), grounding rate (\S+)", printed)
    assert m, printed
    assert 0.0 <= float(m.group(1)) <= 1.0
    # at least one imagination step was printed with its verdicts
    assert re.search(r"^(disease|drug|phase|population|dose|arm|endpoint) .* -> .*\{", printed, re.M), printed
