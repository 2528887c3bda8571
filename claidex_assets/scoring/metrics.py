"""Provider-year totals, taxonomy/state resolution and the three billing metrics.

One provider-year is one (npi, year) in the five-year window T-4..T, where T
is the latest year in the payment data. Its totals sum the programs' rows,
and its metrics are

    m1 = payments / max(claims, 1)        (payments per claim)
    m2 = claims / max(beneficiaries, 1)   (claims per beneficiary)
    m3 = payments
    x_k = ln(m_k + 1)

Null, NaN, infinite and negative amounts count as 0 and amounts are capped
at 1e15, so every metric is finite and non-negative. A provider-year's rows
are added in program order (Medicaid, Medicare, MedicarePartD) whatever the
input row order, because float addition is not associative and a shuffled
input must give identical totals.

Inside the engine an NPI is also carried as an Int64 (``npi_number``): it
sorts like the 10-digit text and makes group_by, joins and sorts on millions
of rows cheaper than string keys.
"""

from __future__ import annotations

import logging

import polars as pl

from claidex_assets.npi import NPI_MAX, NPI_MIN, valid_npi_number_expr
from claidex_assets.scoring.schemas import PROGRAM_PAYMENT_COLUMNS, PROGRAMS, UNKNOWN
from claidex_assets.scoring.stats import clean_amount

logger = logging.getLogger(__name__)

MEASURES = ("payments", "claims", "beneficiaries")
# A row key is ((npi_number * 8 + year - first window year) * 4 + program code);
# program code 3 marks a program outside PROGRAMS.
_YEAR_SLOTS = 8
_PROGRAM_SLOTS = 4


def npi_number(column: str = "npi") -> pl.Expr:
    """Parse 10-character NPI text to Int64; null unless it reads as 1000000000..2999999999.

    Text of 10 characters that parses into that range is exactly ten digits
    starting with 1 or 2. The check digit is tested separately.
    """
    text = pl.col(column)
    number = text.str.to_integer(dtype=pl.Int64, strict=False)
    in_range = (text.str.len_bytes() == 10) & number.is_between(NPI_MIN, NPI_MAX)
    return pl.when(in_range).then(number).otherwise(None)


def _first_of_provider() -> pl.Expr:
    """True on the first row of each NPI in a frame sorted by npi_number."""
    number = pl.col("npi_number")
    return (number != number.shift(1)).fill_null(True)


def _program_code() -> pl.Expr:
    code = pl.lit(len(PROGRAMS), pl.Int64)
    for index, name in reversed(list(enumerate(PROGRAMS))):
        code = pl.when(pl.col("program") == name).then(pl.lit(index, pl.Int64)).otherwise(code)
    return code


