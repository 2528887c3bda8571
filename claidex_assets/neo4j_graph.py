"""Store the ownership graph in Neo4j over Bolt and read it back as a GraphSnapshot.

The graph model is documented in ``claidex_assets.ownership.schema``. Every Cypher statement this
module sends is a module constant whose name ends in ``_QUERY`` (see ``cypher_queries()``), so
tests can run each one against a real server.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import neo4j
import polars as pl
from neo4j import Driver, GraphDatabase, ManagedTransaction, NotificationDisabledClassification
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable, SessionExpired, TransientError

from claidex_assets.errors import ConfigurationError
from claidex_assets.ownership.schema import SNAPSHOT_SCHEMAS, GraphSnapshot

logger = logging.getLogger(__name__)

SETTINGS = "NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE"
# Bolt schemes only: the driver's HTTP support (http://, https://) is a preview feature.
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
RETRYABLE_ERRORS = (ServiceUnavailable, SessionExpired, TransientError)

PING_QUERY = "RETURN 1 AS ok"

CREATE_PROVIDER_CONSTRAINT_QUERY = (
    "CREATE CONSTRAINT claidex_provider_npi IF NOT EXISTS FOR (p:Provider) REQUIRE p.npi IS UNIQUE"
)
CREATE_ENTITY_CONSTRAINT_QUERY = (
    "CREATE CONSTRAINT claidex_entity_id IF NOT EXISTS FOR (e:CorporateEntity) REQUIRE e.entity_id IS UNIQUE"
)
CREATE_EXCLUSION_CONSTRAINT_QUERY = (
    "CREATE CONSTRAINT claidex_exclusion_id IF NOT EXISTS FOR (x:Exclusion) REQUIRE x.exclusion_id IS UNIQUE"
)

# SET with a null value removes the property, so a null in the snapshot is a missing property.
MERGE_PROVIDERS_QUERY = """
UNWIND $rows AS row
MERGE (p:Provider {npi: row.npi})
SET p.name = row.name
"""
MERGE_ENTITIES_QUERY = """
UNWIND $rows AS row
MERGE (e:CorporateEntity {entity_id: row.entity_id})
SET e.name = row.name, e.entityType = row.entity_type, e.npi = row.npi
"""
MERGE_EXCLUSIONS_QUERY = """
UNWIND $rows AS row
MERGE (x:Exclusion {exclusion_id: row.exclusion_id})
SET x.reinstated = row.reinstated
"""
MERGE_PROVIDER_EXCLUDED_BY_QUERY = """
UNWIND $rows AS row
MATCH (p:Provider {npi: row.npi})
MATCH (x:Exclusion {exclusion_id: row.exclusion_id})
MERGE (p)-[:EXCLUDED_BY]->(x)
"""
MERGE_ENTITY_EXCLUDED_BY_QUERY = """
UNWIND $rows AS row
MATCH (e:CorporateEntity {entity_id: row.entity_id})
MATCH (x:Exclusion {exclusion_id: row.exclusion_id})
MERGE (e)-[:EXCLUDED_BY]->(x)
"""
MERGE_OWNS_QUERY = """
UNWIND $rows AS row
MATCH (owner:CorporateEntity {entity_id: row.owner_id})
MATCH (owned:CorporateEntity {entity_id: row.owned_id})
MERGE (owner)-[:OWNS]->(owned)
"""

# Ids go through toString so a graph loaded elsewhere with integer ids still reads as text.
READ_PROVIDERS_QUERY = "MATCH (p:Provider) RETURN toString(p.npi) AS npi, p.name AS name"
READ_ENTITIES_QUERY = """
MATCH (e:CorporateEntity)
RETURN toString(e.entity_id) AS entity_id, e.name AS name, e.entityType AS entity_type, toString(e.npi) AS npi
"""
READ_EXCLUSIONS_QUERY = """
MATCH (x:Exclusion)
RETURN toString(x.exclusion_id) AS exclusion_id, toBooleanOrNull(x.reinstated) AS reinstated
"""
READ_PROVIDER_EXCLUDED_BY_QUERY = """
MATCH (p:Provider)-[:EXCLUDED_BY]->(x:Exclusion)
RETURN toString(p.npi) AS npi, toString(x.exclusion_id) AS exclusion_id
"""
READ_ENTITY_EXCLUDED_BY_QUERY = """
MATCH (e:CorporateEntity)-[:EXCLUDED_BY]->(x:Exclusion)
RETURN toString(e.entity_id) AS entity_id, toString(x.exclusion_id) AS exclusion_id
"""
READ_OWNS_QUERY = """
MATCH (owner:CorporateEntity)-[:OWNS]->(owned:CorporateEntity)
RETURN toString(owner.entity_id) AS owner_id, toString(owned.entity_id) AS owned_id
"""

# Neo4j computes each COUNT from its count store in constant time (the plan shows
# NodeCountFromCountStore and RelationshipCountFromCountStore), whatever the graph size.
COUNT_GRAPH_QUERY = """
RETURN COUNT { (:Provider) } AS providers,
       COUNT { (:CorporateEntity) } AS entities,
       COUNT { (:Exclusion) } AS exclusions,
       COUNT { (:Provider)-[:EXCLUDED_BY]->() } AS provider_exclusions,
       COUNT { (:CorporateEntity)-[:EXCLUDED_BY]->() } AS entity_exclusions,
       COUNT { ()-[:OWNS]->() } AS owns
