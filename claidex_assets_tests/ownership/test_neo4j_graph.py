"""Writing, reading and fingerprinting the ownership graph on a real Neo4j Community server."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from neo4j import Driver

from claidex_assets.errors import ConfigurationError
from claidex_assets.neo4j_graph import (
    COUNT_GRAPH_QUERY,
    READ_QUERIES,
    check_writable,
    clear_graph,
    cypher_queries,
    graph_counts,
    graph_fingerprint,
    load_import_csv,
    open_driver,
    read_snapshot,
    write_graph,
)
from claidex_assets.npi import make_npi
from claidex_assets.ownership.import_csv import NODE_FILES, RELATIONSHIP_FILES, write_import_csv
from claidex_assets.ownership.schema import SNAPSHOT_SCHEMAS, GraphSnapshot
from claidex_assets_tests.neo4j_server import Neo4jServer, Neo4jServerInfo, admin_import
from claidex_assets_tests.ownership.conftest import small_graph


def assert_same_graph(actual: GraphSnapshot, expected: GraphSnapshot) -> None:
    actual, expected = actual.canonical(), expected.canonical()
    for name in SNAPSHOT_SCHEMAS:
        assert getattr(actual, name).equals(getattr(expected, name)), name


@contextmanager
def capture_cypher() -> Iterator[list[str]]:
    """Collect the text of every Cypher statement the neo4j driver sends, from its Bolt debug log."""
    statements: list[str] = []

    class RunHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # The driver logs "[#port]  C: RUN %s" with repr(query), repr(parameters), repr(extra).
            if "C: RUN" in record.msg and len(record.args) == 2:
                statements.append(record.args[1])

    driver_logger = logging.getLogger("neo4j")
    handler = RunHandler(level=logging.DEBUG)
    old_level, old_propagate = driver_logger.level, driver_logger.propagate
    driver_logger.addHandler(handler)
    driver_logger.setLevel(logging.DEBUG)
    # Keep the large parameter lists out of pytest's captured log.
    driver_logger.propagate = False
    try:
        yield statements
    finally:
        driver_logger.removeHandler(handler)
        driver_logger.setLevel(old_level)
        driver_logger.propagate = old_propagate


def sent(statements: list[str], query: str) -> int:
    return sum(1 for statement in statements if statement.startswith(repr(query)))


def many_providers(count: int) -> GraphSnapshot:
    graph = small_graph()
    providers = pl.DataFrame(
        {"npi": [make_npi(100_000_000 + i) for i in range(count)], "name": [f"Provider {i}, MD" for i in range(count)]}
    )
    return GraphSnapshot(
        providers=providers,
        entities=graph.entities,
        exclusions=graph.exclusions,
        provider_exclusions=pl.DataFrame(schema=SNAPSHOT_SCHEMAS["provider_exclusions"]),
        entity_exclusions=graph.entity_exclusions,
        owns=graph.owns,
    )


def free_closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_write_graph_read_snapshot_round_trip(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)

    back = read_snapshot(neo4j_driver)

    assert_same_graph(back, sample_graph)


def test_write_graph_counts(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    counts = write_graph(neo4j_driver, sample_graph)

    # 3 providers + 5 entities + 3 exclusions = 11 nodes; 2 + 1 EXCLUDED_BY + 4 OWNS = 7 relationships.
    assert counts == {
        "providers": 3,
        "entities": 5,
        "exclusions": 3,
        "provider_exclusions": 2,
        "entity_exclusions": 1,
        "owns": 4,
        "nodes_created": 11,
        "relationships_created": 7,
    }


def test_write_graph_twice_idempotent(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    first_counts = graph_counts(neo4j_driver)

    second = write_graph(neo4j_driver, sample_graph)

    assert second["nodes_created"] == 0
    assert second["relationships_created"] == 0
    assert graph_counts(neo4j_driver) == first_counts
    assert_same_graph(read_snapshot(neo4j_driver), sample_graph)


def test_write_graph_updates_properties(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    changed = GraphSnapshot(
        providers=sample_graph.providers.with_columns(name=pl.lit(None, dtype=pl.Utf8)),
        entities=sample_graph.entities.with_columns(npi=pl.lit("1000000004")),
        exclusions=sample_graph.exclusions.with_columns(reinstated=pl.lit(True)),
        provider_exclusions=sample_graph.provider_exclusions,
        entity_exclusions=sample_graph.entity_exclusions,
        owns=sample_graph.owns,
    )

    write_graph(neo4j_driver, changed)

    # SET with null removes a property, so the names read back as null.
    assert_same_graph(read_snapshot(neo4j_driver), changed)


def test_write_graph_creates_constraints(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)

    records, _, _ = neo4j_driver.execute_query(
        "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties, type WHERE name STARTS WITH 'claidex_' "
        "RETURN name, labelsOrTypes, properties, type ORDER BY name"
    )

    assert [record.data() for record in records] == [
        {"name": "claidex_entity_id", "labelsOrTypes": ["CorporateEntity"], "properties": ["entity_id"], "type": "UNIQUENESS"},
        {"name": "claidex_exclusion_id", "labelsOrTypes": ["Exclusion"], "properties": ["exclusion_id"], "type": "UNIQUENESS"},
        {"name": "claidex_provider_npi", "labelsOrTypes": ["Provider"], "properties": ["npi"], "type": "UNIQUENESS"},
    ]  # fmt: skip


def test_write_graph_batch_of_5000(neo4j_driver: Driver) -> None:
    graph = many_providers(5_000)

    with capture_cypher() as statements:
        write_graph(neo4j_driver, graph, batch_size=5_000)

    # All 5,000 providers travel in one UNWIND list parameter.
    merge_providers = cypher_queries()["MERGE_PROVIDERS_QUERY"]
    assert sent(statements, merge_providers) == 1
    assert graph_counts(neo4j_driver)["providers"] == 5_000
    assert_same_graph(read_snapshot(neo4j_driver), graph)


def test_write_graph_several_batches(neo4j_driver: Driver) -> None:
    graph = many_providers(2_500)

    with capture_cypher() as statements:
        write_graph(neo4j_driver, graph, batch_size=1_000)

    # 2,500 rows in batches of 1,000: 1,000 + 1,000 + 500.
    assert sent(statements, cypher_queries()["MERGE_PROVIDERS_QUERY"]) == 3
    assert_same_graph(read_snapshot(neo4j_driver), graph)


def test_read_snapshot_six_queries_any_size(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    with capture_cypher() as small_statements:
        read_snapshot(neo4j_driver, fetch_size=2)

    write_graph(neo4j_driver, many_providers(3_000))
    with capture_cypher() as large_statements:
        read_snapshot(neo4j_driver, fetch_size=500)

    # One query per label and relationship type, whatever the number of NPIs or the fetch size.
    assert len(small_statements) == 6
    assert len(large_statements) == 6
    for query in READ_QUERIES.values():
        assert sent(large_statements, query) == 1


def test_read_snapshot_empty_graph(neo4j_driver: Driver) -> None:
    back = read_snapshot(neo4j_driver)

    assert back.row_counts() == {name: 0 for name in SNAPSHOT_SCHEMAS}
    assert_same_graph(back, GraphSnapshot.empty())


def test_read_snapshot_integer_ids_as_text(neo4j_driver: Driver) -> None:
    neo4j_driver.execute_query(
        "CREATE (:Provider {npi: 1234567893, name: 'Integer Id'})-[:EXCLUDED_BY]->"
        "(:Exclusion {exclusion_id: 77, reinstated: 'true'})"
    )

    back = read_snapshot(neo4j_driver)

    assert back.providers.to_dicts() == [{"npi": "1234567893", "name": "Integer Id"}]
    # The string 'true' reads as the boolean true.
    assert back.exclusions.to_dicts() == [{"exclusion_id": "77", "reinstated": True}]
    assert back.provider_exclusions.to_dicts() == [{"npi": "1234567893", "exclusion_id": "77"}]


def test_clear_graph_in_batches(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    neo4j_driver.execute_query("CREATE (:UnrelatedLabel {id: 1})")

    deleted = clear_graph(neo4j_driver, batch_size=4)

    # 11 nodes in batches of 4: 4 + 4 + 3, then an empty batch ends the loop.
    assert deleted == 11
    assert set(graph_counts(neo4j_driver).values()) == {0}
    records, _, _ = neo4j_driver.execute_query("MATCH (n:UnrelatedLabel) DETACH DELETE n RETURN count(*) AS kept")
    assert records[0]["kept"] == 1


def test_graph_counts_values(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)

    assert graph_counts(neo4j_driver) == {
        "providers": 3,
        "entities": 5,
        "exclusions": 3,
        "provider_exclusions": 2,
        "entity_exclusions": 1,
        "owns": 4,
    }


def test_graph_counts_use_count_store(neo4j_driver: Driver) -> None:
    result = neo4j_driver.execute_query("EXPLAIN " + COUNT_GRAPH_QUERY)

    operators: list[str] = []
    pending = [result.summary.plan]
    while pending:
        plan = pending.pop()
        operators.append(plan["operatorType"].split("@")[0])
        pending.extend(plan.get("children", []))

    # Six counts, each read from the count store; no operator scans nodes or relationships.
    assert operators.count("NodeCountFromCountStore") + operators.count("RelationshipCountFromCountStore") == 6
    assert not [operator for operator in operators if "Scan" in operator or "Expand" in operator]


def test_graph_fingerprint_stable_without_writes(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)

    first = graph_fingerprint(neo4j_driver)
    read_snapshot(neo4j_driver)
    second = graph_fingerprint(neo4j_driver)

    assert first == second
    assert len(first) == 32


def test_graph_fingerprint_changes_on_property_write(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    before = graph_fingerprint(neo4j_driver)

    # Same counts, different name: only the bookmark part of the fingerprint can see this.
    neo4j_driver.execute_query("MATCH (p:Provider {npi: '1000000004'}) SET p.name = 'Renamed'")
    after = graph_fingerprint(neo4j_driver)

    assert after != before


def test_graph_fingerprint_changes_on_clear(neo4j_driver: Driver, sample_graph: GraphSnapshot) -> None:
    write_graph(neo4j_driver, sample_graph)
    before = graph_fingerprint(neo4j_driver)

    clear_graph(neo4j_driver)

    assert graph_fingerprint(neo4j_driver) != before


def test_load_import_csv_matches_snapshot(
    neo4j_driver: Driver, neo4j_server: Neo4jServerInfo, sample_graph: GraphSnapshot
) -> None:
    assert neo4j_server.import_dir is not None
    folder = f"claidex-{uuid.uuid4().hex[:8]}"
    write_import_csv(sample_graph, neo4j_server.import_dir / folder)

    created = load_import_csv(neo4j_driver, f"file:///{folder}/", batch_size=2)

    # Neo4j's own CSV reader returns the same graph: quoted commas, doubled quotes, the
    # quoted line break, nulls (empty fields) and empty strings ("") all survive.
    assert_same_graph(read_snapshot(neo4j_driver), sample_graph)
    assert created == {
        "providers.csv": 3,
        "corporate_entities.csv": 5,
        "exclusions.csv": 3,
        "provider_excluded_by.csv": 2,
        "entity_excluded_by.csv": 1,
        "owns.csv": 4,
    }


def test_load_import_csv_twice_idempotent(
    neo4j_driver: Driver, neo4j_server: Neo4jServerInfo, sample_graph: GraphSnapshot
) -> None:
    assert neo4j_server.import_dir is not None
    folder = f"claidex-{uuid.uuid4().hex[:8]}"
    write_import_csv(sample_graph, neo4j_server.import_dir / folder)
    load_import_csv(neo4j_driver, f"file:///{folder}")

    created = load_import_csv(neo4j_driver, f"file:///{folder}")

    assert set(created.values()) == {0}
    assert_same_graph(read_snapshot(neo4j_driver), sample_graph)


def test_admin_import_matches_snapshot(tmp_path: Path, sample_graph: GraphSnapshot) -> None:
    """The CSV files load with neo4j-admin database import full, then read back unchanged."""
    csv_dir = tmp_path / "csv"
    write_import_csv(sample_graph, csv_dir)
    home = tmp_path / "imported-home"
    output = admin_import(home, [csv_dir / name for name in NODE_FILES], [csv_dir / name for name in RELATIONSHIP_FILES])
    assert "IMPORT DONE" in output

    with Neo4jServer(home=home) as info:
        driver = open_driver(info.uri, info.user, info.password, info.database)
        try:
            back = read_snapshot(driver)
        finally:
            driver.close()

    assert_same_graph(back, sample_graph)


def test_open_driver_wrong_password(neo4j_server: Neo4jServerInfo, caplog: pytest.LogCaptureFixture) -> None:
    wrong_password = "wrong-Passw0rd-" + uuid.uuid4().hex

    with caplog.at_level(logging.DEBUG, logger="claidex_assets"):
        with pytest.raises(ConfigurationError) as raised:
            open_driver(neo4j_server.uri, neo4j_server.user, wrong_password, neo4j_server.database)

    message = str(raised.value)
    assert "rejected the credentials of user 'neo4j'" in message
    assert "NEO4J_PASSWORD" in message
    assert wrong_password not in message
    assert wrong_password not in caplog.text
    assert neo4j_server.password not in message


def test_open_driver_unknown_database(neo4j_server: Neo4jServerInfo, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="claidex_assets"):
        with pytest.raises(ConfigurationError) as raised:
            open_driver(neo4j_server.uri, neo4j_server.user, neo4j_server.password, "nosuchdb")

    message = str(raised.value)
    assert "has no database 'nosuchdb'" in message
    assert "NEO4J_DATABASE" in message
    assert neo4j_server.password not in message
    assert neo4j_server.password not in caplog.text


def test_open_driver_unreachable_retries(caplog: pytest.LogCaptureFixture) -> None:
    uri = f"bolt://127.0.0.1:{free_closed_port()}"
    password = "secret-" + uuid.uuid4().hex

    with caplog.at_level(logging.WARNING, logger="claidex_assets.neo4j_graph"):
        with pytest.raises(ConfigurationError) as raised:
            open_driver(uri, "neo4j", password, "neo4j", attempts=3, initial_backoff_s=0.01)

    message = str(raised.value)
    assert f"Neo4j at {uri} is unreachable after 3 attempts" in message
    assert "NEO4J_URI" in message
    assert password not in message
    # Attempts 1 and 2 log a retry; attempt 3 raises.
    retries = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
    assert len(retries) == 2
    assert "(attempt 1 of 3)" in retries[0]
    assert "(attempt 2 of 3)" in retries[1]
    assert password not in caplog.text


@pytest.mark.parametrize("uri", ["http://127.0.0.1:7474", "127.0.0.1:7687", "bolt://127.0.0.1:notaport"])
def test_open_driver_invalid_uri(uri: str) -> None:
    with pytest.raises(ConfigurationError, match=r"invalid Neo4j URI .*Set NEO4J_URI"):
        open_driver(uri, "neo4j", "secret", "neo4j")


def test_check_writable_rejects_dangling_edge(sample_graph: GraphSnapshot) -> None:
    broken = GraphSnapshot(
        providers=sample_graph.providers,
        entities=sample_graph.entities,
        exclusions=sample_graph.exclusions,
        provider_exclusions=sample_graph.provider_exclusions,
        entity_exclusions=sample_graph.entity_exclusions,
        owns=pl.concat([sample_graph.owns, pl.DataFrame({"owner_id": ["HOLD-A"], "owned_id": ["NOWHERE"]})]),
    )

    with pytest.raises(ValueError, match="owns: 1 rows name a owned_id missing from entities, e.g. 'NOWHERE'"):
        check_writable(broken)


def test_check_writable_rejects_null_key(sample_graph: GraphSnapshot) -> None:
    broken = GraphSnapshot(
        providers=pl.concat([sample_graph.providers, pl.DataFrame({"npi": [None], "name": ["No NPI"]}, schema=SNAPSHOT_SCHEMAS["providers"])]),
        entities=sample_graph.entities,
        exclusions=sample_graph.exclusions,
        provider_exclusions=sample_graph.provider_exclusions,
        entity_exclusions=sample_graph.entity_exclusions,
        owns=sample_graph.owns,
    )  # fmt: skip

    with pytest.raises(ValueError, match="providers: 1 rows have a null npi"):
        check_writable(broken)


def test_check_writable_rejects_conflicting_rows(sample_graph: GraphSnapshot) -> None:
    duplicate = pl.DataFrame({"exclusion_id": ["EX-1"], "reinstated": [True]})
    broken = GraphSnapshot(
        providers=sample_graph.providers,
        entities=sample_graph.entities,
        exclusions=pl.concat([sample_graph.exclusions, duplicate]),
        provider_exclusions=sample_graph.provider_exclusions,
        entity_exclusions=sample_graph.entity_exclusions,
        owns=sample_graph.owns,
    )

    with pytest.raises(ValueError, match="exclusions: 1 exclusion_id values have rows with different properties"):
        check_writable(broken)


def test_check_writable_drops_exact_duplicates(sample_graph: GraphSnapshot) -> None:
    doubled = GraphSnapshot(
        providers=pl.concat([sample_graph.providers, sample_graph.providers]),
        entities=sample_graph.entities,
        exclusions=sample_graph.exclusions,
        provider_exclusions=sample_graph.provider_exclusions,
        entity_exclusions=sample_graph.entity_exclusions,
        owns=pl.concat([sample_graph.owns, sample_graph.owns]),
    )

    frames = check_writable(doubled)

    assert frames["providers"].height == 3
    assert frames["owns"].height == 4


def test_every_cypher_constant_executed(
    neo4j_driver: Driver, neo4j_server: Neo4jServerInfo, sample_graph: GraphSnapshot
) -> None:
    """Run every public function once and check that each Cypher constant reached the server."""
    assert neo4j_server.import_dir is not None
    folder = f"claidex-{uuid.uuid4().hex[:8]}"
    write_import_csv(sample_graph, neo4j_server.import_dir / folder)

    with capture_cypher() as statements:
        driver = open_driver(neo4j_server.uri, neo4j_server.user, neo4j_server.password, neo4j_server.database)
        try:
            write_graph(driver, sample_graph)
            read_snapshot(driver)
            graph_fingerprint(driver)
            graph_counts(driver)
            clear_graph(driver)
            load_import_csv(driver, f"file:///{folder}")
        finally:
            driver.close()

    never_sent = sorted(name for name, query in cypher_queries().items() if sent(statements, query) == 0)
    assert never_sent == []
    # The constants are the only Cypher this module sends.
    unknown = [s[:60] for s in statements if not any(s.startswith(repr(q)) for q in cypher_queries().values())]
    assert unknown == []


def test_neo4j_server_loopback_only(neo4j_server: Neo4jServerInfo) -> None:
    assert neo4j_server.uri.startswith("bolt://127.0.0.1:")
    # The password stays out of the repr that pytest prints on failures.
    assert neo4j_server.password not in repr(neo4j_server)
