"""Postgres resource: the source tables, the quarantine and the published score table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
from pydantic import Field

from claidex_assets import postgres

URL_VARIABLE = "CLAIDEX_POSTGRES_URL"


class PostgresResource(dg.ConfigurableResource):
    """Connects to ``url``; when it is empty, to CLAIDEX_POSTGRES_URL, else to an embedded server."""

    url: str | None = Field(
        default=None,
        description=(
            "libpq URL such as postgresql://user:password@host:5432/claidex. Empty: use "
            "CLAIDEX_POSTGRES_URL, and when that is unset start an embedded PostgreSQL under data_dir."
        ),
    )
    data_dir: str = Field(default=".claidex", description="Folder of the embedded server's data (pgdata).")

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        if os.environ.get(URL_VARIABLE):
            return os.environ[URL_VARIABLE]
        return postgres.resolve_postgres_url(Path(self.data_dir))

    @contextmanager
    def connection(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """Open a connection that commits when the block succeeds and rolls back when it raises.

        With ``autocommit=True`` every ``conn.transaction()`` block is a real
        transaction of its own instead of a savepoint inside an outer one.
        """
        conn = postgres.connect(self.resolved_url(), autocommit=autocommit)
        try:
            yield conn
            if not autocommit:
                conn.commit()
        except BaseException:
            if not conn.closed and not autocommit:
                conn.rollback()
            raise
        finally:
            conn.close()
