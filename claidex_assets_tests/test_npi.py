import polars as pl
from hypothesis import given, strategies as st

from claidex_assets.npi import (
    NPI_MAX,
    NPI_MIN,
    is_valid_npi,
    make_npi,
    npi_ranges,
    partition_keys,
    range_for_key,
    valid_npi_expr,
)


def test_check_digit_known_npi():
    # 1234567893 is the example NPI in the CMS check-digit documentation.
    assert is_valid_npi("1234567893")
    assert not is_valid_npi("1234567894")


def test_check_digit_zero_accepted():
    npi = make_npi(123456788)
    assert npi[-1] == "0" or is_valid_npi(npi)
    zero_npis = [make_npi(n) for n in range(100000000, 100000050) if make_npi(n).endswith("0")]
    assert zero_npis
    assert all(is_valid_npi(n) for n in zero_npis)


def test_invalid_shapes_rejected():
    for value in ["", "123", "3234567893", "12345678a3", None, 1234567893, " 1234567893"]:
        assert not is_valid_npi(value)


@given(st.integers(min_value=100_000_000, max_value=299_999_999), st.integers(0, 9))
def test_vector_check_matches_scalar(stem, last):
    candidate = f"{stem:09d}{last}"
    frame = pl.DataFrame({"npi": [candidate]})
    assert frame.select(valid_npi_expr())[0, 0] == is_valid_npi(candidate)


@given(st.integers(min_value=1, max_value=400))
def test_ranges_cover_every_npi(count):
    ranges = npi_ranges(count)
    assert len(ranges) == count
    assert ranges[0].low == NPI_MIN
    assert ranges[-1].high == NPI_MAX + 1
    for left, right in zip(ranges, ranges[1:]):
        assert left.high == right.low
        assert left.low < left.high
    keys = [r.key for r in ranges]
    assert keys == sorted(keys)
    assert [range_for_key(k) for k in keys] == ranges


def test_default_partition_count():
    assert len(partition_keys()) == 179
