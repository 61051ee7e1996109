"""Gold-set scorer of trial -> disease / drug links (handmade fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgimagine.errors import EvaluationError
from kgimagine.evaluation.resolution import read_gold, score_links

GOLD = Path(__file__).resolve().parents[2] / "data" / "evaluation" / "gold_fixture"


def test_read_gold_kinds_and_ids() -> None:
    rows = read_gold(GOLD / "trial_disease.tsv")
    assert [r.kind for r in rows] == ["ids", "ids", "none", "ids"]
    assert rows[0].expected == ("mondo:1", "doid:1") and rows[1].also_ok == ("mondo:3",)
    drugs = read_gold(GOLD / "trial_drug.tsv")
    assert drugs[1].kind == "comparator" and drugs[1].expected == ()


def test_read_gold_names_a_missing_column(tmp_path: Path) -> None:
    bad = tmp_path / "g.tsv"
    bad.write_text("nctid\texpected\nNCT1\tnone\n")
    with pytest.raises(EvaluationError, match="lacks column"):
        read_gold(bad)


def test_disease_precision_and_recall() -> None:
    gold = read_gold(GOLD / "trial_disease.tsv")
    predicted = {
        "NCT1": [("breast cancer", "mondo:1"), ("breast cancer", "doid:1"), ("stage iv lung cancer", "mondo:3"),
                 ("a name the gold set did not judge", "mondo:99")],
        "NCT2": [("healthy volunteers", "mondo:5")],  # wrong: the gold says none
        "NCT3": [],
    }
    s = score_links(gold, predicted, kind="disease")
    assert (s.predicted, s.correct) == (4, 3)  # the unjudged name's link is not counted
    assert s.wrong == [("NCT2", "healthy volunteers", "mondo:5")]
    # recall: breast (hit), lung (expected mondo:2, only also_ok predicted: miss), ovarian (miss)
    assert (s.recall_hit, s.recall_total) == (1, 3)
    assert s.precision == pytest.approx(0.75) and s.recall == pytest.approx(1 / 3)


def test_drug_recall_counts_each_expected_drug_and_alternative_ids() -> None:
    gold = read_gold(GOLD / "trial_drug.tsv")
    predicted = {"NCT1": [("a, b and c", "db:a"), ("a, b and c", "db:c"), ("placebo", "db:p")],
                 "NCT2": [("x 10 mg", "dc:x")]}
    s = score_links(gold, predicted, kind="drug")
    assert (s.predicted, s.correct) == (4, 3)  # placebo linked to a drug is wrong
    assert (s.recall_hit, s.recall_total) == (3, 4)  # b missed; dc:x stands for db:x
    assert s.missed == [("NCT1", "a, b and c", "db:b")]


# -- the real gold set (tests/data/gold, merged from the gold branch) on the graph built from shared data
REAL_GOLD = Path(__file__).resolve().parents[2] / "data" / "gold"
#: (precision, recall) floors per gold set. ``gold``: issue 10's targets, met when this test was
#: written. ``recheck``: the independent sample judged after the resolver's rules were tuned on
#: ``gold`` (tests/data/gold/README.md); the same precision targets, and recall floors under the
#: figures measured on it (disease 91.8 %, drug 86.9 %: issue 10's drug recall target of 90 % is
#: not met on data the rules never saw; benchmarks/results/resolution.md says so).
TARGETS = {("gold", "disease"): (0.97, 0.85), ("gold", "drug"): (0.98, 0.90),
           ("recheck", "disease"): (0.97, 0.85), ("recheck", "drug"): (0.98, 0.85)}


@pytest.fixture(scope="module")
def built_graph(shared_data, tmp_path_factory):
    from kgimagine.kg.networkx_store import NetworkXGraphStore
    from kgimagine.loaders.base import LoadContext
    from kgimagine.loaders.build import build_graph, default_loaders

    if not (REAL_GOLD / "trial_disease.tsv").is_file():
        pytest.skip(f"{REAL_GOLD} is not in this checkout (the gold set lives on the gold branch until merged)")
    tmp = tmp_path_factory.mktemp("resolution")
    st = NetworkXGraphStore()
    ctx = LoadContext(data_dir=shared_data, cache_dir=tmp, labels_from=frozenset({"phase_I_train"}))
    build_graph(st, ctx, default_loaders(shared_data), compute_coverage=False, rejects_path=tmp / "rejects.tsv")
    return st


@pytest.mark.parametrize("gold_set", ["gold", "recheck"])
@pytest.mark.parametrize("kind", ["disease", "drug"])
def test_gold_precision_and_recall_meet_the_targets(gold_set, kind, built_graph, shared_data) -> None:
    from kgimagine.loaders.top import DEFAULT_SPLITS, read_top_csv
    from kgimagine.trials.resolve import TrialResolver

    path = (REAL_GOLD if gold_set == "gold" else REAL_GOLD / "recheck") / f"trial_{kind}.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout (the gold set lives on the gold branch until merged)")
    gold = read_gold(path)
    rows = {}
    for rel in DEFAULT_SPLITS.values():
        for row in read_top_csv(shared_data / rel):
            rows.setdefault(row.nctid, row)
    resolver = TrialResolver(built_graph)
    predicted = {}
    for nct in {g.nctid for g in gold} & set(rows):
        r = rows[nct]
        ent = resolver.resolve(r.drugs, r.diseases, r.icdcodes)
        predicted[nct] = [(m.listed, m.node_id) for m in (ent.disease_matches if kind == "disease" else ent.drug_matches)]
    s = score_links(gold, predicted, kind=kind)
    p_min, r_min = TARGETS[(gold_set, kind)]
    assert s.precision >= p_min, (s.precision, s.wrong)
    assert s.recall >= r_min, (s.recall, s.missed[:20])


def test_drug_recall_counts_a_drug_named_in_several_rows_once(tmp_path) -> None:
    head = "nctid\tfile\tphase\tlisted_name\texpected\talso_ok\treason\n"
    (tmp_path / "d.tsv").write_text(head + "NCT1\tf\tphase 2\tx 10 mg\tdb:x\t\t\n"
                                    "NCT1\tf\tphase 2\tx 20 mg\tdb:x\t\t\n"
                                    "NCT1\tf\tphase 2\ty and x\tdb:y|db:x\t\t\n", encoding="utf-8")
    gold = read_gold(tmp_path / "d.tsv")
    s = score_links(gold, {"NCT1": [("x 10 mg", "db:x")]}, kind="drug")
    assert (s.recall_hit, s.recall_total) == (1, 2)  # x once (found), y once (missed); not 3 of 4
    assert s.missed == [("NCT1", "y and x", "db:y")]
