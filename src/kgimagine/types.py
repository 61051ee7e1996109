"""Closed vocabularies shared by every layer: node labels, relation types, factors, CURIEs."""

from __future__ import annotations

import re
from enum import StrEnum


class NodeLabel(StrEnum):
    DRUG = "Drug"
    GENE = "Gene"
    DISEASE = "Disease"
    SIDE_EFFECT = "SideEffect"
    TRIAL = "Trial"


class RelationType(StrEnum):
    TARGETS = "TARGETS"  # Drug -> Gene
    ASSOCIATED_WITH = "ASSOCIATED_WITH"  # Disease -> Gene
    TREATS = "TREATS"  # Drug -> Disease (disease-modifying indication)
    PALLIATES = "PALLIATES"  # Drug -> Disease (symptomatic indication)
    CAUSES = "CAUSES"  # Drug -> SideEffect
    TESTS = "TESTS"  # Trial -> Drug
    STUDIES = "STUDIES"  # Trial -> Disease
    SUBCLASS_OF = "SUBCLASS_OF"  # Disease -> Disease
    SAME_AS = "SAME_AS"  # Disease -> Disease (cross-ontology exact match)
    APPROVED_FOR = "APPROVED_FOR"  # Drug -> Disease (repoDB approved)
    TRIALLED_FOR = "TRIALLED_FOR"  # Drug -> Disease (repoDB non-approved trial record)


class Direction(StrEnum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


class Factor(StrEnum):
    """Factors a counterfactual step may change, in the default plan order."""

    DISEASE = "disease"
    DRUG = "drug"
    DOSE = "dose"
    ARM = "arm"
    POPULATION = "population"
    ENDPOINT = "endpoint"
    PHASE = "phase"


FACTOR_ORDER: tuple[Factor, ...] = tuple(Factor)


def changed_sides(anchor: set[str], target: set[str]) -> tuple[set[str], set[str]]:
    """What a step changes, per side (anchor, target): an entity both sides hold is not part of
    the change, so each side is what it has and the other lacks, or the whole side when it has
    nothing of its own. Retrieval (``kg.queries``) and the verifier's reading of facts
    (``traces.rule_fact_signs``) share this one rule."""
    return (anchor - target) or anchor, (target - anchor) or target

# Bioregistry prefixes used for node ids.
PREFIXES: dict[str, str] = {
    "drugbank": "https://go.drugbank.com/drugs/",
    "ncbigene": "https://www.ncbi.nlm.nih.gov/gene/",
    "mondo": "http://purl.obolibrary.org/obo/MONDO_",
    "doid": "http://purl.obolibrary.org/obo/DOID_",
    "umls": "https://uts.nlm.nih.gov/uts/umls/concept/",
    "clinicaltrials": "https://clinicaltrials.gov/study/",
    "drugcentral": "https://drugcentral.org/drugcard/",
    "kgimagine.drug": "https://w3id.org/kgimagine/drug/",
    "kgimagine.disease": "https://w3id.org/kgimagine/disease/",
}

_CURIE_RE = re.compile(r"^(?P<prefix>[a-z][a-z0-9_.]*):(?P<local>[^\s]+)$")


def parse_curie(curie: str) -> tuple[str, str]:
    """Split ``prefix:local``; ``SchemaError`` (a ``ValueError``) when it is not a CURIE of ours."""
    from kgimagine.errors import SchemaError

    m = _CURIE_RE.match(curie or "")
    if not m:
        raise SchemaError(f"not a CURIE: {curie!r} (expected prefix:local, e.g. drugbank:DB00619)")
    prefix = m.group("prefix")
    if prefix not in PREFIXES:
        raise SchemaError(f"unknown CURIE prefix {prefix!r} in {curie!r}; known: {', '.join(sorted(PREFIXES))}")
    return prefix, m.group("local")


def curie_to_iri(curie: str) -> str:
    prefix, local = parse_curie(curie)
    return PREFIXES[prefix] + local


def iri_to_curie(iri: str) -> str | None:
    best: tuple[int, str] | None = None
    for prefix, base in PREFIXES.items():
        if iri.startswith(base) and (best is None or len(base) > best[0]):
            best = (len(base), prefix)
    if best is None:
        return None
    return f"{best[1]}:{iri[best[0]:]}"
