"""Every Cypher statement ``Neo4jGraphStore`` sends, in one place.

Rules (STYLE.md, "All Cypher lives in one module"):

* values always travel as ``$parameters``, never inside the query text;
* the only identifiers put into query text are node labels and relation types, and only after
  :func:`kgimagine.kg.schema.check_label` / :func:`~kgimagine.kg.schema.check_relation` turned
  them into members of the closed vocabularies (a hostile string raises ``SchemaError`` here,
  before any query exists);
* property *keys* of user properties never enter query text either: they travel inside map
  parameters (``SET n += $props``), so any key is safe.

Storage layout (see docs/graph-stores.md):

* node: labels ``:Entity:<Label>``; properties ``id``, ``name``, then each user property ``k``
  as ``p_k`` (a value Neo4j stores natively and gives back unchanged) or ``j_k`` (JSON text, for
  values Neo4j cannot hold exactly: mixed-type lists, integers beyond 64 bits);
* relationship: type ``<RELATION>``; properties ``fact_id``, ``key``, ``prov_source``,
  ``prov_version``, ``prov_licence``, ``prov_record`` and the user properties as on nodes;
* one ``:KgMeta`` node (not an ``Entity``) holds a write counter and the cached graph version.
"""

from __future__ import annotations

from typing import Sequence

from kgimagine.errors import QueryError
from kgimagine.kg.schema import RELATIONS, check_label, check_relation
from kgimagine.types import NodeLabel, RelationType

ENTITY = "Entity"
META = "KgMeta"
USER_PREFIX = "p_"  # user property stored natively
JSON_PREFIX = "j_"  # user property stored as JSON text
EDGE_FIELDS = ("fact_id", "key", "prov_source", "prov_version", "prov_licence", "prov_record")

#: An id is "plain" when it has no character at or above U+E000: for such strings Neo4j's string
#: order (UTF-16 code units) equals Python's (code points). Passed as a parameter.
PLAIN_ID_REGEX = "[^\\x{E000}-\\x{10FFFF}]*"


def _label(label: str | NodeLabel) -> str:
    return check_label(label).value


def _rel(rel: str | RelationType) -> str:
    return check_relation(rel).value


def _rels(rel_types: object) -> list[str]:
    return [check_relation(r).value for r in rel_types]  # type: ignore[union-attr]


# -- schema ---------------------------------------------------------------------------------
ENTITY_ID_CONSTRAINT = (
    f"CREATE CONSTRAINT kg_entity_id IF NOT EXISTS FOR (n:{ENTITY}) REQUIRE n.id IS UNIQUE"
)

META_KEY_CONSTRAINT = f"CREATE CONSTRAINT kg_meta_key IF NOT EXISTS FOR (m:{META}) REQUIRE m.key IS UNIQUE"


#: Names of every index (constraints own a backing index of the same name).
SHOW_INDEX_NAMES = "SHOW INDEXES YIELD name RETURN collect(name) AS names"


def relation_fact_index_name(rel: str | RelationType) -> str:
    return f"kg_fact_{_rel(rel).lower()}"


def relation_fact_index(rel: str | RelationType) -> str:
    """Range index on ``fact_id`` of one relationship type (Neo4j 5 indexes per type)."""
    r = _rel(rel)
    return f"CREATE INDEX {relation_fact_index_name(r)} IF NOT EXISTS FOR ()-[r:{r}]-() ON (r.fact_id)"


def label_id_index_name(label: str | NodeLabel) -> str:
    return f"kg_id_{_label(label).lower()}"


def label_id_index(label: str | NodeLabel) -> str:
    """Range index on ``id`` per label, so that per-label scans in id order are index-backed."""
    lab = _label(label)
    return f"CREATE INDEX {label_id_index_name(lab)} IF NOT EXISTS FOR (n:{lab}) ON (n.id)"


