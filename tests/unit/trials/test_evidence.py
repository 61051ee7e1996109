"""trials/evidence.py: a drug's prior record is read in the trial's disease family."""

from __future__ import annotations

import pytest

from kgimagine.trials.evidence import FACTOR_FEATURES, EvidenceBuilder, TrialDescription, labelled_pool
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G

RATE, N = FACTOR_FEATURES[Factor.DRUG].index("drug_rate"), FACTOR_FEATURES[Factor.DRUG].index("drug_n")


def test_a_drug_record_reads_its_trials_in_the_disease_family_only(store):
    """Metformin failed in type 2 diabetes (trial 6) and in hepatocellular carcinoma (trial 7). A
    metformin trial in HCC reads trial 7 only; one in "cancer" (HCC's ontology parent) too; one
    naming no disease the graph holds reads both. The trial count reads both always."""
    G.load(store)
    pool = labelled_pool(store)
    ev = EvidenceBuilder(store)  # smoothing 3 toward the pool's success rate
    ev.set_pool(pool)
    t6, t7 = (G.trial(n).removeprefix("clinicaltrials:") for n in (6, 7))
    assert pool[t6][1] == 0 and pool[t7][1] == 0

    def drug(diseases: tuple[str, ...], exclude: set[str] = frozenset()) -> tuple[float, float]:
        f = ev.evidence(TrialDescription(key="new", drugs=("metformin",), diseases=diseases, phase="phase 2"),
                        exclude=exclude).features[Factor.DRUG]
        return f[RATE], f[N]

    def smoothed(failures: int, exclude: set[str] = frozenset()) -> float:
        labels = [y for k, (_, y) in pool.items() if k not in exclude]
        base = sum(labels) / len(labels)
        return (0 + 3 * base) / (failures + 3) - base

    for family in (("hepatocellular carcinoma",), ("cancer",)):
        assert drug(family)[0] == pytest.approx(smoothed(1))
        assert drug(family, {t6})[0] == pytest.approx(smoothed(1, {t6}))  # the diabetes trial is not read
        assert drug(family, {t7})[0] == pytest.approx(0.0)  # nothing of the family left: the pool's rate
        assert drug(family)[1] == pytest.approx(drug(("unheard-of disease",))[1])  # count: both trials
    assert drug(("unheard-of disease",))[0] == pytest.approx(smoothed(2))
    assert drug(("type 2 diabetes mellitus",))[0] == pytest.approx(smoothed(1))
