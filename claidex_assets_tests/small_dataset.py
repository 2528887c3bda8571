"""A throwaway database loaded from the small generated dataset, shared by the end-to-end tests."""

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from psycopg import sql

from claidex_assets import postgres
from claidex_assets.sources.generator import generate
from claidex_assets.sources.graph_build import load_all


@contextlib.contextmanager
def loaded_small_database(server_url: str, root: Path, seed: int, prefix: str) -> Iterator[tuple[str, Path]]:
    """Generate the small dataset under ``root``, load it into a new database and drop that database afterwards.

    Yields the database URL and the folder of the ownership graph CSV files.
    """
    generate(root / "files", scale="small", seed=seed)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with postgres.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = postgres.database_url(server_url, name)
    try:
        with postgres.connect(url) as conn:
            postgres.apply_schema(conn)
            load_all(root / "files", conn, root / "graph")
            conn.commit()
        yield url, root / "graph"
    finally:
        with postgres.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
