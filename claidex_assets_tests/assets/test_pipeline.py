"""The whole asset graph on the small generated dataset, through Dagster, against a real Postgres."""

import contextlib
import os
import uuid
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from psycopg import sql

from claidex_assets import postgres
from claidex_assets.definitions import build_definitions
from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
from claidex_assets.npi import DEFAULT_PARTITION_COUNT, partition_keys
from claidex_assets.scoring import engine
from claidex_assets.settings import Settings
from claidex_assets_tests.small_dataset import loaded_small_database

# Columns that legitimately differ between two runs on the same data.
LINEAGE_COLUMNS = ["run_id", "updated_at"]


@pytest.fixture(scope="module")
def loaded_database(postgres_server_url, tmp_path_factory):
    """A database loaded once from the small generated dataset, plus the graph CSV folder."""
    root = tmp_path_factory.mktemp("pipeline")
    with loaded_small_database(postgres_server_url, root, seed=7, prefix="claidex_pipeline") as loaded:
        yield loaded


def run_full_refresh(url: str, graph_dir: Path, data_dir: Path, partition_count: int, instance=None):
    settings = Settings(
        data_dir=str(data_dir), partition_count=partition_count, local_workers=2, graph_csv_dir=str(graph_dir)
    )
    defs = build_definitions(settings)
    job = defs.resolve_job_def(FULL_JOB_NAME)
    previous = os.environ.get("CLAIDEX_POSTGRES_URL")
    os.environ["CLAIDEX_POSTGRES_URL"] = url
    try:
        with (dg.instance_for_test() if instance is None else contextlib.nullcontext(instance)) as active:
            result = job.execute_in_process(
                instance=active, tags=partition_range_tags(partition_keys(partition_count))
            )
    finally:
        if previous is None:
            os.environ.pop("CLAIDEX_POSTGRES_URL", None)
        else:
            os.environ["CLAIDEX_POSTGRES_URL"] = previous
    assert result.success
    return result


def published_table(url: str) -> pl.DataFrame:
    with postgres.connect(url) as conn:
        return postgres.copy_query_out(conn, "SELECT * FROM provider_risk_scores ORDER BY npi")


def test_full_refresh_fills_score_table(loaded_database, tmp_path):
    url, graph_dir = loaded_database
    result = run_full_refresh(url, graph_dir, tmp_path / "data", DEFAULT_PARTITION_COUNT)
    table = published_table(url)
    assert table.height > 100
    assert table["npi"].is_unique().all()
    assert table["risk_score"].min() >= 0
    assert table["risk_score"].max() <= 100
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert "provider_risk_scores" in materialized
    assert "ownership_chain_features" in materialized


def test_table_equals_engine_output(loaded_database, tmp_path):
    url, graph_dir = loaded_database
    data_dir = tmp_path / "data"
    run_full_refresh(url, graph_dir, data_dir, 7)
    assets = data_dir / "assets"
    features = pl.concat(
        [pl.read_parquet(p) for p in sorted((assets / "ownership_chain_features").glob("*.parquet"))]
    )
    payments = pl.read_parquet(assets / "payment_extract.parquet")
    from claidex_assets.assets.scoring import scoring_payments

    expected = engine.score_providers(
        scoring_payments(payments),
        pl.read_parquet(assets / "provider_extract.parquet"),
        pl.read_parquet(assets / "exclusion_extract.parquet"),
        features,
    ).sort("npi")
    table = published_table(url)
    assert table["npi"].to_list() == expected["npi"].to_list()
    for column in ["risk_score", "r_raw", "billing_outlier_score", "ownership_chain_risk",
                   "payment_trajectory_score", "exclusion_proximity_score", "program_concentration_score"]:
        difference = (table[column] - expected[column]).abs().max()
        assert difference is None or difference < 1e-9, column
    assert table["risk_label"].to_list() == expected["risk_label"].to_list()


def test_partition_count_does_not_change_table(loaded_database, tmp_path):
    url, graph_dir = loaded_database
    tables = []
    for count in (1, 7, DEFAULT_PARTITION_COUNT):
        run_full_refresh(url, graph_dir, tmp_path / f"data-{count}", count)
        tables.append(published_table(url).drop(LINEAGE_COLUMNS))
    assert tables[0].equals(tables[1])
    assert tables[0].equals(tables[2])


def test_rerun_gives_identical_table(loaded_database, tmp_path):
    url, graph_dir = loaded_database
    data_dir = tmp_path / "data"
    run_full_refresh(url, graph_dir, data_dir, 7)
    first = published_table(url)
    run_full_refresh(url, graph_dir, data_dir, 7)
    second = published_table(url)
    assert first.drop(LINEAGE_COLUMNS).equals(second.drop(LINEAGE_COLUMNS))
    assert first["run_id"][0] != second["run_id"][0]


def test_postgres_instance_storage_runs(loaded_database, postgres_server_url, tmp_path):
    url, graph_dir = loaded_database
    name = f"dagster_storage_{uuid.uuid4().hex[:10]}"
    with postgres.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    storage_url = postgres.database_url(postgres_server_url, name)
    try:
        overrides = {"storage": {"postgres": {"postgres_url": storage_url}}}
        with dg.instance_for_test(overrides=overrides) as instance:
            result = run_full_refresh(url, graph_dir, tmp_path / "data", 7, instance=instance)
            record = instance.get_run_record_by_id(result.run_id)
            assert record is not None
            assert record.dagster_run.is_success
            assert instance.get_latest_materialization_event(dg.AssetKey("provider_risk_scores")) is not None
    finally:
        with postgres.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
