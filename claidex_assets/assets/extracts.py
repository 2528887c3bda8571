"""Extracts of the Postgres source tables, unloaded with COPY and validated.

Rows that fail validation go to the ``quarantine`` table with a reason; the
extract carries on with the valid rows and reports the counts per reason.
"""

import time

import dagster as dg
import polars as pl

from claidex_assets import postgres as db
from claidex_assets.assets.metadata import reason_counts_markdown
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.sources import quarantine, validation

EXTRACT_GROUP = "extracts"
# The scoring window is the five years T-4..T, with T the latest year in the data.
WINDOW_YEARS = 5

PROVIDERS_QUERY = "SELECT npi, display_name, taxonomy_1, state, is_excluded, entity_type_code FROM providers"
PAYMENTS_QUERY = (
    "SELECT npi, year, program, payments, allowed, claims, beneficiaries, taxonomy, state FROM payments_combined_v"
)
EXCLUSIONS_QUERY = "SELECT exclusion_id, npi, excldate, reindate, reinstated FROM exclusions"


def _unload(
    context: dg.AssetExecutionContext,
    pg: PostgresResource,
    query: str,
    source: str,
    split,
) -> tuple[pl.DataFrame, dict]:
    started = time.perf_counter()
    with pg.connection() as conn:
        db.require_tables(conn, [source])
        raw = db.copy_query_out(conn, query)
        unloaded = time.perf_counter()
        split_result = split(raw)
        valid, rejected = split_result.valid, split_result.rejected
        # Each run replaces the previous run's quarantine rows of this extract,
        # so the table lists what the latest extract rejected.
        quarantine_source = f"extract:{source}"
        with conn.transaction():
            quarantine.clear_quarantine(conn, quarantine_source)
            quarantine.write_quarantine(conn, rejected, source=quarantine_source, run_id=context.run.run_id)
        reasons = quarantine.count_reasons(rejected)
    context.log.info(
        "%s: %d rows read, %d valid, %d quarantined", source, raw.height, valid.height, rejected.height
    )
    metadata = {
        "rows_read": raw.height,
        "row_count": valid.height,
        "rows_quarantined": rejected.height,
        "duplicates_collapsed": split_result.duplicates_collapsed,
        "quarantine_by_reason": dg.MetadataValue.md(reason_counts_markdown(reasons)),
        "copy_seconds": round(unloaded - started, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return valid, metadata


@dg.asset(group_name=EXTRACT_GROUP, deps=["providers"], kinds={"polars"})
def provider_extract(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.Output[pl.DataFrame]:
    """Valid rows of the providers table: NPI, display name, primary taxonomy and state."""
    valid, metadata = _unload(context, postgres, PROVIDERS_QUERY, "providers", validation.split_valid_providers)
    return dg.Output(valid.sort("npi"), metadata=metadata)


@dg.asset(group_name=EXTRACT_GROUP, deps=["payments_combined_v"], kinds={"polars"})
def payment_extract(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.Output[pl.DataFrame]:
    """Valid payment rows of the five-year scoring window, one per NPI, year and program."""
    valid, metadata = _unload(
        context, postgres, PAYMENTS_QUERY, "payments_combined_v", validation.split_valid_payments
    )
    if valid.height:
        latest = int(valid["year"].max())
        valid = valid.filter(pl.col("year") > latest - WINDOW_YEARS)
        metadata["window"] = f"{latest - WINDOW_YEARS + 1}..{latest}"
    metadata["row_count"] = valid.height
    metadata["npi_count"] = valid["npi"].n_unique()
    return dg.Output(valid.sort(["npi", "year", "program"]), metadata=metadata)


@dg.asset(group_name=EXTRACT_GROUP, deps=["exclusions"], kinds={"polars"})
def exclusion_extract(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.Output[pl.DataFrame]:
    """Valid OIG exclusion rows with their NPI (when known) and reinstatement."""
    valid, metadata = _unload(context, postgres, EXCLUSIONS_QUERY, "exclusions", validation.split_valid_exclusions)
    metadata["active_with_npi"] = valid.filter(pl.col("npi").is_not_null() & ~pl.col("reinstated")).height
    return dg.Output(valid.sort("exclusion_id"), metadata=metadata)
