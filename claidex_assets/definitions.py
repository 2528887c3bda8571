"""The Dagster code location: assembles assets, resources, checks, jobs, schedules and sensors.

Importing this module connects to nothing and starts no server.
"""

from __future__ import annotations

import os

import dagster as dg

from claidex_assets.assets import extracts, ownership, publish, scoring
from claidex_assets.assets.sources import SOURCE_SPECS
from claidex_assets.checks import build_asset_checks
from claidex_assets.jobs import full_refresh_job
from claidex_assets.npi import partition_keys
from claidex_assets.resources.compute import LocalProcessBackend
from claidex_assets.resources.neo4j import Neo4jResource
from claidex_assets.resources.parquet_io import ParquetIOManager
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.resources.storage import DataDirResource
from claidex_assets.schedules import build_weekly_schedule
from claidex_assets.sensors import build_source_change_sensor
from claidex_assets.settings import Settings

NEO4J_VARIABLES = {"uri": "NEO4J_URI", "user": "NEO4J_USER", "password": "NEO4J_PASSWORD", "database": "NEO4J_DATABASE"}


def npi_partitions(count: int) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(partition_keys(count))


def neo4j_resource(settings: Settings) -> Neo4jResource:
    """Bind each Neo4j setting to its environment variable when that variable is set."""
    config = {field: dg.EnvVar(name) for field, name in NEO4J_VARIABLES.items() if os.environ.get(name)}
    return Neo4jResource(csv_dir=settings.resolved_graph_csv_dir, **config)


def compute_backend(settings: Settings) -> dg.ConfigurableResource:
    if settings.compute_backend == "modal":
        from claidex_assets.resources.modal_backend import ModalBackend

        return ModalBackend()
    return LocalProcessBackend(max_workers=settings.local_workers)


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    partitions_def = npi_partitions(settings.partition_count)
    assets = [
        *SOURCE_SPECS,
        extracts.provider_extract,
        extracts.payment_extract,
        extracts.exclusion_extract,
        ownership.ownership_graph_snapshot,
        ownership.build_ownership_chain_features(partitions_def),
        scoring.peer_metrics,
        scoring.component_scores,
        scoring.calibrated_scores,
        publish.provider_risk_scores,
    ]
    storage = DataDirResource(data_dir=settings.data_dir)
    return dg.Definitions(
        assets=assets,
        jobs=[full_refresh_job],
        schedules=[build_weekly_schedule(partitions_def)],
        sensors=[build_source_change_sensor(partitions_def, settings.sensor_interval_seconds)],
        asset_checks=build_asset_checks(partitions_def, settings.quarantine_warn_share),
        resources={
            "io_manager": ParquetIOManager(base_dir=str(storage.asset_dir)),
            "storage": storage,
            "postgres": PostgresResource(data_dir=settings.data_dir),
            "neo4j": neo4j_resource(settings),
            "compute_backend": compute_backend(settings),
        },
    )


defs = build_definitions()
