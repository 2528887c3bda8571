"""Split frames into valid rows and rejected rows with a reason.

Each ``split_valid_*`` function returns a :class:`ValidationSplit`, which
unpacks as ``valid, rejected = split_valid_payments(frame)`` and also carries
``duplicates_collapsed``. The rules apply in a fixed order and a row gets the
first reason that fits. After that, rows sharing a key collapse to one when
they are equal in every column, and are all rejected as ``duplicate_key``
when they differ. So ``len(valid) + len(rejected) + duplicates_collapsed``
always equals the input row count.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from claidex_assets.npi import valid_npi_expr
from claidex_assets.sources import quarantine as reasons
from claidex_assets.sources.schema import EXCLUSIONS, PAYMENTS_COMBINED, PROGRAMS, PROVIDERS

# Payment years outside this range are data-entry errors: the public files
# start in 2013 (Medicare) and the scoring window is five recent years.
MIN_YEAR = 2000
MAX_YEAR = 2099

# Amounts and counts above this are rejected as amount_out_of_range: it is
# far above any provider's yearly total, and NUMERIC(18, 2) stops below 1e16.
MAX_AMOUNT = 1e13

_PAYMENT_AMOUNTS = ("payments", "allowed", "claims", "beneficiaries")


class ValidationSplit(tuple):
    """``(valid, rejected)`` plus the number of exact duplicate rows collapsed into one."""

    duplicates_collapsed: int

    def __new__(cls, valid: pl.DataFrame, rejected: pl.DataFrame, duplicates_collapsed: int = 0) -> ValidationSplit:
        split = super().__new__(cls, (valid, rejected))
        split.duplicates_collapsed = duplicates_collapsed
        return split

    @property
    def valid(self) -> pl.DataFrame:
        return self[0]

    @property
    def rejected(self) -> pl.DataFrame:
        return self[1]


def first_reason(checks: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
    """Return an expression giving the first reason whose check is true, else null.

    Each check is ``(reason, expression that is true for a bad row)``; a null
    check result counts as false.
    """
    expression = None
    for reason, is_bad in checks:
        condition = is_bad.fill_null(False)
        if expression is None:
            expression = pl.when(condition).then(pl.lit(reason))
        else:
            expression = expression.when(condition).then(pl.lit(reason))
    if expression is None:
        return pl.lit(None, pl.Utf8)
    return expression.otherwise(pl.lit(None, pl.Utf8))


def split_by_reason(
    frame: pl.DataFrame,
    reason: pl.Expr,
    key: Sequence[str],
    identity: Sequence[str] | None = None,
) -> ValidationSplit:
    """Split ``frame`` on a reason expression, then resolve duplicate keys among the valid rows.

    ``identity`` lists the columns that must be equal for two rows to be
    exact duplicates (default: every column except ``line_number``). The
    valid frame keeps the first copy of each exact duplicate, in input order.
    Rejected rows get a ``reason`` column.
    """
    tagged = frame.with_columns(reason.alias("reason"))
    rejected = tagged.filter(pl.col("reason").is_not_null())
    candidates = tagged.filter(pl.col("reason").is_null()).drop("reason")
    if identity is None:
        identity = [name for name in frame.columns if name != "line_number"]

    distinct = candidates.unique(subset=list(identity), keep="first", maintain_order=True)
    conflicting = distinct.filter(pl.struct(list(key)).is_duplicated()).select(list(key)).unique()
    if conflicting.height:
        duplicates = candidates.join(conflicting, on=list(key), how="semi", nulls_equal=True)
        candidates = candidates.join(conflicting, on=list(key), how="anti", nulls_equal=True)
        rejected = pl.concat(
            [rejected, duplicates.with_columns(pl.lit(reasons.DUPLICATE_KEY).alias("reason"))], how="vertical_relaxed"
        )
        distinct = candidates.unique(subset=list(identity), keep="first", maintain_order=True)
    collapsed = candidates.height - distinct.height
    return ValidationSplit(distinct, rejected, collapsed)


def parsed_number(column: str) -> pl.Expr:
    """Return ``column`` as Float64, parsing text; text that is not a number becomes null."""
    return pl.col(column).cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)


def _not_numeric(column: str, dtype: pl.DataType) -> pl.Expr:
    """True where a value is present but is no finite number."""
    col = pl.col(column)
    if dtype == pl.Utf8:
        value = parsed_number(column)
        return (col.is_not_null() & value.is_null()) | value.is_nan() | value.is_infinite()
    if dtype.is_float():
        return col.is_nan() | col.is_infinite()
    if dtype.is_numeric():
        return pl.lit(False)
    return col.is_not_null()


def _as_number(column: str, dtype: pl.DataType) -> pl.Expr:
    return parsed_number(column) if dtype == pl.Utf8 else pl.col(column).cast(pl.Float64)


def _with_missing(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def _year_value(dtype: pl.DataType) -> pl.Expr:
    """Return the year as Int64; null where it is absent or not a whole number."""
    col = pl.col("year")
    if dtype.is_integer():
        return col.cast(pl.Int64)
    if dtype.is_float():
        return pl.when(col == col.floor()).then(col).cast(pl.Int64, strict=False)
    return col.cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False)


def _year_check(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """Return (year is not a whole number, year outside MIN_YEAR..MAX_YEAR)."""
    year = _year_value(frame.schema["year"])
    not_integer = pl.col("year").is_not_null() & year.is_null()
    out_of_range = (year < MIN_YEAR) | (year > MAX_YEAR)
    return not_integer, out_of_range


def split_valid_payments(frame: pl.DataFrame) -> ValidationSplit:
    """Split payment rows shaped like ``payments_combined_v`` into valid and rejected rows.

    Checks, in order: ``missing_required`` (npi, year, program or payments
    null), ``invalid_npi``, ``year_out_of_range`` (also a year that is not an
    integer), ``unknown_program`` (not Medicaid, Medicare or MedicarePartD),
    ``non_numeric_amount`` (text that is no number, NaN or infinity in
    payments, allowed, claims or beneficiaries), ``amount_out_of_range``
    (above :data:`MAX_AMOUNT`), ``negative_amount``. The key
    is (npi, year, program). Valid rows come back with the view's dtypes;
    rejected rows keep the input values.
    """
    frame = _with_missing(frame, PAYMENTS_COMBINED).with_columns(pl.col("npi").cast(pl.Utf8))
    schema = frame.schema
    not_integer_year, year_out_of_range = _year_check(frame)
    amounts = list(_PAYMENT_AMOUNTS)
    checks = [
        (
            reasons.MISSING_REQUIRED,
            pl.any_horizontal(pl.col(name).is_null() for name in ("npi", "year", "program", "payments")),
        ),
        (reasons.INVALID_NPI, ~valid_npi_expr("npi")),
        (reasons.YEAR_OUT_OF_RANGE, not_integer_year | year_out_of_range),
        (reasons.UNKNOWN_PROGRAM, ~pl.col("program").is_in(list(PROGRAMS))),
        (reasons.NON_NUMERIC_AMOUNT, pl.any_horizontal(_not_numeric(name, schema[name]) for name in amounts)),
        (
            reasons.AMOUNT_OUT_OF_RANGE,
            pl.any_horizontal(_as_number(name, schema[name]).abs() > MAX_AMOUNT for name in amounts),
        ),
        (reasons.NEGATIVE_AMOUNT, pl.any_horizontal(_as_number(name, schema[name]) < 0 for name in amounts)),
    ]
    split = split_by_reason(frame, first_reason(checks), key=["npi", "year", "program"])
    valid = split.valid.select(
        pl.col("npi").cast(pl.Utf8),
        _year_value(schema["year"]).cast(pl.Int32).alias("year"),
        pl.col("program").cast(pl.Utf8),
        *[_as_number(name, schema[name]).alias(name) for name in amounts],
        pl.col("taxonomy").cast(pl.Utf8),
        pl.col("state").cast(pl.Utf8),
    )
    extra = [name for name in split.valid.columns if name not in PAYMENTS_COMBINED]
    if extra:
        valid = pl.concat([valid, split.valid.select(extra)], how="horizontal")
    return ValidationSplit(valid, split.rejected, split.duplicates_collapsed)


def split_valid_providers(frame: pl.DataFrame) -> ValidationSplit:
    """Split provider rows (the ``providers`` columns) into valid and rejected rows.

    Checks, in order: ``missing_required`` (npi null), ``invalid_npi``,
    ``invalid_entity_type`` (present but not 1 or 2). The key is npi.
    """
    frame = _with_missing(frame, {"npi": pl.Utf8, "entity_type_code": pl.Int16}).with_columns(pl.col("npi").cast(pl.Utf8))
    entity_type = pl.col("entity_type_code").cast(pl.Utf8).str.strip_chars().cast(pl.Int16, strict=False)
    checks = [
        (reasons.MISSING_REQUIRED, pl.col("npi").is_null()),
        (reasons.INVALID_NPI, ~valid_npi_expr("npi")),
        (
            reasons.INVALID_ENTITY_TYPE,
            pl.col("entity_type_code").is_not_null() & ~entity_type.is_in([1, 2]).fill_null(False),
        ),
    ]
    split = split_by_reason(frame, first_reason(checks), key=["npi"])
    casts = {name: dtype for name, dtype in PROVIDERS.items() if name in split.valid.columns and name != "entity_type_code"}
    valid = split.valid.cast(casts).with_columns(entity_type.alias("entity_type_code"))
    return ValidationSplit(valid, split.rejected, split.duplicates_collapsed)


def split_valid_exclusions(frame: pl.DataFrame) -> ValidationSplit:
    """Split exclusion rows (the ``exclusions`` columns) into valid and rejected rows.

    Checks, in order: ``missing_required`` (exclusion_id or excldate null),
    ``invalid_npi`` (an NPI that is present but invalid). A null NPI is an
    exclusion without a known NPI and stays valid. The key is exclusion_id.
    """
    frame = _with_missing(frame, {"exclusion_id": pl.Utf8, "npi": pl.Utf8, "excldate": pl.Date}).with_columns(
        pl.col("npi").cast(pl.Utf8)
    )
    checks = [
        (reasons.MISSING_REQUIRED, pl.col("exclusion_id").is_null() | pl.col("excldate").is_null()),
        (reasons.INVALID_NPI, pl.col("npi").is_not_null() & ~valid_npi_expr("npi")),
    ]
    split = split_by_reason(frame, first_reason(checks), key=["exclusion_id"])
    casts = {name: dtype for name, dtype in EXCLUSIONS.items() if name in split.valid.columns and name != "excldate"}
    valid = split.valid.cast(casts)
    return ValidationSplit(valid, split.rejected, split.duplicates_collapsed)
