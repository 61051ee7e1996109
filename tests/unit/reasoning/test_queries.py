"""Query templates: run on both stores through the shared ``store`` fixture."""

from __future__ import annotations

from kgimagine.kg import queries
from kgimagine.types import Factor
from tests.unit.reasoning import graph_fixture as G


def test_drug_swap_facts_are_ordered_budgeted_and_deterministic(store):
    G.load(store)
    facts = queries.facts_for_change(store, Factor.DRUG, [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC], budget=12)
    assert 0 < len(facts) <= 12
    assert len({f.fact_id for f in facts}) == len(facts)
    texts = [f.text for f in facts]
    shared = [i for i, f in enumerate(facts)
              if f.edge.type.value == "TARGETS" and f.edge.target in {"ncbigene:3791", "ncbigene:5159"}]
    assert len(shared) == 4  # both sides' edges to the shared targets KDR, PDGFRB
    # one fact of each kind of evidence per side comes before them: an indication, a labelled trial
    treats = texts.index("Sorafenib TREATS hepatocellular carcinoma (pharmacotherapydb test-1, CC0-1.0)")
    trial = next(i for i, t in enumerate(texts) if "NCT00000004 (phase 3, succeeded) TESTS Sorafenib" in t)
    assert max(treats, trial) < min(shared)
    assert queries.facts_for_change(store, "drug", [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC]) == facts
    small = queries.facts_for_change(store, Factor.DRUG, [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC], budget=3)
    assert [f.fact_id for f in small] == [f.fact_id for f in facts[:3]]
    # every fact id exists in the graph
    assert set(store.get_edges([f.fact_id for f in facts])) == {f.fact_id for f in facts}


def test_a_trial_fact_says_what_its_trial_was_about(store):
    """A trial fact names the trial's listed disease (TESTS) or drug (STUDIES) after its end, so a
    reader can judge its relevance; the outcome stays in the head, where the verifier reads it."""
    G.load(store)
    facts = queries.facts_for_change(store, Factor.DRUG, [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC], budget=20)
    tests = next(f.text for f in facts if f.text.startswith("NCT00000004 (phase 3, succeeded) TESTS Sorafenib"))
    assert tests.startswith("NCT00000004 (phase 3, succeeded) TESTS Sorafenib [in hepatocellular carcinoma] (")
    dis = queries.facts_for_change(store, Factor.DISEASE, [G.GIST], [G.HCC], context_ids=[G.SUNITINIB], budget=20)
    studies = [f.text for f in dis if f.edge.type.value == "STUDIES" and f.edge.source == G.trial(4)]
    assert studies and studies[0].startswith("NCT00000004 (phase 3, succeeded) STUDIES hepatocellular carcinoma [with sorafenib] (")


def test_a_drug_s_trials_in_the_diseases_in_play_are_shown_first(store):
    """Metformin failed in type 2 diabetes (trial 6) and in hepatocellular carcinoma (trial 7): for
    a swap in HCC, or in cancer (HCC's ontology parent), the HCC trial is the one shown; in type 2
    diabetes, the diabetes trial. Either states metformin's record; only one is a reason here."""
    G.load(store)

    def first_metformin_trial(context: str) -> str:
        facts = queries.facts_for_change(store, Factor.DRUG, [G.SUNITINIB], [G.METFORMIN], context_ids=[context], budget=20)
        return next(f.edge.source for f in facts if f.edge.type.value == "TESTS" and f.edge.target == G.METFORMIN)

    assert first_metformin_trial(G.HCC) == G.trial(7)
    assert first_metformin_trial(G.CANCER) == G.trial(7)
    assert first_metformin_trial(G.T2D) == G.trial(6)


def test_listed_names_shown_in_a_fact_skip_comparators_and_brackets():
    from kgimagine.kg.model import Node
    from kgimagine.types import NodeLabel

    node = Node("clinicaltrials:NCT1", NodeLabel.TRIAL, "NCT1",
                {"drug_names": ["Placebo", "rad001 (everolimus)"], "disease_names": "x" * 60})
    assert queries._listed(node, "drug_names") == "rad001 everolimus"
    many = Node("clinicaltrials:NCT2", NodeLabel.TRIAL, "NCT2", {"disease_names": [
        "non-small-cell lung carcinoma", "prostate cancer", "Prostate Cancer", "bladder cancer"]})
    assert queries._listed(many, "disease_names") == "non-small-cell lung carcinoma +2"  # 2 more, once each
    assert queries._listed(node, "disease_names") == "x" * 39 + "…"
    assert queries._listed(node, "missing") == ""


def test_hidden_outcome_never_shown(store):
    G.load(store)
    hide = [G.trial(4)]
    facts = queries.facts_for_change(store, Factor.DRUG, [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC],
                                     hide_outcomes=hide)
    assert not any("NCT00000004" in f.text and "succeeded" in f.text for f in facts)
    ev = queries.change_evidence(store, Factor.DRUG, [G.SUNITINIB], [G.SORAFENIB], context_ids=[G.HCC],
                                 hide_outcomes=hide)
    assert ev.features["target_prior_n"] == 0.0


