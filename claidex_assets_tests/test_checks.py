"""Asset checks against a published table from the small dataset, and against hand-corrupted copies."""

import os
import shutil
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claidex_assets import checks, postgres
from claidex_assets.assets.ownership import FEATURES_KEY
from claidex_assets.definitions import build_definitions
from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
from claidex_assets.npi import partition_keys
from claidex_assets.resources.parquet_io import partition_path
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.sensors import GLOBAL_ASSET_KEYS
from claidex_assets.settings import Settings
from claidex_assets_tests.small_dataset import loaded_small_database

PARTITION_COUNT = 7
BACKUP = "provider_risk_scores_backup"


@pytest.fixture(scope="module")
def published(postgres_server_url, tmp_path_factory):
    """The small dataset scored once into a fresh database; yields (url, data dir, instance, run result)."""
    root = tmp_path_factory.mktemp("checks")
    with loaded_small_database(postgres_server_url, root, seed=11, prefix="claidex_checks") as (url, _graph):
        yield from _publish_once(url, root)


def _publish_once(url, root):
    """Run the full job once against ``url`` and keep a backup of the published table."""
    settings = Settings(
        data_dir=str(root / "data"), partition_count=PARTITION_COUNT, local_workers=1, graph_csv_dir=str(root / "graph")
    )
    job = build_definitions(settings).resolve_job_def(FULL_JOB_NAME)
    previous = os.environ.get("CLAIDEX_POSTGRES_URL")
    os.environ["CLAIDEX_POSTGRES_URL"] = url
    try:
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(instance=instance, tags=partition_range_tags(partition_keys(PARTITION_COUNT)))
            assert result.success
            with postgres.connect(url) as conn:
                conn.execute(f"CREATE TABLE {BACKUP} AS SELECT * FROM provider_risk_scores")
                conn.commit()
            yield url, root / "data", instance, result
    finally:
        if previous is None:
            os.environ.pop("CLAIDEX_POSTGRES_URL", None)
        else:
            os.environ["CLAIDEX_POSTGRES_URL"] = previous


@pytest.fixture
def table(published):
    """The published database; every change a test makes to the score table or quarantine is undone afterwards."""
    url = published[0]
    conn = postgres.connect(url, autocommit=True)
    try:
        yield conn
    finally:
        conn.execute("DELETE FROM provider_risk_scores")
        conn.execute(f"INSERT INTO provider_risk_scores SELECT * FROM {BACKUP}")
        conn.execute("DELETE FROM quarantine WHERE run_id = 'test'")
        conn.close()


def resource(published) -> PostgresResource:
    return PostgresResource(url=published[0])


def high_score_npi(conn) -> str:
    return conn.execute("SELECT npi FROM provider_risk_scores WHERE risk_score >= 80 ORDER BY npi LIMIT 1").fetchone()[0]


def metadata(result: dg.AssetCheckResult) -> dict:
    return {key: getattr(value, "value", value) for key, value in result.metadata.items()}


# ---------------------------------------------------------------------------
# The published table passes


def test_run_evaluates_every_check(published):
    result = published[3]
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    expected = {(key.asset_key.to_user_string(), key.name) for key in _all_check_keys()}
    assert set(evaluations) == expected
    assert all(evaluations.values()), evaluations


def _all_check_keys():
    definitions = checks.build_asset_checks(dg.StaticPartitionsDefinition(partition_keys(PARTITION_COUNT)))
    return [key for definition in definitions for key in definition.check_keys]


def test_published_row_count_equals_payment_npis(published):
    # The scored population: every valid NPI with a payment row in the window, as the payment extract counted it.
    instance = published[2]
    payment_npis = checks._latest_row_count(instance, dg.AssetKey("payment_extract"), field="npi_count")
    calibrated = checks._latest_row_count(instance, checks.CALIBRATED_KEY)
    assert calibrated == payment_npis


def test_calibration_passes_published(published, table):
    result = checks.calibration_spread(postgres=resource(published))
    assert result.passed, result.description
    values = metadata(result)
    assert values["min_score"] == 0
    assert values["max_score"] == 100
    assert values["max_rank_deviation"] <= checks.RANK_TOLERANCE


