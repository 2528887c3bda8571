"""Source-change sensor: polls fingerprints of the source tables and the graph and requests runs.

The fingerprint queries and the choice of runs for a change live in
``claidex_assets.fingerprints``. This module turns that plan into Dagster run
requests and keeps the fingerprints in the sensor cursor.
"""


import dagster as dg
import psycopg

from claidex_assets import fingerprints, postgres
from claidex_assets.assets import extracts, publish, scoring
from claidex_assets.errors import ConfigurationError
from claidex_assets.jobs import full_refresh_job, partition_range_tags
from claidex_assets.resources.neo4j import Neo4jResource
from claidex_assets.resources.postgres import PostgresResource

SENSOR_NAME = "claidex_source_change_sensor"
DEFAULT_INTERVAL_SECONDS = 300
TRIGGER_TAG = "claidex/trigger"
CHANGED_TAG = "claidex/changed"

# A payments or exclusions change reruns these; the ownership partitions
# (and the graph snapshot that only feeds them) keep their stored values.
GLOBAL_ASSET_KEYS = [
    extracts.provider_extract.key,
    extracts.payment_extract.key,
    extracts.exclusion_extract.key,
    scoring.peer_metrics.key,
    scoring.component_scores.key,
    scoring.calibrated_scores.key,
    publish.provider_risk_scores.key,
]


def _graph_errors() -> tuple[type[BaseException], ...]:
    try:
        from neo4j.exceptions import DriverError, Neo4jError
    except ImportError:  # the driver is a dependency, but keep the sensor usable without it
        return ()
    return (DriverError, Neo4jError)


def run_request(planned: fingerprints.PlannedRun, changed: list[str]) -> dg.RunRequest:
    """Turn one planned run into a request of ``claidex_full_refresh``."""
    tags = {TRIGGER_TAG: "source-change", CHANGED_TAG: ", ".join(changed)[:200]}
    if planned.kind == fingerprints.GLOBAL_ASSETS:
        return dg.RunRequest(run_key=planned.run_key, asset_selection=GLOBAL_ASSET_KEYS, tags=tags)
    return dg.RunRequest(run_key=planned.run_key, tags={**tags, **partition_range_tags(planned.partition_keys)})


def build_source_change_sensor(
    partitions_def: dg.StaticPartitionsDefinition,
    minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Create the sensor for ``partitions_def``; it is stopped by default (see docs/automation.md)."""
    keys = tuple(partitions_def.get_partition_keys())

    @dg.sensor(
        name=SENSOR_NAME,
        job=full_refresh_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Polls row-count and row-hash fingerprints of the source tables (providers per NPI range) "
            "and of the ownership graph; requests runs only for what changed."
        ),
    )
    def claidex_source_change_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource, neo4j: Neo4jResource
    ) -> dg.SensorResult | dg.SkipReason:
        try:
            graph = neo4j.fingerprint()
            with _connect(postgres) as conn:
                current = fingerprints.read_source_fingerprints(conn, keys, graph)
        except (ConfigurationError, psycopg.Error, OSError, *_graph_errors()) as exc:
            # A transient outage must not fail the tick: keep the cursor and retry next interval.
            message = f"could not read source fingerprints, will retry: {type(exc).__name__}: {exc}"
            context.log.warning(message)
            return dg.SkipReason(message)

        previous = fingerprints.SensorCursor.from_json(context.cursor)
        if previous is None:
            context.log.info("first evaluation: recorded fingerprints of %d NPI ranges as the baseline", len(keys))
            return dg.SensorResult(
                skip_reason="recorded the baseline fingerprints; later changes will request runs",
                cursor=fingerprints.SensorCursor(current).to_json(),
            )

        plan = fingerprints.plan_runs(previous, current)
        if not plan.runs:
            return dg.SkipReason("no source table or graph fingerprint changed")
        for planned in plan.runs:
            context.log.info("requesting run %s: %s", planned.run_key, planned.reason)
        return dg.SensorResult(
            run_requests=[run_request(planned, plan.changed) for planned in plan.runs],
            cursor=fingerprints.SensorCursor(current, previous.generation + 1).to_json(),
        )

    return claidex_source_change_sensor


def _connect(resource: PostgresResource) -> psycopg.Connection:
    # Two quick retries only: the tick should end well inside its time limit.
    return postgres.connect(resource.resolved_url(), retries=2, autocommit=True)
