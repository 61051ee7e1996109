"""The build orchestrator: batching, rejects, idempotence, resume after kill -9, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from kgimagine.kg.model import Edge, Provenance
from kgimagine.kg.networkx_store import NetworkXGraphStore
from kgimagine.loaders.base import LoadContext, Record, SourceSpec
from kgimagine.loaders.build import BuildEvent, build_graph
from kgimagine.loaders.repodb import RepoDBLoader
from kgimagine.loaders.top import TopTrialLoader
from kgimagine.types import RelationType as R
from tests.unit.loaders.test_resolve import FIXTURE_EDGES, FIXTURE_NODES

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "top"
SPLITS = {"train": DATA / "train.csv", "valid": DATA / "valid.csv"}


class FixtureLoader:
    """Stands in for the drug/disease source loaders; also yields two bad edges."""

    name = "fixture"
    spec = SourceSpec("fixture", "test-1", "CC0-1.0", "https://example.org", ())

    def iter_records(self, ctx: LoadContext) -> Iterator[Record]:
        yield from FIXTURE_NODES
        yield from FIXTURE_EDGES
        prov = Provenance("fixture", "test-1", "CC0-1.0", "bad:1")
        yield Edge("drugbank:DB00619", R.TARGETS, "ncbigene:999999", prov)  # endpoint missing
        yield Edge("drugbank:DB00619", R.TARGETS, "mondo:0008903", prov)  # Drug -> Disease: wrong range


def loaders() -> list:
    return [FixtureLoader(), RepoDBLoader(DATA / "repodb.csv", top_splits=SPLITS), TopTrialLoader(SPLITS)]


def run_build(graph_dir: str, cache_dir: str, labels_from: str = "train", kill_at: str = "", batch_size: int = 4):
    """Also the entry point of the kill -9 subprocess below."""
    st = NetworkXGraphStore(Path(graph_dir))
    ctx = LoadContext(data_dir=DATA, cache_dir=Path(cache_dir), labels_from=frozenset(labels_from.split(",")))

    def progress(ev: BuildEvent) -> None:
        if kill_at and ev.source == kill_at and ev.stage == "batch":
            os.kill(os.getpid(), signal.SIGKILL)

    report = build_graph(st, ctx, loaders(), batch_size=batch_size, progress=progress,
                         checkpoint=Path(graph_dir) / "build-state.json")
    return st, report


def _counts(st) -> tuple:
    s = st.stats()
    return dict(s.nodes_by_label), dict(s.edges_by_type), st.graph_version()


def test_build_counts_rejects_and_coverage(tmp_path: Path) -> None:
    st, rep = run_build(str(tmp_path / "g"), str(tmp_path / "c"))
    by = {s.name: s for s in rep.sources}
    assert [s.name for s in rep.sources] == ["fixture", "repodb", "top"]
    assert by["fixture"].nodes == len(FIXTURE_NODES)
    assert by["fixture"].edges == len(FIXTURE_EDGES)  # the two bad edges are rejects, not a crash
    assert by["fixture"].rejects == 2
    assert by["top"].nodes == 5 and by["top"].edges > 0
    assert by["repodb"].rejects == 3
    tsv = rep.rejects_path.read_text()
    assert "ncbigene:999999" in tsv and "goes Drug -> Gene, got Drug -> Disease" in tsv
    assert rep.coverage["trials"] == 5
    # NCT00000101 (regorafenib, drugcentral), 102 (imatinib), 103 (canagliflozin), 201 (sunitinib)
    assert rep.coverage["with_targeted_drug"]["count"] == 4
    assert rep.nodes_by_label["Trial"] == 5
    # the saved graph reloads with identical content
    assert _counts(NetworkXGraphStore(tmp_path / "g")) == _counts(st)


def test_rerun_without_checkpoint_is_idempotent(tmp_path: Path) -> None:
    st = NetworkXGraphStore(None)
    ctx = LoadContext(data_dir=DATA, cache_dir=tmp_path, labels_from=frozenset({"train"}))
    build_graph(st, ctx, loaders(), batch_size=3)
    first = _counts(st)
    ctx2 = LoadContext(data_dir=DATA, cache_dir=tmp_path, labels_from=frozenset({"train"}))
    build_graph(st, ctx2, loaders(), batch_size=1000)
    assert _counts(st) == first


def test_batch_size_does_not_change_the_graph(tmp_path: Path) -> None:
    a, _ = run_build(str(tmp_path / "a"), str(tmp_path / "c"), batch_size=1)
    b, _ = run_build(str(tmp_path / "b"), str(tmp_path / "c"), batch_size=10_000)
    assert _counts(a) == _counts(b)


def test_kill_9_during_build_then_rerun_equals_clean_build(tmp_path: Path) -> None:
    clean, _ = run_build(str(tmp_path / "clean"), str(tmp_path / "c"))
    g = tmp_path / "killed"
    code = (
        "import sys; from tests.unit.loaders.test_build import run_build; "
        "run_build(sys.argv[1], sys.argv[2], kill_at='top')"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(g), str(tmp_path / "c2")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = orjson.loads((g / "build-state.json").read_bytes())
    assert [d["name"] for d in state["done"]] == ["fixture", "repodb"]
    resumed, rep = run_build(str(g), str(tmp_path / "c2"))
    assert rep.resumed
    assert [(s.name, s.skipped) for s in rep.sources] == [("fixture", True), ("repodb", True), ("top", False)]
    assert _counts(resumed) == _counts(clean)
    # skipped sources keep their rows in the report and their rejects in rejects.tsv
    assert rep.sources[0].rejects == 2 and "ncbigene:999999" in rep.rejects_path.read_text()
    # a completed build re-run skips everything and changes nothing
    again, rep2 = run_build(str(g), str(tmp_path / "c2"))
    assert all(s.skipped for s in rep2.sources) and _counts(again) == _counts(clean)


def test_changed_labels_from_clears_stale_labels(tmp_path: Path) -> None:
    g = str(tmp_path / "g")
    st, _ = run_build(g, str(tmp_path / "c"), labels_from="train,valid")
    assert st.get_node("clinicaltrials:NCT00000201").properties.get("outcome_label") == 0
    st, rep = run_build(g, str(tmp_path / "c"), labels_from="train")
    assert not rep.resumed
    assert "outcome_label" not in st.get_node("clinicaltrials:NCT00000201").properties
    assert all("status" not in e.properties for e in st.iter_edges(R.TRIALLED_FOR) if e.key == "NCT00000201")


def test_a_finished_build_by_other_graph_code_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    """A store built by an older version of the loaders / resolver / schema is not reused."""
    import kgimagine.loaders.build as build

    g = str(tmp_path / "g")
    run_build(g, str(tmp_path / "c"))
    _, same = run_build(g, str(tmp_path / "c"))
    assert all(s.skipped for s in same.sources)
    monkeypatch.setattr(build, "code_fingerprint", lambda: "other code")
    _, rebuilt = run_build(g, str(tmp_path / "c"))
    assert not rebuilt.resumed and not any(s.skipped for s in rebuilt.sources)


def test_the_code_fingerprint_reads_the_graph_code() -> None:
    from kgimagine.loaders.build import GRAPH_CODE, code_fingerprint

    root = Path(build_module_file()).resolve().parents[1]
    assert all((root / name).exists() for name in GRAPH_CODE)
    assert code_fingerprint() == code_fingerprint() and len(code_fingerprint()) == 24


def build_module_file() -> str:
    import kgimagine.loaders.build as build

    return build.__file__


def test_cli_missing_source_file_is_one_line_with_path_and_url(tmp_path: Path) -> None:
    env = {**os.environ, "KGIMAGINE_CACHE": str(tmp_path / "cache")}
    empty = tmp_path / "data"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "kgimagine.cli.app", "kg", "build", "--data-dir", str(empty),
         "--store", str(tmp_path / "g"), "--sources", "top"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(empty / "top" / "phase_I_train.csv") in lines[0]
    assert "https://raw.githubusercontent.com/futianfan/clinical-trial-outcome-prediction/" in lines[0]
    assert not (tmp_path / "g" / "manifest.json").exists()


def test_cli_unknown_source_and_labels_split(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kgimagine.cli.app import app
    from kgimagine.errors import LoaderError

    res = CliRunner().invoke(app, ["kg", "build", "--data-dir", str(tmp_path), "--store", str(tmp_path / "g"),
                                   "--sources", "nosuch"])
    assert isinstance(res.exception, LoaderError) and "nosuch" in str(res.exception)


def test_upsert_with_narrower_labels_from_is_refused(tmp_path: Path) -> None:
    from kgimagine.errors import LeakageError

    st = NetworkXGraphStore(None)
    build_graph(st, LoadContext(data_dir=DATA, cache_dir=tmp_path, labels_from=frozenset({"train", "valid"})),
                loaders())
    with pytest.raises(LeakageError, match="outcome_label"):
        build_graph(st, LoadContext(data_dir=DATA, cache_dir=tmp_path, labels_from=frozenset({"train"})), loaders())


def test_cli_import_rdf_export_show_stats(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from kgimagine.cli.app import app

    monkeypatch.setenv("KGIMAGINE_CACHE", str(tmp_path / "cache"))
    g = str(tmp_path / "g")
    runner = CliRunner(env={"COLUMNS": "250"})
    res = runner.invoke(app, ["kg", "import-rdf", str(shared_data / "rdf" / "TopNodes_DOcancerslim.ttl"), "--store", g])
    assert res.exit_code == 0, res.output
    st = NetworkXGraphStore(Path(g))
    assert st.stats().nodes_by_label["Disease"] > 10 and st.stats().edges_by_type["SUBCLASS_OF"] > 5
    edge = next(st.iter_edges(R.SUBCLASS_OF))
    res = runner.invoke(app, ["kg", "show", edge.source, "--store", g])
    assert res.exit_code == 0 and edge.target in res.output and "rdf:TopNodes_DOcancerslim.ttl" in res.output
    res = runner.invoke(app, ["kg", "export", "--format", "nt", "--out", str(tmp_path / "g.nt"), "--store", g])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g.nt").read_text().count("\n") > 100
    res = runner.invoke(app, ["kg", "stats", "--store", g])
    assert res.exit_code == 0 and "SUBCLASS_OF" in res.output


# -- a store without save (Neo4j): staged in memory, written once with write_graph -------------
class WriteCounting(NetworkXGraphStore):
    """An in-memory store without ``save`` (built like Neo4j) that records how it was written."""

    save = None  # type: ignore[assignment]  # a store that cannot save is staged, as Neo4j is

    def __init__(self) -> None:
        super().__init__(None)
        self.calls: list[str] = []

    def write_graph(self, nodes, edges, *, batch_size=5000):
        self.calls.append("write_graph")
        return super().write_graph(nodes, edges, batch_size=batch_size)

    def clear(self) -> None:
        self.calls.append("clear")
        super().clear()


def _staged_build(st, tmp_path: Path, labels_from: str = "train", progress=None):
    ctx = LoadContext(data_dir=DATA, cache_dir=tmp_path / "c", labels_from=frozenset(labels_from.split(",")))
    return build_graph(st, ctx, loaders(), batch_size=4, progress=progress, checkpoint=tmp_path / "s" / "build-state.json")


def test_staged_build_equals_the_embedded_build(tmp_path: Path) -> None:
    clean, ref = run_build(str(tmp_path / "g"), str(tmp_path / "c0"))
    st = WriteCounting()
    rep = _staged_build(st, tmp_path)
    assert st.calls == ["clear", "write_graph"]  # one write of the whole graph
    assert _counts(st) == _counts(clean)
    assert [(s.name, s.nodes, s.edges, s.rejects, s.unknowns) for s in rep.sources] == [
        (s.name, s.nodes, s.edges, s.rejects, s.unknowns) for s in ref.sources]
    assert rep.coverage == ref.coverage and rep.graph_version == ref.graph_version
    assert rep.rejects_path.read_text() == ref.rejects_path.read_text()
    # a finished build re-run writes nothing
    again = _staged_build(st, tmp_path)
    assert st.calls == ["clear", "write_graph"] and all(s.skipped for s in again.sources)
    assert again.coverage == ref.coverage


def test_interrupted_staged_build_resumes_without_clearing(tmp_path: Path) -> None:
    clean, _ = run_build(str(tmp_path / "g"), str(tmp_path / "c0"))
    st = WriteCounting()

    def die(ev: BuildEvent) -> None:
        if ev.source == "top" and ev.stage == "batch":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _staged_build(st, tmp_path, progress=die)
    assert st.calls == ["clear"] and st.stats().node_count == 0  # nothing written before the end
    # as if a kill hit write_graph half-way: the store holds part of this build, one node changed
    part = [n for n in clean.iter_nodes()][::2]
    st.upsert_nodes(part)
    ids = {n.id for n in part}
    st.upsert_edges([e for e in clean.iter_edges() if e.source in ids and e.target in ids][::3])
    st.calls.clear()
    rep = _staged_build(st, tmp_path)
    assert st.calls == ["write_graph"]  # same fingerprint: not cleared
    assert rep.resumed and not any(s.skipped for s in rep.sources)
    assert _counts(st) == _counts(clean)


def test_staged_build_with_other_labels_from_clears(tmp_path: Path) -> None:
    st = WriteCounting()
    _staged_build(st, tmp_path, labels_from="train,valid")
    assert st.get_node("clinicaltrials:NCT00000201").properties.get("outcome_label") == 0
    st.calls.clear()
    rep = _staged_build(st, tmp_path, labels_from="train")
    assert st.calls == ["clear", "write_graph"] and not rep.resumed
    assert "outcome_label" not in st.get_node("clinicaltrials:NCT00000201").properties


def test_adding_sources_to_a_graph_without_checkpoint_sees_its_nodes(tmp_path: Path) -> None:
    """kg build --sources / import-rdf: the later loaders resolve against the nodes already there."""
    clean, _ = run_build(str(tmp_path / "g"), str(tmp_path / "c0"))
    st = WriteCounting()
    ctx = LoadContext(data_dir=DATA, cache_dir=tmp_path / "c", labels_from=frozenset({"train"}))
    build_graph(st, ctx, loaders()[:1], batch_size=4)
    assert st.calls == ["write_graph"]  # empty store: staged
    ctx = LoadContext(data_dir=DATA, cache_dir=tmp_path / "c", labels_from=frozenset({"train"}))
    rep = build_graph(st, ctx, loaders()[1:], batch_size=4)
    assert st.calls == ["write_graph"]  # not empty, no checkpoint: upserted directly
    assert rep.coverage["with_targeted_drug"]["count"] == 4
    assert _counts(st) == _counts(clean)