"""

DELETE_GRAPH_BATCH_QUERY = """
MATCH (n)
WHERE n:Provider OR n:CorporateEntity OR n:Exclusion
WITH n LIMIT $batch_size
DETACH DELETE n
RETURN count(*) AS deleted
"""

# LOAD CSV statements for the files of claidex_assets.ownership.import_csv, for a running
# server (neo4j-admin import needs the database offline). $url is the file's URL as the server
# resolves it, e.g. file:///claidex/providers.csv under the server's import directory. LOAD CSV
# reads an empty field as null and "" as the empty string, as write_import_csv intends.
LOAD_CSV_PROVIDERS_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MERGE (p:Provider {npi: row.`npi:ID(Provider)`})
  SET p.name = row.name
} IN TRANSACTIONS OF $batch_size ROWS
"""
LOAD_CSV_ENTITIES_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MERGE (e:CorporateEntity {entity_id: row.`entity_id:ID(CorporateEntity)`})
  SET e.name = row.name, e.entityType = row.entityType, e.npi = row.npi
} IN TRANSACTIONS OF $batch_size ROWS
"""
LOAD_CSV_EXCLUSIONS_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MERGE (x:Exclusion {exclusion_id: row.`exclusion_id:ID(Exclusion)`})
  SET x.reinstated = toBoolean(row.`reinstated:boolean`)
} IN TRANSACTIONS OF $batch_size ROWS
"""
LOAD_CSV_PROVIDER_EXCLUDED_BY_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (p:Provider {npi: row.`:START_ID(Provider)`})
  MATCH (x:Exclusion {exclusion_id: row.`:END_ID(Exclusion)`})
  MERGE (p)-[:EXCLUDED_BY]->(x)
} IN TRANSACTIONS OF $batch_size ROWS
"""
LOAD_CSV_ENTITY_EXCLUDED_BY_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (e:CorporateEntity {entity_id: row.`:START_ID(CorporateEntity)`})
  MATCH (x:Exclusion {exclusion_id: row.`:END_ID(Exclusion)`})
  MERGE (e)-[:EXCLUDED_BY]->(x)
} IN TRANSACTIONS OF $batch_size ROWS
"""
LOAD_CSV_OWNS_QUERY = """
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (owner:CorporateEntity {entity_id: row.`:START_ID(CorporateEntity)`})
  MATCH (owned:CorporateEntity {entity_id: row.`:END_ID(CorporateEntity)`})
  MERGE (owner)-[:OWNS]->(owned)
} IN TRANSACTIONS OF $batch_size ROWS
"""

CONSTRAINT_QUERIES = (
    CREATE_PROVIDER_CONSTRAINT_QUERY,
    CREATE_ENTITY_CONSTRAINT_QUERY,
    CREATE_EXCLUSION_CONSTRAINT_QUERY,
)

