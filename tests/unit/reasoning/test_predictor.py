from __future__ import annotations

import json

import pytest

from kgimagine.errors import GraphStoreError, OperatorError
from kgimagine.reasoning.operators.scripted import ScriptedOperator, cite_first
from kgimagine.reasoning.operators.statistical import StatisticalOperator
from kgimagine.reasoning.predictor import Predictor, to_chain_records
from kgimagine.reasoning.spec import ArmQuestion, TrialSpec
from kgimagine.traces import ChainRecord, iter_traces, write_traces
from tests.unit.reasoning import graph_fixture as G

SPECS = [
    TrialSpec.build(nct_id="NCT10000001", drugs=["Sutent"], diseases=["hepatocellular carcinoma"], phase="phase 2"),
    TrialSpec.build(nct_id="NCT10000002", drugs=["imatinib mesylate"], icd10=["C22.0"], phase="phase 3"),
    TrialSpec.build(nct_id="NCT10000003", drugs=["metformin"], diseases=["gastrointestinal stromal tumor"]),
]


class CountingOperator(ScriptedOperator):
    def __init__(self, fail_on_call: int | None = None):
        super().__init__([cite_first(0.6)], repeat_last=True)
        self.fail_on_call = fail_on_call

    def imagine(self, step, *, feedback=None):
        if self.fail_on_call is not None and len(self.calls) + 1 == self.fail_on_call:
            self.fail_on_call = None  # fails once
            raise OperatorError("simulated crash")
        return super().imagine(step, feedback=feedback)


def test_resumable_batch(rstore, tmp_path):
    ck = tmp_path / "done.jsonl"
    full = list(Predictor(rstore, CountingOperator(), k=2).predict_many(SPECS))
    calls_first = len(CountingOperator().calls)  # 0, sanity
    assert calls_first == 0
    # a run that dies inside the second trial keeps the first
    op = CountingOperator(fail_on_call=None)
    p = Predictor(rstore, op, k=2)
    p.predict(SPECS[0])
    per_first = len(op.calls)
    crash = CountingOperator(fail_on_call=per_first + 1)
    # the operator fails inside the second trial: that trial carries the error, the batch goes on
    got = list(Predictor(rstore, crash, k=2).predict_many(SPECS, checkpoint_path=ck))
    assert [g.key for g in got] == [s.key() for s in SPECS]
    assert got[0].error is None and got[2].error is None and got[2].probability == full[2].probability
    assert got[1].error and "simulated crash" in got[1].error and any("simulated crash" in f for f in got[1].flags)
    # the failed trial is not checkpointed
    assert [json.loads(l)["key"] for l in ck.read_text().splitlines()] == ["NCT10000001", "NCT10000003"]
    # resume: only the failed trial is redone
    op2 = CountingOperator()
    resumed = list(Predictor(rstore, op2, k=2).predict_many(SPECS, checkpoint_path=ck))
    assert [r.key for r in resumed] == [s.key() for s in SPECS] and not any(r.error for r in resumed)
    assert [r.probability for r in resumed] == [r.probability for r in full]
    assert len(op2.calls) == sum(r.steps_total + sum(s.attempts - 1 for c in r.chains for s in c.steps) for r in full[1:2])
    # a torn last line is dropped and redone
    with open(ck, "a") as fh:
        fh.write('{"key": "NCT1')
    again = list(Predictor(rstore, CountingOperator(), k=2).predict_many(SPECS, checkpoint_path=ck))
    assert len(again) == 3 and len(ck.read_text().splitlines()) == 3


class FlakyStore:
    """Delegates to a real store, then goes away (like a Neo4j server stopping)."""

    def __init__(self, inner, fail_after: int):
        self._inner, self._left = inner, fail_after

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*a, **kw):
            if name in ("facts", "get_edges"):
                self._left -= 1
                if self._left < 0:
                    raise GraphStoreError("Neo4j at bolt://127.0.0.1:7687 is unreachable; start it with scripts/neo4j start")
            return attr(*a, **kw)

        return call


def test_store_going_away_mid_batch_keeps_finished(rstore, tmp_path):
    ck = tmp_path / "done.jsonl"
    flaky = FlakyStore(rstore, fail_after=10_000)
    p = Predictor(flaky, StatisticalOperator(flaky), k=2)
    first = p.predict(SPECS[0])
    assert first.steps_total > 0
    flaky._left = 0
    ck.write_text(json.dumps(first.model_dump(mode="json")) + "\n")
    with pytest.raises(GraphStoreError, match="unreachable"):
        list(p.predict_many(SPECS, checkpoint_path=ck))
    assert [json.loads(l)["key"] for l in ck.read_text().splitlines()] == ["NCT10000001"]


