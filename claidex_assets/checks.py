"""Asset checks on what readers of the published scores rely on.

The score checks query ``provider_risk_scores`` in Postgres, where the data
lives, so no check loads the whole population into memory. None of them is
blocking: the table is the last asset, and a failed check should alert
rather than stop a run that has already published.
"""


from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg

from claidex_assets.assets.ownership import FEATURES_KEY
from claidex_assets.resources.parquet_io import partition_path
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.resources.storage import DataDirResource

SCORES_KEY = dg.AssetKey("provider_risk_scores")
CALIBRATED_KEY = dg.AssetKey("calibrated_scores")
TABLE = "provider_risk_scores"

# Columns that hold a 0-100 score; billing_outlier_percentile is NULL for a
# provider without a peer group, every other one is never NULL.
SCORE_COLUMNS = (
    "risk_score",
    "billing_outlier_score",
    "ownership_chain_risk",
    "payment_trajectory_score",
    "exclusion_proximity_score",
    "program_concentration_score",
)
NULLABLE_SCORE_COLUMNS = ("billing_outlier_percentile",)
NUMERIC_COLUMNS = (*SCORE_COLUMNS, *NULLABLE_SCORE_COLUMNS, "r_raw", "payment_trajectory_zscore")
LABEL_CASE = (
    "CASE WHEN risk_score >= 80 THEN 'High' WHEN risk_score >= 60 THEN 'Elevated' "
    "WHEN risk_score >= 30 THEN 'Moderate' ELSE 'Low' END"
)
# Score thresholds at which the share of rows at or above is compared with 1 - threshold / 100.
SPREAD_THRESHOLDS = (30, 50, 60, 80, 90, 95)
# Largest accepted gap between a published risk_score and the percent rank
# recomputed in SQL: one unit in the last place of a 2-decimal score.
RANK_TOLERANCE = 0.0101
SAMPLE_SIZE = 5

# Each extract writes its rejected rows to the quarantine under this source.
EXTRACT_QUARANTINE_SOURCES = {
    "provider_extract": "extract:providers",
    "payment_extract": "extract:payments_combined_v",
    "exclusion_extract": "extract:exclusions",
}


def _sample(conn, condition: str) -> list[str]:
    rows = conn.execute(f"SELECT npi FROM {TABLE} WHERE {condition} ORDER BY npi LIMIT {SAMPLE_SIZE}").fetchall()
    return [row[0] for row in rows]


def _failing_rows(postgres: PostgresResource, conditions: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """Count the rows of the score table matching each column's failure condition, in one scan.

    Returns the non-zero counts by column and a sample of NPIs that match any of them.
    """
    counts = ", ".join(f"count(*) FILTER (WHERE {condition})" for condition in conditions.values())
    with postgres.connection() as conn:
        values = conn.execute(f"SELECT {counts} FROM {TABLE}").fetchone()
        bad = {column: count for column, count in zip(conditions, values) if count}
        sample = _sample(conn, " OR ".join(f"({conditions[column]})" for column in bad)) if bad else []
    return bad, sample


def _latest_row_count(instance: dg.DagsterInstance, key: dg.AssetKey, field: str = "row_count") -> int | None:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(field)
    return None if value is None else int(value.value)


@dg.asset_check(asset=SCORES_KEY, blocking=False, description="Every score column lies in [0, 100]; only the billing percentile may be NULL.")
def scores_within_0_100(postgres: PostgresResource) -> dg.AssetCheckResult:
    outside = {column: f"{column} IS NULL OR NOT ({column} BETWEEN 0 AND 100)" for column in SCORE_COLUMNS}
    outside.update({column: f"NOT ({column} BETWEEN 0 AND 100)" for column in NULLABLE_SCORE_COLUMNS})
    bad, sample = _failing_rows(postgres, outside)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"rows_out_of_range": dg.MetadataValue.json(bad), "sample_npis": dg.MetadataValue.json(sample)},
    )


@dg.asset_check(asset=SCORES_KEY, blocking=False, description="No numeric column contains NaN or an infinity.")
def no_nan_or_infinity(postgres: PostgresResource) -> dg.AssetCheckResult:
    conditions = {
        column: f"{column} = 'NaN'::numeric OR {column} IN ('Infinity'::numeric, '-Infinity'::numeric)"
        for column in NUMERIC_COLUMNS
    }
    bad, sample = _failing_rows(postgres, conditions)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"non_finite_rows": dg.MetadataValue.json(bad), "sample_npis": dg.MetadataValue.json(sample)},
    )


