"""End to end through a running `dagster dev`: full run, partition backfill, and the sensor's follow-up run.

The test drives the webserver's GraphQL API (what the UI calls) on a free
loopback port, with the daemon running the backfill and the sensor. Every
wait is bounded and names what it was waiting for when it gives up.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from claidex_assets import postgres
from claidex_assets.npi import partition_keys
from claidex_assets.sensors import SENSOR_NAME
from claidex_assets_tests.small_dataset import loaded_small_database

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
PARTITION_COUNT = 7
KEYS = partition_keys(PARTITION_COUNT)
JOB = "claidex_full_refresh"
STARTUP_TIMEOUT_S = 120
RUN_TIMEOUT_S = 180
DAGSTER_YAML = """\
telemetry:
  enabled: false
sensors:
  use_threads: true
  num_workers: 1
run_retries:
  enabled: false
"""
FINISHED_RUN_STATES = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(description: str, timeout_s: float, probe, interval_s: float = 1.0):
    """Call ``probe`` until it returns a truthy value; fail naming ``description`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {description}; last state: {last!r}")


class DagsterDev:
    """A `dagster dev` process group and a GraphQL client for its webserver."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        # No proxy: every request goes straight to the loopback server.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=REPOSITORY_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with self._opener.open(request, timeout=30) as response:
            payload = json.loads(response.read())
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]

    def try_query(self, text: str) -> dict | None:
        if self.process.poll() is not None:
            pytest.fail(f"dagster dev exited with code {self.process.returncode}:\n{self.log_tail()}")
        try:
            return self.query(text)
        except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError):
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


REPOSITORIES_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }
"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_QUERY = """
query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status tags { key value } } } }
"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_QUERY = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs { runId status tags { key value } } }
  }
}
"""
START_SENSOR = """
mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 10) { status skipReason runIds runKeys error { message } } } }
  }
}
"""


def tags_of(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def wait_for_run(dev: DagsterDev, run_id: str, what: str) -> dict:
    def finished():
        run = dev.query(RUN_QUERY, {"runId": run_id})["runOrError"]
        return run if run.get("status") in FINISHED_RUN_STATES else None

    run = wait_for(f"{what} (run {run_id}) to finish", RUN_TIMEOUT_S, finished, interval_s=2)
    assert run["status"] == "SUCCESS", f"{what} (run {run_id}) ended {run['status']}:\n{dev.log_tail()}"
    return run


@pytest.fixture(scope="module")
def source_database(postgres_server_url, tmp_path_factory):
    """A database loaded from the small generated dataset, and its graph CSV folder."""
    root = tmp_path_factory.mktemp("dagster-dev")
    with loaded_small_database(postgres_server_url, root, seed=5, prefix="claidex_dev") as loaded:
        yield loaded


@pytest.fixture
def dagster_dev(source_database, tmp_path):
    url, graph_dir = source_database
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CLAIDEX_DATA_DIR": str(tmp_path / "data"),
        "CLAIDEX_POSTGRES_URL": url,
        "CLAIDEX_GRAPH_CSV_DIR": str(graph_dir),
        "CLAIDEX_PARTITION_COUNT": str(PARTITION_COUNT),
        "CLAIDEX_LOCAL_WORKERS": "1",
        "CLAIDEX_SENSOR_INTERVAL_SECONDS": "5",
    }
    for name in ("NEO4J_URI", "CLAIDEX_COMPUTE_BACKEND"):
        env.pop(name, None)
    dev = DagsterDev(env, tmp_path / "dagster-dev.log")
    try:
        yield dev
    finally:
        dev.stop()


def test_ui_backfill_and_sensor_run(dagster_dev, source_database):
    dev = dagster_dev
    url, _ = source_database

    def loaded_repository():
        data = dev.try_query(REPOSITORIES_QUERY)
        nodes = (data or {}).get("repositoriesOrError", {}).get("nodes") or []
        return nodes[0] if nodes else None

    repository = wait_for("the code location to load", STARTUP_TIMEOUT_S, loaded_repository)
    location, repository_name = repository["location"]["name"], repository["name"]

    # 1. Materialize the whole graph: the job over the full partition range, as the UI's Launchpad sends it.
    # In-process execution saves starting one Python process per step, which dominates on the small dataset.
    range_tags = [
        {"key": "dagster/asset_partition_range_start", "value": KEYS[0]},
        {"key": "dagster/asset_partition_range_end", "value": KEYS[-1]},
    ]
    launched = dev.query(
        LAUNCH_RUN,
        {
            "params": {
                "selector": {"repositoryLocationName": location, "repositoryName": repository_name, "jobName": JOB},
                "runConfigData": {"execution": {"config": {"in_process": {}}}},
                "executionMetadata": {"tags": range_tags},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    wait_for_run(dev, launched["run"]["runId"], "the full materialization")

    # 2. Backfill three ownership partitions: a single-run backfill policy gives ONE run over the range.
    chosen = KEYS[2:5]
    backfill = dev.query(
        LAUNCH_BACKFILL,
        {"params": {"partitionNames": chosen, "assetSelection": [{"path": ["ownership_chain_features"]}]}},
    )["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

    def backfill_done():
        state = dev.query(BACKFILL_QUERY, {"id": backfill["backfillId"]})["partitionBackfillOrError"]
        runs = state["runs"]
        settled = runs and all(run["status"] in FINISHED_RUN_STATES for run in runs)
        return state if state["status"] not in ("REQUESTED", "CANCELING", "FAILING") and settled else None

    state = wait_for("the backfill to complete", RUN_TIMEOUT_S, backfill_done, interval_s=2)
    assert state["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), state
    assert len(state["runs"]) == 1, state["runs"]
    backfill_run = state["runs"][0]
    assert backfill_run["status"] == "SUCCESS"
    assert tags_of(backfill_run)["dagster/asset_partition_range_start"] == chosen[0]
    assert tags_of(backfill_run)["dagster/asset_partition_range_end"] == chosen[-1]

    # 3. Start the sensor (stopped by default) and wait for its baseline tick.
    selector = {"repositoryLocationName": location, "repositoryName": repository_name, "sensorName": SENSOR_NAME}
    started = dev.query(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor", started

    def ticks():
        return dev.query(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]

    def baseline_tick():
        for tick in ticks():
            assert tick["error"] is None, tick["error"]
            if "baseline" in (tick["skipReason"] or ""):
                return tick
        return None

    wait_for("the sensor's baseline tick", RUN_TIMEOUT_S, baseline_tick)

    # 4. Move one scored provider to another taxonomy; its peer group (and peer_taxonomy) must follow.
    with postgres.connect(url) as conn:
        npi, old_taxonomy = conn.execute(
            "SELECT s.npi, s.peer_taxonomy FROM provider_risk_scores s JOIN providers p USING (npi) "
            "ORDER BY s.npi LIMIT 1"
        ).fetchone()
        new_taxonomy = conn.execute(
            "SELECT taxonomy_1 FROM providers WHERE left(taxonomy_1, 10) <> %s "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            (old_taxonomy,),
        ).fetchone()[0]
        conn.execute("UPDATE providers SET taxonomy_1 = %s WHERE npi = %s", (new_taxonomy, npi))
        conn.commit()
    partition = next(key for key in KEYS if key.split("-")[0] <= npi <= key.split("-")[1])

    def requested_tick():
        for tick in ticks():
            assert tick["error"] is None, tick["error"]
            if tick["runIds"]:
                return tick
        return None

    tick = wait_for("the sensor to request a run", RUN_TIMEOUT_S, requested_tick)
    assert len(tick["runIds"]) == 1, tick
    assert tick["runKeys"][0].startswith(f"claidex-range-{partition}-{partition}-")
    sensor_run = wait_for_run(dev, tick["runIds"][0], "the sensor's run")
    assert tags_of(sensor_run)["dagster/asset_partition_range_start"] == partition
    assert tags_of(sensor_run)["dagster/asset_partition_range_end"] == partition

    with postgres.connect(url) as conn:
        peer_taxonomy, run_id = conn.execute(
            "SELECT peer_taxonomy, run_id FROM provider_risk_scores WHERE npi = %s", (npi,)
        ).fetchone()
    assert run_id == tick["runIds"][0]
    assert peer_taxonomy == new_taxonomy[:10]
    assert peer_taxonomy != old_taxonomy
