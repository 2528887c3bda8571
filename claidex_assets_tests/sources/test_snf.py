"""SNF ownership files: cp1252 parsing, owner kinds, multi-level chains and exclusion links."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from claidex_assets.errors import InputDataError
from claidex_assets.npi import make_npi
from claidex_assets.sources.generator_formats import SNF_ENROLLMENT_COLUMNS, SNF_OWNER_COLUMNS
from claidex_assets.sources.graph_build import OwnershipReport, build_graph_snapshot, build_ownership
from claidex_assets.sources.snf import OWNER_COLUMNS, parse_enrollments, parse_owners

OWNER_FRAME_COLUMNS = list(OWNER_COLUMNS.values())

NPI_F1 = make_npi(100000001)
NPI_F2 = make_npi(100000002)
NPI_F1_LATER = make_npi(100000009)
NPI_PERSON = make_npi(100000010)
NPI_UNKNOWN = make_npi(100000011)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]], encoding: str = "cp1252") -> Path:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


def enrollment(enrollment_id, associate_id, npi, name, state):
    return {"ENROLLMENT ID": enrollment_id, "ASSOCIATE ID": associate_id, "NPI": npi, "ORGANIZATION NAME": name,
            "STATE": state, "ENROLLMENT STATE": state, "PROVIDER TYPE CODE": "00-18", "MULTIPLE NPI FLAG": "N"}


def owner(associate_id, name, owner_id, kind, role, owner_name="", state="", first="", last="", holding="N"):
    return {"ENROLLMENT ID": "O" + associate_id, "ASSOCIATE ID": associate_id, "ORGANIZATION NAME": name,
            "ASSOCIATE ID - OWNER": owner_id, "TYPE - OWNER": kind, "ROLE CODE - OWNER": role,
            "ORGANIZATION NAME - OWNER": owner_name, "STATE - OWNER": state, "FIRST NAME - OWNER": first,
            "LAST NAME - OWNER": last, "HOLDING COMPANY - OWNER": holding if kind == "O" else ""}


@pytest.fixture
def snf_files(tmp_path: Path) -> tuple[Path, Path]:
    enrollments = write_rows(tmp_path / "SNF_Enrollments.csv", SNF_ENROLLMENT_COLUMNS, [
        enrollment("O20100101000001", "1000000001", NPI_F1, "SUNNY ACRES CARE CENTER", "TX"),
        enrollment("O20100101000002", "1000000002", NPI_F2, "SUNNY HILLS REHAB", "TX"),
        enrollment("O20100101000003", "1000000003", "", "CAFÉ GARDENS NURSING", "OH"),
        # A later second enrollment of facility 1000000001: the first enrollment's NPI wins.
        enrollment("O20200101000009", "1000000001", NPI_F1_LATER, "SUNNY ACRES CARE CENTER", "TX"),
    ])
    owners = write_rows(tmp_path / "SNF_All_Owners.csv", SNF_OWNER_COLUMNS, [
        owner("1000000001", "SUNNY ACRES CARE CENTER", "2000000001", "O", "34", "ACME OPERATIONS, LLC", "TX"),
        owner("1000000002", "SUNNY HILLS REHAB", "2000000001", "O", "34", "ACME OPERATIONS, LLC", "TX"),
        # The operating company has an owner of its own: the chain continues upward.
        owner("2000000001", "ACME OPERATIONS, LLC", "3000000001", "O", "34", "BIGCO HOLDINGS INC", "NY", holding="Y"),
        owner("1000000001", "SUNNY ACRES CARE CENTER", "4000000001", "I", "40", first="JOSÉ", last="MUÑOZ"),
        owner("1000000003", "CAFÉ GARDENS NURSING", "5000000001", "O", "36", "FIRST BANK", "NY"),
        owner("1000000002", "SUNNY HILLS REHAB", "1000000002", "O", "34", "SUNNY HILLS REHAB", "TX"),
        owner("1000000003", "CAFÉ GARDENS NURSING", "2000000002", "O", "35", "O’NEIL CARE GROUP", "OH"),
    ])
    return owners, enrollments


def exclusions_frame() -> pl.DataFrame:
    rows = [
        ("X1", NPI_F2, "SUNNY HILLS REHAB", "TX", False),
        ("X2", None, "ACME OPERATIONS LLC", "TX", False),
        ("X3", None, "BIGCO HOLDINGS INC", "CA", False),
        ("X4", NPI_PERSON, None, "TX", True),
        ("X5", NPI_UNKNOWN, None, "TX", False),
        ("X6", None, "SUNNY ACRES CARE CENTER", "TX", False),
    ]
    return pl.DataFrame(rows, schema={"exclusion_id": pl.Utf8, "npi": pl.Utf8, "business_name": pl.Utf8,
                                      "state": pl.Utf8, "reinstated": pl.Boolean}, orient="row")


def providers_frame() -> pl.DataFrame:
    return pl.DataFrame({"npi": [NPI_F1, NPI_F2, NPI_PERSON],
                         "display_name": ["SUNNY ACRES CARE CENTER", "SUNNY HILLS REHAB", "JANE DOE"]})


def test_owner_file_is_cp1252(snf_files):
    owners, _ = snf_files
    raw = owners.read_bytes()
    assert b"MU\xd1OZ" in raw  # Ñ is the single byte 0xD1 in cp1252
    assert b"O\x92NEIL" in raw  # the right single quote is 0x92


def test_parse_owners_decodes_cp1252(snf_files):
    owners, _ = snf_files
    frame = parse_owners(owners)
    assert frame.height == 7
    person = frame.filter(pl.col("owner_type") == "I").row(0, named=True)
    assert person["first_name"] == "JOSÉ"
    assert person["last_name"] == "MUÑOZ"
    assert person["owner_name"] is None  # blank cells become null
    assert "O’NEIL CARE GROUP" in frame["owner_name"].to_list()


def test_parse_enrollments_utf8_file(tmp_path):
    path = write_rows(tmp_path / "enrollments.csv", SNF_ENROLLMENT_COLUMNS,
                      [enrollment("O1", "1000000003", "", "CAFÉ GARDENS NURSING", "OH")], encoding="utf-8")
    frame = parse_enrollments(path)
    assert frame["organization_name"].to_list() == ["CAFÉ GARDENS NURSING"]
    assert frame["npi"].to_list() == [None]


def test_parse_owners_missing_column(tmp_path):
    path = write_rows(tmp_path / "owners.csv", ["ENROLLMENT ID", "ASSOCIATE ID"], [])
    with pytest.raises(InputDataError, match="ASSOCIATE ID - OWNER"):
        parse_owners(path)


def test_parse_missing_file(tmp_path):
    with pytest.raises(InputDataError, match="not found"):
        parse_enrollments(tmp_path / "absent.csv")


def test_snapshot_entities_exact(snf_files):
    owners, enrollments = snf_files
    snapshot, _ = build_graph_snapshot(providers_frame(), exclusions_frame(), owners, enrollments)
    expected = pl.DataFrame(
        [
            ("1000000001", "SUNNY ACRES CARE CENTER", "SNF", NPI_F1),
            ("1000000002", "SUNNY HILLS REHAB", "SNF", NPI_F2),
            ("1000000003", "CAFÉ GARDENS NURSING", "SNF", None),
            ("2000000001", "ACME OPERATIONS, LLC", "Organization", None),
            ("2000000002", "O’NEIL CARE GROUP", "Organization", None),
            # Flagged as a holding company on its owner row; the bank of the mortgage row is no entity.
            ("3000000001", "BIGCO HOLDINGS INC", "HoldingCompany", None),
        ],
        schema={"entity_id": pl.Utf8, "name": pl.Utf8, "entity_type": pl.Utf8, "npi": pl.Utf8},
        orient="row",
    )
    assert_frame_equal(snapshot.entities, expected)


def test_snapshot_owns_multi_level(snf_files):
    owners, enrollments = snf_files
    snapshot, _ = build_graph_snapshot(providers_frame(), exclusions_frame(), owners, enrollments)
    # Individual, mortgage (role 36) and self-ownership rows make no edge.
    expected = pl.DataFrame(
        {"owner_id": ["2000000001", "2000000001", "2000000002", "3000000001"],
         "owned_id": ["1000000001", "1000000002", "1000000003", "2000000001"]}
    )
    assert_frame_equal(snapshot.owns, expected)


def test_snapshot_exclusion_links(snf_files):
    owners, enrollments = snf_files
    snapshot, report = build_graph_snapshot(providers_frame(), exclusions_frame(), owners, enrollments)
    # X1 by the facility's NPI; X2 and X6 by normalized name and state ("ACME OPERATIONS, LLC" and
    # "ACME OPERATIONS LLC" both normalize to "ACME OPERATIONS LLC"). X3 names BIGCO in the wrong state.
    expected = pl.DataFrame({"entity_id": ["1000000001", "1000000002", "2000000001"], "exclusion_id": ["X6", "X1", "X2"]})
    assert_frame_equal(snapshot.entity_exclusions, expected)
    assert report.exclusion_links_by_npi == 1
    assert report.exclusion_links_by_name_state == 2
    # Provider links: X1 (the facility's own provider row) and X4 (reinstated, still linked); X5's NPI is unknown.
    assert_frame_equal(snapshot.provider_exclusions, pl.DataFrame({"npi": [NPI_F2, NPI_PERSON], "exclusion_id": ["X1", "X4"]}))
    assert report.provider_exclusion_links == 2
    assert report.exclusions_with_unknown_npi == 1


def test_snapshot_nodes_from_tables(snf_files):
    owners, enrollments = snf_files
    snapshot, _ = build_graph_snapshot(providers_frame(), exclusions_frame(), owners, enrollments)
    assert snapshot.providers.rows() == [(NPI_F1, "SUNNY ACRES CARE CENTER"), (NPI_F2, "SUNNY HILLS REHAB"),
                                         (NPI_PERSON, "JANE DOE")]
    assert snapshot.exclusions.rows() == [("X1", False), ("X2", False), ("X3", False), ("X4", True), ("X5", False),
                                          ("X6", False)]


def test_report_counts(snf_files):
    owners, enrollments = snf_files
    _, report = build_graph_snapshot(providers_frame(), exclusions_frame(), owners, enrollments)
    assert report.as_dict() == {
        "enrollment_rows": 4,
        "facilities": 3,
        "facilities_without_npi": 1,
        "owner_rows": 7,
        "individual_owner_rows": 1,
        "organization_owner_rows": 6,
        "security_interest_rows_skipped": 1,
        "self_ownership_rows_skipped": 1,
        "organizations": 3,
        "holding_companies": 1,
        "owns_edges": 4,
        "owns_edges_above_facilities": 1,  # BIGCO -> ACME
        "exclusion_links_by_npi": 1,
        "exclusion_links_by_name_state": 2,
        "provider_exclusion_links": 2,
        "exclusions_with_unknown_npi": 1,
    }


owner_row = st.fixed_dictionaries({
    "associate_id": st.sampled_from(["A1", "A2", "A3", "B1", "B2", "C1"]),
    "owner_associate_id": st.sampled_from(["A1", "B1", "B2", "C1", "D1", None]),
    "owner_type": st.sampled_from(["O", "I"]),
    "role_code": st.sampled_from(["34", "35", "36", "37", "40", None]),
    "owner_name": st.sampled_from(["ACME LLC", "BIGCO INC", None]),
    "owner_state": st.sampled_from(["TX", "NY", None]),
    "holding_company": st.sampled_from(["Y", "N", None]),
})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(owner_row, max_size=25), facility_ids=st.sets(st.sampled_from(["A1", "A2", "A3", "B1"]), max_size=4))
def test_ownership_graph_invariants(rows, facility_ids):
    owners = pl.DataFrame(
        [{**row, "enrollment_id": "O1", "organization_name": f"ORG {row['associate_id']}", "association_date": None,
          "parent_company": None, "private_equity_company": None} for row in rows],
        schema={name: pl.Utf8 for name in OWNER_FRAME_COLUMNS},
    )
    enrollments = pl.DataFrame(
        [{"enrollment_id": f"O{i}", "associate_id": fid, "npi": NPI_F1, "organization_name": f"SNF {fid}", "state": "TX"}
         for i, fid in enumerate(sorted(facility_ids))],
        schema={"enrollment_id": pl.Utf8, "associate_id": pl.Utf8, "npi": pl.Utf8, "organization_name": pl.Utf8,
                "state": pl.Utf8},
    )
    report = OwnershipReport()
    entities, owns = build_ownership(owners, enrollments, report)
    ids = set(entities["entity_id"].to_list())
    assert entities["entity_id"].n_unique() == entities.height
    assert set(owns["owner_id"].to_list()) <= ids
    assert set(owns["owned_id"].to_list()) <= ids
    assert (owns["owner_id"] != owns["owned_id"]).all()
    assert owns.n_unique() == owns.height
    snf_ids = set(entities.filter(pl.col("entity_type") == "SNF")["entity_id"].to_list())
    assert snf_ids == facility_ids
    # No edge comes from an individual or from a mortgage or security interest.
    kept = owners.filter((pl.col("owner_type") == "O") & ~pl.col("role_code").is_in(["36", "37"]).fill_null(False))
    allowed = set(zip(kept["owner_associate_id"].to_list(), kept["associate_id"].to_list()))
    assert set(owns.iter_rows()) <= allowed
