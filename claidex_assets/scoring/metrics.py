"""Provider-year totals, taxonomy/state resolution and the three billing metrics.

One provider-year is one (npi, year) in the five-year window T-4..T, where T
is the latest year in the payment data. Its totals sum the programs' rows,
and its metrics are

    m1 = payments / max(claims, 1)        (payments per claim)
    m2 = claims / max(beneficiaries, 1)   (claims per beneficiary)
    m3 = payments
    x_k = ln(m_k + 1)

Null, NaN, infinite and negative amounts count as 0 and amounts are capped
at 1e15, so every metric is finite and non-negative. Amounts are summed in
fixed point with a resolution of 0.01 (whole cents for payments), because
integer sums do not depend on row order while float sums do; the totals are
converted back to Float64.

Inside the engine an NPI is also carried as an Int64 (``npi_number``): it
sorts like the 10-digit text and makes group_by, joins and sorts on millions
of rows cheaper than string keys.
"""

from __future__ import annotations

import logging

import polars as pl

from claidex_assets.npi import NPI_MAX, NPI_MIN, valid_npi_expr
from claidex_assets.scoring.schemas import PROGRAM_PAYMENT_COLUMNS, PROGRAMS, UNKNOWN
from claidex_assets.scoring.stats import clean_amount

logger = logging.getLogger(__name__)

MEASURES = ("payments", "claims", "beneficiaries")
FIXED_POINT_SCALE = 100
# Each program's row count occupies 16 bits of one Int64 sum; the top field
# counts rows with a program outside PROGRAMS.
_COUNT_BITS = 16
# A provider-year key is npi_number * 8 + (year - first window year).
_YEAR_SLOTS = 8


def npi_number(column: str = "npi") -> pl.Expr:
    """Parse 10-character NPI text to Int64; null unless it reads as 1000000000..2999999999.

    Text of 10 characters that parses into that range is exactly ten digits
    starting with 1 or 2. The check digit is tested separately.
    """
    text = pl.col(column)
    number = text.str.to_integer(dtype=pl.Int64, strict=False)
    in_range = (text.str.len_bytes() == 10) & number.is_between(NPI_MIN, NPI_MAX)
    return pl.when(in_range).then(number).otherwise(None)


def _fixed_point(value: pl.Expr) -> pl.Expr:
    return (clean_amount(value) * FIXED_POINT_SCALE).round().cast(pl.Int64)


