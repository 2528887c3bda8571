"""NPPES loader: selected columns of the wide file, names, primary taxonomy, deactivated NPIs."""

from __future__ import annotations

from pathlib import Path

import psycopg

from claidex_assets.sources.nppes import load_nppes, parse_nppes
from claidex_assets_tests.sources.file_writers import (
    BAD_CHECK_DIGIT,
    NPI_A,
    NPI_B,
    NPI_C,
    NPI_CHECK_ZERO,
    NPI_D,
    NPI_E,
    write_csv,
)


def nppes_header() -> list[str]:
    header = [
        "NPI", "Entity Type Code", "Replacement NPI", "Employer Identification Number (EIN)",
        "Provider Organization Name (Legal Business Name)", "Provider Last Name (Legal Name)",
        "Provider First Name", "Provider Middle Name", "Provider First Line Business Practice Location Address",
        "Provider Business Practice Location Address City Name",
        "Provider Business Practice Location Address State Name",
        "Provider Business Practice Location Address Postal Code",
    ]
    for slot in range(1, 16):
        header += [
            f"Healthcare Provider Taxonomy Code_{slot}", f"Provider License Number_{slot}",
            f"Provider License Number State Code_{slot}", f"Healthcare Provider Primary Taxonomy Switch_{slot}",
        ]
    header += [f"Other Provider Identifier_{slot}" for slot in range(1, 51)]
    header += ["NPI Deactivation Reason Code", "NPI Deactivation Date", "NPI Reactivation Date"]
    return header


def nppes_row(npi, entity="1", org="", last="", first="", state="TX", taxonomies=(), zip_code="750011234"):
    row = [npi, entity, "", "", org, last, first, "", "1 MAIN ST, STE 2", "DALLAS", state, zip_code]
    for slot in range(15):
        code, switch = taxonomies[slot] if slot < len(taxonomies) else ("", "")
        row += [code, "", "", switch]
    row += [""] * 50 + ["", "", ""]
    return row


def write_nppes_quirks(directory: Path) -> Path:
    rows = [
        nppes_row(NPI_A, last="SMITH", first="JANE", state="tx",
                  taxonomies=[("207R00000X", "N"), ("207RC0000X", "Y")]),  # line 2: switch on slot 2
        nppes_row(NPI_B, entity="2", org='ACME, "BEST" CLINIC', state="PR",
                  taxonomies=[("261QM1300X", "N"), ("282N00000X", "N")]),  # line 3: no switch, first code
        nppes_row(NPI_CHECK_ZERO, entity="2", org="CAFÉ CARE", state="AA", taxonomies=[("251E00000X", "X")]),  # line 4
        nppes_row(NPI_C, entity=""),  # line 5: deactivated
        nppes_row(NPI_D, last="LEE", state="ZZ"),  # line 6: no taxonomy
        nppes_row(NPI_D, last="LEE", state="ZZ"),  # line 7: exact duplicate
        nppes_row(NPI_E, last="A"),  # line 8
        nppes_row(NPI_E, last="B"),  # line 9: conflicting duplicate
        nppes_row(BAD_CHECK_DIGIT, last="BAD"),  # line 10
        nppes_row(NPI_A.replace("3", "4")[:9] + "0", entity="3"),  # line 11: invalid NPI and entity type
        nppes_row(NPI_CHECK_ZERO[:9] + "0", entity="3"),  # line 12: valid NPI, entity type 3
    ]
    return write_csv(directory / "npidata_pfile_20050523-20251109.csv", nppes_header(), rows, quote_all=True, cp1252_rows=[2])


def test_nppes_quirk_file_loads_exact_rows(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_nppes_quirks(tmp_path)

    report = load_nppes(pg_conn, path)

    rows = pg_conn.execute(
        "SELECT npi, display_name, taxonomy_1, state, is_excluded, entity_type_code FROM providers ORDER BY npi"
    ).fetchall()
    assert rows == [
        (NPI_B, 'ACME, "BEST" CLINIC', "261QM1300X", "PR", False, 2),
        (NPI_CHECK_ZERO, "CAFÉ CARE", "251E00000X", "AA", False, 2),
        (NPI_D, "LEE", None, "ZZ", False, 1),
        (NPI_A, "JANE SMITH", "207RC0000X", "TX", False, 1),
    ]
    # 11 read = 4 loaded + 5 quarantined + 1 collapsed + 1 deactivated skipped.
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (11, 4, 5)
    assert (report.duplicates_collapsed, report.rows_skipped) == (1, 1)
    assert report.reasons == {"duplicate_key": 2, "invalid_entity_type": 1, "invalid_npi": 2}


def test_nppes_reload_replaces_all(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    load_nppes(pg_conn, write_nppes_quirks(tmp_path))
    smaller = write_csv(tmp_path / "npidata_pfile_2.csv", nppes_header(), [nppes_row(NPI_E, last="NEW")], quote_all=True)
    load_nppes(pg_conn, smaller)
    assert pg_conn.execute("SELECT npi, display_name FROM providers").fetchall() == [(NPI_E, "NEW")]


def test_nppes_parse_batches_agree(tmp_path: Path) -> None:
    path = write_nppes_quirks(tmp_path)
    whole = parse_nppes(path)
    batched = parse_nppes(path, batch_rows=3)
    assert batched.frame.equals(whole.frame)
    assert batched.rejected.height == whole.rejected.height