# Snapshot frame and its MERGE statement. Nodes come first so the relationship statements find both ends.
WRITE_ORDER: tuple[tuple[str, str], ...] = (
    ("providers", MERGE_PROVIDERS_QUERY),
    ("entities", MERGE_ENTITIES_QUERY),
    ("exclusions", MERGE_EXCLUSIONS_QUERY),
    ("provider_exclusions", MERGE_PROVIDER_EXCLUDED_BY_QUERY),
    ("entity_exclusions", MERGE_ENTITY_EXCLUDED_BY_QUERY),
    ("owns", MERGE_OWNS_QUERY),
)
READ_QUERIES: dict[str, str] = {
    "providers": READ_PROVIDERS_QUERY,
    "entities": READ_ENTITIES_QUERY,
    "exclusions": READ_EXCLUSIONS_QUERY,
    "provider_exclusions": READ_PROVIDER_EXCLUDED_BY_QUERY,
    "entity_exclusions": READ_ENTITY_EXCLUDED_BY_QUERY,
    "owns": READ_OWNS_QUERY,
}
LOAD_CSV_QUERIES: dict[str, str] = {
    "providers.csv": LOAD_CSV_PROVIDERS_QUERY,
    "corporate_entities.csv": LOAD_CSV_ENTITIES_QUERY,
    "exclusions.csv": LOAD_CSV_EXCLUSIONS_QUERY,
    "provider_excluded_by.csv": LOAD_CSV_PROVIDER_EXCLUDED_BY_QUERY,
    "entity_excluded_by.csv": LOAD_CSV_ENTITY_EXCLUDED_BY_QUERY,
    "owns.csv": LOAD_CSV_OWNS_QUERY,
}

# Node key column of each node frame, and for each relationship frame the node frame and key
# column that each of its columns refers to.
NODE_KEYS = {"providers": "npi", "entities": "entity_id", "exclusions": "exclusion_id"}
EDGE_ENDS = {
    "provider_exclusions": {"npi": ("providers", "npi"), "exclusion_id": ("exclusions", "exclusion_id")},
    "entity_exclusions": {"entity_id": ("entities", "entity_id"), "exclusion_id": ("exclusions", "exclusion_id")},
    "owns": {"owner_id": ("entities", "entity_id"), "owned_id": ("entities", "entity_id")},
}

# The read queries warn about a label that does not exist yet when the graph is empty.
QUIET_READ_SESSION = {"notifications_disabled_classifications": [NotificationDisabledClassification.UNRECOGNIZED]}


def cypher_queries() -> dict[str, str]:
    """Return every Cypher statement of this module by constant name."""
    return {name: value for name, value in globals().items() if name.endswith("_QUERY") and isinstance(value, str)}


def open_driver(
    uri: str,
    user: str,
    password: str,
    database: str | None = "neo4j",
    *,
    attempts: int = 6,
    initial_backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    connection_timeout_s: float = 15.0,
) -> Driver:
    """Connect to Neo4j and check that a query on ``database`` succeeds, retrying while the server starts.

    ServiceUnavailable, SessionExpired and TransientError are retried up to ``attempts`` times
    with exponential backoff from ``initial_backoff_s`` to ``max_backoff_s`` seconds. Wrong
    credentials, an unknown database, an invalid URI and a server still unreachable after the
    last attempt raise ConfigurationError. No message or log line contains the password.
    """
    uri_help = "Set NEO4J_URI to a URI such as bolt://localhost:7687 or neo4j://localhost:7687."
    scheme = uri.partition("://")[0]
    if scheme not in BOLT_SCHEMES:
        raise ConfigurationError(
            f"invalid Neo4j URI {uri!r}: the scheme must be one of {', '.join(BOLT_SCHEMES)}. {uri_help}"
        )
    try:
        driver = GraphDatabase.driver(uri, auth=(user, password), connection_timeout=connection_timeout_s)
    except (ValueError, neo4j.exceptions.ConfigurationError) as error:
        raise ConfigurationError(f"invalid Neo4j URI {uri!r}: {redact(str(error), password)}. {uri_help}") from None

    delay = initial_backoff_s
    for attempt in range(1, attempts + 1):
        try:
            driver.verify_connectivity()
            driver.execute_query(PING_QUERY, database_=database, routing_=neo4j.RoutingControl.READ)
            logger.info("Connected to Neo4j at %s, database %s, as user %s", uri, database or "(default)", user)
            return driver
        except AuthError:
            driver.close()
            raise ConfigurationError(
                f"Neo4j at {uri} rejected the credentials of user {user!r}. "
                f"Check NEO4J_USER and NEO4J_PASSWORD (settings: {SETTINGS})."
            ) from None
        except ClientError as error:
            driver.close()
            if error.code == "Neo.ClientError.Database.DatabaseNotFound":
                raise ConfigurationError(
                    f"Neo4j at {uri} has no database {database!r}. Set NEO4J_DATABASE to an existing "
                    f"database (SHOW DATABASES lists them; Community edition has only 'neo4j')."
                ) from None
            raise ConfigurationError(
                f"Neo4j at {uri} rejected the connection check on database {database!r}: "
                f"{redact(str(error), password)}. Check the settings {SETTINGS}."
            ) from None
        except ValueError as error:
            # The driver resolves the address only when it connects.
            driver.close()
            raise ConfigurationError(f"invalid Neo4j URI {uri!r}: {redact(str(error), password)}. {uri_help}") from None
        except RETRYABLE_ERRORS as error:
            if attempt == attempts:
                driver.close()
                raise ConfigurationError(
                    f"Neo4j at {uri} is unreachable after {attempts} attempts: {redact(str(error), password)}. "
                    f"Check that the server runs and that NEO4J_URI points to its Bolt port."
                ) from None
            logger.warning(
                "Neo4j at %s not available (attempt %d of %d): %s; retrying in %.1f s",
                uri, attempt, attempts, redact(str(error), password), delay,
            )  # fmt: skip
            time.sleep(delay)
            delay = min(delay * 2, max_backoff_s)
    raise AssertionError("unreachable: the loop returns or raises")


