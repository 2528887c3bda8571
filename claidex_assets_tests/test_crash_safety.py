"""SIGKILL during publishing or scoring leaves ``provider_risk_scores`` as one complete result.

The publish tests run ``publish_scores`` in a child process (this module run
with ``python -m``) against a real Postgres database that holds a previous
result, and kill the child with SIGKILL at every checkpoint of the publish
and at random moments while COPY streams. After each kill the whole table is
compared with the previous and the new result, and the next publish must
succeed. The compute test kills a whole in-process job run while the
ownership features and the scores are being computed.
"""

from __future__ import annotations

import datetime
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from psycopg import sql

from claidex_assets import postgres
from claidex_assets.assets.publish import PUBLISHED_COLUMNS, STAGING_TABLE, publish_scores
from claidex_assets.npi import make_npi
from claidex_assets.sources.generator import generate
from claidex_assets.sources.graph_build import load_all
from claidex_assets_tests.assets.test_pipeline import run_full_refresh

CHILD_MODULE = "claidex_assets_tests.test_crash_safety"
# Each result fits in many small COPY chunks, so kills land between chunks.
CHUNK_ROWS = 150
OLD_ROWS = 2_600
NEW_ROWS = 2_100
# The random-time kills: seeds are fixed so a failure can be replayed.
RANDOM_KILLS = 6
RANDOM_SEED = 20261204
# Seconds the child waits after each COPY chunk in the random-time runs, so
# COPY streams for about 14 chunks x 30 ms and a random kill lands inside it.
CHUNK_PAUSE_S = 0.03
CHILD_TIMEOUT_S = 120

# One row per table content: row count, run ids, and a digest of every column of every row.
SIGNATURE_QUERY = """
SELECT count(*), min(run_id), max(run_id),
       md5(coalesce(string_agg(t::text, '|' ORDER BY t.npi), ''))
FROM provider_risk_scores AS t
"""
STAGING_EXISTS_QUERY = "SELECT to_regclass(%s) IS NOT NULL"


def synthetic_scores(npis: list[str], run_id: str, updated_at: datetime.datetime) -> pl.DataFrame:
    """Build a published-shape frame for ``npis`` whose values depend on the NPI and the run id.

    The frame has every column of the table with the types the scoring
    engine hands to the publish step: lists for the years and flags, a
    struct for the components.
    """
    count = len(npis)
    seed = sum(ord(character) for character in run_id)
    scores = [round((index * 37 + seed) % 10_000 / 100, 2) for index in range(count)]
    return pl.DataFrame(
        {
            "npi": npis,
            "risk_score": scores,
            "risk_label": ["High" if score >= 80 else "Low" for score in scores],
            "r_raw": [round(score / 100, 4) for score in scores],
            "billing_outlier_score": scores,
            "billing_outlier_percentile": scores,
            "ownership_chain_risk": [0.0] * count,
            "payment_trajectory_score": scores,
            "payment_trajectory_zscore": [round(score / 50 - 1, 4) for score in scores],
            "exclusion_proximity_score": [0.0] * count,
            "program_concentration_score": scores,
            "peer_taxonomy": ["207R00000X"] * count,
            "peer_state": ["TX"] * count,
            "peer_count": [count] * count,
            "data_window_years": [[2019, 2020, 2021, 2022, 2023]] * count,
            "top_program": ["Medicare"] * count,
            "chain_excluded_count": [0] * count,
            "flags": [[f"flag of {run_id}"] if score >= 80 else [] for score in scores],
            "components": [{"billing_outlier": score, "run": run_id} for score in scores],
            "methodology_version": ["test"] * count,
            "run_id": [run_id] * count,
            "updated_at": [updated_at] * count,
        },
        schema_overrides={"updated_at": pl.Datetime("us", "UTC"), "peer_count": pl.Int32},
    ).select(PUBLISHED_COLUMNS)


