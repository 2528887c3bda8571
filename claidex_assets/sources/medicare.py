"""Loader for Medicare Physician & Other Practitioners, by provider (one file per data year).

Reads the NPI, provider type, state and the totals of beneficiaries,
services, allowed and paid amounts; every other column is ignored. The
data year comes from the caller or from the file name (``..._D22_...`` is
2022). The Part D loader shares :func:`parse_yearly_summary`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.errors import InputDataError
from claidex_assets.sources import csv_reading as csvr
from claidex_assets.sources import quarantine as reasons
from claidex_assets.sources.quarantine import LoadReport, ParsedSource, store_parsed
from claidex_assets.sources.schema import TABLE_SCHEMAS
from claidex_assets.sources.validation import MAX_YEAR, MIN_YEAR, split_by_reason

log = logging.getLogger(__name__)

SOURCE = "medicare"
TABLE = "payments_medicare"

# Canonical column -> header names it has had across release years (the
# 2013-2018 "Physician and Other Supplier" aggregate files used the
# lower-case names).
ALIASES: dict[str, tuple[str, ...]] = {
    "npi": ("Rndrng_NPI", "npi"),
    "provider_type": ("Rndrng_Prvdr_Type", "provider_type"),
    "state": ("Rndrng_Prvdr_State_Abrvtn", "nppes_provider_state"),
    "total_beneficiaries": ("Tot_Benes", "total_unique_benes", "bene_unique_cnt"),
    "total_services": ("Tot_Srvcs", "total_services", "line_srvc_cnt"),
    "medicare_allowed": ("Tot_Mdcr_Alowd_Amt", "total_medicare_allowed_amt"),
    "medicare_paid": ("Tot_Mdcr_Pymt_Amt", "total_medicare_payment_amt"),
}
REQUIRED = ("npi", "medicare_paid")
AMOUNTS = ("medicare_paid", "medicare_allowed", "total_services")
COUNTS = ("total_beneficiaries",)


def _blank(column: str) -> pl.Expr:
    """True where a cell is empty or a suppression marker."""
    return pl.col(column).is_null() | pl.col(column).is_in(list(csvr.SUPPRESSED_MARKERS))


def parse_yearly_summary(
    path: Path,
    year: int | None,
    *,
    source: str,
    table: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    amounts: Sequence[str],
    counts: Sequence[str],
    batch_rows: int = csvr.BATCH_ROWS,
) -> ParsedSource:
    """Parse a one-row-per-provider CMS summary file into ``table`` rows for one data year.

    Checks, in order: ``missing_required`` (NPI or a required amount blank
    or suppressed), ``invalid_npi``, ``non_numeric_amount`` (an amount that
    is no number, or a count that is no whole number), ``amount_out_of_range``,
    ``negative_amount``.
    Suppressed optional cells (blank, ``*``, ``#``) load as null. Rows with
    the same NPI collapse when identical and are all rejected as
    ``duplicate_key`` when they differ.
    """
    path = Path(path)
    data_year = csvr.resolve_year(path, year)
    if not MIN_YEAR <= data_year <= MAX_YEAR:
        raise InputDataError(f"data year {data_year} of {path.name} is outside {MIN_YEAR}..{MAX_YEAR}; pass --year YYYY")
    mapping = csvr.resolve_columns(csvr.read_header(path), aliases, required, path, source)
    numeric = [*amounts, *counts]
    checks = [
        (reasons.MISSING_REQUIRED, pl.any_horizontal([_blank(name) for name in required])),
        (reasons.INVALID_NPI, ~pl.col(csvr.NPI_VALID)),
        (
            reasons.NON_NUMERIC_AMOUNT,
            pl.any_horizontal([csvr.not_a_number(name) for name in amounts] + [csvr.not_a_count(name) for name in counts]),
        ),
        (reasons.AMOUNT_OUT_OF_RANGE, csvr.too_large(numeric)),
        (reasons.NEGATIVE_AMOUNT, csvr.negative(numeric)),
    ]
    parsed_columns: dict[str, pl.Expr] = {
        "npi": pl.col("npi"),
        "year": pl.lit(data_year, pl.Int32),
        "provider_type": pl.col("provider_type"),
        "state": pl.col("state").str.to_uppercase(),
        **{name: pl.col(csvr.value_column(name)) for name in amounts},
        **{name: csvr.count(name) for name in counts},
    }
    with csvr.utf8_copy(path) as (readable, recoded_bytes):
        scan = csvr.scan_text_columns(readable, mapping)
        all_columns = list(aliases)
        batches = (csvr.add_missing(batch, all_columns) for batch in csvr.iter_batches(scan, batch_rows))
        result = csvr.parse_batches(batches, checks=checks, parsed=parsed_columns, values=numeric)

    accepted = result.accepted
    if not accepted.width:
        accepted = pl.DataFrame(schema={"line_number": pl.Int64, **{name: pl.Utf8 for name in parsed_columns}})
    split = split_by_reason(accepted, pl.lit(None, pl.Utf8), key=["npi"], identity=list(parsed_columns))
    rejected = pl.concat([result.rejected, csvr.as_text(split.rejected)], how="diagonal_relaxed").with_columns(
        pl.lit(str(data_year)).alias("year")
    )
    # Sorted by NPI, so the COPY appends to the (npi, year) index in order.
    frame = split.valid.select(list(parsed_columns)).cast(TABLE_SCHEMAS[table]).sort("npi")
    log.info("parsed %s: %s rows read, %s accepted, %s rejected", path.name, result.rows_read, frame.height, rejected.height)
    return ParsedSource(
        source=source,
        path=path,
        table=table,
        frame=frame,
        rejected=rejected,
        rows_read=result.rows_read,
        rows_accepted=frame.height,
        duplicates_collapsed=split.duplicates_collapsed,
        rows_skipped=result.rows_skipped,
        years=(data_year,),
        details={"recoded_bytes": recoded_bytes, "columns": sorted(set(mapping.values()))},
    )


def parse_medicare(path: Path, year: int | None = None, *, batch_rows: int = csvr.BATCH_ROWS) -> ParsedSource:
    """Parse a Medicare Physician & Other Practitioners by-provider file into ``payments_medicare`` rows."""
    return parse_yearly_summary(
        path, year, source=SOURCE, table=TABLE, aliases=ALIASES, required=REQUIRED,
        amounts=AMOUNTS, counts=COUNTS, batch_rows=batch_rows,
    )


def load_medicare(
    conn: psycopg.Connection, path: Path, year: int | None = None, *, run_id: str | None = None
) -> LoadReport:
    """Load one Medicare by-provider file, replacing that data year's rows and earlier loads of the file."""
    parsed = parse_medicare(path, year)
    return store_parsed(
        conn, parsed, delete_statement=f"DELETE FROM {TABLE} WHERE year = %s OR source_file = %s",
        delete_params=(*parsed.years, parsed.path.name), run_id=run_id,
    )