@dg.asset_check(asset=SCORES_KEY, blocking=False, description="Exactly one row per NPI, and no NULL NPI.")
def one_row_per_npi(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows, distinct, null = conn.execute(
            f"SELECT count(*), count(DISTINCT npi), count(*) FILTER (WHERE npi IS NULL) FROM {TABLE}"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=rows == distinct and null == 0,
        metadata={"row_count": rows, "distinct_npis": distinct, "null_npis": null},
    )


@dg.asset_check(
    asset=SCORES_KEY,
    blocking=False,
    description="The table has as many rows as the latest calibrated_scores materialization scored.",
)
def row_count_matches_scored_population(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    expected = _latest_row_count(context.instance, CALIBRATED_KEY)
    with postgres.connection() as conn:
        published = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    if expected is None:
        return dg.AssetCheckResult(
            passed=False,
            description="calibrated_scores has no materialization with a row_count; materialize the full graph first",
            metadata={"published_rows": published},
        )
    return dg.AssetCheckResult(
        passed=published == expected,
        metadata={"published_rows": published, "scored_population": expected, "difference": published - expected},
    )


@dg.asset_check(asset=SCORES_KEY, blocking=False, description="risk_label is High >= 80, Elevated >= 60, Moderate >= 30, else Low.")
def labels_match_scores(postgres: PostgresResource) -> dg.AssetCheckResult:
    condition = f"risk_label IS DISTINCT FROM ({LABEL_CASE})"
    with postgres.connection() as conn:
        mismatched = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE {condition}").fetchone()[0]
        sample = _sample(conn, condition) if mismatched else []
        labels = dict(conn.execute(f"SELECT risk_label, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 1").fetchall())
    return dg.AssetCheckResult(
        passed=mismatched == 0,
        metadata={
            "mismatched_rows": mismatched,
            "sample_npis": dg.MetadataValue.json(sample),
            "label_counts": dg.MetadataValue.json({str(k): v for k, v in labels.items()}),
        },
    )


def _round_half_up(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


CALIBRATION_QUERY = f"""
WITH ranked AS (
    SELECT risk_score,
           round((rank() OVER (ORDER BY r_raw) - 1) * 100.0 / NULLIF(count(*) OVER () - 1, 0), 2) AS expected
    FROM {TABLE}
)
SELECT count(*), min(risk_score), max(risk_score), COALESCE(max(abs(risk_score - COALESCE(expected, 0))), 0),
       {", ".join(f"count(*) FILTER (WHERE risk_score >= {t})" for t in SPREAD_THRESHOLDS)}
FROM ranked
"""
TIES_QUERY = f"""
SELECT count(*), COALESCE(max(size), 0), COALESCE(max(size) FILTER (WHERE r_raw = (SELECT max(r_raw) FROM {TABLE})), 0)
FROM (SELECT r_raw, count(*) AS size FROM {TABLE} GROUP BY r_raw) AS groups
"""


def calibration_findings(row: tuple, distinct_raw: int, largest_tie: int, top_tie: int = 1) -> tuple[list[str], dict]:
    """Compare the calibration query's result with what PERCENT_RANK implies; return problems and metadata.

    ``top_tie`` rows share the largest r_raw, so the maximum score is
    100 * (n - top_tie) / (n - 1): 100 when the largest r_raw is unique.
    Without ties the share of rows scoring at or above t is within 1/n of
    1 - t/100. A tie group straddling t lowers it by at most its size / n, and
    rounding scores to 2 decimals raises it by at most 0.00005 + 1/n. So the
    accepted gap is (largest tie group + 1) / n + 0.001.
    """
    n, low, high, deviation, *at_or_above = row
    problems: list[str] = []
    if n == 0:
        return problems, {"row_count": 0}
    low, high, deviation = float(low), float(high), float(deviation)
    if low != 0:
        problems.append(f"minimum risk_score is {low}, expected 0")
    expected_high = _round_half_up(100 * (n - top_tie) / (n - 1)) if n > 1 else 0.0
    if abs(high - expected_high) > RANK_TOLERANCE:
        problems.append(f"maximum risk_score is {high}, expected {expected_high} because {top_tie} of {n} rows share the largest r_raw")
    if deviation > RANK_TOLERANCE:
        problems.append(f"risk_score differs from 100 * PERCENT_RANK(r_raw) by up to {deviation}")
    tolerance = (largest_tie + 1) / n + 0.001
    shares = {}
    for threshold, count in zip(SPREAD_THRESHOLDS, at_or_above):
        share = count / n
        shares[f">={threshold}"] = round(share, 4)
        if n > 1 and distinct_raw > 1 and abs(share - (1 - threshold / 100)) > tolerance:
            problems.append(f"{share:.4f} of rows score >= {threshold}, expected {1 - threshold / 100:.2f} +- {tolerance:.4f}")
    metadata = {
        "row_count": n,
        "min_score": low,
        "max_score": high,
        "max_rank_deviation": deviation,
        "distinct_r_raw": distinct_raw,
        "largest_tie_group": largest_tie,
        "rows_at_largest_r_raw": top_tie,
        "share_at_or_above": dg.MetadataValue.json(shares),
        "share_tolerance": round(tolerance, 4),
    }
    return problems, metadata


@dg.asset_check(
    asset=SCORES_KEY,
    blocking=False,
    description=(
        "risk_score is 100 * PERCENT_RANK(r_raw): min 0, max 100 unless the largest r_raw is tied, "
        "and the share at or above t is about 1 - t/100."
    ),
)
def calibration_spread(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        row = conn.execute(CALIBRATION_QUERY).fetchone()
        distinct_raw, largest_tie, top_tie = conn.execute(TIES_QUERY).fetchone()
    problems, metadata = calibration_findings(row, distinct_raw, largest_tie, top_tie)
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={**metadata, "problems": dg.MetadataValue.json(problems)},
    )


def build_partition_check(partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """Fail when any partition of ``partitions_def`` has no stored features file."""
    keys = list(partitions_def.get_partition_keys())

    @dg.asset_check(
        asset=FEATURES_KEY,
        blocking=False,
        description="Every NPI-range partition has a stored file (existence only; nothing is loaded).",
    )
    def every_partition_stored(storage: DataDirResource) -> dg.AssetCheckResult:
        return partition_files_result(storage.asset_dir, keys)

    return every_partition_stored


def partition_files_result(asset_dir: Path, keys: list[str]) -> dg.AssetCheckResult:
    missing = [key for key in keys if not partition_path(asset_dir, FEATURES_KEY, key).exists()]
    return dg.AssetCheckResult(
        passed=not missing,
        description=f"{len(missing)} partitions have no stored file; backfill them" if missing else None,
        metadata={
            "partitions": len(keys),
            "missing_count": len(missing),
            "missing_partitions": dg.MetadataValue.json(missing[:20]),
        },
    )


def build_quarantine_check(extract: str, source: str, warn_share: float) -> dg.AssetChecksDefinition:
    """Warn when the latest extract quarantined more than ``warn_share`` of the rows it read."""

    @dg.asset_check(
        asset=extract,
        name="quarantine_share",
        blocking=False,
        description=f"Warns when more than {warn_share:.2%} of the rows read were quarantined (source {source!r}).",
    )
    def quarantine_share(context: dg.AssetCheckExecutionContext, postgres: PostgresResource) -> dg.AssetCheckResult:
        rows_read = _latest_row_count(context.instance, dg.AssetKey(extract), field="rows_read")
        with postgres.connection() as conn:
            reasons = dict(
                conn.execute(
                    "SELECT reason, count(*) FROM quarantine WHERE source = %s GROUP BY reason ORDER BY reason",
                    (source,),
                ).fetchall()
            )
        quarantined = sum(reasons.values())
        share = quarantined / rows_read if rows_read else 0.0
        return dg.AssetCheckResult(
            passed=quarantined <= warn_share * (rows_read or 0),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_read": rows_read if rows_read is not None else -1,
                "rows_quarantined": quarantined,
                "quarantined_share": round(share, 6),
                "warn_share": warn_share,
                "by_reason": dg.MetadataValue.json(reasons),
            },
        )

    return quarantine_share


def build_asset_checks(
    partitions_def: dg.PartitionsDefinition, quarantine_warn_share: float = 0.01
) -> list[dg.AssetChecksDefinition]:
    """Return every asset check; ``quarantine_warn_share`` is the quarantine checks' warning threshold."""
    quarantine_checks = [
        build_quarantine_check(extract, source, quarantine_warn_share)
        for extract, source in EXTRACT_QUARANTINE_SOURCES.items()
    ]
    return [
        scores_within_0_100,
        no_nan_or_infinity,
        one_row_per_npi,
        row_count_matches_scored_population,
        labels_match_scores,
        calibration_spread,
        build_partition_check(partitions_def),
        *quarantine_checks,
    ]
