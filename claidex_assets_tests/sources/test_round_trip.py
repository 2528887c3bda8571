"""Round trip: generate small data, load it with the loaders, and compare with the manifest's record."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from claidex_assets.cli import main as claidex_main
from claidex_assets.errors import InputDataError
from claidex_assets.npi import npi_ranges
from claidex_assets.ownership.bulk import prepare_bulk
from claidex_assets.ownership.chain import chain_features_all
from claidex_assets.ownership.import_csv import read_import_csv
from claidex_assets.sources.generator import generate
from claidex_assets.sources.graph_build import LoadAllResult, find_snf_files, load_all, read_graph_inputs
from claidex_assets_tests.neo4j_server import neo4j_server  # noqa: F401  (a fixture, used by name)

TABLES = ("providers", "exclusions", "payments_medicare", "medicare_part_d", "payments_medicaid")
# Quirk kinds that the loaders reject into the quarantine, by the reason they record.
QUARANTINED_KINDS = ("invalid_npi", "negative_amount", "non_numeric_amount", "year_out_of_range")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("generated")
    return out, generate(out, scale="small", seed=7)


@pytest.fixture
def loaded(generated, pg_conn: psycopg.Connection, tmp_path: Path) -> LoadAllResult:
    out, _ = generated
    return load_all(out, pg_conn, tmp_path / "graph")


def count_rows(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_table_counts_match_manifest(generated, loaded, pg_conn):
    _, manifest = generated
    for table in TABLES:
        assert count_rows(pg_conn, table) == manifest["tables"][table]["expected_rows"], table


def test_file_reports_match_manifest(generated, loaded):
    _, manifest = generated
    reports = {report.source_file: report for report in loaded.source_reports}
    loaded_files = {name for name, record in manifest["files"].items() if record["table"] in TABLES}
    assert set(reports) == loaded_files
    for name, report in reports.items():
        record = manifest["files"][name]
        assert report.rows_read == record["rows"], name
        duplicates = record["quirks"].get("duplicate_row", 0)
        assert report.rows_quarantined == record["expected_rejected"] - duplicates, name
        if record["table"] != "payments_medicaid":
            assert report.duplicates_collapsed == duplicates, name


def test_medicaid_duplicate_rows_collapsed(generated, loaded):
    _, manifest = generated
    report = next(r for r in loaded.source_reports if r.table == "payments_medicaid")
    record = manifest["files"][report.source_file]
    assert report.duplicates_collapsed == record["quirks"]["duplicate_row"]


def test_quarantine_reasons_match_quirks(generated, loaded, pg_conn):
    _, manifest = generated
    reasons = dict(pg_conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
    for kind in QUARANTINED_KINDS:
        assert reasons.get(kind, 0) == manifest["quirk_totals"][kind], kind
    assert sum(reasons.values()) == sum(manifest["quirk_totals"][kind] for kind in QUARANTINED_KINDS)


def test_payment_samples_exact(generated, loaded, pg_conn):
    _, manifest = generated
    columns = {
        "payments_medicare": ("provider_type", "state", "medicare_paid", "medicare_allowed", "total_services", "total_beneficiaries"),
        "medicare_part_d": ("provider_type", "state", "total_drug_cost", "total_claims", "total_benes"),
        "payments_medicaid": ("payments", "claims", "beneficiaries"),
    }
    for table, names in columns.items():
        for sample in manifest["samples"][table]:
            row = pg_conn.execute(
                f"SELECT {', '.join(names)} FROM {table} WHERE npi = %s AND year = %s", (sample["npi"], sample["year"])
            ).fetchall()
            assert len(row) == 1, (table, sample)
            for name, value in zip(names, row[0]):
                expected = sample[name]
                if isinstance(expected, float):
                    assert float(value) == pytest.approx(expected, abs=0.005), (table, name, sample)
                else:
                    assert value == expected, (table, name, sample)


def test_provider_samples_exact(generated, loaded, pg_conn):
    _, manifest = generated
    for sample in manifest["samples"]["providers"]:
        row = pg_conn.execute(
            "SELECT display_name, taxonomy_1, state, entity_type_code FROM providers WHERE npi = %s", (sample["npi"],)
        ).fetchone()
        display_name, taxonomy, state, entity_type = row
        assert taxonomy == sample["taxonomy_1"]
        assert state == sample["state"]
        assert entity_type == sample["entity_type_code"]
        name_part = sample["last_name"] if sample["entity_type_code"] == 1 else sample["organization_name"]
        assert name_part in display_name


def test_exclusion_samples_exact(generated, loaded, pg_conn):
    _, manifest = generated
    for sample in manifest["samples"]["exclusions"]:
        rows = pg_conn.execute(
            "SELECT reinstated, excldate::text, reindate::text FROM exclusions "
            "WHERE npi IS NOT DISTINCT FROM %s AND state = %s AND coalesce(last_name, '') = %s "
            "AND coalesce(business_name, '') = %s AND excldate = %s::date",
            (sample["npi"], sample["state"], sample["last_name"] or "", sample["business_name"] or "", sample["excldate"]),
        ).fetchall()
        assert len(rows) >= 1, sample
        assert rows[0] == (sample["reinstated"], sample["excldate"], sample["reindate"])


def test_excluded_billing_marked_excluded(generated, loaded, pg_conn):
    out, _ = generated
    truth = pl.read_csv(out / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    excluded = truth.filter(pl.col("anomaly_type") == "excluded_still_billing")["npi"].to_list()
    flags = dict(pg_conn.execute("SELECT npi, is_excluded FROM providers WHERE npi = ANY(%s)", (excluded,)).fetchall())
    assert flags == {npi: True for npi in excluded}


def test_graph_csv_reads_back_equal(loaded, tmp_path):
    back = read_import_csv(tmp_path / "graph")
    for name, frame in back.canonical().__dict__.items():
        assert_frame_equal(frame, getattr(loaded.snapshot.canonical(), name), check_dtypes=True), name


def test_planted_ownership_detected(generated, loaded, pg_conn):
    out, _ = generated
    providers, _ = read_graph_inputs(pg_conn)
    features = chain_features_all(prepare_bulk(loaded.snapshot), providers, npi_ranges(1))
    truth = pl.read_csv(out / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    joined = truth.join(features, on="npi", how="left")
    owner = joined.filter(pl.col("anomaly_type") == "ownership_excluded_owner")
    sibling = joined.filter(pl.col("anomaly_type") == "ownership_excluded_sibling")
    assert owner.height >= 5
    assert owner["owner_excluded"].all()
    assert sibling.height >= 5
    # The excluded sibling is two OWNS edges away (facility <- operating company -> sibling): weight 0.5.
    assert (sibling["chain_excluded_count"] >= 1).all()
    assert (sibling["chain_excluded_weight"] == 0.5).all()
    assert not sibling["owner_excluded"].any()


def test_graph_report_counts_links(loaded):
    report = loaded.graph_report
    assert report.facilities == 60
    assert report.exclusion_links_by_npi >= 5  # one excluded sibling facility per planted chain
    assert report.exclusion_links_by_name_state >= 5  # one excluded operating company per planted chain
    assert report.owns_edges_above_facilities >= 3
    assert report.security_interest_rows_skipped >= 1


def test_neo4j_reads_back_equal(loaded, request):
    neo4j_graph = pytest.importorskip("claidex_assets.neo4j_graph")
    server = request.getfixturevalue("neo4j_server")
    driver = neo4j_graph.open_driver(server.uri, server.user, server.password, server.database)
    try:
        neo4j_graph.clear_graph(driver, database=server.database)
        neo4j_graph.write_graph(driver, loaded.snapshot, database=server.database)
        back = neo4j_graph.read_snapshot(driver, database=server.database)
    finally:
        driver.close()
    for name, frame in back.canonical().__dict__.items():
        assert_frame_equal(frame, getattr(loaded.snapshot.canonical(), name)), name


def test_cli_generate_and_load_graph(generated, pg_conn, postgres_url, tmp_path, monkeypatch, capsys):
    out, _ = generated
    monkeypatch.setenv("CLAIDEX_POSTGRES_URL", postgres_url)
    expected_counts = load_all(out, pg_conn, None).snapshot.row_counts()
    target = tmp_path / "cli"
    assert claidex_main(["generate", str(target), "--scale", "small", "--seed", "7"]) == 0
    assert (target / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()
    csv_dir = tmp_path / "graph-cli"
    code = claidex_main([
        "load-graph", "--owners", str(out / "SNF_All_Owners_2024.08.01.csv"),
        "--enrollments", str(out / "SNF_Enrollments_2024.08.01.csv"), "--csv-dir", str(csv_dir),
    ])
    assert code == 0
    assert read_import_csv(csv_dir).row_counts() == expected_counts
    assert "exclusion_links_by_name_state" in capsys.readouterr().out


def test_cli_load_graph_needs_neo4j_uri(generated, monkeypatch, capsys):
    out, _ = generated
    monkeypatch.delenv("NEO4J_URI", raising=False)
    code = claidex_main([
        "load-graph", "--owners", str(out / "SNF_All_Owners_2024.08.01.csv"),
        "--enrollments", str(out / "SNF_Enrollments_2024.08.01.csv"), "--neo4j",
    ])
    assert code == 2
    assert "NEO4J_URI is not set" in capsys.readouterr().err


def test_load_all_missing_folder(pg_conn, tmp_path):
    with pytest.raises(InputDataError, match="folder not found"):
        load_all(tmp_path / "absent", pg_conn, None)


def test_find_snf_files_missing(tmp_path):
    (tmp_path / "SNF_Enrollments_2024.08.01.csv").write_text("ENROLLMENT ID\n")
    with pytest.raises(InputDataError, match="no SNF All Owners file"):
        find_snf_files(tmp_path)


def test_cli_load_graph_writes_neo4j(generated, pg_conn, postgres_url, monkeypatch, request):
    neo4j_graph = pytest.importorskip("claidex_assets.neo4j_graph")
    server = request.getfixturevalue("neo4j_server")
    out, _ = generated
    expected = load_all(out, pg_conn, None).snapshot
    monkeypatch.setenv("CLAIDEX_POSTGRES_URL", postgres_url)
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    code = claidex_main([
        "load-graph", "--owners", str(out / "SNF_All_Owners_2024.08.01.csv"),
        "--enrollments", str(out / "SNF_Enrollments_2024.08.01.csv"), "--neo4j", "--replace",
    ])
    assert code == 0
    driver = neo4j_graph.open_driver(server.uri, server.user, server.password, server.database)
    try:
        back = neo4j_graph.read_snapshot(driver, database=server.database)
    finally:
        driver.close()
    for name, frame in back.canonical().__dict__.items():
        assert_frame_equal(frame, getattr(expected.canonical(), name)), name