def redact(text: str, password: str) -> str:
    return text.replace(password, "***") if password else text


def check_writable(snapshot: GraphSnapshot) -> dict[str, pl.DataFrame]:
    """Return the snapshot's frames without duplicate rows, or raise ValueError on a graph Neo4j cannot hold.

    Rejects null node keys, two rows with one node key and different properties (MERGE would keep
    whichever comes last), null relationship ends and relationship ends that name no node.
    """
    frames = {name: getattr(snapshot, name).unique(maintain_order=True) for name in SNAPSHOT_SCHEMAS}
    for name, key in NODE_KEYS.items():
        frame = frames[name]
        null_keys = frame[key].null_count()
        if null_keys:
            raise ValueError(f"{name}: {null_keys} rows have a null {key}; every node needs its key")
        conflicting = frame.filter(pl.col(key).is_duplicated())
        if conflicting.height:
            example = conflicting[key][0]
            raise ValueError(
                f"{name}: {conflicting[key].n_unique()} {key} values have rows with different properties, "
                f"e.g. {example!r}; keep one row per {key}"
            )
    for name, ends in EDGE_ENDS.items():
        frame = frames[name]
        for column, (node_frame, node_key) in ends.items():
            null_ends = frame[column].null_count()
            if null_ends:
                raise ValueError(f"{name}: {null_ends} rows have a null {column}")
            dangling = frame.join(frames[node_frame], left_on=column, right_on=node_key, how="anti")
            if dangling.height:
                raise ValueError(
                    f"{name}: {dangling.height} rows name a {column} missing from {node_frame}, "
                    f"e.g. {dangling[column][0]!r}; add the node or drop the relationship"
                )
    return frames


