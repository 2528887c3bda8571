"""The source-change sensor evaluated with build_sensor_context against a real Postgres."""

import json
import os

import dagster as dg
import pytest

from claidex_assets.definitions import build_definitions
from claidex_assets.jobs import partition_range_tags
from claidex_assets.npi import make_npi, partition_keys
from claidex_assets.resources.neo4j import Neo4jResource
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.sensors import GLOBAL_ASSET_KEYS, SENSOR_NAME, build_source_change_sensor
from claidex_assets.settings import Settings

KEYS = partition_keys(7)
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# One provider in each of three NPI ranges of the 7-partition layout:
# 100000001x in range 0, 150000000x in range 3, 200000000x in range 6.
NPIS = [make_npi(100000001), make_npi(150000000), make_npi(200000000)]


@pytest.fixture
def sources(pg_conn, tmp_path):
    """Three providers and one payment row in a fresh database, and a graph CSV folder."""
    for npi in NPIS:
        pg_conn.execute(
            "INSERT INTO providers (npi, display_name, taxonomy_1, state) VALUES (%s, 'Clinic', '207Q00000X', 'OH')",
            (npi,),
        )
    pg_conn.execute("INSERT INTO payments_medicaid (npi, year, payments, claims) VALUES (%s, 2023, 100, 5)", (NPIS[0],))
    pg_conn.commit()
    graph_dir = tmp_path / "graph"
    graph_dir.mkdir()
    (graph_dir / "providers.csv").write_text("npi:ID,name\n")
    return pg_conn, graph_dir


@pytest.fixture
def sensor():
    return build_source_change_sensor(dg.StaticPartitionsDefinition(KEYS))


def evaluate(sensor, postgres_url, graph_dir, cursor=None):
    resources = {"postgres": PostgresResource(url=postgres_url), "neo4j": Neo4jResource(csv_dir=str(graph_dir))}
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources) as context,
    ):
        return sensor.evaluate_tick(context)


def test_first_evaluation_records_baseline(sources, sensor, postgres_url):
    _, graph_dir = sources
    result = evaluate(sensor, postgres_url, graph_dir)
    assert result.run_requests == []
    assert "baseline" in result.skip_message
    stored = json.loads(result.cursor)
    assert stored["generation"] == 0
    assert sorted(stored["providers"]) == [KEYS[0], KEYS[3], KEYS[6]]


def test_provider_change_requests_its_partition(sources, sensor, postgres_url):
    conn, graph_dir = sources
    baseline = evaluate(sensor, postgres_url, graph_dir).cursor
    conn.execute("UPDATE providers SET state = 'TX' WHERE npi = %s", (NPIS[1],))
    conn.commit()

    result = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags[RANGE_START] == KEYS[3]
    assert request.tags[RANGE_END] == KEYS[3]
    assert request.asset_selection is None  # the whole job: extracts, features for KEYS[3], scoring, publish
    assert request.run_key.startswith(f"claidex-range-{KEYS[3]}-{KEYS[3]}-1-")
    stored = json.loads(result.cursor)
    assert stored["generation"] == 1
    assert stored["providers"][KEYS[3]] != json.loads(baseline)["providers"][KEYS[3]]
    assert stored["providers"][KEYS[0]] == json.loads(baseline)["providers"][KEYS[0]]

    # Evaluating again from the new cursor finds nothing new.
    again = evaluate(sensor, postgres_url, graph_dir, cursor=result.cursor)
    assert again.run_requests == []
    assert again.skip_message == "no source table or graph fingerprint changed"


def test_repeated_evaluation_same_run_key(sources, sensor, postgres_url):
    # A tick retried from the old cursor requests the same run key, which Dagster launches only once.
    conn, graph_dir = sources
    baseline = evaluate(sensor, postgres_url, graph_dir).cursor
    conn.execute("UPDATE providers SET display_name = 'Other Clinic' WHERE npi = %s", (NPIS[0],))
    conn.commit()
    first = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    second = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    assert [r.run_key for r in first.run_requests] == [r.run_key for r in second.run_requests]
    assert first.cursor == second.cursor


def test_two_separate_ranges_two_runs(sources, sensor, postgres_url):
    conn, graph_dir = sources
    baseline = evaluate(sensor, postgres_url, graph_dir).cursor
    conn.execute("UPDATE providers SET state = 'TX' WHERE npi = ANY(%s)", ([NPIS[0], NPIS[2]],))
    conn.commit()
    result = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    ranges = [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests]
    assert ranges == [(KEYS[0], KEYS[0]), (KEYS[6], KEYS[6])]


def test_payment_change_requests_global_assets(sources, sensor, postgres_url):
    conn, graph_dir = sources
    baseline = evaluate(sensor, postgres_url, graph_dir).cursor
    conn.execute("UPDATE payments_medicaid SET payments = 101")
    conn.commit()
    result = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.asset_selection == GLOBAL_ASSET_KEYS
    assert RANGE_START not in request.tags
    assert request.tags["claidex/changed"] == "payments_medicaid"


def test_graph_change_requests_every_partition(sources, sensor, postgres_url):
    _, graph_dir = sources
    baseline = evaluate(sensor, postgres_url, graph_dir).cursor
    (graph_dir / "providers.csv").write_text("npi:ID,name\n1234567893,Someone\n")
    result = evaluate(sensor, postgres_url, graph_dir, cursor=baseline)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags[RANGE_START] == KEYS[0]
    assert result.run_requests[0].tags[RANGE_END] == KEYS[-1]
    assert partition_range_tags(KEYS).items() <= result.run_requests[0].tags.items()


def test_unreachable_database_skips_tick(sources, sensor):
    _, graph_dir = sources
    baseline = '{"version": 1}'
    result = evaluate(sensor, "postgresql://nobody@127.0.0.1:1/none", graph_dir, cursor=baseline)
    assert result.run_requests == []
    assert "could not read source fingerprints" in result.skip_message
    assert "127.0.0.1" in result.skip_message  # the message names the server that failed
    assert result.cursor in (None, baseline)  # the stored fingerprints are kept for the next tick


def test_missing_table_skips_tick(postgres_url, sensor, tmp_path):
    # A database without the schema: the message names the missing relation.
    result = evaluate(sensor, postgres_url, tmp_path)
    assert result.run_requests == []
    assert "providers" in result.skip_message


def test_sensor_registered_stopped(monkeypatch):
    monkeypatch.setitem(os.environ, "CLAIDEX_SENSOR_INTERVAL_SECONDS", "45")
    defs = build_definitions(Settings.from_env())
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 45
    assert sensor.job_name == "claidex_full_refresh"
