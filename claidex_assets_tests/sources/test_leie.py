"""LEIE loader: dates, unknown NPIs, reinstatement, stable ids and is_excluded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg

from claidex_assets.sources.leie import (
    load_leie,
    make_exclusion_id,
    normalize_business_name,
    parse_leie,
)
from claidex_assets_tests.sources.file_writers import BAD_CHECK_DIGIT, NPI_A, NPI_B, NPI_CHECK_ZERO, write_csv

HEADER = [
    "LASTNAME", "FIRSTNAME", "MIDNAME", "BUSNAME", "GENERAL", "SPECIALTY", "UPIN", "NPI", "DOB", "ADDRESS",
    "CITY", "STATE", "ZIP", "EXCLTYPE", "EXCLDATE", "REINDATE", "WAIVERDATE", "WVRSTATE",
]


def person(last, first, npi="0000000000", dob="19600101", state="TX", zip_code="75001", excldate="20200115",
           reindate="00000000", address="1 MAIN ST", excltype="1128a1"):
    return [last, first, "", "", "INDIVIDUAL", "NURSE", "", npi, dob, address, "DALLAS", state, zip_code,
            excltype, excldate, reindate, "00000000", ""]


def business(name, npi="0000000000", state="TX", excldate="20190301", reindate="00000000"):
    return ["", "", "", name, "OTHER BUSINESS", "CLINIC", "", npi, "", "2 ELM", "SAN JUAN", state, "00901",
            "1128b4", excldate, reindate, "00000000", ""]


def write_leie_quirks(directory: Path) -> Path:
    rows = [
        person("SMITH", "JOHN", npi=NPI_A, zip_code="750011234", address='1 MAIN ST, "REAR"'),  # line 2
        business("ACME HEALTH, LLC", state="PR", reindate="20210101"),  # line 3: reinstated, no NPI
        person("MUÑOZ", "ANA", npi=NPI_CHECK_ZERO, state="GU"),  # line 4: cp1252 name
        person("DOE", "JANE", npi="", state="AA"),  # line 5: blank NPI
        person("DOE", "JANE", npi="", state="AA"),  # line 6: exact duplicate
        person("ROE", "RAY", npi=NPI_B, address="A"),  # line 7: same id as line 8,
        person("ROE", "RAY", npi=NPI_B, address="B"),  # line 8: different address
        person("BAD", "NPI", npi=BAD_CHECK_DIGIT),  # line 9
        person("BAD", "DOB", dob="19700230"),  # line 10
        person("NO", "DATE", excldate="00000000"),  # line 11
    ]
    return write_csv(directory / "UPDATED.csv", HEADER, rows, cp1252_rows=[2])


def test_leie_quirk_file_loads_exact_rows(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_leie_quirks(tmp_path)

    report = load_leie(pg_conn, path)

    rows = pg_conn.execute(
        "SELECT exclusion_id, npi, last_name, business_name, business_name_normalized, address, state, zip, "
        "excldate, reindate, reinstated, dob FROM exclusions ORDER BY coalesce(last_name, business_name)"
    ).fetchall()
    assert rows == [
        (make_exclusion_id("", "", "", "ACME HEALTH, LLC", "0000000000", "", "1128b4", "20190301"),
         None, None, "ACME HEALTH, LLC", "ACME HEALTH LLC", "2 ELM", "PR", "00901",
         dt.date(2019, 3, 1), dt.date(2021, 1, 1), True, None),
        (make_exclusion_id("DOE", "JANE", "", "", "", "19600101", "1128a1", "20200115"),
         None, "DOE", None, None, "1 MAIN ST", "AA", "75001", dt.date(2020, 1, 15), None, False, dt.date(1960, 1, 1)),
        (make_exclusion_id("MUÑOZ", "ANA", "", "", NPI_CHECK_ZERO, "19600101", "1128a1", "20200115"),
         NPI_CHECK_ZERO, "MUÑOZ", None, None, "1 MAIN ST", "GU", "75001", dt.date(2020, 1, 15), None, False,
         dt.date(1960, 1, 1)),
        (make_exclusion_id("SMITH", "JOHN", "", "", NPI_A, "19600101", "1128a1", "20200115"),
         NPI_A, "SMITH", None, None, '1 MAIN ST, "REAR"', "TX", "750011234", dt.date(2020, 1, 15), None, False,
         dt.date(1960, 1, 1)),
    ]
    # 10 read = 4 loaded + 5 quarantined + 1 collapsed duplicate.
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.duplicates_collapsed) == (10, 4, 5, 1)
    assert report.reasons == {"duplicate_key": 2, "invalid_date": 1, "invalid_npi": 1, "missing_required": 1}
    assert report.details["recoded_bytes"] == 1


def test_exclusion_id_is_stable_and_normalized() -> None:
    first = make_exclusion_id("Smith ", "john", None, "", "0000000000", "00000000", "1128a1", "20200115")
    second = make_exclusion_id("SMITH", "  JOHN", "", None, "", "", "1128A1", "20200115")
    assert first == second
    assert first.startswith("LEIE-")
    assert len(first) == 5 + 16
    assert first != make_exclusion_id("SMITH", "JOHN", "", "", "", "", "1128a1", "20200116")


def test_normalize_business_name_matches_expression(tmp_path: Path) -> None:
    assert normalize_business_name("  Acme-Health, L.L.C. ") == "ACME HEALTH L L C"
    assert normalize_business_name("--") is None
    path = write_csv(tmp_path / "UPDATED.csv", HEADER, [business("  Acme-Health, L.L.C. ")])
    assert parse_leie(path).frame["business_name_normalized"].to_list() == ["ACME HEALTH L L C"]


def test_leie_sets_is_excluded(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    pg_conn.execute(
        "INSERT INTO providers (npi, is_excluded) VALUES (%s, false), (%s, true), (%s, true)",
        (NPI_A, NPI_B, NPI_CHECK_ZERO),
    )
    rows = [
        person("SMITH", "JOHN", npi=NPI_A),
        person("ROE", "RAY", npi=NPI_B, reindate="20220101"),  # reinstated: no longer excluded
    ]
    load_leie(pg_conn, write_csv(tmp_path / "UPDATED.csv", HEADER, rows))

    flags = pg_conn.execute("SELECT npi, is_excluded FROM providers ORDER BY npi").fetchall()
    assert flags == [(NPI_B, False), (NPI_CHECK_ZERO, False), (NPI_A, True)]