def write_graph(
    driver: Driver, snapshot: GraphSnapshot, database: str | None = None, batch_size: int = 10_000
) -> dict[str, int]:
    """Create the uniqueness constraints, then MERGE the snapshot's nodes and relationships in batches.

    Idempotent: writing the same snapshot again changes nothing. Nodes already in the graph but
    not in the snapshot stay (use ``clear_graph`` first for a full reload). Returns the rows
    written per frame plus ``nodes_created`` and ``relationships_created``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    frames = check_writable(snapshot)
    counts: dict[str, int] = {"nodes_created": 0, "relationships_created": 0}

    with driver.session(database=database) as session:
        for query in CONSTRAINT_QUERIES:
            session.run(query).consume()

        for name, query in WRITE_ORDER:
            frame = frames[name]
            for offset in range(0, frame.height, batch_size):
                rows = frame.slice(offset, batch_size).to_dicts()
                summary = session.execute_write(run_batch, query, rows)
                counts["nodes_created"] += summary.counters.nodes_created
                counts["relationships_created"] += summary.counters.relationships_created
            counts[name] = frame.height
            logger.info("Wrote %d %s rows to Neo4j in batches of %d", frame.height, name, batch_size)
    return counts


def run_batch(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]]) -> neo4j.ResultSummary:
    return tx.run(query, rows=rows).consume()


def clear_graph(driver: Driver, database: str | None = None, batch_size: int = 10_000) -> int:
    """Delete every Provider, CorporateEntity and Exclusion node and their relationships; return the nodes deleted.

    Deletes ``batch_size`` nodes per transaction so a national graph never needs one huge
    transaction. Constraints and nodes with other labels stay.
    """
    deleted_total = 0
    with driver.session(database=database) as session:
        while True:
            record = session.execute_write(delete_batch, batch_size)
            deleted_total += record
            if record == 0:
                break
    logger.info("Deleted %d ownership graph nodes from Neo4j", deleted_total)
    return deleted_total


def delete_batch(tx: ManagedTransaction, batch_size: int) -> int:
    return tx.run(DELETE_GRAPH_BATCH_QUERY, batch_size=batch_size).single(strict=True)["deleted"]


def read_snapshot(driver: Driver, database: str | None = None, fetch_size: int = 10_000) -> GraphSnapshot:
    """Read the whole ownership graph with six streaming queries, one per label and relationship type.

    The number of queries does not depend on the graph size. Records arrive ``fetch_size`` at a
    time and are turned into polars frames in chunks, so Python never keeps one object per row
    for the whole graph. All six reads run in one read transaction.
    """
    # NOTE: one Bolt record per row costs about 17 us of client CPU per row with the Rust codec
    # (measured on a busy 2-core machine: 1.8 s for 107k providers). Grouping rows into lists
    # server-side was 4 to 8 times faster but makes the server hold a whole label in memory
    # (an eager aggregation), so this module streams plain rows.
    started = time.monotonic()
    with driver.session(database=database, fetch_size=fetch_size, **QUIET_READ_SESSION) as session:
        frames = session.execute_read(read_frames)
    snapshot = GraphSnapshot(**frames)
    logger.info("Read ownership graph from Neo4j in %.1f s: %s", time.monotonic() - started, snapshot.row_counts())
    return snapshot


def read_frames(tx: ManagedTransaction) -> dict[str, pl.DataFrame]:
    return {name: records_to_frame(tx.run(query), SNAPSHOT_SCHEMAS[name]) for name, query in READ_QUERIES.items()}


def records_to_frame(
    records: Iterable[neo4j.Record], schema: dict[str, pl.DataType], chunk_rows: int = 100_000
) -> pl.DataFrame:
    """Build a frame from streamed records, ``chunk_rows`` records at a time.

    The records' fields must come in the order of ``schema``.
    """
    chunks = [
        pl.DataFrame(chunk, schema=schema, orient="row") for chunk in batched(iter(records), chunk_rows)
    ]
    if not chunks:
        return pl.DataFrame(schema=schema)
    return pl.concat(chunks, rechunk=True)


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def graph_counts(driver: Driver, database: str | None = None) -> dict[str, int]:
    """Return the number of nodes per label and relationships per type, from Neo4j's count store."""
    records, _, _ = driver.execute_query(
        COUNT_GRAPH_QUERY, database_=database, routing_=neo4j.RoutingControl.READ
    )
    return dict(records[0])


def graph_fingerprint(driver: Driver, database: str | None = None) -> str:
    """Return a short hash that changes when the ownership graph may have changed.

    Combines the count-store counts of ``graph_counts`` with the bookmark of the read
    transaction, which the server derives from the database's last committed transaction. Cost:
    one round trip and constant-time count lookups, whatever the graph size. Any committed write
    to the database changes the bookmark, so the fingerprint can change without a change to the
    ownership graph itself, but never stays the same across a committed write.
    """
    with driver.session(database=database, **QUIET_READ_SESSION) as session:
        counts = session.execute_read(lambda tx: dict(tx.run(COUNT_GRAPH_QUERY).single(strict=True)))
        bookmarks = sorted(session.last_bookmarks().raw_values)
    # NOTE: bookmarks are opaque to clients. Neo4j 5.26 returns the same value for reads
    # until the next commit; a server that returns no bookmark leaves only the counts.
    payload = json.dumps({"counts": counts, "bookmarks": bookmarks}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def load_import_csv(
    driver: Driver, url_prefix: str, database: str | None = None, batch_size: int = 10_000
) -> dict[str, int]:
    """Load the six import CSV files into a running Neo4j with LOAD CSV.

    Returns the nodes or relationships created per file (0 for rows already in the graph).

    ``url_prefix`` is where the server finds the files, e.g. ``file:///claidex/`` for files in
    the ``claidex`` folder of its import directory. Constraints are created first, and the
    load is idempotent like ``write_graph``.
    """
    rows: dict[str, int] = {}
    with driver.session(database=database) as session:
        for query in CONSTRAINT_QUERIES:
            session.run(query).consume()
        for file_name, query in LOAD_CSV_QUERIES.items():
            # CALL ... IN TRANSACTIONS needs an auto-commit transaction, hence session.run.
            summary = session.run(query, url=f"{url_prefix.rstrip('/')}/{file_name}", batch_size=batch_size).consume()
            rows[file_name] = summary.counters.nodes_created + summary.counters.relationships_created
            logger.info("Loaded %s into Neo4j: %s", file_name, summary.counters)
    return rows
