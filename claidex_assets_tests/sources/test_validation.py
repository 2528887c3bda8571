"""split_valid_payments, split_valid_providers and split_valid_exclusions."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claidex_assets.npi import is_valid_npi
from claidex_assets.sources.schema import PAYMENTS_COMBINED, PROGRAMS
from claidex_assets.sources.validation import (
    MAX_AMOUNT,
    MAX_YEAR,
    MIN_YEAR,
    split_valid_exclusions,
    split_valid_payments,
    split_valid_providers,
)
from claidex_assets_tests.sources.file_writers import BAD_CHECK_DIGIT, NPI_A, NPI_B, NPI_C, NPI_CHECK_ZERO


def payment(npi=NPI_A, year=2022, program="Medicare", payments=100.0, allowed=120.0, claims=10.0, benes=5.0):
    return {"npi": npi, "year": year, "program": program, "payments": payments, "allowed": allowed,
            "claims": claims, "beneficiaries": benes, "taxonomy": "207R00000X", "state": "TX"}


def payments_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PAYMENTS_COMBINED)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (payment(npi=None), "missing_required"),
        (payment(payments=None), "missing_required"),
        (payment(npi=BAD_CHECK_DIGIT), "invalid_npi"),
        (payment(npi="123"), "invalid_npi"),
        (payment(year=1999), "year_out_of_range"),
        (payment(year=2100), "year_out_of_range"),
        (payment(program="Tricare"), "unknown_program"),
        (payment(payments=float("nan")), "non_numeric_amount"),
        (payment(claims=float("inf")), "non_numeric_amount"),
        (payment(payments=2e13), "amount_out_of_range"),
        (payment(allowed=-0.01), "negative_amount"),
        (payment(benes=-1.0), "negative_amount"),
        # The first failing check names the reason: the NPI comes before the amount.
        (payment(npi=BAD_CHECK_DIGIT, payments=-5.0), "invalid_npi"),
    ],
)
def test_split_payments_rejects_with_reason(row: dict, reason: str) -> None:
    valid, rejected = split_valid_payments(payments_frame([payment(npi=NPI_B), row]))
    assert valid["npi"].to_list() == [NPI_B]
    assert rejected["reason"].to_list() == [reason]


def test_split_payments_keeps_check_digit_zero() -> None:
    valid, rejected = split_valid_payments(payments_frame([payment(npi=NPI_CHECK_ZERO, allowed=None)]))
    assert valid.height == 1
    assert rejected.height == 0


def test_split_payments_duplicates() -> None:
    rows = [
        payment(NPI_A), payment(NPI_A), payment(NPI_A),  # three equal rows: one kept, two collapsed
        payment(NPI_B), payment(NPI_B), payment(NPI_B, payments=1.0),  # conflict: all three rejected
        payment(NPI_B, program="Medicaid"),  # another program is another key
    ]
    split = split_valid_payments(payments_frame(rows))
    valid, rejected = split
    assert valid.select("npi", "program").rows() == [(NPI_A, "Medicare"), (NPI_B, "Medicaid")]
    assert rejected["reason"].to_list() == ["duplicate_key"] * 3
    assert split.duplicates_collapsed == 2
    # 7 rows = 2 valid + 3 rejected + 2 collapsed.
    assert valid.height + rejected.height + split.duplicates_collapsed == 7


def test_split_payments_parses_text_amounts() -> None:
    frame = pl.DataFrame(
        {"npi": [NPI_A, NPI_B], "year": ["2022", "2023"], "program": ["Medicaid", "Medicaid"],
         "payments": ["10.5", "ten"], "claims": ["3", "1"]}
    )
    valid, rejected = split_valid_payments(frame)
    assert valid.select("npi", "year", "payments", "claims", "allowed").rows() == [(NPI_A, 2022, 10.5, 3.0, None)]
    assert valid.schema["year"] == pl.Int32
    assert rejected.select("npi", "reason").rows() == [(NPI_B, "non_numeric_amount")]


def test_split_payments_empty_frame() -> None:
    valid, rejected = split_valid_payments(payments_frame([]))
    assert valid.height == 0
    assert rejected.height == 0
    assert list(valid.schema) == list(PAYMENTS_COMBINED)


def test_split_providers_reasons() -> None:
    frame = pl.DataFrame(
        {"npi": [NPI_A, None, BAD_CHECK_DIGIT, NPI_B, NPI_C, NPI_C],
         "display_name": ["A", "B", "C", "D", "E", "E2"],
         "entity_type_code": [1, 1, 2, 7, 2, 2]}
    )
    split = split_valid_providers(frame)
    assert split.valid["npi"].to_list() == [NPI_A]
    assert split.rejected["reason"].to_list() == [
        "missing_required", "invalid_npi", "invalid_entity_type", "duplicate_key", "duplicate_key",
    ]


def test_split_exclusions_reasons() -> None:
    frame = pl.DataFrame(
        {"exclusion_id": ["LEIE-1", "LEIE-2", "LEIE-3", None, "LEIE-5"],
         "npi": [None, NPI_A, BAD_CHECK_DIGIT, NPI_B, NPI_B],
         "excldate": [dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), None],
         "reinstated": [False, True, False, False, False]}
    )
    valid, rejected = split_valid_exclusions(frame)
    # A null NPI is an exclusion without a known NPI and stays valid.
    assert valid["exclusion_id"].to_list() == ["LEIE-1", "LEIE-2"]
    assert rejected["reason"].to_list() == ["invalid_npi", "missing_required", "missing_required"]


# Pools of values that mix good and malformed cells.
NPIS = st.sampled_from([NPI_A, NPI_B, NPI_C, NPI_CHECK_ZERO, BAD_CHECK_DIGIT, "123", "", None, "abcdefghij"])
YEARS = st.one_of(st.integers(MIN_YEAR - 3, MAX_YEAR + 3), st.none(), st.sampled_from(["2022", "twenty", ""]))
PROGRAM_NAMES = st.sampled_from([*PROGRAMS, "medicare", "Tricare", None])
AMOUNTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.none(),
    st.sampled_from(["1,000", "abc", "", "-3", "12.5"]),
)


@st.composite
def payment_rows(draw: st.DrawFn) -> dict:
    return {
        "npi": draw(NPIS),
        "year": draw(YEARS),
        "program": draw(PROGRAM_NAMES),
        "payments": draw(AMOUNTS),
        "allowed": draw(AMOUNTS),
        "claims": draw(AMOUNTS),
        "beneficiaries": draw(AMOUNTS),
        "taxonomy": draw(st.sampled_from(["207R00000X", None])),
        "state": draw(st.sampled_from(["TX", "PR", None])),
    }


@given(st.lists(payment_rows(), max_size=30))
@settings(max_examples=200, deadline=None)
def test_split_payments_accounts_for_every_row(rows: list[dict]) -> None:
    # Mixed Python types per column: store every value as text, as a raw extract would.
    frame = pl.DataFrame(
        [{key: None if value is None else str(value) for key, value in row.items()} for row in rows],
        schema={name: pl.Utf8 for name in PAYMENTS_COMBINED},
    )
    split = split_valid_payments(frame)
    valid, rejected = split

    assert valid.height + rejected.height + split.duplicates_collapsed == len(rows)
    assert all(is_valid_npi(npi) for npi in valid["npi"])
    assert valid["year"].is_between(MIN_YEAR, MAX_YEAR).all()
    assert valid["program"].is_in(list(PROGRAMS)).all()
    for name in ("payments", "allowed", "claims", "beneficiaries"):
        values = valid[name].drop_nulls()
        assert not values.is_nan().any()
        assert (values >= 0).all()
        assert (values <= MAX_AMOUNT).all()
    assert not valid.select("npi", "year", "program").is_duplicated().any()
    assert rejected["reason"].null_count() == 0


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "npi": NPIS,
                "display_name": st.sampled_from(["A", "B", None]),
                "entity_type_code": st.sampled_from(["1", "2", "3", "", "x", None]),
            }
        ),
        max_size=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_split_providers_accounts_for_every_row(rows: list[dict]) -> None:
    frame = pl.DataFrame(rows, schema={"npi": pl.Utf8, "display_name": pl.Utf8, "entity_type_code": pl.Utf8})
    split = split_valid_providers(frame)
    valid, rejected = split

    assert valid.height + rejected.height + split.duplicates_collapsed == len(rows)
    assert all(is_valid_npi(npi) for npi in valid["npi"])
    assert not valid["npi"].is_duplicated().any()
    assert valid["entity_type_code"].drop_nulls().is_in([1, 2]).all()


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "exclusion_id": st.sampled_from(["LEIE-1", "LEIE-2", "LEIE-3", None]),
                "npi": NPIS,
                "excldate": st.sampled_from([dt.date(2020, 1, 1), dt.date(2021, 5, 6), None]),
                "reinstated": st.booleans(),
            }
        ),
        max_size=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_split_exclusions_accounts_for_every_row(rows: list[dict]) -> None:
    frame = pl.DataFrame(
        rows, schema={"exclusion_id": pl.Utf8, "npi": pl.Utf8, "excldate": pl.Date, "reinstated": pl.Boolean}
    )
    split = split_valid_exclusions(frame)
    valid, rejected = split

    assert valid.height + rejected.height + split.duplicates_collapsed == len(rows)
    assert all(npi is None or is_valid_npi(npi) for npi in valid["npi"])
    assert not valid["exclusion_id"].is_duplicated().any()
    assert valid["excldate"].null_count() == 0
