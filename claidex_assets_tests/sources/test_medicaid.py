"""Medicaid spending loader: streaming aggregation to provider-year, quirks included."""

from __future__ import annotations

from pathlib import Path

import psycopg

from claidex_assets.sources.medicaid import load_medicaid, parse_medicaid
from claidex_assets_tests.sources.file_writers import (
    BAD_CHECK_DIGIT,
    NPI_A,
    NPI_B,
    NPI_CHECK_ZERO,
    write_csv,
)

HEADER = [
    "BILLING_PROVIDER_NPI_NUM", "SERVICING_PROVIDER_NPI_NUM", "HCPCS_CODE", "CLAIM_FROM_MONTH",
    "TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_CLAIMS", "TOTAL_PAID",
]


def write_medicaid_quirks(directory: Path) -> Path:
    rows = [
        [NPI_A, NPI_A, "99213", "2023-01", "12", "20", "1,000.50"],  # line 2
        [NPI_A, NPI_B, "99214", "202302", "15", "*", "200"],  # line 3: suppressed claims
        [NPI_A, "", "99214", "2023-03-01", "#", "4", "10"],  # line 4: suppressed beneficiaries
        [NPI_A, "", "99214", "2023-03-01", "#", "4", "10"],  # line 5: repeats line 4, collapsed
        [NPI_A, "", "99215", "2023-03-01", "#", "4", "10"],  # line 6: another HCPCS code, summed
        [NPI_A, "", "T1019", "2022-12", "", "3", "5"],  # line 7: another year
        [NPI_CHECK_ZERO, "", "T1019", "2023/07", "30", "31", "32.25"],  # line 8
        [NPI_B, "", "T1019", "2023-13", "1", "1", "1"],  # line 9: month 13
        [BAD_CHECK_DIGIT, "", "T1019", "2023-01", "1", "1", "1"],  # line 10
        [NPI_B, "", "T1019", "1899-01", "1", "1", "1"],  # line 11
        [NPI_B, "", "T1019", "2023-01", "1", "1", "-7"],  # line 12
        [NPI_B, "", "T1019", "2023-01", "1", "x1", "7"],  # line 13
        [NPI_B, "", "T1019", "", "1", "1", "7"],  # line 14
        [NPI_B, "", "T1019", "2023-01", "1", "1", "7"],  # line 15, written with a bad byte below
    ]
    path = write_csv(directory / "medicaid_provider_spending.csv", HEADER, rows)
    data = path.read_bytes().replace(b"T1019,2023-01,1,1,7", b"T1019,2023-01\xa0,1,1,7")
    path.write_bytes(data)
    return path


def test_medicaid_aggregates_to_provider_year(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_medicaid_quirks(tmp_path)

    report = load_medicaid(pg_conn, path)

    rows = pg_conn.execute(
        "SELECT npi, year, payments::float8, claims, beneficiaries FROM payments_medicaid ORDER BY npi, year"
    ).fetchall()
    assert rows == [
        # NPI_A 2023 (lines 2, 3, 4, 6; line 5 collapsed): payments
        # 1000.50 + 200 + 10 + 10 = 1220.50; claims 20 + 4 + 4 = 28 (line 3
        # suppressed); beneficiaries max(12, 15) = 15.
        (NPI_CHECK_ZERO, 2023, 32.25, 31, 30),
        (NPI_A, 2022, 5.0, 3, None),
        (NPI_A, 2023, 1220.5, 28, 15),
    ]
    # 14 read = 6 loaded line items + 7 quarantined + 1 collapsed duplicate.
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (14, 6, 7)
    assert report.duplicates_collapsed == 1
    assert report.reasons == {
        "invalid_date": 1,
        "invalid_npi": 1,
        "missing_required": 1,
        "negative_amount": 1,
        "non_numeric_amount": 1,
        "undecodable_text": 1,
        "year_out_of_range": 1,
    }
    assert report.years == (2022, 2023)
    lines = pg_conn.execute("SELECT line_number, reason FROM quarantine ORDER BY line_number").fetchall()
    assert lines == [
        (9, "invalid_date"),
        (10, "invalid_npi"),
        (11, "year_out_of_range"),
        (12, "negative_amount"),
        (13, "non_numeric_amount"),
        (14, "missing_required"),
        (15, "undecodable_text"),
    ]


def test_medicaid_batches_match_single_pass(tmp_path: Path) -> None:
    path = write_medicaid_quirks(tmp_path)
    whole = parse_medicaid(path)
    batched = parse_medicaid(path, batch_rows=2)
    assert batched.frame.equals(whole.frame)
    assert batched.rejected.sort("line_number").equals(whole.rejected.sort("line_number"))


def test_medicaid_year_option_skips_other_years(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_medicaid_quirks(tmp_path)
    pg_conn.execute("INSERT INTO payments_medicaid (npi, year, payments) VALUES (%s, 2022, 99), (%s, 2021, 1)", (NPI_B, NPI_B))

    report = load_medicaid(pg_conn, path, year=2022)

    # Only 2022 is replaced: line 7 loads, the five 2023 line items are skipped.
    assert report.rows_loaded == 1
    assert report.rows_skipped == 5
    rows = pg_conn.execute("SELECT npi, year FROM payments_medicaid ORDER BY year").fetchall()
    assert rows == [(NPI_B, 2021), (NPI_A, 2022)]


def test_medicaid_duplicate_across_batches(tmp_path: Path) -> None:
    rows = [[NPI_A, "", "T1019", "2023-01", "1", "1", "7"]] * 3 + [[NPI_A, "", "T1019", "2023-02", "1", "1", "7"]]
    path = write_csv(tmp_path / "medicaid_spending.csv", HEADER, rows)
    # Batches of two split the three equal lines 2, 3 | 4, 5; lines 3 and 4
    # repeat their predecessors, so 7 + 7 = 14 is paid, not 28.
    parsed = parse_medicaid(path, batch_rows=2)
    assert parsed.duplicates_collapsed == 2
    assert parsed.frame["payments"].to_list() == [14.0]


def test_medicaid_header_only_file(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "medicaid_spending.csv", HEADER, [])
    report = load_medicaid(pg_conn, path)
    assert (report.rows_read, report.rows_written) == (0, 0)
