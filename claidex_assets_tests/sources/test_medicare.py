"""Medicare by-provider and Part D loaders against files in the CMS format, quirks included."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from claidex_assets.errors import InputDataError
from claidex_assets.sources.medicare import load_medicare, parse_medicare
from claidex_assets.sources.partd import load_partd
from claidex_assets_tests.sources.file_writers import (
    BAD_CHECK_DIGIT,
    NPI_A,
    NPI_B,
    NPI_C,
    NPI_CHECK_ZERO,
    NPI_D,
    NPI_E,
    NPI_F,
    NPI_G,
    NPI_H,
    NPI_I,
    write_csv,
)

MEDICARE_HEADER = [
    "Rndrng_NPI", "Rndrng_Prvdr_Last_Org_Name", "Rndrng_Prvdr_First_Name", "Rndrng_Prvdr_Ent_Cd",
    "Rndrng_Prvdr_State_Abrvtn", "Rndrng_Prvdr_Zip5", "Rndrng_Prvdr_Type", "Tot_HCPCS_Cds", "Tot_Benes",
    "Tot_Srvcs", "Tot_Sbmtd_Chrg", "Tot_Mdcr_Alowd_Amt", "Tot_Mdcr_Pymt_Amt", "Tot_Mdcr_Stdzd_Amt",
]


def medicare_row(npi, name="DOE", state="TX", kind="Internal Medicine", benes="20", services="30", allowed="400", paid="300"):
    return [npi, name, "JO", "I", state, "75001", kind, "5", benes, services, "999", allowed, paid, "1"]


def write_medicare_quirks(directory: Path) -> Path:
    rows = [
        # line 2: name with a comma and quotes, suppressed benes, thousands separators
        medicare_row(NPI_A, name='SMITH, "DOC"', benes="*", services="1,234.5", allowed="2,000.00", paid="1,500.25"),
        # line 3: check digit 0, Puerto Rico, '#' suppression
        medicare_row(NPI_CHECK_ZERO, state="PR", benes="#", services="10", allowed="100", paid="80"),
        # line 4: military state code, blank benes
        medicare_row(NPI_B, state="AE", benes="", services="2", allowed="50", paid="40"),
        # lines 5 and 6: exact duplicates collapse into one row
        medicare_row(NPI_C, state="ZZ", benes="11"),
        medicare_row(NPI_C, state="ZZ", benes="11"),
        # lines 7 and 8: same NPI, different amounts: both rejected
        medicare_row(NPI_D, paid="10"),
        medicare_row(NPI_D, paid="11"),
        medicare_row(BAD_CHECK_DIGIT),  # line 9
        medicare_row(NPI_F, paid="-5"),  # line 10
        medicare_row(NPI_G, paid="abc"),  # line 11
        medicare_row(NPI_H, paid=""),  # line 12
        medicare_row(NPI_E, benes="12.5", paid="1"),  # line 13: a count that is no whole number
        # line 14: cp1252 bytes in the provider type
        medicare_row(NPI_I, name="MUÑOZ", kind="Cardiología", allowed="5", paid="4", benes="15"),
    ]
    return write_csv(directory / "MUP_PHY_R24_P05_V10_D22_Prov.csv", MEDICARE_HEADER, rows, cp1252_rows=[12])


def test_medicare_quirk_file_loads_exact_rows(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_medicare_quirks(tmp_path)

    report = load_medicare(pg_conn, path)

    rows = pg_conn.execute(
        "SELECT npi, year, provider_type, state, medicare_paid::float8, medicare_allowed::float8, "
        "total_services::float8, total_beneficiaries, source_file FROM payments_medicare ORDER BY npi"
    ).fetchall()
    name = "MUP_PHY_R24_P05_V10_D22_Prov.csv"
    assert rows == [
        (NPI_B, 2022, "Internal Medicine", "AE", 40.0, 50.0, 2.0, None, name),
        (NPI_CHECK_ZERO, 2022, "Internal Medicine", "PR", 80.0, 100.0, 10.0, None, name),
        (NPI_C, 2022, "Internal Medicine", "ZZ", 300.0, 400.0, 30.0, 11, name),
        (NPI_I, 2022, "Cardiología", "TX", 4.0, 5.0, 30.0, 15, name),
        (NPI_A, 2022, "Internal Medicine", "TX", 1500.25, 2000.0, 1234.5, None, name),
    ]
    # 13 rows read = 5 loaded + 7 quarantined + 1 exact duplicate collapsed.
    assert report.rows_read == 13
    assert report.rows_loaded == 5
    assert report.rows_quarantined == 7
    assert report.duplicates_collapsed == 1
    assert report.reasons == {
        "duplicate_key": 2,
        "invalid_npi": 1,
        "missing_required": 1,
        "negative_amount": 1,
        "non_numeric_amount": 2,
    }
    quarantined = pg_conn.execute(
        "SELECT line_number, reason, raw FROM quarantine WHERE source = 'medicare' ORDER BY line_number"
    ).fetchall()
    assert [(line, reason) for line, reason, _ in quarantined] == [
        (7, "duplicate_key"),
        (8, "duplicate_key"),
        (9, "invalid_npi"),
        (10, "negative_amount"),
        (11, "non_numeric_amount"),
        (12, "missing_required"),
        (13, "non_numeric_amount"),
    ]
    raw_line_11 = quarantined[4][2]
    assert raw_line_11["medicare_paid"] == "abc"
    assert raw_line_11["npi"] == NPI_G


def test_medicare_reload_replaces_same_year(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_medicare_quirks(tmp_path)
    other_year = write_csv(tmp_path / "medicare_2021.csv", MEDICARE_HEADER, [medicare_row(NPI_A)])
    load_medicare(pg_conn, other_year)
    load_medicare(pg_conn, path)
    load_medicare(pg_conn, path)

    counts = pg_conn.execute("SELECT year, count(*) FROM payments_medicare GROUP BY year ORDER BY year").fetchall()
    assert counts == [(2021, 1), (2022, 5)]
    quarantine = pg_conn.execute("SELECT count(*) FROM quarantine WHERE source_file = %s", (path.name,)).fetchone()
    assert quarantine == (7,)


def test_medicare_old_header_names(tmp_path: Path) -> None:
    # 2013-2018 aggregate files: lower-case names, no allowed-amount column
    # in this variant, and the year comes from --year.
    header = ["npi", "nppes_provider_last_org_name", "nppes_provider_state", "provider_type",
              "total_services", "total_unique_benes", "total_medicare_payment_amt"]
    path = write_csv(tmp_path / "physician_aggregate.csv", header, [[NPI_A, "X", "gu", "Nurse", "3", "2", "10.5"]], line_end="\n")

    parsed = parse_medicare(path, year=2016)

    assert parsed.frame.to_dicts() == [
        {"npi": NPI_A, "year": 2016, "provider_type": "Nurse", "state": "GU", "medicare_paid": 10.5,
         "medicare_allowed": None, "total_services": 3.0, "total_beneficiaries": 2}
    ]


def test_medicare_lowercase_current_header(tmp_path: Path) -> None:
    header = [name.lower() for name in MEDICARE_HEADER]
    path = write_csv(tmp_path / "mup_phy_r23_p05_v10_d21_prov.csv", header, [medicare_row(NPI_A)])
    parsed = parse_medicare(path)
    assert parsed.years == (2021,)
    assert parsed.frame["medicare_paid"].to_list() == [300.0]


def test_medicare_without_year_fails(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "physicians.csv", MEDICARE_HEADER, [medicare_row(NPI_A)])
    with pytest.raises(InputDataError, match="--year"):
        parse_medicare(path)


def test_medicare_wrong_file_names_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "MUP_PHY_D22.csv", ["A", "B"], [["1", "2"]])
    with pytest.raises(InputDataError, match="Rndrng_NPI"):
        parse_medicare(path)


PARTD_HEADER = [
    "PRSCRBR_NPI", "Prscrbr_Last_Org_Name", "Prscrbr_First_Name", "Prscrbr_City", "Prscrbr_State_Abrvtn",
    "Prscrbr_State_FIPS", "Prscrbr_Type", "Prscrbr_Type_Src", "Tot_Clms", "Tot_30day_Fills", "Tot_Drug_Cst",
    "Tot_Day_Suply", "Tot_Benes", "GE65_Sprsn_Flag",
]


def partd_row(npi, state="TX", claims="100", cost="5,000.10", benes="40", kind="Family Practice"):
    return [npi, "DOE", "JO", "DALLAS", state, "48", kind, "S", claims, "120", cost, "3000", benes, "*"]


def test_partd_quirk_file_loads_exact_rows(pg_conn: psycopg.Connection, tmp_path: Path) -> None:
    rows = [
        partd_row(NPI_A),  # line 2
        partd_row(NPI_CHECK_ZERO, state="VI", benes="*", claims="1,200"),  # line 3
        partd_row(NPI_B, state="AP", benes="#"),  # line 4
        partd_row(NPI_B, state="AP", benes="#"),  # line 5: exact duplicate
        partd_row(NPI_C, claims="-1"),  # line 6
        partd_row(NPI_D, cost="n/a"),  # line 7
        partd_row("", cost="1"),  # line 8
    ]
    path = write_csv(tmp_path / "MUP_DPR_RY24_P04_V10_DY22_NPI.csv", PARTD_HEADER, rows, line_end="\n")

    report = load_partd(pg_conn, path)

    rows_loaded = pg_conn.execute(
        "SELECT npi, year, provider_type, state, total_drug_cost::float8, total_claims, total_benes "
        "FROM medicare_part_d ORDER BY npi"
    ).fetchall()
    assert rows_loaded == [
        (NPI_B, 2022, "Family Practice", "AP", 5000.1, 100, None),
        (NPI_CHECK_ZERO, 2022, "Family Practice", "VI", 5000.1, 1200, None),
        (NPI_A, 2022, "Family Practice", "TX", 5000.1, 100, 40),
    ]
    # 7 read = 3 loaded + 3 quarantined + 1 collapsed duplicate.
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.duplicates_collapsed) == (7, 3, 3, 1)
    assert report.reasons == {"missing_required": 1, "negative_amount": 1, "non_numeric_amount": 1}
    raw = pg_conn.execute("SELECT raw FROM quarantine WHERE line_number = 7").fetchone()[0]
    assert json.dumps(raw["total_drug_cost"]) == '"n/a"'
