import subprocess
import sys

import dagster as dg

from claidex_assets.definitions import build_definitions
from claidex_assets.npi import DEFAULT_PARTITION_COUNT
from claidex_assets.settings import Settings

PIPELINE_ASSETS = {
    "provider_extract",
    "payment_extract",
    "exclusion_extract",
    "ownership_graph_snapshot",
    "ownership_chain_features",
    "peer_metrics",
    "component_scores",
    "calibrated_scores",
    "provider_risk_scores",
}
SOURCE_ASSETS = {
    "providers",
    "exclusions",
    "payments_medicaid",
    "payments_medicare",
    "medicare_part_d",
    "payments_combined_v",
    "ownership_graph",
}


def _keys(defs: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_definitions_declare_every_asset():
    defs = build_definitions(Settings())
    assert PIPELINE_ASSETS | SOURCE_ASSETS <= _keys(defs)


def test_features_partition_count_default():
    defs = build_definitions(Settings())
    features = defs.resolve_assets_def("ownership_chain_features")
    assert len(features.partitions_def.get_partition_keys()) == DEFAULT_PARTITION_COUNT
    assert features.backfill_policy == dg.BackfillPolicy.single_run()


def test_features_partition_count_setting():
    defs = build_definitions(Settings(partition_count=7))
    features = defs.resolve_assets_def("ownership_chain_features")
    assert len(features.partitions_def.get_partition_keys()) == 7


def test_source_assets_are_external():
    graph = build_definitions(Settings()).resolve_asset_graph()
    for name in SOURCE_ASSETS:
        assert not graph.get(dg.AssetKey(name)).is_materializable, name


def test_job_and_schedule_exist():
    defs = build_definitions(Settings())
    assert defs.resolve_job_def("claidex_full_refresh") is not None
    schedule = defs.resolve_schedule_def("claidex_weekly_refresh")
    assert schedule.cron_schedule == "0 3 * * 1"


def test_import_connects_to_nothing(tmp_path):
    # An unreachable database URL and Neo4j URI must not matter at import time.
    env = {
        "PATH": "/usr/bin:/bin",
        "CLAIDEX_POSTGRES_URL": "postgresql://nobody@127.0.0.1:1/none",
        "NEO4J_URI": "bolt://127.0.0.1:1",
        "CLAIDEX_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    code = "import claidex_assets.definitions as d; print(len(list(d.defs.resolve_asset_graph().get_all_asset_keys())))"
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert not (tmp_path / "data").exists()


def test_sensor_and_checks_exist():
    defs = build_definitions(Settings())
    sensor = defs.resolve_sensor_def("claidex_source_change_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    check_keys = {key.asset_key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert "provider_risk_scores" in check_keys
    assert "ownership_chain_features" in check_keys