# -- meta: write counter and cached graph version ---------------------------------------------
#: Run last in every write transaction: bumps the counter and forgets the cached version.
TOUCH_META = (
    f"MERGE (m:{META} {{key: 'graph'}}) "
    "SET m.seq = coalesce(m.seq, 0) + 1, m.version = null, m.nodes = null, m.edges = null"
)
READ_META = f"OPTIONAL MATCH (m:{META} {{key: 'graph'}}) RETURN m.seq AS seq, m.version AS version, m.nodes AS nodes, m.edges AS edges"
#: Caches a version only if no write happened since ``$seq`` was read.
WRITE_META_VERSION = (
    f"MERGE (m:{META} {{key: 'graph'}}) WITH m WHERE coalesce(m.seq, 0) = $seq "
    "SET m.version = $version, m.nodes = $nodes, m.edges = $edges RETURN count(m) AS n"
)
COUNT_ENTITIES = f"MATCH (n:{ENTITY}) RETURN count(n) AS n"
COUNT_RELATIONSHIPS = "MATCH ()-[r]->() RETURN count(r) AS n"


# -- writes ---------------------------------------------------------------------------------
#: Which of ``$rows`` ({id, label}) already exist under another label.
NODE_LABEL_CONFLICTS = (
    "UNWIND $rows AS row "
    f"MATCH (n:{ENTITY} {{id: row.id}}) WHERE NOT row.label IN labels(n) "
    f"RETURN n.id AS id, [l IN labels(n) WHERE l <> '{ENTITY}'] AS labels"
)


def upsert_nodes(label: str | NodeLabel) -> str:
    """Merge ``$rows`` ({id, name, props}) as nodes of ``label``; an empty name keeps the old one.

    ``props`` holds encoded user properties; a ``null`` entry removes the other encoding of the
    same key, so later values win whatever their type.
    """
    lab = _label(label)
    return (
        "UNWIND $rows AS row "
        f"MERGE (n:{ENTITY} {{id: row.id}}) "
        f"SET n:{lab}, "
        "n.name = CASE WHEN row.name <> '' THEN row.name ELSE coalesce(n.name, '') END "
        "SET n += row.props"
    )


def upsert_edges(rel: str | RelationType) -> str:
    """Upsert ``$rows`` ({s, t, f, props}) as relationships keyed by fact id; returns how many
    rows found both endpoints with the labels the relation's domain/range require.

    Not ``MERGE (s)-[r {fact_id: …}]->(t)``: Neo4j 5.26 plans that as a *scan* of the fact-id index
    per row (quadratic on a growing graph). Instead: lock the source node (``SET s.id = s.id``, so
    two writers of the same new fact serialise), seek the fact id in the index, replace the
    properties of an existing edge or create the edge.
    """
    r = check_relation(rel)
    spec = RELATIONS[r]
    return (
        "UNWIND $rows AS row "
        f"MATCH (s:{ENTITY} {{id: row.s}}) WHERE s:{spec.domain.value} "
        f"MATCH (t:{ENTITY} {{id: row.t}}) WHERE t:{spec.range.value} "
        "SET s.id = s.id "
        "WITH s, t, row "
        f"OPTIONAL MATCH ()-[old:{r.value} {{fact_id: row.f}}]->() USING INDEX old:{r.value}(fact_id) "
        "SET old = row.props "
        "WITH s, t, row, old "
        f"CALL (s, t, row, old) {{ WITH * WHERE old IS NULL CREATE (s)-[new:{r.value}]->(t) SET new = row.props }} "
        "RETURN count(*) AS written"
    )


#: Labels of the ids among ``$ids`` that exist (used to explain a short write).
NODE_LABELS = (
    f"MATCH (n:{ENTITY}) WHERE n.id IN $ids "
    f"RETURN n.id AS id, [l IN labels(n) WHERE l <> '{ENTITY}'] AS labels"
)

#: ``clear()``: run in an auto-commit transaction (``CALL { } IN TRANSACTIONS`` needs one);
#: every ``$batch`` deletions commit, so a huge graph never builds one huge transaction.
CLEAR_RELATIONSHIPS = f"MATCH (:{ENTITY})-[r]->() CALL (r) {{ DELETE r }} IN TRANSACTIONS OF $batch ROWS"
CLEAR_NODES = f"MATCH (n:{ENTITY}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF $batch ROWS"

# -- bulk writes (``write_graph``): plain CREATE for ids known to be absent ---------------------
#: Every node id present (read only when the database holds any ``:Entity``).
PRESENT_NODE_IDS = f"MATCH (n:{ENTITY}) RETURN n.id AS id"