def aggregate_provider_years(window: pl.LazyFrame, window_start: int) -> pl.DataFrame:
    """Sum each valid NPI's payment rows per year; sorted by (npi, year).

    Returns npi (Utf8), npi_number (Int64), year (Int32), the payments,
    claims and beneficiaries totals and one payments column per program.
    Raises ValueError on a program name outside ``PROGRAMS`` or on more than
    one row for the same (npi, year, program), because either means the rows
    did not pass the upstream validation.
    """
    provider_year = npi_number("npi") * _YEAR_SLOTS + (pl.col("year") - window_start).cast(pl.Int64)
    rows = window.select(
        (provider_year * _PROGRAM_SLOTS + _program_code()).alias("_key"),
        *[clean_amount(pl.col(m)).alias(m) for m in MEASURES],
    ).collect()

    malformed = rows.get_column("_key").null_count()
    if malformed:
        logger.warning("dropped %s payment rows whose NPI is not 10 digits starting with 1 or 2", malformed)
        rows = rows.drop_nulls("_key")
    rows = rows.sort("_key")
    _check_program_rows(rows, window)

    # Sorted by key, a provider-year's rows (at most one per program) are
    # adjacent and in program order. Each total adds them oldest offset
    # first, so it does not depend on the input row order.
    key = pl.col("_key")
    provider_year = key // _PROGRAM_SLOTS
    same = {k: provider_year.shift(k) == provider_year for k in (1, 2)}
    program = key % _PROGRAM_SLOTS

    def window_sum(value: pl.Expr, program_index: int | None = None) -> pl.Expr:
        total = pl.lit(0.0)
        for k in (2, 1, 0):
            present = same[k] if k else pl.lit(True)
            if program_index is not None:
                present = present & (program.shift(k) == program_index)
            total = total + pl.when(present).then(value.shift(k)).otherwise(0.0)
        return total

    last = (provider_year != provider_year.shift(-1)).fill_null(True)
    years = rows.lazy().select(
        (provider_year // _YEAR_SLOTS).alias("npi_number"),
        (provider_year % _YEAR_SLOTS + window_start).cast(pl.Int32).alias("year"),
        *[window_sum(pl.col(m)).alias(m) for m in MEASURES],
        *[
            window_sum(pl.col("payments"), index).alias(PROGRAM_PAYMENT_COLUMNS[name])
            for index, name in enumerate(PROGRAMS)
        ],
        last.alias("_last"),
    ).filter("_last").drop("_last").collect()
    return _drop_invalid_check_digits(years)


def _drop_invalid_check_digits(years: pl.DataFrame) -> pl.DataFrame:
    """Drop provider-years whose NPI fails the check digit and add the NPI text.

    The check runs once per NPI on its first row (the frame is sorted by
    NPI) and reaches the NPI's other years through a gather.
    """
    first = years.select(_first_of_provider()).to_series()
    valid_per_npi = years.filter(first).select(valid_npi_number_expr("npi_number")).to_series()
    valid = valid_per_npi.gather(first.cum_sum() - 1)
    invalid = years.height - int(valid.sum())
    if invalid:
        logger.warning("dropped %s provider-years whose NPI fails the check digit", invalid)
        years = years.filter(valid)
    return years.with_columns(pl.col("npi_number").cast(pl.Utf8).alias("npi"))


def _check_program_rows(rows: pl.DataFrame, window: pl.LazyFrame) -> None:
    """Raise on rows with a program outside PROGRAMS or a repeated (npi, year, program)."""
    key = pl.col("_key")
    unknown = rows.filter(key % _PROGRAM_SLOTS == len(PROGRAMS)).height
    if unknown:
        names = (
            window.filter(~pl.col("program").is_in(PROGRAMS) | pl.col("program").is_null())
            .select(pl.col("program").unique().sort(nulls_last=True).head(5))
            .collect()
            .to_series()
            .to_list()
        )
        raise ValueError(
            f"payments: {unknown} rows have an unknown program {names}; expected one of "
            f"{list(PROGRAMS)}. Quarantine those rows before scoring."
        )
    duplicated = rows.filter(key == key.shift(1))
    if duplicated.height:
        example = duplicated.get_column("_key")[0] // (_PROGRAM_SLOTS * _YEAR_SLOTS)
        raise ValueError(
            f"payments: {duplicated.height} rows repeat an (npi, year, program) of another row, "
            f"for example npi {example}; the input must hold one row per (npi, year, program). "
            f"Deduplicate or quarantine them before scoring."
        )


def known_value(column: str) -> pl.Expr:
    """Return the column's value, or null when it is null, blank or 'Unknown'."""
    value = pl.col(column)
    stripped = value.str.strip_chars()
    return pl.when(value.is_null() | (stripped == "") | (stripped == UNKNOWN)).then(None).otherwise(value)


def resolve_taxonomy_and_state(
    years: pl.DataFrame, window: pl.LazyFrame, providers: pl.DataFrame
) -> pl.DataFrame:
    """Add ``taxonomy_10`` and ``state`` to each provider-year, as Enum columns of the values present.

    Each field comes from the providers row when it has a value there. Else
    it is the most frequent value among the provider's payment rows that
    year, with ties going to the alphabetically first. Else it is 'Unknown'.
    'Unknown', blank and null all count as no value. taxonomy_10 is the
    first 10 characters of the taxonomy.
    """
    profile = providers.select(
        npi_number("npi").alias("npi_number"),
        known_value("taxonomy_1").str.slice(0, 10).alias("_taxonomy_10"),
        known_value("state").alias("_state"),
    ).drop_nulls("npi_number")
    # Sorted by NPI (the provider extract usually is already), a repeated NPI
    # sits next to its twin, and the join below can merge two sorted keys.
    if not profile.get_column("npi_number").is_sorted():
        profile = profile.sort("npi_number")
    number = pl.col("npi_number")
    duplicated = profile.filter(number == number.shift(1))
    if duplicated.height:
        raise ValueError(
            f"providers: {duplicated.height} rows repeat the NPI of an earlier row, for example "
            f"{duplicated['npi_number'].min()}; the providers table must have one row per NPI"
        )

    # Join the providers once per NPI; the values reach the NPI's years
    # through a gather, which is cheaper than joining every provider-year.
    npi_index = years.select(pl.col("npi_number").rle_id()).to_series()
    npis = years.filter(_first_of_provider()).select(pl.col("npi_number").set_sorted())
    npis = npis.join(
        profile.with_columns(pl.col("npi_number").set_sorted()), on="npi_number", how="left", maintain_order="left"
    )
    npis = npis.with_columns((pl.col("_taxonomy_10").is_null() | pl.col("_state").is_null()).alias("_missing"))
    missing_npis = npis.filter("_missing").select("npi_number")

    modes = pl.DataFrame(
        schema={"npi_number": pl.Int64, "year": pl.Int32, "_taxonomy_mode": pl.Utf8, "_state_mode": pl.Utf8}
    )
    if missing_npis.height:
        rows = (
            window.with_columns(npi_number("npi").alias("npi_number"))
            .join(missing_npis.lazy(), on="npi_number", how="semi")
            .select("npi_number", "year", "taxonomy", "state")
            .collect()
        )
        modes = _most_frequent(rows, "taxonomy").join(
            _most_frequent(rows, "state"), on=["npi_number", "year"], how="full", coalesce=True
        )
        modes = modes.with_columns(pl.col("_taxonomy_mode").str.slice(0, 10))
        logger.info("took taxonomy or state from payment rows for %s NPIs", missing_npis.height)

    taxonomy_type = _enum_of(npis.get_column("_taxonomy_10"), modes.get_column("_taxonomy_mode"))
    state_type = _enum_of(npis.get_column("_state"), modes.get_column("_state_mode"))
    npis = npis.with_columns(pl.col("_taxonomy_10").cast(taxonomy_type), pl.col("_state").cast(state_type))
    taxonomy = npis.get_column("_taxonomy_10").gather(npi_index).alias("taxonomy_10")
    state = npis.get_column("_state").gather(npi_index).alias("state")

    # Only the provider-years of NPIs lacking a providers value need the
    # payment-row values; they are joined on that subset and scattered back.
    subset = npis.get_column("_missing").gather(npi_index).arg_true()
    if subset.len():
        filled = (
            years.select("npi_number", "year")[subset]
            .with_columns(taxonomy.gather(subset), state.gather(subset))
            .join(modes, on=["npi_number", "year"], how="left", maintain_order="left")
            .select(
                pl.coalesce(
                    "taxonomy_10", pl.col("_taxonomy_mode").cast(taxonomy_type), pl.lit(UNKNOWN, taxonomy_type)
                ).alias("taxonomy_10"),
                pl.coalesce("state", pl.col("_state_mode").cast(state_type), pl.lit(UNKNOWN, state_type)).alias(
                    "state"
                ),
            )
        )
        taxonomy = taxonomy.scatter(subset, filled.get_column("taxonomy_10"))
        state = state.scatter(subset, filled.get_column("state"))
    return years.with_columns(taxonomy, state)


def _enum_of(*values: pl.Series) -> pl.Enum:
    """Return an Enum over the sorted distinct non-null values and 'Unknown'."""
    distinct = pl.concat([v.drop_nulls().unique() for v in values] + [pl.Series([UNKNOWN])]).unique().sort()
    return pl.Enum(distinct)


def _most_frequent(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Most frequent known value of ``column`` per (npi, year); ties go to the alphabetically first."""
    return (
        rows.lazy()
        .select("npi_number", "year", known_value(column).alias("_value"))
        .drop_nulls("_value")
        .group_by("npi_number", "year", "_value")
        .agg(pl.len().alias("_count"))
        .sort(["npi_number", "year", "_count", "_value"], descending=[False, False, True, False])
        .unique(subset=["npi_number", "year"], keep="first", maintain_order=True)
        .select("npi_number", "year", pl.col("_value").alias(f"_{column}_mode"))
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
