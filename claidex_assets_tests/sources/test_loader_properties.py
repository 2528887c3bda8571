"""Property tests: malformed rows of every kind never crash a loader and every row is accounted for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claidex_assets.npi import is_valid_npi
from claidex_assets.sources.leie import parse_leie
from claidex_assets.sources.medicaid import load_medicaid, parse_medicaid
from claidex_assets.sources.medicare import load_medicare, parse_medicare
from claidex_assets.sources.nppes import parse_nppes
from claidex_assets.sources.partd import parse_partd
from claidex_assets.sources.quarantine import ParsedSource
from claidex_assets_tests.sources import test_leie, test_medicaid, test_medicare, test_nppes
from claidex_assets_tests.sources.file_writers import (
    BAD_CHECK_DIGIT,
    NPI_A,
    NPI_B,
    NPI_CHECK_ZERO,
    write_csv,
)

# Cells a real file could hold, good or bad, including text with commas,
# quotes and non-ASCII letters (no line breaks: see the line-number note in
# csv_reading).
FREE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029\x85"), max_size=12
)
NPI_CELLS = st.one_of(st.sampled_from([NPI_A, NPI_B, NPI_CHECK_ZERO, BAD_CHECK_DIGIT, "", "0000000000", "12345"]), FREE_TEXT)
NUMBER_CELLS = st.one_of(
    st.sampled_from(["", "*", "#", "1,234.50", "-5", "abc", "1e400", "NaN", "12.5", "0", "$7"]),
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    FREE_TEXT,
)
MONTH_CELLS = st.one_of(st.sampled_from(["2023-01", "202302", "2023-03-01", "2023-13", "1899-01", "", "Jan 2023"]), FREE_TEXT)
DATE_CELLS = st.one_of(st.sampled_from(["20200115", "00000000", "", "20201301", "2020-01-15"]), FREE_TEXT)
TEXT_CELLS = st.one_of(st.sampled_from(["", "SMITH, JR", 'A "B" C', "MUÑOZ", "PR", "ZZ"]), FREE_TEXT)


def check_accounting(parsed: ParsedSource, rows_written: int) -> None:
    assert parsed.rows_read == rows_written
    assert parsed.rows_accepted + parsed.rows_quarantined + parsed.duplicates_collapsed + parsed.rows_skipped == parsed.rows_read
    assert parsed.rejected["reason"].null_count() == 0
    if "npi" in parsed.frame.columns:
        assert all(npi is None or is_valid_npi(npi) for npi in parsed.frame["npi"])


@pytest.fixture
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """Return a function that makes a new folder; hypothesis reuses one tmp_path for every example."""
    return lambda: tmp_path_factory.mktemp("example")


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

medicare_rows = st.lists(
    st.tuples(NPI_CELLS, TEXT_CELLS, NUMBER_CELLS, NUMBER_CELLS, NUMBER_CELLS, NUMBER_CELLS).map(
        lambda cells: test_medicare.medicare_row(
            cells[0], state=cells[1], benes=cells[2], services=cells[3], allowed=cells[4], paid=cells[5]
        )
    ),
    max_size=25,
)


@given(rows=medicare_rows, line_end=st.sampled_from(["\n", "\r\n"]))
@SETTINGS
def test_medicare_parse_accounts_for_rows(scratch: Callable[[], Path], rows: list, line_end: str) -> None:
    path = write_csv(scratch() / "MUP_PHY_R24_P05_V10_D22_Prov.csv", test_medicare.MEDICARE_HEADER, rows, line_end=line_end)
    check_accounting(parse_medicare(path, batch_rows=7), len(rows))


@given(
    rows=st.lists(
        st.tuples(NPI_CELLS, TEXT_CELLS, NUMBER_CELLS, NUMBER_CELLS, NUMBER_CELLS).map(
            lambda cells: test_medicare.partd_row(cells[0], state=cells[1], claims=cells[2], cost=cells[3], benes=cells[4])
        ),
        max_size=25,
    )
)
@SETTINGS
def test_partd_parse_accounts_for_rows(scratch: Callable[[], Path], rows: list) -> None:
    path = write_csv(scratch() / "MUP_DPR_RY24_P04_V10_DY22_NPI.csv", test_medicare.PARTD_HEADER, rows)
    check_accounting(parse_partd(path, batch_rows=7), len(rows))


medicaid_rows = st.lists(
    st.tuples(NPI_CELLS, MONTH_CELLS, NUMBER_CELLS, NUMBER_CELLS, NUMBER_CELLS).map(
        lambda cells: [cells[0], "", "T1019", cells[1], cells[2], cells[3], cells[4]]
    ),
    max_size=25,
)


@given(rows=medicaid_rows)
@SETTINGS
def test_medicaid_parse_accounts_for_rows(scratch: Callable[[], Path], rows: list) -> None:
    path = write_csv(scratch() / "medicaid_spending.csv", test_medicaid.HEADER, rows)
    check_accounting(parse_medicaid(path, batch_rows=7), len(rows))


@given(
    rows=st.lists(
        st.tuples(TEXT_CELLS, NPI_CELLS, DATE_CELLS, DATE_CELLS, DATE_CELLS, TEXT_CELLS).map(
            lambda cells: test_leie.person(
                cells[0], "ANN", npi=cells[1], dob=cells[2], excldate=cells[3], reindate=cells[4], state=cells[5]
            )
        ),
        max_size=25,
    ),
    cp1252=st.booleans(),
)
@SETTINGS
def test_leie_parse_accounts_for_rows(scratch: Callable[[], Path], rows: list, cp1252: bool) -> None:
    # cp1252 cannot encode every character hypothesis draws, so only
    # encodable rows are written that way.
    encodable = [index for index, row in enumerate(rows) if cp1252 and _cp1252_ok(row)]
    path = write_csv(scratch() / "UPDATED.csv", test_leie.HEADER, rows, cp1252_rows=encodable)
    check_accounting(parse_leie(path, batch_rows=7), len(rows))


def _cp1252_ok(row: list) -> bool:
    try:
        ",".join(str(cell) for cell in row).encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@given(
    rows=st.lists(
        st.tuples(NPI_CELLS, st.sampled_from(["1", "2", "", "3", "x"]), TEXT_CELLS, TEXT_CELLS).map(
            lambda cells: test_nppes.nppes_row(
                cells[0], entity=cells[1], org=cells[2], last=cells[3], taxonomies=[(cells[3][:10], "Y")]
            )
        ),
        max_size=20,
    )
)
@SETTINGS
def test_nppes_parse_accounts_for_rows(scratch: Callable[[], Path], rows: list) -> None:
    path = write_csv(scratch() / "npidata_pfile_1.csv", test_nppes.nppes_header(), rows, quote_all=True)
    check_accounting(parse_nppes(path, batch_rows=7), len(rows))


@given(medicare=medicare_rows, medicaid=medicaid_rows)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_loads_account_for_rows_in_postgres(scratch: Callable[[], Path], pg_conn: psycopg.Connection, medicare: list, medicaid: list) -> None:
    folder = scratch()
    medicare_path = write_csv(folder / "MUP_PHY_R24_P05_V10_D22_Prov.csv", test_medicare.MEDICARE_HEADER, medicare)
    medicaid_path = write_csv(folder / "medicaid_spending.csv", test_medicaid.HEADER, medicaid)

    medicare_report = load_medicare(pg_conn, medicare_path)
    medicaid_report = load_medicaid(pg_conn, medicaid_path)
    for report in (medicare_report, medicaid_report):
        parts = report.rows_loaded + report.rows_quarantined + report.duplicates_collapsed + report.rows_skipped
        assert parts == report.rows_read
        stored = pg_conn.execute(
            "SELECT count(*) FROM quarantine WHERE source = %s AND source_file = %s", (report.source, report.source_file)
        ).fetchone()[0]
        assert stored == report.rows_quarantined

    # Medicare keeps one row per accepted line; Medicaid one per provider-year.
    assert pg_conn.execute("SELECT count(*) FROM payments_medicare").fetchone()[0] == medicare_report.rows_loaded
    assert pg_conn.execute("SELECT count(*) FROM payments_medicaid").fetchone()[0] == medicaid_report.rows_written