def old_and_new_results() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two results whose NPI sets overlap: the new one drops 800 old NPIs and adds 300 new ones."""
    old_npis = [make_npi(100_000_000 + index) for index in range(OLD_ROWS)]
    # Old NPIs 800..2599 stay, 300 NPIs above the old range are added: 1,800 + 300 = 2,100 rows.
    new_npis = old_npis[800:] + [make_npi(100_000_000 + OLD_ROWS + index) for index in range(300)]
    assert len(new_npis) == NEW_ROWS
    old = synthetic_scores(old_npis, "run-A", datetime.datetime(2026, 1, 5, 12, tzinfo=datetime.UTC))
    new = synthetic_scores(new_npis, "run-B", datetime.datetime(2026, 1, 12, 12, tzinfo=datetime.UTC))
    return old, new


def table_signature(url: str) -> tuple:
    with postgres.connect(url) as conn:
        return conn.execute(SIGNATURE_QUERY).fetchone()


def staging_exists(url: str) -> bool:
    with postgres.connect(url) as conn:
        return conn.execute(STAGING_EXISTS_QUERY, (STAGING_TABLE,)).fetchone()[0]


def publish_in_process(url: str, rows: pl.DataFrame) -> tuple:
    with postgres.connect(url, autocommit=True) as conn:
        publish_scores(conn, rows, chunk_rows=CHUNK_ROWS)
    return table_signature(url)


def publish_steps(row_count: int) -> list[str]:
    """Every checkpoint name ``publish_scores`` passes for ``row_count`` rows, in order."""
    chunks = -(-row_count // CHUNK_ROWS)
    return ["staging_created", *[f"copied_chunk_{index}" for index in range(chunks)],
            "staged", "deleted", "inserted", "published"]  # fmt: skip


class PublishChild:
    """A child process that publishes a Parquet file of rows once it reads ``go``, printing each checkpoint.

    The child imports everything and reads the rows first, then prints
    ``ready`` and waits for a line on stdin, so the parent can start the next
    child while it kills the current one.
    """

    def __init__(self, url: str, rows_path: Path, pause_at: str | None, chunk_pause_s: float = 0.0) -> None:
        command = [sys.executable, "-m", CHILD_MODULE, url, str(rows_path), str(CHUNK_ROWS),
                   pause_at or "", str(chunk_pause_s)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.steps: list[str] = []

    def wait_ready(self) -> None:
        line = self._read_line()
        assert line == "ready", f"publish child did not start: {line!r}"

    def start(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def read_until(self, step: str) -> None:
        while step not in self.steps:
            line = self._read_line()
            assert line, f"publish child exited before {step}; it passed {self.steps}"
            self.steps.append(line)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=CHILD_TIMEOUT_S)
        assert self.process.stdout is not None
        # Checkpoints printed before the kill but not yet read.
        self.steps.extend(line.strip() for line in self.process.stdout.read().splitlines() if line.strip())
        self.process.stdin.close()
        self.process.stdout.close()

    def _read_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()


@pytest.fixture
def results_on_disk(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame, Path]:
    old, new = old_and_new_results()
    new_path = tmp_path / "new.parquet"
    new.write_parquet(new_path)
    return old, new, new_path


def test_publish_killed_at_every_checkpoint(postgres_url: str, results_on_disk) -> None:
    old, new, new_path = results_on_disk
    with postgres.connect(postgres_url) as conn:
        postgres.apply_schema(conn)
    new_signature = publish_in_process(postgres_url, new)
    old_signature = publish_in_process(postgres_url, old)
    assert new_signature[:3] == (NEW_ROWS, "run-B", "run-B")
    assert old_signature[:3] == (OLD_ROWS, "run-A", "run-A")

    steps = publish_steps(NEW_ROWS)
    # 2,100 rows in chunks of 150: 14 chunks, plus 5 named steps.
    assert len(steps) == 19
    next_child = PublishChild(postgres_url, new_path, steps[0])
    for position, step in enumerate(steps):
        child = next_child
        if position + 1 < len(steps):
            next_child = PublishChild(postgres_url, new_path, steps[position + 1])
        child.wait_ready()
        child.start()
        child.read_until(step)
        child.kill()

        # Only a committed swap publishes the new rows; every earlier kill rolls back.
        expected = new_signature if step == "published" else old_signature
        assert table_signature(postgres_url) == expected, f"table after a kill at {step}"
        # The staging table survives only a kill between its commit and the swap's commit.
        assert staging_exists(postgres_url) == (step in ("staged", "deleted", "inserted")), step

        # The next publish succeeds over whatever the kill left, then the old result is restored.
        assert publish_in_process(postgres_url, new) == new_signature, f"publish after a kill at {step}"
        assert not staging_exists(postgres_url)
        assert publish_in_process(postgres_url, old) == old_signature


def test_publish_killed_at_random_times(postgres_url: str, results_on_disk) -> None:
    old, new, new_path = results_on_disk
    with postgres.connect(postgres_url) as conn:
        postgres.apply_schema(conn)
    new_signature = publish_in_process(postgres_url, new)
    old_signature = publish_in_process(postgres_url, old)

    chooser = random.Random(RANDOM_SEED)
    # 14 chunks x 30 ms pause: COPY streams for at least 0.42 s after staging_created.
    delays = [chooser.uniform(0.0, 0.42) for _ in range(RANDOM_KILLS)]
    landed = []
    next_child = PublishChild(postgres_url, new_path, None, CHUNK_PAUSE_S)
    for position, delay in enumerate(delays):
        child = next_child
        if position + 1 < len(delays):
            next_child = PublishChild(postgres_url, new_path, None, CHUNK_PAUSE_S)
        child.wait_ready()
        child.start()
        child.read_until("staging_created")
        time.sleep(delay)
        child.kill()
        last_step = child.steps[-1]
        landed.append(last_step)

        signature = table_signature(postgres_url)
        assert signature in (old_signature, new_signature), f"mixed table after a kill past {last_step}"
        if "published" not in child.steps:
            assert signature == old_signature, f"table changed before the swap committed ({last_step})"
        assert publish_in_process(postgres_url, new) == new_signature
        assert publish_in_process(postgres_url, old) == old_signature
    # Most random kills land while COPY streams (the child passed staging_created but not staged).
    assert sum(step.startswith("copied_chunk_") or step == "staging_created" for step in landed) >= 1, landed


# Log lines of the job run at which the compute test kills it: the line a
# step prints when it starts, or a progress line of the ownership features.
COMPUTE_KILL_MARKERS = (
    " - ownership_chain_features - STEP_START - ",
    "ownership features: 1/",
    " - peer_metrics - STEP_START - ",
    " - calibrated_scores - STEP_START - ",
)
COMPUTE_PARTITIONS = 7


@pytest.fixture(scope="module")
def small_dataset(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A database loaded from the small generated dataset, and its graph CSV folder."""
    root = tmp_path_factory.mktemp("crash-dataset")
    generate(root / "source-files", scale="small", seed=11)
    name = f"claidex_crash_{uuid.uuid4().hex[:10]}"
    with postgres.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = postgres.database_url(postgres_server_url, name)
    with postgres.connect(url) as conn:
        postgres.apply_schema(conn)
        load_all(root / "source-files", conn, root / "graph")
        conn.commit()
    yield url, root / "graph"
    with postgres.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def kill_job_at(url: str, graph_dir: Path, data_dir: Path, marker: str) -> list[str]:
    """Run the full job in a child process group, SIGKILL the group at the first log line with ``marker``.

    Returns the lines the run printed. The child's process pool workers are
    in its process group, so they die with it.
    """
    command = [sys.executable, "-m", CHILD_MODULE, "job", url, str(graph_dir), str(data_dir), str(COMPUTE_PARTITIONS)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
    )
    lines: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            lines.append(line.rstrip())
            if marker in line:
                os.killpg(process.pid, signal.SIGKILL)
                break
        else:
            pytest.fail(f"the job run ended before printing {marker!r}; last lines: {lines[-5:]}")
        process.wait(timeout=CHILD_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=CHILD_TIMEOUT_S)
        process.stdout.close()
    return lines


