"""Loader for the Medicaid provider spending file, aggregated to provider-year while streaming.

The national file has one row per billing NPI, servicing NPI, HCPCS code
and claim month (about 227 million rows, 11 GB). It is read in batches and
each batch is summed per (NPI, year) at once, so only the running
provider-year totals stay in memory. Payments and claims are summed.
Beneficiaries are the largest monthly unique-beneficiary count of the year:
summing monthly unique counts would count a patient seen in several months
several times, so the maximum is a lower bound on the yearly unique count.

A row repeated on the next accepted line, equal in every column read
(billing and servicing NPI, HCPCS code, month, the three amounts), is a
duplicate and collapses into one. Equal rows further apart are summed,
because finding them would need a hash of every one of the 227 million
rows. A duplicated export repeats lines next to each other.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import psycopg

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
    "servicing_npi": ("SERVICING_PROVIDER_NPI_NUM", "SERVICING_PROVIDER_NPI"),
    "hcpcs_code": ("HCPCS_CODE",),
    "claim_month": ("CLAIM_FROM_MONTH", "CLAIM_MONTH"),
    "beneficiaries": ("TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_BENEFICIARIES"),
    "claims": ("TOTAL_CLAIMS",),
    "payments": ("TOTAL_PAID", "TOTAL_PAID_AMOUNT"),
}
REQUIRED = ("npi", "claim_month", "payments")
# Columns whose values are loaded; the servicing NPI and HCPCS code only
# tell line items apart when looking for duplicates.
LOADED = ("npi", "claim_month", "beneficiaries", "claims", "payments")

# Running provider-year totals are folded together once the partial
# results of several batches hold this many rows.
_FOLD_ROWS = 5_000_000

# The claim month is read from its first characters: a 4-digit year, an
# optional '-' or '/', then the month (2023-01, 2023-01-01, 202301, 2023/1,
# 2023-01-01T00:00:00). Slicing is about 20 times faster than a regular
# expression over 227 million rows; what follows the month is not checked.
_MONTH_SEPARATORS = ["-", "/"]


AMOUNTS = ("payments", "claims", "beneficiaries")


def _with_claim_year_month(batch: pl.DataFrame) -> pl.DataFrame:
    """Add ``__year`` and ``__month`` parsed from the claim month (null when they are not numbers)."""
    text = pl.col("claim_month")
    year_text = text.str.slice(0, 4)
    has_separator = text.str.slice(4, 1).is_in(_MONTH_SEPARATORS)
    month_text = pl.when(has_separator).then(text.str.slice(5, 2)).otherwise(text.str.slice(4, 2))
    # "2023-1-05" leaves "1-" as the month text: a digit and a separator.
    month_text = month_text.str.strip_suffix("-").str.strip_suffix("/")
    return batch.with_columns(
        pl.when(year_text.str.contains(r"^\d{4}$")).then(year_text.cast(pl.Int32, strict=False)).alias("__year"),
        pl.when(month_text.str.contains(r"^\d{1,2}$")).then(month_text.cast(pl.Int32, strict=False)).alias("__month"),
    )


def _checks() -> list[tuple[str, pl.Expr]]:
    blank = [pl.col(name).is_null() | pl.col(name).is_in(csvr.SUPPRESSION_MARKS) for name in REQUIRED]
    month = pl.col("__month")
    year = pl.col("__year")
    return [
        (reasons.UNDECODABLE_TEXT, csvr.has_replacement_char(list(LOADED))),
        (reasons.MISSING_REQUIRED, pl.any_horizontal(blank)),
        (reasons.INVALID_NPI, ~pl.col(csvr.NPI_VALID)),
        (reasons.INVALID_DATE, year.is_null() | month.is_null() | (month < 1) | (month > 12)),
        (reasons.YEAR_OUT_OF_RANGE, (year < MIN_YEAR) | (year > MAX_YEAR)),
        (
            reasons.NON_NUMERIC_AMOUNT,
            csvr.not_a_number("payments") | csvr.not_a_count("claims") | csvr.not_a_count("beneficiaries"),
        ),
        (reasons.AMOUNT_OUT_OF_RANGE, csvr.too_large(AMOUNTS)),
        (reasons.NEGATIVE_AMOUNT, csvr.negative(AMOUNTS)),
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


def _repeats_previous(rows: pl.DataFrame, previous: pl.DataFrame | None) -> pl.Series:
    """Flag rows equal in every column to the row before them (``previous`` is the last row of the last batch)."""
    stacked = rows if previous is None else pl.concat([previous, rows])
    same = pl.all_horizontal([pl.col(name).eq_missing(pl.col(name).shift(1)) for name in rows.columns])
    flags = stacked.select(same.fill_null(False)).to_series()
    return flags if previous is None else flags.slice(1)


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
    rows_read = rows_skipped = rows_accepted = duplicates = 0
    previous_row: pl.DataFrame | None = None
    for batch in csvr.iter_batches(scan, batch_rows):
        batch = csvr.add_missing(batch, list(ALIASES))
        rows_read += batch.height
        raw_columns = batch.columns
        tagged = _with_claim_year_month(csvr.with_npi_validity(batch)).with_columns(csvr.with_values(AMOUNTS))
        tagged = tagged.with_columns(reason.alias("reason"))
        rejected_parts.append(tagged.filter(pl.col("reason").is_not_null()).select(*raw_columns, "reason"))
        good = tagged.filter(pl.col("reason").is_null()).rename({"__year": "year"})
        identity = good.select(list(ALIASES))
        repeats = _repeats_previous(identity, previous_row)
        if good.height:
            previous_row = identity.tail(1)
        duplicates += int(repeats.sum())
        good = good.filter(~repeats)
        if year is not None:
            in_year = good.filter(pl.col("year") == year)
            rows_skipped += good.height - in_year.height
            good = in_year
        rows_accepted += good.height
        parsed = good.select(
            pl.col("npi"),
            pl.col("year"),
            pl.col(csvr.value_column("payments")).alias("payments"),
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
        duplicates_collapsed=duplicates,
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
