import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from claidex_assets.npi import is_valid_npi, valid_npi_number_expr
from claidex_assets.scoring.metrics import npi_number


@settings(database=None)
@given(st.integers(min_value=0, max_value=9_999_999_999))
def test_number_check_matches_text_check(value):
    frame = pl.DataFrame({"npi_number": [value]}, schema={"npi_number": pl.Int64})
    assert frame.select(valid_npi_number_expr()).item() == is_valid_npi(f"{value:010d}")


def test_number_check_null_is_invalid():
    frame = pl.DataFrame({"npi_number": [None]}, schema={"npi_number": pl.Int64})
    assert frame.select(valid_npi_number_expr()).item() is False


def test_npi_number_rejects_malformed_text():
    texts = ["1234567893", "+123456789", "0123456789", " 123456789", "12345678a3", None, "123456789", "3234567893"]
    numbers = pl.DataFrame({"npi": texts}).select(npi_number("npi")).to_series().to_list()
    assert numbers == [1234567893, None, None, None, None, None, None, None]