def aggregate_provider_years(window: pl.LazyFrame, window_start: int) -> pl.DataFrame:
    """Sum each valid NPI's payment rows per year; sorted by (npi, year).

    Returns npi (Utf8), npi_number (Int64), year (Int32), the payments,
    claims and beneficiaries totals and one payments column per program.
    Raises ValueError on a program name outside ``PROGRAMS`` or on more than
    one row for the same (npi, year, program), because either means the rows
    did not pass the upstream validation.
    """
    program = pl.col("program")
    row_code = pl.lit(1 << (_COUNT_BITS * len(PROGRAMS)), pl.Int64)
    for index, name in reversed(list(enumerate(PROGRAMS))):
        row_code = pl.when(program == name).then(pl.lit(1 << (_COUNT_BITS * index), pl.Int64)).otherwise(row_code)
    # Medicare Part D payments are the total minus the other two programs.
    per_program = [
        pl.when(program == name).then(_fixed_point(pl.col("payments"))).otherwise(0).alias(f"_payments_{name}")
        for name in PROGRAMS[:2]
    ]
    key = npi_number("npi") * _YEAR_SLOTS + (pl.col("year") - window_start).cast(pl.Int64)
    sums = (
        window.select(
            key.alias("_key"),
            row_code.alias("_row_code"),
            *[_fixed_point(pl.col(m)).alias(m) for m in MEASURES],
            *per_program,
        )
        .group_by("_key")
        .agg(pl.all().sum())
        .collect()
    )

    counts = [
        ((pl.col("_row_code") // (1 << (_COUNT_BITS * i))) % (1 << _COUNT_BITS)).alias(f"_rows_{i}")
        for i in range(len(PROGRAMS) + 1)
    ]
    sums = sums.with_columns(counts)
    _check_program_rows(sums, window)
    malformed = sums.filter(pl.col("_key").is_null())
    if malformed.height:
        rows = malformed.select(pl.sum_horizontal(pl.selectors.starts_with("_rows_"))).item()
        logger.warning("dropped %s payment rows whose NPI is not 10 digits starting with 1 or 2", rows)
        sums = sums.filter(pl.col("_key").is_not_null())

    part_d = pl.col("payments") - pl.col("_payments_Medicaid") - pl.col("_payments_Medicare")
    scale = float(FIXED_POINT_SCALE)
    years = sums.sort("_key").select(
        (pl.col("_key") // _YEAR_SLOTS).alias("npi_number"),
        (pl.col("_key") % _YEAR_SLOTS + window_start).cast(pl.Int32).alias("year"),
        *[(pl.col(m) / scale).alias(m) for m in MEASURES],
        (pl.col("_payments_Medicaid") / scale).alias(PROGRAM_PAYMENT_COLUMNS["Medicaid"]),
        (pl.col("_payments_Medicare") / scale).alias(PROGRAM_PAYMENT_COLUMNS["Medicare"]),
        (part_d / scale).alias(PROGRAM_PAYMENT_COLUMNS["MedicarePartD"]),
    )
    return _drop_invalid_check_digits(years)


def _drop_invalid_check_digits(years: pl.DataFrame) -> pl.DataFrame:
    """Add the NPI text and drop provider-years whose NPI fails the check digit."""
    npi_index = years.select(pl.col("npi_number").rle_id()).to_series()
    npis = years.filter(pl.col("npi_number").is_first_distinct()).select(
        pl.col("npi_number").cast(pl.Utf8).alias("npi")
    )
    npis = npis.with_columns(valid_npi_expr("npi").alias("_valid"))
    years = years.with_columns(
        npis.get_column("npi").gather(npi_index).alias("npi"),
        npis.get_column("_valid").gather(npi_index).alias("_valid"),
    )
    invalid = years.height - int(years.get_column("_valid").sum())
    if invalid:
        logger.warning("dropped %s provider-years whose NPI fails the check digit", invalid)
        years = years.filter("_valid")
    return years.drop("_valid")


def _check_program_rows(sums: pl.DataFrame, window: pl.LazyFrame) -> None:
    unknown = sums.filter(pl.col(f"_rows_{len(PROGRAMS)}") > 0)
    if unknown.height:
        names = (
            window.filter(~pl.col("program").is_in(PROGRAMS) | pl.col("program").is_null())
            .select(pl.col("program").unique().sort(nulls_last=True).head(5))
            .collect()
            .to_series()
            .to_list()
        )
        raise ValueError(
            f"payments: {unknown.height} provider-years have rows with an unknown program "
            f"{names}; expected one of {list(PROGRAMS)}. Quarantine those rows before scoring."
        )
    # Rows with a malformed NPI share the null key; they are dropped, not checked.
    repeated = pl.max_horizontal(f"_rows_{i}" for i in range(len(PROGRAMS))) > 1
    duplicated = sums.filter(repeated & pl.col("_key").is_not_null())
    if duplicated.height:
        key = duplicated.get_column("_key").min()
        raise ValueError(
            f"payments: {duplicated.height} provider-years have more than one row for the same "
            f"program, for example npi {key // _YEAR_SLOTS}; the input must hold one row per "
            f"(npi, year, program). Deduplicate or quarantine them before scoring."
        )


def known_value(column: str) -> pl.Expr:
    """Return the column's value, or null when it is null, blank or 'Unknown'."""
    value = pl.col(column)
    stripped = value.str.strip_chars()
    return pl.when(value.is_null() | (stripped == "") | (stripped == UNKNOWN)).then(None).otherwise(value)


def resolve_taxonomy_and_state(
    years: pl.DataFrame, window: pl.LazyFrame, providers: pl.DataFrame, window_start: int
) -> pl.DataFrame:
    """Add ``taxonomy_10`` and ``state`` (Categorical) to each provider-year.

    Each field comes from the providers row when it holds a value there; else
    from the most frequent value among the provider's payment rows that year
    (ties: the alphabetically first); else 'Unknown'. 'Unknown', blank and
    null all count as no value. taxonomy_10 is the first 10 characters.
    """
    profile = providers.select(
        npi_number("npi").alias("npi_number"),
        known_value("taxonomy_1").str.slice(0, 10).cast(pl.Categorical).alias("_taxonomy_10"),
        known_value("state").cast(pl.Categorical).alias("_state"),
    ).drop_nulls("npi_number")
    duplicated = profile.filter(pl.col("npi_number").is_duplicated())
    if duplicated.height:
        raise ValueError(
            f"providers: {duplicated.height} rows share their NPI with another row, for example "
            f"{duplicated['npi_number'].min()}; the providers table must have one row per NPI"
        )

    # Join the providers once per NPI, then spread the result over the NPI's
    # years with a gather, which is cheaper than joining every provider-year.
    npi_index = years.select(pl.col("npi_number").rle_id()).to_series()
    npis = years.filter(pl.col("npi_number").is_first_distinct()).select("npi_number")
    npis = npis.join(profile, on="npi_number", how="left", maintain_order="left")
    years = years.with_columns(
        npis.get_column("_taxonomy_10").gather(npi_index).alias("_taxonomy_10"),
        npis.get_column("_state").gather(npi_index).alias("_state"),
    )

    missing = years.filter(pl.col("_taxonomy_10").is_null() | pl.col("_state").is_null())
    if missing.height:
        logger.info("taking taxonomy or state from payment rows for %s provider-years", missing.height)
        rows = window.with_columns(npi_number("npi").alias("npi_number")).join(
            missing.lazy().select("npi_number", "year"), on=["npi_number", "year"], how="semi"
        )
        modes = _most_frequent(rows, "taxonomy").join(
            _most_frequent(rows, "state"), on=["npi_number", "year"], how="full", coalesce=True
        )
        years = years.join(modes, on=["npi_number", "year"], how="left", maintain_order="left")
    else:
        years = years.with_columns(
            pl.lit(None, pl.Categorical).alias("_taxonomy_mode"),
            pl.lit(None, pl.Categorical).alias("_state_mode"),
        )

    unknown = pl.lit(UNKNOWN).cast(pl.Categorical)
    return years.with_columns(
        pl.coalesce("_taxonomy_10", pl.col("_taxonomy_mode").cast(pl.Utf8).str.slice(0, 10).cast(pl.Categorical), unknown)
        .alias("taxonomy_10"),
        pl.coalesce("_state", "_state_mode", unknown).alias("state"),
    ).drop("_taxonomy_10", "_state", "_taxonomy_mode", "_state_mode")


def _most_frequent(rows: pl.LazyFrame, column: str) -> pl.DataFrame:
    """Most frequent known value of ``column`` per (npi, year); ties go to the alphabetically first."""
    return (
        rows.select("npi_number", "year", known_value(column).alias("_value"))
        .drop_nulls("_value")
        .group_by("npi_number", "year", "_value")
        .agg(pl.len().alias("_count"))
        .sort(["npi_number", "year", "_count", "_value"], descending=[False, False, True, False])
        .unique(subset=["npi_number", "year"], keep="first", maintain_order=True)
        .select("npi_number", "year", pl.col("_value").cast(pl.Categorical).alias(f"_{column}_mode"))
        .collect()
    )


def add_billing_metrics(years: pl.DataFrame) -> pl.DataFrame:
    """Add m1..m3 and their logs x1..x3 to the provider-year totals."""
    return years.with_columns(
        (pl.col("payments") / pl.max_horizontal("claims", pl.lit(1.0))).alias("m1"),
        (pl.col("claims") / pl.max_horizontal("beneficiaries", pl.lit(1.0))).alias("m2"),
        pl.col("payments").alias("m3"),
    ).with_columns(
        pl.col("m1").log1p().alias("x1"),
        pl.col("m2").log1p().alias("x2"),
        pl.col("m3").log1p().alias("x3"),
    )
