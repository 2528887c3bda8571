"""Quarantine rows in Postgres and the load report's accounting."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.sources.quarantine import (
    QUARANTINE_REASONS,
    LoadReport,
    clear_quarantine,
    count_reasons,
    quarantine_frame,
    write_quarantine,
)
from claidex_assets.sources.validation import split_valid_payments
from claidex_assets_tests.sources.file_writers import BAD_CHECK_DIGIT, NPI_A


def test_write_quarantine_stores_raw_values(pg_conn: psycopg.Connection) -> None:
    rejected = pl.DataFrame(
        {"line_number": [4, 9], "npi": ["123", NPI_A], "payments": [1.5, float("nan")],
         "reason": ["invalid_npi", "non_numeric_amount"]}
    )
    with pg_conn.transaction():
        assert write_quarantine(pg_conn, rejected, "medicare", "file.csv", run_id="run-1") == 2

    rows = pg_conn.execute(
        "SELECT source, source_file, line_number, reason, raw, run_id FROM quarantine ORDER BY line_number"
    ).fetchall()
    # Raw values are stored as text, so NaN survives as the string "NaN".
    assert rows == [
        ("medicare", "file.csv", 4, "invalid_npi", {"npi": "123", "payments": "1.5"}, "run-1"),
        ("medicare", "file.csv", 9, "non_numeric_amount", {"npi": NPI_A, "payments": "NaN"}, "run-1"),
    ]
    assert clear_quarantine(pg_conn, "medicare", "other.csv") == 0
    assert clear_quarantine(pg_conn, "medicare") == 2


def test_extract_rejections_reach_quarantine(pg_conn: psycopg.Connection) -> None:
    # What the payment extract does: split rows read from the view, then
    # quarantine the rejected ones (no line number for table rows).
    frame = pl.DataFrame({"npi": [NPI_A, BAD_CHECK_DIGIT], "year": [2022, 2022], "program": ["Medicare", "Medicare"],
                          "payments": [1.0, 2.0]})
    _, rejected = split_valid_payments(frame)
    write_quarantine(pg_conn, rejected, "payments_combined_v", run_id="run-2")
    stored = pg_conn.execute("SELECT line_number, reason, raw->>'npi' FROM quarantine").fetchall()
    assert stored == [(None, "invalid_npi", BAD_CHECK_DIGIT)]


def test_quarantine_frame_without_raw_columns() -> None:
    frame = quarantine_frame(pl.DataFrame({"reason": ["invalid_npi"]}), "nppes")
    assert frame.rows() == [("nppes", None, None, "invalid_npi", "{}", None)]


def test_count_reasons_sorted() -> None:
    rejected = pl.DataFrame({"reason": ["invalid_npi", "duplicate_key", "invalid_npi"]})
    assert count_reasons(rejected) == {"duplicate_key": 1, "invalid_npi": 2}
    assert set(count_reasons(rejected)) <= set(QUARANTINE_REASONS)


def test_load_report_summary_line() -> None:
    report = LoadReport(
        source="medicare", source_file="f.csv", table="payments_medicare", rows_read=1200, rows_loaded=1100,
        rows_quarantined=90, duplicates_collapsed=10, rows_skipped=0, reasons={"invalid_npi": 90},
        rows_written=1100, years=(2022,), seconds=1.25,
    )
    assert report.summary() == (
        "medicare f.csv year 2022: read 1,200, loaded 1,100, quarantined 90 (invalid_npi 90), "
        "duplicates collapsed 10, skipped 0; 1,100 rows in payments_medicare (1.2s)"
    )
