"""The extract splits account for every input row by its line number, not only by count.

Each input row carries a ``line_number``. After a split, every line is in
exactly one place: the valid frame, the rejected frame (with a known
reason), or collapsed into a valid row that it equals in every column. The
generated rows mix each malformed kind: invalid NPIs (wrong length, letters,
wrong check digit), negative, non-numeric, NaN and huge amounts, years
outside the sane range or not whole, unknown programs, invalid entity types,
missing dates, and duplicate keys with equal or conflicting values.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from claidex_assets.sources.quarantine import QUARANTINE_REASONS
from claidex_assets.sources.schema import PAYMENTS_COMBINED, PROGRAMS
from claidex_assets.sources.validation import (
    MAX_YEAR,
    MIN_YEAR,
    ValidationSplit,
    split_valid_exclusions,
    split_valid_payments,
    split_valid_providers,
)
from claidex_assets_tests.sources.file_writers import BAD_CHECK_DIGIT, NPI_A, NPI_B, NPI_CHECK_ZERO

# Few distinct keys, so duplicate keys (equal or conflicting) come up in most examples.
NPIS = st.sampled_from([NPI_A, NPI_B, NPI_CHECK_ZERO, BAD_CHECK_DIGIT, "123456789", "12345678901", "A234567893", None])
YEARS = st.sampled_from([str(MIN_YEAR - 1), "2021", "2022", str(MAX_YEAR + 1), "2022.5", "twenty", "", None])
PROGRAM_NAMES = st.sampled_from([*PROGRAMS, "medicare", "Tricare", None])
AMOUNTS = st.sampled_from(["100", "100", "0", "-5", "abc", "NaN", "inf", "1e20", "1,000", "", None])
DATES = st.sampled_from([dt.date(2020, 1, 1), dt.date(2021, 6, 30), None])


def check_every_line_once(frame: pl.DataFrame, split: ValidationSplit, key: list[str]) -> None:
    """Check that each input line is valid, rejected with a known reason, or an exact duplicate of a valid line."""
    valid, rejected = split
    lines = set(frame["line_number"])
    valid_lines = set(valid["line_number"])
    rejected_lines = set(rejected["line_number"])
    collapsed_lines = lines - valid_lines - rejected_lines

    assert valid.height == len(valid_lines)
    assert rejected.height == len(rejected_lines)
    assert not valid_lines & rejected_lines
    assert valid_lines | rejected_lines <= lines
    assert len(collapsed_lines) == split.duplicates_collapsed
    assert valid.height + rejected.height + split.duplicates_collapsed == frame.height
    assert set(rejected["reason"]) <= set(QUARANTINE_REASONS)

    # A collapsed line equals, in every input column, the kept line with its key.
    identity = [name for name in frame.columns if name != "line_number"]
    kept = frame.filter(pl.col("line_number").is_in(list(valid_lines))).select(identity)
    for line in collapsed_lines:
        row = frame.filter(pl.col("line_number") == line).select(identity)
        assert row.join(kept, on=identity, how="semi", nulls_equal=True).height == 1, row
    # No two valid rows share a key.
    assert not valid.select(key).is_duplicated().any()


def numbered(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.with_row_index("line_number", offset=1).with_columns(pl.col("line_number").cast(pl.Int64))


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "npi": NPIS,
                "year": YEARS,
                "program": PROGRAM_NAMES,
                "payments": AMOUNTS,
                "allowed": AMOUNTS,
                "claims": AMOUNTS,
                "beneficiaries": AMOUNTS,
                "taxonomy": st.sampled_from(["207R00000X", None]),
                "state": st.sampled_from(["TX", None]),
            }
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_payment_split_keeps_every_line(rows: list[dict]) -> None:
    frame = numbered(rows, {name: pl.Utf8 for name in PAYMENTS_COMBINED})
    check_every_line_once(frame, split_valid_payments(frame), ["npi", "year", "program"])


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "npi": NPIS,
                "display_name": st.sampled_from(["SMITH, JOHN", "Smith, John", None]),
                "taxonomy_1": st.sampled_from(["207R00000X", None]),
                "state": st.sampled_from(["TX", "PR", None]),
                "is_excluded": st.sampled_from([True, False, None]),
                "entity_type_code": st.sampled_from(["1", "2", "3", "x", "", None]),
            }
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_provider_split_keeps_every_line(rows: list[dict]) -> None:
    schema = {"npi": pl.Utf8, "display_name": pl.Utf8, "taxonomy_1": pl.Utf8, "state": pl.Utf8,
              "is_excluded": pl.Boolean, "entity_type_code": pl.Utf8}  # fmt: skip
    frame = numbered(rows, schema)
    check_every_line_once(frame, split_valid_providers(frame), ["npi"])


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "exclusion_id": st.sampled_from(["LEIE-1", "LEIE-2", "LEIE-3", None]),
                "npi": NPIS,
                "excldate": DATES,
                "reindate": DATES,
                "reinstated": st.sampled_from([True, False]),
            }
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_exclusion_split_keeps_every_line(rows: list[dict]) -> None:
    schema = {"exclusion_id": pl.Utf8, "npi": pl.Utf8, "excldate": pl.Date, "reindate": pl.Date,
              "reinstated": pl.Boolean}  # fmt: skip
    frame = numbered(rows, schema)
    check_every_line_once(frame, split_valid_exclusions(frame), ["exclusion_id"])


def test_conflicting_duplicates_all_rejected() -> None:
    # Lines 1 and 2 share a key and differ in payments: both are rejected.
    # Lines 3 and 4 are equal: line 3 is kept and line 4 collapses into it.
    # 4 lines = 1 valid + 2 rejected + 1 collapsed.
    base = {"npi": NPI_A, "year": "2022", "program": "Medicare", "payments": "100", "allowed": "1",
            "claims": "1", "beneficiaries": "1", "taxonomy": None, "state": None}  # fmt: skip
    rows = [base, {**base, "payments": "200"}, {**base, "npi": NPI_B}, {**base, "npi": NPI_B}]
    frame = numbered(rows, {name: pl.Utf8 for name in PAYMENTS_COMBINED})
    split = split_valid_payments(frame)
    check_every_line_once(frame, split, ["npi", "year", "program"])
    assert split.valid["line_number"].to_list() == [3]
    assert split.rejected["line_number"].to_list() == [1, 2]
    assert split.rejected["reason"].to_list() == ["duplicate_key", "duplicate_key"]
    assert split.duplicates_collapsed == 1