def published_without_lineage(url: str) -> pl.DataFrame:
    with postgres.connect(url) as conn:
        table = postgres.copy_query_out(conn, "SELECT * FROM provider_risk_scores ORDER BY npi")
    return table.drop("run_id", "updated_at")


def test_job_killed_during_compute(small_dataset, tmp_path: Path) -> None:
    url, graph_dir = small_dataset
    data_dir = tmp_path / "data"
    first = run_full_refresh(url, graph_dir, data_dir, COMPUTE_PARTITIONS)
    previous_signature = table_signature(url)
    assert previous_signature[1] == previous_signature[2] == first.run_id
    previous_rows = published_without_lineage(url)

    for marker in COMPUTE_KILL_MARKERS:
        # A fresh data folder each time, so no stored partition lets the run skip the compute.
        kill_job_at(url, graph_dir, tmp_path / f"killed-{COMPUTE_KILL_MARKERS.index(marker)}", marker)
        assert table_signature(url) == previous_signature, f"table changed by a run killed at {marker!r}"
        assert not staging_exists(url), marker

    # The next run over the same data succeeds and publishes the same scores under its own run id.
    second = run_full_refresh(url, graph_dir, data_dir, COMPUTE_PARTITIONS)
    signature = table_signature(url)
    assert signature[0] == previous_signature[0]
    assert signature[1] == signature[2] == second.run_id
    assert published_without_lineage(url).equals(previous_rows)


def _job_child_main(argv: list[str]) -> int:
    url, graph_dir, data_dir, partition_count = argv
    import dagster as dg

    from claidex_assets.definitions import build_definitions
    from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
    from claidex_assets.npi import partition_keys
    from claidex_assets.settings import Settings

    os.environ["CLAIDEX_POSTGRES_URL"] = url
    settings = Settings(
        data_dir=data_dir, partition_count=int(partition_count), local_workers=2, graph_csv_dir=graph_dir
    )
    job = build_definitions(settings).resolve_job_def(FULL_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, tags=partition_range_tags(partition_keys(int(partition_count)))
        )
    return 0 if result.success else 1


def _child_main(argv: list[str]) -> int:
    url, rows_path, chunk_rows, pause_at, chunk_pause_s = argv
    rows = pl.read_parquet(rows_path)
    pause = float(chunk_pause_s)
    conn = postgres.connect(url, autocommit=True)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1

    def checkpoint(step: str) -> None:
        print(step, flush=True)
        if step == pause_at:
            time.sleep(CHILD_TIMEOUT_S)  # the parent kills the process here
        elif pause and step.startswith("copied_chunk_"):
            time.sleep(pause)

    publish_scores(conn, rows, chunk_rows=int(chunk_rows), checkpoint=checkpoint)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "job":
        sys.exit(_job_child_main(sys.argv[2:]))
    sys.exit(_child_main(sys.argv[1:]))
