"""Shared CSV quirk handling: headers, years in file names, numbers, encodings."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from claidex_assets.errors import InputDataError
from claidex_assets.sources.csv_reading import (
    count,
    iter_batches,
    normalize_header,
    not_a_count,
    not_a_number,
    read_header,
    resolve_columns,
    scan_text_columns,
    utf8_copy,
    value_column,
    with_values,
    year_from_filename,
)


@pytest.mark.parametrize(
    ("name", "year"),
    [
        ("MUP_PHY_R24_P05_V10_D22_Prov.csv", 2022),
        ("MUP_DPR_RY24_P04_V10_DY21_NPI.csv", 2021),
        ("mup_phy_r23_p05_v10_d19_prov.csv", 2019),
        ("Medicare_Part_D_Prescribers_by_Provider_2020.csv", 2020),
        ("UPDATED.csv", None),
        ("payments_12345.csv", None),
    ],
)
def test_year_from_filename(name: str, year: int | None) -> None:
    assert year_from_filename(Path(name)) == year


def test_normalize_header_ignores_case_and_punctuation() -> None:
    assert normalize_header("\ufeffRndrng_NPI ") == normalize_header("rndrng npi") == "rndrngnpi"
    assert normalize_header("Provider Last Name (Legal Name)") == "providerlastnamelegalname"


def test_resolve_columns_reports_missing(tmp_path: Path) -> None:
    with pytest.raises(InputDataError) as raised:
        resolve_columns(["X", "Y"], {"npi": ("Rndrng_NPI",), "state": ()}, ["npi"], tmp_path / "f.csv", "Medicare")
    assert "npi (one of Rndrng_NPI)" in str(raised.value)
    assert "['X', 'Y']" in str(raised.value)


def test_number_parsing_rules() -> None:
    # Cells as the scanner yields them: stripped, blank already null.
    cells = ["1,234.50", "*", "#", None, "7", "$12", "abc", "NaN", "inf", "-3", "12.5"]
    frame = (
        pl.DataFrame({"cell": cells})
        .with_columns(with_values(["cell"]))
        .select(
            pl.col(value_column("cell")).alias("value"),
            not_a_number("cell").alias("bad_amount"),
            count("cell").alias("count"),
            not_a_count("cell").alias("bad_count"),
        )
    )
    assert frame["value"].to_list()[:7] == [1234.5, None, None, None, 7.0, 12.0, None]
    assert frame["bad_amount"].to_list() == [False, False, False, False, False, False, True, True, True, False, False]
    assert frame["count"].to_list()[9:] == [-3, None]
    assert frame["bad_count"].to_list()[9:] == [False, True]


def test_utf8_copy_decodes_cp1252_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    # One UTF-8 line and one cp1252 line: each keeps its letters.
    path.write_bytes("NAME\nJOSÉ\n".encode("utf-8") + "MUÑOZ\n".encode("cp1252") + b"X\x81Y\n")
    with utf8_copy(path) as (readable, recoded):
        text = readable.read_text(encoding="utf-8")
    assert text == "NAME\nJOSÉ\nMUÑOZ\nX\x81Y\n"
    assert recoded == 2
    assert not readable.exists()


def test_utf8_copy_keeps_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("A\nÉ\n", encoding="utf-8")
    with utf8_copy(path) as (readable, recoded):
        assert readable == path
        assert recoded == 0


def test_scan_handles_bom_crlf_quotes_and_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "quirks.csv"
    path.write_bytes(b'\xef\xbb\xbfA,B,C\r\n1,"x, ""y""",3\r\n2,  ,*\r\n3,4\r\n5,6,7,8\r\n')
    mapping = resolve_columns(read_header(path), {"a": ("A",), "b": ("B",), "c": ("C",)}, ["a"], path, "test")
    frame = pl.concat(list(iter_batches(scan_text_columns(path, mapping), batch_rows=2)))
    assert frame.rows() == [
        (2, "1", 'x, "y"', "3"),
        (3, "2", None, "*"),
        (4, "3", "4", None),  # too few fields: the rest is null
        (5, "5", "6", "7"),  # too many fields: the extra one is dropped
    ]


def test_read_header_of_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputDataError, match="empty"):
        read_header(path)
