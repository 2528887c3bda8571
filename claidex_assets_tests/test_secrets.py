"""Passwords from CLAIDEX_POSTGRES_URL and NEO4J_PASSWORD never reach logs, metadata, errors or CLI output.

Every run here is given a Postgres URL with a password and a Neo4j password.
The failing runs point at a missing socket folder and closed loopback ports.
The successful run uses a Postgres server that checks passwords and the Neo4j
test server. After each run the whole Dagster event log, the run record,
the Python log records and the command output are searched for the secrets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg
import pytest

from claidex_assets import postgres
from claidex_assets.definitions import build_definitions
from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
from claidex_assets.neo4j_graph import clear_graph, open_driver, write_graph
from claidex_assets.npi import partition_keys
from claidex_assets.ownership.import_csv import read_import_csv
from claidex_assets.settings import Settings
from claidex_assets.sources.generator import generate
from claidex_assets.sources.graph_build import load_all
from claidex_assets_tests.neo4j_server import Neo4jServerInfo, neo4j_server  # noqa: F401
from claidex_assets_tests.test_errors import (  # noqa: F401
    RIGHT_PASSWORD,
    free_port,
    password_server,
    run_cli,
)

PARTITIONS = 3
POSTGRES_SECRET = "pg-Secret-7d41c9"
NEO4J_SECRET = "neo-Secret-0b83e2"


def run_logged_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph_dir: Path | None, **env: str):
    """Run the full job in process with ``env``; return the result and every text the run recorded."""
    for name in list(os.environ):
        if name.startswith(("CLAIDEX_", "NEO4J_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=str(tmp_path / "data"), partition_count=PARTITIONS, local_workers=1,
                        graph_csv_dir=str(graph_dir) if graph_dir else None)  # fmt: skip
    job = build_definitions(settings).resolve_job_def(FULL_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, tags=partition_range_tags(partition_keys(PARTITIONS)), raise_on_error=False
        )
        # repr of an event log entry includes its message, metadata, error messages and stack traces.
        texts = [repr(entry) for entry in instance.all_logs(result.run_id)]
        run = instance.get_run_by_id(result.run_id)
        texts.append(repr(run))
    for event in result.get_asset_materialization_events():
        texts.append(repr(event.materialization.metadata))
    return result, texts


def assert_secret_free(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret found in: {text[:300]}"


def test_failed_runs_leak_no_password(tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    missing_socket_url = f"postgresql://claidex:{POSTGRES_SECRET}@/claidex?host={tmp_path / 'no-such-folder'}"
    closed_port_url = f"postgresql://claidex:{POSTGRES_SECRET}@127.0.0.1:{free_port()}/claidex"
    neo4j_settings = {"NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "NEO4J_PASSWORD": NEO4J_SECRET}

    result, texts = run_logged_job(
        tmp_path, monkeypatch, None, CLAIDEX_POSTGRES_URL=missing_socket_url, **neo4j_settings
    )
    assert not result.success
    failed = {event.step_key for event in result.all_events if event.is_step_failure}
    # Every step that connects to Postgres or Neo4j failed.
    assert {"provider_extract", "payment_extract", "exclusion_extract", "ownership_graph_snapshot"} <= failed
    assert any("claidex:***@" in text for text in texts)
    assert any("is unreachable after 6 attempts" in text for text in texts)
    assert_secret_free(texts, POSTGRES_SECRET, NEO4J_SECRET)
    assert_secret_free([record.getMessage() for record in caplog.records], POSTGRES_SECRET, NEO4J_SECRET)

    # The retry warnings of a refused connection show the URL too, masked.
    top = run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=closed_port_url)
    assert top.returncode == 2
    assert "attempt 1 of 6" in top.stderr
    run = run_cli(["run"], tmp_path, CLAIDEX_POSTGRES_URL=missing_socket_url, **neo4j_settings)
    assert run.returncode == 2
    init = run_cli(["init-db"], tmp_path, CLAIDEX_POSTGRES_URL=closed_port_url)
    assert init.returncode == 2
    assert_secret_free([result.stdout + result.stderr for result in (top, run, init)], POSTGRES_SECRET, NEO4J_SECRET)


@pytest.fixture
def loaded_password_server(password_server, tmp_path: Path) -> tuple[str, Path]:  # noqa: F811
    """The password server's database loaded with the small generated dataset, and its graph folder."""
    _, right_url = password_server
    generate(tmp_path / "source-files", scale="small", seed=3)
    with postgres.connect(right_url) as conn:
        postgres.apply_schema(conn)
        load_all(tmp_path / "source-files", conn, tmp_path / "graph")
        conn.commit()
    return right_url, tmp_path / "graph"


def test_successful_run_leaks_no_password(
    loaded_password_server, neo4j_server: Neo4jServerInfo, tmp_path: Path, monkeypatch, caplog  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    url, graph_dir = loaded_password_server
    assert RIGHT_PASSWORD in url
    driver = open_driver(neo4j_server.uri, neo4j_server.user, neo4j_server.password, neo4j_server.database)
    try:
        clear_graph(driver, neo4j_server.database)
        write_graph(driver, read_import_csv(graph_dir), database=neo4j_server.database)
    finally:
        driver.close()

    result, texts = run_logged_job(tmp_path, monkeypatch, None, CLAIDEX_POSTGRES_URL=url, **neo4j_server.environment())
    assert result.success
    # The run read the graph from Neo4j, not from CSV files.
    assert any(f"Neo4j at {neo4j_server.uri}" in text for text in texts)
    secrets = (RIGHT_PASSWORD, neo4j_server.password)
    assert_secret_free(texts, *secrets)
    assert_secret_free([record.getMessage() for record in caplog.records], *secrets)

    top = run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=url)
    assert top.returncode == 0, top.stderr
    assert "Top 10 providers" in top.stdout
    assert_secret_free([top.stdout, top.stderr], *secrets)