def present_fact_ids(rel: str | RelationType) -> str:
    """Every fact id of one relation type (read only when the type has relationships)."""
    return f"MATCH ()-[r:{_rel(rel)}]->() RETURN r.fact_id AS f"


def create_nodes(label: str | NodeLabel) -> str:
    """Create ``$rows`` ({id, name, props}) as new nodes of ``label``. The caller knows the ids are
    absent; the id constraint refuses one that is not (a concurrent writer)."""
    lab = _label(label)
    return (
        "UNWIND $rows AS row "
        f"CREATE (n:{ENTITY}:{lab} {{id: row.id, name: row.name}}) "
        "SET n += row.props"
    )


def create_edges(rel: str | RelationType) -> str:
    """Create ``$rows`` ({s, t, f, props}) as new relationships; returns how many rows found both
    endpoints with the labels the relation's domain/range require (as ``upsert_edges``). The
    caller knows the fact ids are absent: nothing checks them here."""
    r = check_relation(rel)
    spec = RELATIONS[r]
    return (
        "UNWIND $rows AS row "
        f"MATCH (s:{ENTITY} {{id: row.s}}) WHERE s:{spec.domain.value} "
        f"MATCH (t:{ENTITY} {{id: row.t}}) WHERE t:{spec.range.value} "
        f"CREATE (s)-[r:{r.value}]->(t) SET r = row.props "
        "RETURN count(*) AS written"
    )


# -- reads ----------------------------------------------------------------------------------
_NODE_FIELDS = (
    "n.id AS id, [l IN labels(n) WHERE l <> '" + ENTITY + "'] AS labels, properties(n) AS props"
)
_EDGE_FIELDS = (
    "startNode(r).id AS s, type(r) AS y, endNode(r).id AS t, properties(r) AS props"
)

GET_NODES = f"UNWIND $ids AS i MATCH (n:{ENTITY} {{id: i}}) RETURN {_NODE_FIELDS}"
HAS_NODE = f"RETURN exists {{ MATCH (n:{ENTITY} {{id: $id}}) }} AS found"


def get_edges() -> str:
    """Edges among ``$ids`` (fact ids): one index seek per relation type."""
    parts = [
        f"MATCH ()-[r:{rel.value}]->() WHERE r.fact_id IN $ids RETURN {_EDGE_FIELDS}"
        for rel in RelationType
    ]
    return "CALL () { " + " UNION ALL ".join(parts) + " } RETURN s, y, t, props"


def _type_filter(var: str, has_types: bool) -> str:
    return f" WHERE type({var}) IN $types" if has_types else ""


def incident(direction: str, *, has_types: bool, ordered: bool) -> str:
    """Edges at ``$id`` with the node at their other end, as (edge fields, other node fields).

    ``direction`` is ``out``, ``in`` or ``both``; with ``both`` a self-loop comes once (as an
    out-edge), as in the embedded store. ``ordered`` sorts by (type, other id, fact id) and
    applies ``$limit``.
    """
    if direction not in ("out", "in", "both"):
        raise QueryError(f"direction must be out, in or both, got {direction!r}")
    tf = _type_filter("r", has_types)
    ret = f"RETURN {_EDGE_FIELDS}, m.id AS mid, [l IN labels(m) WHERE l <> '{ENTITY}'] AS mlabels, properties(m) AS mprops"
    branches = []
    if direction in ("out", "both"):
        branches.append(f"MATCH (n)-[r]->(m){tf} {ret}")
    if direction in ("in", "both"):
        loop = ("m <> n" if direction == "both" else "")
        where = " AND ".join(x for x in (tf.removeprefix(" WHERE "), loop) if x)
        branches.append(f"MATCH (n)<-[r]-(m){' WHERE ' + where if where else ''} {ret}")
    q = f"MATCH (n:{ENTITY} {{id: $id}}) CALL (n) {{ " + " UNION ALL ".join(branches) + " } "
    q += "RETURN s, y, t, props, mid, mlabels, mprops"
    if ordered:
        q += " ORDER BY y, mid, props.fact_id LIMIT $limit"
    return q


