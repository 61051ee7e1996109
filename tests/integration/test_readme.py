"""The README's Python example runs as written (only the graph path points at the test build), and
its probability follows the graph's evidence: the same example on a copy of the graph that also holds
a failed trial identical to the README's target gives a lower probability, with that trial as anchor."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GRAPH_LINE = 'GRAPH = os.path.expanduser("~/.cache/kgimagine/graph")'
TWIN = "clinicaltrials:NCT99999901"


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    return blocks[0]


def run_example(graph_dir: Path) -> str:
    code = readme_example()
    assert GRAPH_LINE in code
    code = code.replace(GRAPH_LINE, f"GRAPH = {str(graph_dir)!r}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return out.getvalue()


def probability(printed: str) -> float:
    m = re.search(r"P\(success\) = (\d\.\d\d), grounding rate (\S+)", printed)
    assert m, printed
    return float(m.group(1))


def add_failed_twin(graph_dir: Path, copy_dir: Path) -> None:
    """A copy of the graph plus a failed phase 3 trial of the README's drug, disease and criteria."""
    from kgimagine.kg.model import Edge, Node, Provenance
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.reasoning.retrieval import TargetResolver
    from kgimagine.reasoning.spec import TrialSpec
    from kgimagine.types import NodeLabel, RelationType

    shutil.copytree(graph_dir, copy_dir)
    st = NetworkXGraphStore(copy_dir)
    spec = TrialSpec.build(
        drugs=["sunitinib"], diseases=["hepatocellular carcinoma"], phase="phase 3",
        criteria="Inclusion: advanced HCC, Child-Pugh A. Exclusion: prior systemic therapy.")
    target = TargetResolver(st).resolve(spec)
    assert target.drug_ids and target.disease_ids, "the README's drug and disease resolve in the full graph"
    prov = Provenance("test", "1", "CC0", "tests/integration/test_readme.py")
    st.upsert_nodes([Node(TWIN, NodeLabel.TRIAL, TWIN.split(":")[1],
                          {"phase": "phase 3", "split": "phase_I_train", "criteria": spec.criteria,
                           "outcome_label": 0})])
    st.upsert_edges([Edge(TWIN, RelationType.TESTS, d, prov) for d in target.drug_ids]
                    + [Edge(TWIN, RelationType.STUDIES, d, prov) for d in target.disease_ids])
    st.save()
    st.close()


def test_readme_python_example_runs_and_follows_the_evidence(full_build, tmp_path) -> None:
    _, _, graph_dir = full_build
    printed = run_example(graph_dir)
    p = probability(printed)
    # at least one imagination step was printed with its verdicts
    assert re.search(r"^(disease|drug|phase|population) .* -> .*\{", printed, re.M), printed
    add_failed_twin(graph_dir, tmp_path / "graph-with-twin")
    printed_twin = run_example(tmp_path / "graph-with-twin")
    assert probability(printed_twin) < p, (printed, printed_twin)
