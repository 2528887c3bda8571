"""NPI validation and the fixed NPI-range partitioning.

An NPI is 10 digits, starts with 1 or 2, and its last digit is the Luhn check
digit over the constant prefix ``80840`` followed by the first nine digits.
This module is pure Python plus polars so every layer (loaders, scoring,
ownership features, the Modal container) shares one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

NPI_MIN = 1_000_000_000
NPI_MAX = 2_999_999_999
# Issued NPIs almost all start with 1; the 2-prefixed block is reserved for
# later issuance, so it gets one range of its own and the 1-prefixed block is
# split evenly over the rest.
_FIRST_BLOCK_END = 2_000_000_000

# About 1.78M scored NPIs nationally / 178 ranges in the 1-block is about
# 10,000 NPIs per partition.
DEFAULT_PARTITION_COUNT = 179


def npi_check_digit(first_nine: str) -> int:
    """Compute the Luhn check digit for the nine leading digits of an NPI."""
    digits = "80840" + first_nine
    total = 0
    # Double every second digit from the right of the payload, which is the
    # rightmost one because the check digit will be appended after it.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def is_valid_npi(value: object) -> bool:
    """Return True when ``value`` is a 10-digit NPI with a correct check digit."""
    if not isinstance(value, str) or len(value) != 10 or not value.isdigit():
        return False
    if value[0] not in "12":
        return False
    return npi_check_digit(value[:9]) == int(value[9])


def make_npi(first_nine: int | str) -> str:
    """Append the check digit to nine leading digits (used by the generator and tests)."""
    stem = f"{int(first_nine):09d}"
    return stem + str(npi_check_digit(stem))


def valid_npi_expr(column: str = "npi") -> pl.Expr:
    """Vectorised NPI validity check for a Utf8 column (null is invalid)."""
    col = pl.col(column)
    shape_ok = col.str.contains(r"^[12][0-9]{9}$").fill_null(False)
    # Luhn over "80840" + first nine digits: positions counted from the right
    # of that 14-digit payload; the nine NPI digits sit at payload positions
    # 8..0 (d1 at 8, d9 at 0). Even positions are doubled.
    total = pl.lit(24)  # Luhn sum of the constant prefix 80840 in these positions
    for index in range(9):
        digit = col.str.slice(index, 1).cast(pl.Int32, strict=False).fill_null(0)
        position = 8 - index
        if position % 2 == 0:
            doubled = digit * 2
            digit = pl.when(doubled > 9).then(doubled - 9).otherwise(doubled)
        total = total + digit
    check = (10 - total % 10) % 10
    last = col.str.slice(9, 1).cast(pl.Int32, strict=False)
    return shape_ok & (check == last).fill_null(False)


def valid_npi_number_expr(column: str = "npi_number") -> pl.Expr:
    """Vectorised NPI validity check for an Int64 column holding the NPI as a number (null is invalid).

    Same rule as :func:`valid_npi_expr` with integer arithmetic, which is
    several times cheaper than slicing text on millions of rows.
    """
    number = pl.col(column)
    in_range = number.is_between(NPI_MIN, NPI_MAX)
    # Digit d at 10**p (p = 1..9) is payload position p - 1 from the right;
    # even payload positions are doubled.
    total = pl.lit(24, pl.Int64)  # Luhn sum of the constant prefix 80840
    for power in range(1, 10):
        digit = (number // 10**power) % 10
        if (power - 1) % 2 == 0:
            doubled = digit * 2
            digit = pl.when(doubled > 9).then(doubled - 9).otherwise(doubled)
        total = total + digit
    check = (10 - total % 10) % 10
    return (in_range & (check == number % 10)).fill_null(False)


@dataclass(frozen=True, order=True)
class NpiRange:
    """A half-open NPI interval ``[low, high)`` with a sortable partition key."""

    low: int
    high: int

    @property
    def key(self) -> str:
        # Fixed-width 10-digit bounds sort lexicographically in NPI order.
        return f"{self.low:010d}-{self.high - 1:010d}"

    def contains(self, npi: str) -> bool:
        return self.low <= int(npi) < self.high


def npi_ranges(count: int = DEFAULT_PARTITION_COUNT) -> list[NpiRange]:
    """Split every possible valid NPI into ``count`` contiguous ranges.

    With ``count == 1`` one range covers everything. Otherwise the
    1-prefixed block is split evenly into ``count - 1`` ranges and the
    2-prefixed block forms the last range.
    """
    if count < 1:
        raise ValueError(f"partition count must be at least 1, got {count}; set a positive count")
    if count == 1:
        return [NpiRange(NPI_MIN, NPI_MAX + 1)]
    first_block = count - 1
    width = _FIRST_BLOCK_END - NPI_MIN
    bounds = [NPI_MIN + (width * i) // first_block for i in range(first_block + 1)]
    ranges = [NpiRange(bounds[i], bounds[i + 1]) for i in range(first_block)]
    ranges.append(NpiRange(_FIRST_BLOCK_END, NPI_MAX + 1))
    return ranges


def partition_keys(count: int = DEFAULT_PARTITION_COUNT) -> list[str]:
    return [r.key for r in npi_ranges(count)]


def range_for_key(key: str) -> NpiRange:
    """Parse a partition key such as ``1000000000-1005586591`` back into its range."""
    try:
        low_text, high_text = key.split("-")
        low, high = int(low_text), int(high_text) + 1
    except ValueError as exc:
        raise ValueError(
            f"invalid NPI partition key {key!r}; expected 'LOW-HIGH' with two 10-digit NPIs"
        ) from exc
    if not (NPI_MIN <= low < high <= NPI_MAX + 1):
        raise ValueError(f"NPI partition key {key!r} lies outside {NPI_MIN}..{NPI_MAX}")
    return NpiRange(low, high)
