"""The claidex init-db, load and load-dir commands against a test database."""

from __future__ import annotations

from pathlib import Path

import pytest

from claidex_assets.cli import main
from claidex_assets.postgres import connect
from claidex_assets.sources.commands import source_of_file
from claidex_assets_tests.sources import test_leie, test_medicaid, test_medicare, test_nppes


@pytest.fixture
def database(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CLAIDEX_POSTGRES_URL", postgres_url)
    return postgres_url


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("npidata_pfile_20050523-20251109.csv", "nppes"),
        ("npidata_pfile_20050523-20251109_fileheader.csv", None),
        ("UPDATED.csv", "leie"),
        ("MUP_PHY_R24_P05_V10_D22_Prov.csv", "medicare"),
        ("MUP_DPR_RY24_P04_V10_DY22_NPI.csv", "partd"),
        ("medicaid_provider_spending.csv", "medicaid"),
        ("notes.csv", None),
    ],
)
def test_source_of_file(name: str, source: str | None) -> None:
    assert source_of_file(Path(name)) == source


def test_init_db_creates_tables(database: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["init-db"]) == 0
    assert "schema ready" in capsys.readouterr().out
    with connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM payments_combined_v").fetchone() == (0,)


def test_load_dir_loads_every_known_file(database: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    test_nppes.write_nppes_quirks(tmp_path)
    test_leie.write_leie_quirks(tmp_path)
    test_medicare.write_medicare_quirks(tmp_path)
    test_medicaid.write_medicaid_quirks(tmp_path)
    (tmp_path / "README.txt").write_text("not data")

    assert main(["load-dir", str(tmp_path)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["nppes", "leie", "medicare", "medicaid"]
    assert lines[2].startswith("medicare MUP_PHY_R24_P05_V10_D22_Prov.csv year 2022: read 13, loaded 5, quarantined 7")
    with connect(database) as conn:
        counts = conn.execute(
            "SELECT program, count(*) FROM payments_combined_v GROUP BY program ORDER BY program"
        ).fetchall()
        assert counts == [("Medicaid", 3), ("Medicare", 5)]
        # Two NPIs of the LEIE file (not reinstated) are also in NPPES.
        excluded = conn.execute("SELECT npi FROM providers WHERE is_excluded ORDER BY npi").fetchall()
        assert excluded == [("1234567810",), ("1234567893",)]


def test_load_with_year_option(database: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = test_medicare.write_medicare_quirks(tmp_path).rename(tmp_path / "medicare.csv")
    assert main(["load", "medicare", str(path), "--year", "2019"]) == 0
    assert "year 2019" in capsys.readouterr().out


def test_load_missing_file_reports_error(database: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["load", "leie", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_load_unreachable_server_reports_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CLAIDEX_POSTGRES_URL", "postgresql://u:pw-not-shown@/claidex?host=/nonexistent-socket-dir&connect_timeout=1")
    assert main(["init-db"]) == 2
    error = capsys.readouterr().err
    assert "cannot connect to Postgres" in error
    assert "pw-not-shown" not in error
