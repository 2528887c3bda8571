"""Loader for the Medicaid provider spending file, aggregated to provider-year while streaming.

The national file has one row per billing NPI, servicing NPI, HCPCS code
and claim month (about 227 million rows, 11 GB), so it is read in batches
and each batch is summed per (NPI, year) at once; only the running
provider-year totals stay in memory. Payments and claims are summed.
Beneficiaries are the largest monthly unique-beneficiary count of the year:
summing monthly unique counts would count a patient seen in several months
several times, so the maximum is a lower bound on the yearly unique count.

Rows are line items, so two equal rows are not duplicates of one another
and both are summed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.npi import valid_npi_expr
from claidex_assets.sources import csv_reading as csvr
from claidex_assets.sources import quarantine as reasons
from claidex_assets.sources.quarantine import LoadReport, ParsedSource, store_parsed
from claidex_assets.sources.schema import PAYMENTS_MEDICAID
from claidex_assets.sources.validation import MAX_YEAR, MIN_YEAR, first_reason

log = logging.getLogger(__name__)

SOURCE = "medicaid"
TABLE = "payments_medicaid"

ALIASES: dict[str, tuple[str, ...]] = {
    "npi": ("BILLING_PROVIDER_NPI_NUM", "BILLING_PROVIDER_NPI", "billing_npi"),
    "claim_month": ("CLAIM_FROM_MONTH", "CLAIM_MONTH"),
    "beneficiaries": ("TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_BENEFICIARIES"),
    "claims": ("TOTAL_CLAIMS",),
    "payments": ("TOTAL_PAID", "TOTAL_PAID_AMOUNT"),
}
REQUIRED = ("npi", "claim_month", "payments")

# Running provider-year totals are folded together once the partial
# results of several batches hold this many rows.
_FOLD_ROWS = 5_000_000

# 2023-01, 2023-01-01, 202301, 2023/01 and a trailing time are accepted.
_MONTH_PATTERN = r"^(\d{4})[-/]?(\d{1,2})(?:[-/]?\d{1,2})?(?:[T ].*)?$"


def _claim_year() -> pl.Expr:
    return pl.col("claim_month").str.extract(_MONTH_PATTERN, 1).cast(pl.Int32, strict=False)


def _claim_month_number() -> pl.Expr:
    return pl.col("claim_month").str.extract(_MONTH_PATTERN, 2).cast(pl.Int32, strict=False)


def _checks() -> list[tuple[str, pl.Expr]]:
    blank = [pl.col(name).is_null() | pl.col(name).is_in(list(csvr.SUPPRESSED_MARKERS)) for name in REQUIRED]
    month = _claim_month_number()
    year = _claim_year()
    return [
        (reasons.UNDECODABLE_TEXT, csvr.has_replacement_char(list(ALIASES))),
        (reasons.MISSING_REQUIRED, pl.any_horizontal(blank)),
        (reasons.INVALID_NPI, ~valid_npi_expr("npi")),
        (reasons.INVALID_DATE, year.is_null() | month.is_null() | (month < 1) | (month > 12)),
        (reasons.YEAR_OUT_OF_RANGE, (year < MIN_YEAR) | (year > MAX_YEAR)),
        (
            reasons.NON_NUMERIC_AMOUNT,
            csvr.not_a_number("payments") | csvr.not_a_count("claims") | csvr.not_a_count("beneficiaries"),
        ),
        (reasons.AMOUNT_OUT_OF_RANGE, csvr.too_large(["payments", "claims", "beneficiaries"])),
        (reasons.NEGATIVE_AMOUNT, csvr.negative(["payments", "claims", "beneficiaries"])),
    ]


def _sum_provider_years(frame: pl.DataFrame) -> pl.DataFrame:
    """Fold partial totals (or parsed rows) into one row per (npi, year)."""
    return frame.group_by("npi", "year").agg(
        pl.col("payments").sum(),
        pl.col("claims").sum(),
        pl.col("claims_present").sum(),
        pl.col("beneficiaries").max(),
        pl.col("rows").sum(),
    )


def parse_medicaid(path: Path, year: int | None = None, *, batch_rows: int = csvr.BATCH_ROWS) -> ParsedSource:
    """Parse and aggregate a Medicaid provider spending file into ``payments_medicaid`` rows.

    Checks, in order: ``undecodable_text``, ``missing_required`` (NPI, claim
    month or paid amount blank or suppressed), ``invalid_npi``,
    ``invalid_date`` (no year and month 1-12 in the claim month),
    ``year_out_of_range``, ``non_numeric_amount``, ``amount_out_of_range``,
    ``negative_amount``. With ``year`` set, rows of other claim years are
    skipped (and counted).
    Invalid bytes are not re-decoded here, unlike the text-heavy sources:
    this file holds only codes and numbers, so a row with bytes that are not
    UTF-8 is rejected as ``undecodable_text``.
    """
    path = Path(path)
    mapping = csvr.resolve_columns(csvr.read_header(path), ALIASES, REQUIRED, path, SOURCE)
    scan = csvr.scan_text_columns(path, mapping, encoding="utf8-lossy")
    reason = first_reason(_checks())

    partials: list[pl.DataFrame] = []
    partial_rows = 0
    rejected_parts: list[pl.DataFrame] = []
    rows_read = rows_skipped = rows_accepted = 0
    for batch in csvr.iter_batches(scan, batch_rows):
        batch = csvr.add_missing(batch, list(ALIASES))
        rows_read += batch.height
        tagged = batch.with_columns(reason.alias("reason"))
        rejected_parts.append(tagged.filter(pl.col("reason").is_not_null()))
        good = tagged.filter(pl.col("reason").is_null()).with_columns(_claim_year().alias("year"))
        if year is not None:
            in_year = good.filter(pl.col("year") == year)
            rows_skipped += good.height - in_year.height
            good = in_year
        rows_accepted += good.height
        parsed = good.select(
            pl.col("npi"),
            pl.col("year"),
            csvr.number("payments").alias("payments"),
            csvr.count("claims").alias("claims"),
            csvr.count("claims").is_not_null().cast(pl.Int64).alias("claims_present"),
            csvr.count("beneficiaries").alias("beneficiaries"),
            pl.lit(1, pl.Int64).alias("rows"),
        )
        partials.append(_sum_provider_years(parsed))
        partial_rows += partials[-1].height
        if partial_rows > _FOLD_ROWS and len(partials) > 1:
            partials = [_sum_provider_years(pl.concat(partials))]
            partial_rows = partials[0].height
        log.debug("medicaid %s: %s rows read, %s provider-years so far", path.name, rows_read, partial_rows)

    if partials:
        totals = _sum_provider_years(pl.concat(partials))
    else:
        totals = pl.DataFrame(schema={"npi": pl.Utf8, "year": pl.Int32, "payments": pl.Float64, "claims": pl.Int64,
                                      "claims_present": pl.Int64, "beneficiaries": pl.Int64, "rows": pl.Int64})
    frame = (
        totals.select(
            "npi",
            "year",
            pl.col("payments").round(2),
            pl.when(pl.col("claims_present") > 0).then(pl.col("claims")).alias("claims"),
            "beneficiaries",
        )
        .cast(PAYMENTS_MEDICAID)
        .sort("npi", "year")
    )
    rejected = pl.concat(rejected_parts, how="diagonal_relaxed") if rejected_parts else pl.DataFrame(
        schema={"line_number": pl.Int64, "reason": pl.Utf8}
    )
    years = tuple(sorted(frame["year"].unique().to_list()))
    log.info("parsed %s: %s rows read into %s provider-years, %s rejected", path.name, rows_read, frame.height, rejected.height)
    return ParsedSource(
        source=SOURCE,
        path=path,
        table=TABLE,
        frame=frame,
        rejected=rejected,
        rows_read=rows_read,
        rows_accepted=rows_accepted,
        rows_skipped=rows_skipped,
        years=years,
        details={"provider_years": frame.height},
    )


def load_medicaid(
    conn: psycopg.Connection, path: Path, year: int | None = None, *, run_id: str | None = None
) -> LoadReport:
    """Load a Medicaid spending file, replacing the rows of every year it holds.

    Without ``year``, rows of the years in the file and rows an earlier load
    of the same file name wrote are replaced. With ``year``, only that
    year's rows are, so other years loaded from the same file stay.
    """
    parsed = parse_medicaid(path, year)
    if year is None:
        delete = f"DELETE FROM {TABLE} WHERE year = ANY(%s) OR source_file = %s"
        params: tuple[object, ...] = (list(parsed.years), parsed.path.name)
    else:
        delete = f"DELETE FROM {TABLE} WHERE year = %s"
        params = (year,)
    return store_parsed(conn, parsed, delete_statement=delete, delete_params=params, run_id=run_id)