# ---------------------------------------------------------------------------
# Corrupted tables fail with metadata that points at the rows


def test_score_above_100_fails(published, table):
    npi = high_score_npi(table)
    table.execute("UPDATE provider_risk_scores SET risk_score = 101 WHERE npi = %s", (npi,))
    result = checks.scores_within_0_100(postgres=resource(published))
    assert not result.passed
    assert metadata(result)["rows_out_of_range"] == {"risk_score": 1}
    assert metadata(result)["sample_npis"] == [npi]


def test_negative_component_fails(published, table):
    npi = high_score_npi(table)
    table.execute("UPDATE provider_risk_scores SET ownership_chain_risk = -0.5 WHERE npi = %s", (npi,))
    result = checks.scores_within_0_100(postgres=resource(published))
    assert not result.passed
    assert metadata(result)["rows_out_of_range"] == {"ownership_chain_risk": 1}


def test_nan_score_fails(published, table):
    npi = high_score_npi(table)
    table.execute("UPDATE provider_risk_scores SET r_raw = 'NaN', payment_trajectory_zscore = 'NaN' WHERE npi = %s", (npi,))
    result = checks.no_nan_or_infinity(postgres=resource(published))
    assert not result.passed
    assert metadata(result)["non_finite_rows"] == {"r_raw": 1, "payment_trajectory_zscore": 1}
    assert metadata(result)["sample_npis"] == [npi]


def test_missing_row_fails_count(published, table):
    npi = high_score_npi(table)
    table.execute("DELETE FROM provider_risk_scores WHERE npi = %s", (npi,))
    context = dg.build_asset_check_context(instance=published[2])
    result = checks.row_count_matches_scored_population(context, postgres=resource(published))
    assert not result.passed
    values = metadata(result)
    assert values["difference"] == -1
    assert values["published_rows"] == values["scored_population"] - 1
    # One row per NPI still holds: the primary key makes a duplicate impossible.
    assert checks.one_row_per_npi(postgres=resource(published)).passed


def test_count_without_materialization_fails(published, table):
    with dg.instance_for_test() as empty_instance:
        context = dg.build_asset_check_context(instance=empty_instance)
        result = checks.row_count_matches_scored_population(context, postgres=resource(published))
    assert not result.passed
    assert "no materialization" in result.description


def test_wrong_label_fails(published, table):
    npi = high_score_npi(table)
    table.execute("UPDATE provider_risk_scores SET risk_label = 'Low' WHERE npi = %s", (npi,))
    result = checks.labels_match_scores(postgres=resource(published))
    assert not result.passed
    assert metadata(result)["mismatched_rows"] == 1
    assert metadata(result)["sample_npis"] == [npi]


def test_shifted_scores_fail_calibration(published, table):
    # Adding 5 to every score below 95 breaks the minimum and the rank identity.
    table.execute("UPDATE provider_risk_scores SET risk_score = risk_score + 5 WHERE risk_score < 95")
    result = checks.calibration_spread(postgres=resource(published))
    assert not result.passed
    values = metadata(result)
    assert values["min_score"] == 5
    assert any("minimum risk_score is 5.0" in problem for problem in values["problems"])
    assert values["max_rank_deviation"] == 5


def test_missing_partition_file_fails(published, tmp_path):
    keys = partition_keys(PARTITION_COUNT)
    asset_dir = published[1] / "assets"
    stored = partition_path(asset_dir, FEATURES_KEY, keys[2])
    moved = shutil.move(stored, tmp_path / stored.name)
    try:
        result = checks.partition_files_result(asset_dir, keys)
    finally:
        shutil.move(moved, stored)
    assert not result.passed
    assert metadata(result)["missing_partitions"] == [keys[2]]
    assert checks.partition_files_result(asset_dir, keys).passed


