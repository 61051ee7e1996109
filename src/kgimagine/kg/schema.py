"""The closed graph schema: labels, relation types with domain/range, Biolink mappings.

Every label and relation type that ever reaches a query string is checked here first.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgimagine.errors import SchemaError
from kgimagine.types import NodeLabel, RelationType

SCHEMA_VERSION = "1"

#: Biolink model class of each label.
BIOLINK_CLASS: dict[NodeLabel, str] = {
    NodeLabel.DRUG: "biolink:Drug",
    NodeLabel.GENE: "biolink:Gene",
    NodeLabel.DISEASE: "biolink:Disease",
    NodeLabel.SIDE_EFFECT: "biolink:PhenotypicFeature",
    NodeLabel.TRIAL: "biolink:ClinicalTrial",
}


@dataclass(frozen=True, slots=True)
class RelationSpec:
    type: RelationType
    domain: NodeLabel
    range: NodeLabel
    biolink_predicate: str
    description: str


RELATIONS: dict[RelationType, RelationSpec] = {
    spec.type: spec
    for spec in (
        RelationSpec(RelationType.TARGETS, NodeLabel.DRUG, NodeLabel.GENE,
                     "biolink:physically_interacts_with", "drug binds / acts on the gene's product"),
        RelationSpec(RelationType.ASSOCIATED_WITH, NodeLabel.DISEASE, NodeLabel.GENE,
                     "biolink:condition_associated_with_gene", "disease is associated with the gene"),
        RelationSpec(RelationType.TREATS, NodeLabel.DRUG, NodeLabel.DISEASE,
                     "biolink:treats", "disease-modifying indication"),
        RelationSpec(RelationType.PALLIATES, NodeLabel.DRUG, NodeLabel.DISEASE,
                     "biolink:ameliorates_condition", "symptomatic indication"),
        RelationSpec(RelationType.CAUSES, NodeLabel.DRUG, NodeLabel.SIDE_EFFECT,
                     "biolink:has_side_effect", "drug label lists the side effect"),
        RelationSpec(RelationType.TESTS, NodeLabel.TRIAL, NodeLabel.DRUG,
                     "biolink:has_input", "trial tests the drug"),
        RelationSpec(RelationType.STUDIES, NodeLabel.TRIAL, NodeLabel.DISEASE,
                     "biolink:related_to", "trial studies the disease"),
        RelationSpec(RelationType.SUBCLASS_OF, NodeLabel.DISEASE, NodeLabel.DISEASE,
                     "biolink:subclass_of", "ontology is-a"),
        RelationSpec(RelationType.SAME_AS, NodeLabel.DISEASE, NodeLabel.DISEASE,
                     "biolink:same_as", "exact cross-ontology match"),
        RelationSpec(RelationType.APPROVED_FOR, NodeLabel.DRUG, NodeLabel.DISEASE,
                     "biolink:treats", "approved drug-indication pair (repoDB)"),
        RelationSpec(RelationType.TRIALLED_FOR, NodeLabel.DRUG, NodeLabel.DISEASE,
                     "biolink:in_clinical_trials_for", "drug was trialled for the indication (repoDB)"),
    )
}

#: Relation types whose facts record approvals that may postdate the trials.
APPROVAL_RELATIONS: frozenset[RelationType] = frozenset(
    {RelationType.TREATS, RelationType.PALLIATES, RelationType.APPROVED_FOR}
)
#: The same relations in a fixed order: the one hop key the indication features read them by.
APPROVAL_HOP: tuple[RelationType, ...] = tuple(sorted(APPROVAL_RELATIONS, key=lambda r: r.value))

#: Property names reserved by the stores.
RESERVED_NODE_PROPERTIES = frozenset({"id", "label", "name"})
RESERVED_EDGE_PROPERTIES = frozenset(
    {"fact_id", "prov_source", "prov_version", "prov_licence", "prov_record", "key"}
)


def check_label(label: str | NodeLabel) -> NodeLabel:
    """Return the label as a ``NodeLabel`` or raise ``SchemaError`` before any query is built."""
    if type(label) is NodeLabel:  # the common case, without the enum lookup
        return label
    try:
        return NodeLabel(label)
    except ValueError:
        raise SchemaError(
            f"unknown node label {label!r}; allowed: {', '.join(l.value for l in NodeLabel)}"
        ) from None


def check_relation(rel: str | RelationType) -> RelationType:
    """Return the type as a ``RelationType`` or raise ``SchemaError`` before any query is built."""
    if type(rel) is RelationType:
        return rel
    try:
        return RelationType(rel)
    except ValueError:
        raise SchemaError(
            f"unknown relation type {rel!r}; allowed: {', '.join(r.value for r in RelationType)}"
        ) from None


def check_endpoints(rel: RelationType, source_label: NodeLabel, target_label: NodeLabel) -> None:
    spec = RELATIONS[rel]
    if source_label != spec.domain or target_label != spec.range:
        raise SchemaError(
            f"{rel.value} goes {spec.domain.value} -> {spec.range.value}, "
            f"got {source_label.value} -> {target_label.value}"
        )