def test_disease_swap_facts_and_features(store):
    G.load(store)
    facts = queries.facts_for_change(store, Factor.DISEASE, [G.HCC], [G.GIST], context_ids=[G.SORAFENIB])
    kinds = [f.edge.type.value for f in facts]
    genes = {f.edge.target for f in facts if f.edge.type.value == "ASSOCIATED_WITH"}
    assert "ncbigene:5159" in genes  # the shared gene PDGFRB
    assert "SUBCLASS_OF" in kinds  # both are cancers
    # a labelled trial of each side's disease and a gene only one side has come first
    first = facts[:kinds.index("SUBCLASS_OF")]
    assert any(f.edge.type.value == "STUDIES" for f in first)
    assert any(f.edge.type.value == "ASSOCIATED_WITH" and f.edge.target != "ncbigene:5159" for f in first)
    # the drug's indication in a side's disease (the known-indication change the step makes) comes
    # before the shared gene and the ontology link, which state no change
    treats = kinds.index("TREATS")
    assert facts[treats].text.startswith("Sorafenib TREATS hepatocellular carcinoma")
    assert treats < min(i for i, f in enumerate(facts) if f.edge.target == "ncbigene:5159") and treats < kinds.index("SUBCLASS_OF")
    f = queries.change_features(store, Factor.DISEASE, [G.HCC], [G.GIST], context_ids=[G.SORAFENIB])
    assert set(f) == set(queries.FEATURE_NAMES)
    assert abs(f["gene_jaccard"] - 1 / 3) < 1e-9  # {KDR, PDGFRB} vs {KIT, PDGFRB}
    assert f["ontology_related"] == 1.0
    assert f["anchor_indicated"] == 1.0 and f["target_indicated"] == 0.0
    unrelated = queries.change_features(store, Factor.DISEASE, [G.T2D], [G.GIST], context_ids=[G.METFORMIN])
    assert unrelated["ontology_related"] == 0.0 and unrelated["gene_jaccard"] == 0.0


def test_drug_features_values_and_support(store):
    G.load(store)
    ev = queries.change_evidence(store, Factor.DRUG, [G.IMATINIB], [G.SUNITINIB], context_ids=[G.GIST])
    # imatinib {ABL1, KIT, PDGFRB} vs sunitinib {KIT, KDR, PDGFRB}: 2 shared of 4
    assert ev.features["target_jaccard"] == 0.5
    assert len(ev.support["target_jaccard"]) == 4
    assert ev.features["anchor_indicated"] == 1.0 and ev.features["target_indicated"] == 0.0
    # sunitinib: 1 success (NCT3), 1 failure (NCT5) -> (1 + 1) / (2 + 2) = 0.5
    assert ev.features["target_prior_success"] == 0.0
    assert len(ev.vector()) == len(queries.FEATURE_NAMES)


def test_trial_factor_facts_and_phase_numbers(store):
    G.load(store)
    facts = queries.facts_for_change(store, Factor.PHASE, [G.trial(4)], [G.trial(8)], context_ids=[G.SORAFENIB])
    assert {f.edge.source for f in facts[:2]} == {G.trial(8)}
    assert queries.phase_number("phase 1/phase 2") == 1.5
    assert queries.phase_number("early phase 1") == 0.5
    assert queries.phase_number("Phase III") == 3.0
    assert queries.phase_number("n/a") is None
    assert queries.find_ids("Imatinib [drugbank:DB00619], x [doid:9253].") == ["drugbank:DB00619", "doid:9253"]


def test_unknown_ids_give_no_facts(store):
    G.load(store)
    assert queries.facts_for_change(store, Factor.DRUG, ["drugbank:DB99999"], ["drugbank:DB99998"]) == []


def test_one_labelled_trial_reader_and_one_jaccard(rstore):
    from kgimagine.reasoning.retrieval import AnchorIndex
    from kgimagine.training.pairs import read_labelled_trials as pair_trials

    got = queries.read_labelled_trials(rstore)
    assert [t.trial_id for t in got] == [G.trial(n) for n in range(1, 8)]  # trial 8 carries no label
    first = got[0]
    assert (first.label, first.phase, first.drugs, first.diseases) == (1, "phase 2", {G.IMATINIB}, {G.GIST})
    assert [t.trial_id for t in queries.read_labelled_trials(rstore, allowed_splits={"valid"})] == []
    # the anchors of the chain and the trials of the training pairs are the same set, same labels
    index = AnchorIndex.build(rstore)
    assert {t: i.label for t, i in index.trials.items()} == {t.trial_id: t.label for t in got}
    assert {p.trial_id: p.label for p in pair_trials(rstore)} == {t.trial_id: t.label for t in got}
    assert queries.jaccard({"a"}, {"a", "b"}) == 0.5 and queries.jaccard(set(), set()) == 0.0
    assert queries.jaccard(set(), set(), empty=1.0) == 1.0 and queries.jaccard({"a"}, set()) == 0.0