def test_quarantine_over_share_warns(published, table):
    instance = published[2]
    rows_read = checks._latest_row_count(instance, dg.AssetKey("provider_extract"), field="rows_read")
    # 1% of rows_read is allowed; one row more than that plus a second reason must warn.
    over = int(rows_read * 0.01) + 1
    table.execute(
        "INSERT INTO quarantine (source, reason, run_id) "
        "SELECT 'extract:providers', CASE WHEN i = 1 THEN 'missing_required' ELSE 'invalid_npi' END, 'test' "
        "FROM generate_series(1, %s) AS i",
        (over,),
    )
    check = checks.build_quarantine_check("provider_extract", "extract:providers", 0.01)
    result = check(dg.build_asset_check_context(instance=instance), postgres=resource(published))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    values = metadata(result)
    assert values["rows_quarantined"] == over
    assert values["by_reason"] == {"invalid_npi": over - 1, "missing_required": 1}


# ---------------------------------------------------------------------------
# The sensor's run for a payments or exclusions change, on the published pipeline


def test_global_selection_run_reuses_partitions(published, table):
    url, data_dir, instance, _ = published
    settings = Settings(data_dir=str(data_dir), partition_count=PARTITION_COUNT, local_workers=1)
    job = build_definitions(settings).resolve_job_def(FULL_JOB_NAME)
    before = table.execute("SELECT count(*) FROM provider_risk_scores").fetchone()[0]
    # The request carries an asset selection and no partition tags, as the sensor sends it.
    result = job.execute_in_process(instance=instance, asset_selection=GLOBAL_ASSET_KEYS)
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == set(GLOBAL_ASSET_KEYS)
    assert FEATURES_KEY not in materialized
    run_ids = table.execute("SELECT DISTINCT run_id FROM provider_risk_scores").fetchall()
    assert run_ids == [(result.run_id,)]
    assert table.execute("SELECT count(*) FROM provider_risk_scores").fetchone()[0] == before


# ---------------------------------------------------------------------------
# calibration_findings on hand-made and generated score sets


def calibration_row(r_raw: list[float]) -> tuple[tuple, int, int, int]:
    """Score ``r_raw`` as PERCENT_RANK does and summarise it as the calibration query would."""
    n = len(r_raw)
    scores = []
    for value in r_raw:
        lower = sum(other < value for other in r_raw)
        exact = Decimal(100 * lower) / Decimal(n - 1) if n > 1 else Decimal(0)
        scores.append(float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)))
    counts = [sum(score >= threshold for score in scores) for threshold in checks.SPREAD_THRESHOLDS]
    largest_tie = max(r_raw.count(value) for value in r_raw)
    return (n, min(scores), max(scores), 0, *counts), len(set(r_raw)), largest_tie, r_raw.count(max(r_raw))


def test_findings_single_row_passes():
    row, distinct, tie, top = calibration_row([42.0])
    assert checks.calibration_findings(row, distinct, tie, top)[0] == []


def test_findings_constant_raw_passes():
    # Every r_raw equal: every score is 0, which PERCENT_RANK gives for a constant input.
    row, distinct, tie, top = calibration_row([7.5] * 20)
    assert row[1:3] == (0, 0)
    assert checks.calibration_findings(row, distinct, tie, top)[0] == []


def test_findings_max_below_100_fails():
    # n = 4 distinct values: scores 0, 33.33, 66.67, 100; a table whose top score is 90 is wrong.
    row = (4, 0, 90, 10, 3, 2, 2, 1, 0, 0)
    problems, _ = checks.calibration_findings(row, 4, 1, 1)
    assert "maximum risk_score is 90.0, expected 100.0 because 1 of 4 rows share the largest r_raw" in problems


def test_findings_tied_top_expects_lower_max():
    # r_raw 1, 2, 2: the two tied rows have 1 lower row of n - 1 = 2, so the maximum is 50.
    row, distinct, tie, top = calibration_row([1.0, 2.0, 2.0])
    assert row[2] == 50
    assert checks.calibration_findings(row, distinct, tie, top)[0] == []


@given(st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=300))
def test_findings_accept_any_percent_rank(values):
    # Small integers make large tie groups, the hard case for the share tolerance.
    row, distinct, tie, top = calibration_row([float(v) for v in values])
    assert checks.calibration_findings(row, distinct, tie, top)[0] == []