def test_name_resolution_and_flags(rstore):
    p = Predictor(rstore, StatisticalOperator(rstore), k=2)
    pred = p.predict(TrialSpec.build(drugs=["Sutent", "zz-unknown-999"], diseases=["hepatocellular carcinoma"]))
    assert any("unresolved drugs: zz-unknown-999" in f for f in pred.flags) and not pred.no_graph_support
    assert pred.chains
    # a target whose diseases are all unknown: its drugs' records cannot keep to a disease family
    nodis = p.predict(TrialSpec.build(drugs=["Sutent"], diseases=["zz-unknown disease"]))
    assert "unresolved diseases: zz-unknown disease (no disease in the graph: a drug's record is read over all its trials)" in nodis.flags
    assert not any("read over all" in f for f in pred.flags)
    by_icd = p.predict(SPECS[1])
    assert by_icd.chains and not by_icd.no_graph_support
    assert not any(f.startswith("outcome known") for f in pred.flags + by_icd.flags)
    # a file row that is a labelled graph trial: predicted, its outcome hidden, and the user told so
    known = p.predict(TrialSpec.build(nct_id="NCT00000003", drugs=["Sunitinib"],
                                      diseases=["gastrointestinal stromal tumor"], phase="phase 2"))
    assert any(f.startswith("outcome known") and "split train" in f for f in known.flags)
    assert "clinicaltrials:NCT00000003" not in {c.anchor_id for c in known.chains}


def test_chain_records_for_training(rstore, tmp_path):
    p = Predictor(rstore, StatisticalOperator(rstore), k=2)
    pred = p.predict(SPECS[0])
    records = p.to_chain_records(pred, split="valid", target_label=None)
    assert len(records) == len(pred.chains) and all(isinstance(r, ChainRecord) for r in records)
    assert records[0].target_id == "clinicaltrials:NCT10000001" and records[0].steps == pred.chains[0].steps
    write_traces(tmp_path / "t.jsonl", records)
    assert len(list(iter_traces(tmp_path / "t.jsonl"))) == len(records)
    assert to_chain_records(pred, split="x")[0].split == "x"


def _question(qtype, comparisons=()):
    return ArmQuestion.parse({
        "question_id": f"q-{qtype}", "brief_title": "Sunitinib versus sorafenib in hepatocellular carcinoma",
        "endpoint": {"measure": "OS", "timeFrame": "2 years"},
        "arms": [
            {"label": "A", "type": "EXPERIMENTAL", "interventions": [{"type": "DRUG", "name": "Sunitinib"}]},
            {"label": "B", "type": "ACTIVE_COMPARATOR", "interventions": [{"type": "DRUG", "name": "Sorafenib"}]},
            {"label": "P", "type": "PLACEBO_COMPARATOR", "interventions": [{"type": "DRUG", "name": "Placebo"}]},
        ],
        "question_type": qtype, "comparisons": [list(c) for c in comparisons],
    })


def test_superiority_question(rstore):
    p = Predictor(rstore, StatisticalOperator(rstore), k=2)
    pred = p.predict(_question("superiority", [("A", "B"), ("B", "A"), ("A", "P")]))
    ab, ba, ap = pred.comparisons
    assert ab.probability == pytest.approx(1 - ba.probability, abs=1e-6)
    assert ap.probability == pytest.approx(ab.p_arm_a) and ap.p_arm_b is None
    assert {c.context for c in pred.chains} == {"arm A", "arm B"}
    assert pred.question_type == "superiority" and pred.grounding_rate is not None
    assert ab.probability < 0.5  # sorafenib's record in HCC is better than sunitinib's in this graph


def test_endpoint_question(rstore):
    p = Predictor(rstore, StatisticalOperator(rstore), k=2)
    pred = p.predict(_question("endpoint"))
    assert pred.question_type == "endpoint" and 0 < pred.probability < 1 and pred.chains
    assert p._title_diseases("Sunitinib in hepatocellular carcinoma") == [G.HCC]


@pytest.mark.parametrize("qtype,comparisons", [("endpoint", ()), ("superiority", [("A", "B")])])
def test_question_never_anchors_on_its_own_trial(rstore, qtype, comparisons):
    # NCT00000005 (sunitinib in HCC, failed) is a labelled trial of the graph: asked as a question,
    # it must not be its own anchor, and no shown fact may carry its outcome
    q = ArmQuestion.parse({**_question(qtype, comparisons).model_dump(mode="json"), "nct_id": "NCT00000005"})
    pred = Predictor(rstore, StatisticalOperator(rstore), k=5).predict(q)
    own = G.trial(5)
    assert pred.chains and own not in pred.anchors
    assert all(c.anchor_id != own for c in pred.chains)
    shown = [f.text for c in pred.chains for s in c.steps for f in s.facts]
    assert not [t for t in shown if "NCT00000005" in t and ("failed" in t or "succeeded" in t)]


def test_arm_spec_keeps_the_arms_drugs_for_a_known_trial(rstore):
    # the graph links trial 5 to sunitinib only; arm B's sorafenib must stay sorafenib
    p = Predictor(rstore, StatisticalOperator(rstore), k=2)
    q = ArmQuestion.parse({**_question("superiority", [("A", "B")]).model_dump(mode="json"), "nct_id": "NCT00000005"})
    target = p.resolver.resolve(p._arm_spec(q, q.arm("B"), [G.HCC]))
    assert target.trial_id == G.trial(5) and target.drug_ids == [G.SORAFENIB]