def incident_non_plain(direction: str, *, has_types: bool) -> str:
    """How many neighbours at ``$id`` have an id that is not plain (see ``PLAIN_ID_REGEX``)."""
    tf = _type_filter("r", has_types)
    pattern = {"out": "(n)-[r]->(m)", "in": "(n)<-[r]-(m)", "both": "(n)-[r]-(m)"}[direction]
    return (
        f"MATCH (n:{ENTITY} {{id: $id}}) OPTIONAL MATCH {pattern}{tf} "
        "RETURN count(n) AS found, count(CASE WHEN m.id =~ $plain THEN null ELSE m END) AS odd"
    )


def facts(*, has_types: bool, has_limit: bool) -> str:
    """Distinct edges touching any of ``$ids``, by fact id (fact ids are ASCII: Neo4j's order is
    Python's)."""
    tf = _type_filter("r", has_types)
    q = (
        f"MATCH (n:{ENTITY}) WHERE n.id IN $ids MATCH (n)-[r]-(){tf} "
        f"WITH DISTINCT r RETURN {_EDGE_FIELDS} ORDER BY props.fact_id"
    )
    return q + (" LIMIT $limit" if has_limit else "")


def _node_row(var: str, projected: bool) -> str:
    props = f"[k IN $keys | {var}[k]]" if projected else f"properties({var})"
    return f"[{var}.id, [l IN labels({var}) WHERE l <> '{ENTITY}'], {props}]"


def expand(hops: Sequence[tuple[Sequence[RelationType], str, bool, bool]], *, projected: bool) -> str:
    """Several typed one-hop reads in one query (``GraphStore.expand``).

    ``hops``: per hop (relation types, direction ``out``/``in``/``both``, has a limit, detail).
    Hop ``j`` reads ``$ids<j>`` (and ``$lim<j>``); ``$asked`` lists every requested id. One row
    comes back: ``edges`` ([hop, start id, type, end id, properties] per edge of a detail hop,
    [hop, start id, type, end id, fact id] per edge of the others; an edge between two requested
    ids of a ``both`` hop comes twice) and ``nodes`` ([id, labels, properties] of the requested
    nodes that exist and of both ends of every edge of a detail hop; repeats possible). With
    ``projected`` the node properties are the values of the stored keys ``$keys``, in that order.
    """
    if not hops:
        raise QueryError("expand needs at least one hop")
    branches = []
    light = []
    for j, (rels, direction, has_limit, detail) in enumerate(hops):
        types = "|".join(_rels(rels))
        if not types:
            raise QueryError("a hop needs at least one relation type")
        pattern = {"out": f"-[r:{types}]->()", "in": f"<-[r:{types}]-()", "both": f"-[r:{types}]-()"}[direction]
        head = f"UNWIND $ids{j} AS i MATCH (:{ENTITY} {{id: i}}){pattern} "
        if has_limit:
            head += f"WITH DISTINCT r ORDER BY r.fact_id LIMIT $lim{j} "
        branches.append(head + f"RETURN {j} AS h, r")
        if not detail:
            light.append(str(j))
    is_light = f"x[0] IN [{', '.join(light)}]" if light else "false"  # hop numbers, not values
    edge_row = "[x[0], startNode(x[1]).id, type(x[1]), endNode(x[1]).id, "
    return (
        "CALL () { " + " UNION ALL ".join(branches) + " } "
        "WITH collect([h, r]) AS rows "
        f"CALL (rows) {{ UNWIND rows AS x WITH x WHERE NOT {is_light} WITH x[1] AS r "
        "UNWIND [startNode(r), endNode(r)] AS e RETURN collect(DISTINCT e) AS ends } "
        f"CALL () {{ UNWIND $asked AS i MATCH (n:{ENTITY} {{id: i}}) RETURN collect(n) AS asked }} "
        f"RETURN [x IN rows | CASE WHEN {is_light} THEN {edge_row}x[1].fact_id] "
        f"ELSE {edge_row}properties(x[1])] END] AS edges, "
        f"[n IN ends + asked | {_node_row('n', projected)}] AS nodes"
    )


