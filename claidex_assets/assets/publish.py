"""The published ``provider_risk_scores`` table that the API reads.

Publishing is atomic: the new rows are first copied into a staging table in
their own transaction, then one transaction deletes the old rows and inserts
the staged ones. Readers keep seeing the previous complete result until that
transaction commits (MVCC, so they are never blocked). A run killed before
the swap transaction commits leaves the previous table untouched, and the
next run drops the stale staging table and starts over. Once the COMMIT has
reached the server, the new result is published even if the process dies
before it reads the reply.
"""

import time
from collections.abc import Callable

import dagster as dg
import polars as pl

from claidex_assets import postgres as db
from claidex_assets.assets.metadata import score_distribution_markdown
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.scoring import engine
from claidex_assets.scoring.calibration import COMPONENT_KEYS

PUBLISH_GROUP = "publish"
TABLE = "provider_risk_scores"
STAGING_TABLE = "provider_risk_scores_staging"
# Arbitrary constant key of the advisory lock held while publishing.
PUBLISH_LOCK_ID = 7_204_611_902

PUBLISHED_COLUMNS = [
    "npi",
    "risk_score",
    "risk_label",
    "r_raw",
    *COMPONENT_KEYS,
    "peer_taxonomy",
    "peer_state",
    "peer_count",
    "data_window_years",
    "top_program",
    "chain_excluded_count",
    "flags",
    "components",
    "methodology_version",
    "run_id",
    "updated_at",
]


def publishable_rows(scores: pl.DataFrame, run_id: str, updated_at) -> pl.DataFrame:
    """Add the lineage columns and order the frame as the table's columns."""
    return scores.with_columns(
        pl.lit(engine.METHODOLOGY_VERSION).alias("methodology_version"),
        pl.lit(run_id).alias("run_id"),
        pl.lit(updated_at).cast(pl.Datetime("us", "UTC")).alias("updated_at"),
    ).select(PUBLISHED_COLUMNS)


def _no_checkpoint(step: str) -> None:
    return None


def publish_scores(
    conn,
    rows: pl.DataFrame,
    log=None,
    *,
    chunk_rows: int = db.COPY_CHUNK_ROWS,
    checkpoint: Callable[[str], None] = _no_checkpoint,
) -> dict[str, float]:
    """Replace the table's content with ``rows`` atomically; return step timings in seconds.

    ``conn`` must be in autocommit mode (ValueError otherwise), so that each
    ``conn.transaction()`` block below is a real transaction and not a
    savepoint of an outer one.
    The rows go to the staging table in COPY statements of ``chunk_rows``
    rows each. ``checkpoint`` is called with the name of each step as it
    completes, in this order: ``staging_created``, ``copied_chunk_<i>`` for
    each chunk i from 0, ``staged`` (staging transaction committed),
    ``deleted`` and ``inserted`` (inside the swap transaction), then
    ``published`` (swap committed). Tests use it to stop the process at a
    known step.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if not conn.autocommit:
        raise ValueError("publish_scores needs a connection in autocommit mode; open it with autocommit=True")
    # A session-level advisory lock serialises concurrent publishes, which
    # share the staging table. The server releases it if this process dies.
    conn.execute("SELECT pg_advisory_lock(%s)", (PUBLISH_LOCK_ID,))
    try:
        return _stage_and_swap(conn, rows, log, chunk_rows, checkpoint)
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK_ID,))


def _stage_and_swap(conn, rows: pl.DataFrame, log, chunk_rows: int, checkpoint: Callable[[str], None]) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        # UNLOGGED skips WAL for the staged copy; a crash only loses the staging
        # table, which the next run drops and rebuilds anyway.
        conn.execute(f"CREATE UNLOGGED TABLE {STAGING_TABLE} (LIKE {TABLE} INCLUDING DEFAULTS)")
        checkpoint("staging_created")
        for index, start in enumerate(range(0, rows.height, chunk_rows)):
            chunk = rows.slice(start, chunk_rows)
            db.copy_frame_in(conn, STAGING_TABLE, chunk, columns=PUBLISHED_COLUMNS, chunk_rows=chunk_rows)
            checkpoint(f"copied_chunk_{index}")
    checkpoint("staged")
    timings["stage_seconds"] = round(time.perf_counter() - started, 3)
    if log:
        log.info("staged %d rows in %.1fs", rows.height, timings["stage_seconds"])

    swap_started = time.perf_counter()
    with conn.transaction():
        columns = ", ".join(PUBLISHED_COLUMNS)
        conn.execute(f"DELETE FROM {TABLE}")
        checkpoint("deleted")
        conn.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {STAGING_TABLE}")
        checkpoint("inserted")
        conn.execute(f"DROP TABLE {STAGING_TABLE}")
    checkpoint("published")
    timings["swap_seconds"] = round(time.perf_counter() - swap_started, 3)
    return timings


@dg.asset(group_name=PUBLISH_GROUP, kinds={"postgres"})
def provider_risk_scores(
    context: dg.AssetExecutionContext, postgres: PostgresResource, calibrated_scores: pl.DataFrame
) -> dg.MaterializeResult:
    """One row per scored NPI in Postgres, replaced atomically on every run."""
    import datetime

    started = time.perf_counter()
    rows = publishable_rows(calibrated_scores, context.run.run_id, datetime.datetime.now(datetime.UTC))
    with postgres.connection(autocommit=True) as conn:
        schema_created = _ensure_table(conn)
        timings = publish_scores(conn, rows, context.log)
        published = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    context.log.info("published %d rows to %s", published, TABLE)
    return dg.MaterializeResult(
        metadata={
            "row_count": published,
            "table": TABLE,
            "schema_applied": schema_created,
            "score_distribution": dg.MetadataValue.md(score_distribution_markdown(calibrated_scores)),
            **timings,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


def _ensure_table(conn) -> bool:
    """Create the score table (and the rest of the schema) when it is missing; return whether it was."""
    if db.missing_relations(conn, [TABLE]):
        db.apply_schema(conn)
        return True
    return False
