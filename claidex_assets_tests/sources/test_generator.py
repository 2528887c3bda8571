"""Generator: determinism, exact public headers, small-scale shape, quirks and planted anomalies."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claidex_assets.npi import is_valid_npi, make_npi
from claidex_assets.sources import generator_formats as formats
from claidex_assets.sources.generator import generate, resolve_scale, reusable_manifest
from claidex_assets.sources.generator_population import npi_check_digits
from claidex_assets.sources.generator_quirks import LOADED_KINDS, REJECTED_KINDS


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("small")
    return out, generate(out, scale="small", seed=0)


def header_of(path: Path, encoding: str = "utf-8") -> list[str]:
    first_line = path.read_bytes().split(b"\n", 1)[0].decode(encoding)
    return next(csv.reader([first_line]))


def read_text(path: Path, encoding: str = "utf-8") -> pl.DataFrame:
    text = path.read_bytes().decode(encoding, errors="replace")
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def test_same_seed_identical_bytes(small, tmp_path):
    out, manifest = small
    again = tmp_path / "again"
    generate(again, scale="small", seed=0)
    for name in manifest["files"]:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    assert (again / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_other_seed_different_npis(small, tmp_path):
    out, _ = small
    other = tmp_path / "other"
    generate(other, scale="small", seed=1)
    first = read_text(out / formats.NPPES_FILE)["NPI"]
    second = read_text(other / formats.NPPES_FILE)["NPI"]
    assert first.to_list() != second.to_list()


def test_nppes_header_exact(small):
    out, _ = small
    header = header_of(out / formats.NPPES_FILE)
    # 47 leading columns + 15 taxonomy groups x 4 + 50 identifier groups x 4 + 7 + 15 groups + 1 = 330
    assert len(header) == 330
    assert header[:8] == [
        "NPI", "Entity Type Code", "Replacement NPI", "Employer Identification Number (EIN)",
        "Provider Organization Name (Legal Business Name)", "Provider Last Name (Legal Name)",
        "Provider First Name", "Provider Middle Name",
    ]
    assert header.index("Provider Business Practice Location Address State Name") == 31
    assert header.index("Provider Business Practice Location Address Postal Code") == 32
    assert header.index("Healthcare Provider Taxonomy Code_1") == 47
    assert header.index("Healthcare Provider Primary Taxonomy Switch_1") == 50
    assert header.index("Healthcare Provider Taxonomy Code_15") == 47 + 14 * 4
    assert header[-1] == "Certification Date"


def test_nppes_values_all_quoted(small):
    out, _ = small
    second_line = (out / formats.NPPES_FILE).read_bytes().split(b"\n")[1]
    assert second_line.startswith(b'"1') or second_line.startswith(b'"2')
    assert b',"",' in second_line


def test_public_headers_exact(small):
    out, manifest = small
    assert header_of(out / formats.LEIE_FILE) == [
        "LASTNAME", "FIRSTNAME", "MIDNAME", "BUSNAME", "GENERAL", "SPECIALTY", "UPIN", "NPI", "DOB", "ADDRESS",
        "CITY", "STATE", "ZIP", "EXCLTYPE", "EXCLDATE", "REINDATE", "WAIVERDATE", "WVRSTATE",
    ]
    owners = header_of(out / formats.SNF_OWNERS_FILE, "cp1252")
    assert len(owners) == 40
    assert owners[:6] == ["ENROLLMENT ID", "ASSOCIATE ID", "ORGANIZATION NAME", "ASSOCIATE ID - OWNER", "TYPE - OWNER",
                          "ROLE CODE - OWNER"]
    assert owners[-2:] == ["PARENT COMPANY - OWNER", "OWNED BY ANOTHER ORG OR INDIVIDUAL - OWNER"]
    assert header_of(out / formats.SNF_ENROLLMENTS_FILE)[:5] == [
        "ENROLLMENT ID", "ENROLLMENT STATE", "PROVIDER TYPE CODE", "PROVIDER TYPE TEXT", "NPI"]
    assert header_of(out / formats.MEDICAID_FILE) == [
        "BILLING_PROVIDER_NPI_NUM", "SERVICING_PROVIDER_NPI_NUM", "HCPCS_CODE", "CLAIM_FROM_MONTH",
        "TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_CLAIMS", "TOTAL_PAID"]
    medicare = header_of(out / "MUP_PHY_R24_P05_V10_D22_Prov.csv")
    assert medicare[:3] == ["Rndrng_NPI", "Rndrng_Prvdr_Last_Org_Name", "Rndrng_Prvdr_First_Name"]
    for column in ("Rndrng_Prvdr_Type", "Rndrng_Prvdr_State_Abrvtn", "Tot_HCPCS_Cds", "Tot_Benes", "Tot_Srvcs",
                   "Tot_Sbmtd_Chrg", "Tot_Mdcr_Alowd_Amt", "Tot_Mdcr_Pymt_Amt"):
        assert column in medicare
    partd = header_of(out / "MUP_DPR_RY24_P04_V10_DY22_NPI.csv")
    assert partd[:2] == ["PRSCRBR_NPI", "Prscrbr_Last_Org_Name"]
    for column in ("Prscrbr_Type", "Prscrbr_State_Abrvtn", "Tot_Clms", "Tot_Drug_Cst", "Tot_Benes"):
        assert column in partd


def test_yearly_file_names(small):
    _, manifest = small
    # Five data years 2019-2023, one Medicare and one Part D file each.
    assert manifest["years"] == [2019, 2020, 2021, 2022, 2023]
    assert manifest["files"]["MUP_PHY_R24_P05_V10_D22_Prov.csv"]["year"] == 2022
    assert manifest["files"]["MUP_DPR_RY24_P04_V10_DY22_NPI.csv"]["year"] == 2022


def test_small_shape(small):
    out, manifest = small
    nppes = read_text(out / formats.NPPES_FILE)
    npis = nppes["NPI"].unique()
    valid = [n for n in npis.to_list() if is_valid_npi(n)]
    # 2,000 billing + 600 + 200 non-billing providers; a few rows are invalid-NPI quirks.
    assert 2_700 <= len(valid) <= 2_800
    assert sum(n.startswith("2") for n in valid) >= 1
    assert sum(n.startswith("1") for n in valid) / len(valid) > 0.99

    billing = set()
    for name, record in manifest["files"].items():
        if record["table"] in ("payments_medicare", "medicare_part_d"):
            billing |= set(read_text(out / name)[:, 0].to_list())
    billing |= set(read_text(out / formats.MEDICAID_FILE)["BILLING_PROVIDER_NPI_NUM"].to_list())
    assert 1_950 <= len({n for n in billing if is_valid_npi(n)}) <= 2_000

    medicare_rows = manifest["tables"]["payments_medicare"]["rows_written"]
    partd_rows = manifest["tables"]["medicare_part_d"]["rows_written"]
    assert partd_rows < medicare_rows  # most, not all, Medicare providers also prescribe under Part D
    assert manifest["snf"]["facilities"] == 60
    assert manifest["tables"]["exclusions"]["rows_written"] == 120


def test_leie_npi_and_dates(small):
    out, _ = small
    leie = read_text(out / formats.LEIE_FILE, "cp1252")
    with_npi = leie.filter(pl.col("NPI") != "0000000000")
    assert 0 < with_npi.height < leie.height
    assert leie["EXCLDATE"].str.contains(r"^\d{8}$").all()
    assert leie["REINDATE"].str.contains(r"^\d{8}$").all()
    assert (leie["REINDATE"] != "00000000").sum() >= 1


def test_leie_rows_distinct_records():
    # Loaders key a record on these fields, so drawn rows must not repeat them (83,000 rows as nationally).
    from claidex_assets.sources.generator_leie import leie_frame

    frame = leie_frame(np.random.default_rng(0), [], 83_000)
    key = ["LASTNAME", "FIRSTNAME", "MIDNAME", "BUSNAME", "NPI", "DOB", "EXCLTYPE", "EXCLDATE"]
    assert frame.select(key).n_unique() == 83_000


def test_every_quirk_kind_present(small):
    _, manifest = small
    for kind in REJECTED_KINDS | LOADED_KINDS:
        assert manifest["quirk_totals"].get(kind, 0) >= 2, kind


def test_check_digit_zero_npis_present(small):
    out, _ = small
    nppes = read_text(out / formats.NPPES_FILE)
    zero = [n for n in nppes["NPI"].to_list() if is_valid_npi(n) and n.endswith("0")]
    assert len(zero) >= 5


def test_non_utf8_bytes_written(small):
    out, _ = small
    with pytest.raises(UnicodeDecodeError):
        (out / formats.NPPES_FILE).read_bytes().decode("utf-8")
    owners = (out / formats.SNF_OWNERS_FILE).read_bytes()
    # cp1252: the accented names and the right single quote are single bytes.
    assert any(byte in owners for byte in (b"\xd1", b"\xc9", b"\xc1", b"\x92"))


def test_expected_rejected_counts_add_up(small):
    _, manifest = small
    for table, entry in manifest["tables"].items():
        files = [manifest["files"][name] for name in entry["files"]]
        assert entry["rows_written"] == sum(f["rows"] for f in files)
        rejected = sum(count for f in files for kind, count in f["quirks"].items() if kind in REJECTED_KINDS)
        assert entry["expected_rejected"] == rejected, table


def test_ground_truth_covers_each_kind(small):
    out, manifest = small
    truth = pl.read_csv(out / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    counts = dict(truth.group_by("anomaly_type").len().iter_rows())
    for kind in ("billing_outlier", "rapid_growth", "program_concentration", "excluded_still_billing",
                 "ownership_excluded_owner", "ownership_excluded_sibling"):
        assert counts.get(kind, 0) >= 5, kind
    assert counts == manifest["ground_truth"]["counts"]
    assert truth["npi"].map_elements(is_valid_npi, return_dtype=pl.Boolean).all()


def test_excluded_billing_has_leie_row(small):
    out, manifest = small
    truth = pl.read_csv(out / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    leie = read_text(out / formats.LEIE_FILE, "cp1252")
    excluded = truth.filter(pl.col("anomaly_type") == "excluded_still_billing")["npi"]
    active = leie.filter(pl.col("REINDATE") == "00000000")["NPI"]
    assert excluded.is_in(active.implode()).all()
    medicare_2023 = read_text(out / "MUP_PHY_R25_P05_V10_D23_Prov.csv")["Rndrng_NPI"]
    medicaid = read_text(out / formats.MEDICAID_FILE)
    billing_late = set(medicare_2023.to_list()) | set(
        medicaid.filter(pl.col("CLAIM_FROM_MONTH").str.starts_with("202"))["BILLING_PROVIDER_NPI_NUM"].to_list())
    assert set(excluded.to_list()) <= billing_late | set(read_text(out / "MUP_PHY_R24_P05_V10_D22_Prov.csv")["Rndrng_NPI"])


def test_billing_outliers_pay_more_per_service(small):
    out, _ = small
    truth = pl.read_csv(out / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    medicare = read_text(out / "MUP_PHY_R25_P05_V10_D23_Prov.csv").select(
        "Rndrng_NPI", "Rndrng_Prvdr_Type",
        (pl.col("Tot_Mdcr_Pymt_Amt").cast(pl.Float64, strict=False) / pl.col("Tot_Srvcs").cast(pl.Float64, strict=False)).alias("per_service"),
    )
    outliers = truth.filter(pl.col("anomaly_type") == "billing_outlier")["npi"]
    planted = medicare.filter(pl.col("Rndrng_NPI").is_in(outliers.implode()))
    peers = medicare.filter(~pl.col("Rndrng_NPI").is_in(outliers.implode()))
    peer_median = peers.group_by("Rndrng_Prvdr_Type").agg(pl.col("per_service").median().alias("peer"))
    ratio = planted.join(peer_median, on="Rndrng_Prvdr_Type").select(pl.col("per_service") / pl.col("peer"))
    # Payments per service are multiplied by 6, so the planted median sits well above 3x the peers'.
    assert ratio.to_series().median() > 3


def test_reuse_skips_matching_output(small, tmp_path):
    out = tmp_path / "reuse"
    first = generate(out, scale="small", seed=3)
    stamp = (out / formats.NPPES_FILE).stat().st_mtime_ns
    assert generate(out, scale="small", seed=3, reuse=True) == first
    assert (out / formats.NPPES_FILE).stat().st_mtime_ns == stamp
    assert reusable_manifest(out, "small", 4) is None
    (out / formats.LEIE_FILE).write_text("truncated")
    assert reusable_manifest(out, "small", 3) is None


def test_manifest_is_json_with_samples(small):
    out, manifest = small
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for table in ("providers", "exclusions", "payments_medicare", "medicare_part_d", "payments_medicaid"):
        assert len(manifest["samples"][table]) == 5, table


@pytest.mark.parametrize("scale, expected", [("small", 2_000 / 1_780_000), ("national", 1.0), ("0.25", 0.25), (0.5, 0.5)])
def test_resolve_scale_values(scale, expected):
    assert resolve_scale(scale) == pytest.approx(expected)


@pytest.mark.parametrize("scale", ["tiny", "-1", 0])
def test_resolve_scale_rejects(scale):
    with pytest.raises(ValueError, match="scale"):
        resolve_scale(scale)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=100_000_000, max_value=299_999_999))
def test_vector_check_digit_matches_make_npi(stem):
    digit = int(npi_check_digits(np.array([stem]))[0])
    assert make_npi(stem) == f"{stem}{digit}"