def get_facts(rel_types: Sequence[RelationType], *, projected: bool) -> str:
    """Edges whose fact id is in ``$ids`` (one index seek per relation type of ``rel_types``) and
    both ends of each, in one row: ``edges`` ([start id, type, end id, properties]) and ``nodes``
    (as in :func:`expand`)."""
    parts = [f"MATCH ()-[r:{rel}]->() WHERE r.fact_id IN $ids RETURN r" for rel in _rels(rel_types)]
    if not parts:
        raise QueryError("get_facts needs at least one relation type")
    return (
        "CALL () { " + " UNION ALL ".join(parts) + " } WITH collect(r) AS rs "
        "CALL (rs) { UNWIND rs AS r UNWIND [startNode(r), endNode(r)] AS e RETURN collect(DISTINCT e) AS ends } "
        "RETURN [r IN rs | [startNode(r).id, type(r), endNode(r).id, properties(r)]] AS edges, "
        f"[n IN ends | {_node_row('n', projected)}] AS nodes"
    )


def frontier_degrees(*, has_types: bool) -> str:
    """Degree of each of ``$ids`` counting a self-loop once (the path search's budget check)."""
    tf = (" WHERE type(r) IN $types" if has_types else "")
    tf_in = (" WHERE type(r) IN $types AND m <> n" if has_types else " WHERE m <> n")
    return (
        f"UNWIND $ids AS i MATCH (n:{ENTITY} {{id: i}}) "
        f"RETURN i AS id, COUNT {{ MATCH (n)-[r]->(){tf} }} + COUNT {{ MATCH (n)<-[r]-(m){tf_in} }} AS degree"
    )


def frontier_edges(*, has_types: bool) -> str:
    """Edges at each of ``$ids`` (either direction; a self-loop once) for the path search."""
    tf = (" WHERE type(r) IN $types" if has_types else "")
    tf_in = (" WHERE type(r) IN $types AND m <> n" if has_types else " WHERE m <> n")
    return (
        f"UNWIND $ids AS i MATCH (n:{ENTITY} {{id: i}}) CALL (n) {{ "
        f"MATCH (n)-[r]->(m){tf} RETURN r, m.id AS other UNION ALL "
        f"MATCH (n)<-[r]-(m){tf_in} RETURN r, m.id AS other }} "
        f"RETURN i AS at, other, startNode(r).id AS s, type(r) AS y, endNode(r).id AS t, properties(r) AS props"
    )


def node_page(label: str | NodeLabel | None) -> str:
    """Nodes (of ``label``, or all) with id greater than ``$after``, in id order, ``$limit`` at most."""
    match = f"MATCH (n:{_label(label)})" if label is not None else f"MATCH (n:{ENTITY})"
    return f"{match} WHERE n.id > $after RETURN {_NODE_FIELDS} ORDER BY n.id LIMIT $limit"


def count_non_plain_ids(label: str | NodeLabel | None) -> str:
    match = f"MATCH (n:{_label(label)})" if label is not None else f"MATCH (n:{ENTITY})"
    return f"{match} WHERE NOT n.id =~ $plain RETURN count(n) AS odd"


def node_ids(label: str | NodeLabel | None) -> str:
    match = f"MATCH (n:{_label(label)})" if label is not None else f"MATCH (n:{ENTITY})"
    return f"{match} RETURN n.id AS id"


def edge_page(rel: str | RelationType) -> str:
    """Edges of one type with fact id greater than ``$after``, in fact-id order."""
    r = _rel(rel)
    return (
        f"MATCH ()-[r:{r}]->() WHERE r.fact_id > $after "
        f"RETURN {_EDGE_FIELDS} ORDER BY r.fact_id LIMIT $limit"
    )


def count_label(label: str | NodeLabel) -> str:
    """Uses Neo4j's count store (constant time)."""
    return f"MATCH (n:{_label(label)}) RETURN count(n) AS n"


def count_relation(rel: str | RelationType) -> str:
    """Uses Neo4j's count store (constant time)."""
    return f"MATCH ()-[r:{_rel(rel)}]->() RETURN count(r) AS n"


ALL_NODES_STREAM = f"MATCH (n:{ENTITY}) RETURN {_NODE_FIELDS}"
ALL_EDGES_STREAM = f"MATCH (:{ENTITY})-[r]->(:{ENTITY}) RETURN {_EDGE_FIELDS}"
