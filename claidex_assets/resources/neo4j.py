"""Ownership-graph resource: Neo4j over Bolt, or Neo4j import CSV files when no server is set."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from claidex_assets.ownership.import_csv import read_import_csv
from claidex_assets.ownership.schema import GraphSnapshot


class Neo4jResource(dg.ConfigurableResource):
    """Reads the ownership graph snapshot from Neo4j when ``uri`` is set, else from ``csv_dir``."""

    uri: str | None = Field(default=None, description="Bolt URI such as neo4j://host:7687 (NEO4J_URI).")
    user: str = Field(default="neo4j", description="Neo4j user (NEO4J_USER).")
    password: str | None = Field(default=None, description="Neo4j password (NEO4J_PASSWORD).")
    database: str | None = Field(default=None, description="Neo4j database; empty uses the server default (NEO4J_DATABASE).")
    csv_dir: str = Field(
        default=".claidex/graph",
        description="Folder of Neo4j import CSV files read when no uri is set (written by `claidex load-graph`).",
    )

    @property
    def uses_bolt(self) -> bool:
        return bool(self.uri)

    def describe(self) -> str:
        if self.uses_bolt:
            return f"Neo4j at {self.uri} (database {self.database or 'default'})"
        return f"Neo4j import CSV files in {self.csv_dir}"

    def read_snapshot(self) -> GraphSnapshot:
        if not self.uses_bolt:
            return read_import_csv(Path(self.csv_dir))
        from claidex_assets import neo4j_graph

        driver = neo4j_graph.open_driver(self.uri, self.user, self.password, self.database)
        try:
            return neo4j_graph.read_snapshot(driver, database=self.database)
        finally:
            driver.close()

    def fingerprint(self) -> str:
        """Return a cheap fingerprint of the graph for the source-change sensor."""
        if not self.uses_bolt:
            return _csv_fingerprint(Path(self.csv_dir))
        from claidex_assets import neo4j_graph

        driver = neo4j_graph.open_driver(self.uri, self.user, self.password, self.database)
        try:
            return neo4j_graph.graph_fingerprint(driver, database=self.database)
        finally:
            driver.close()


def _csv_fingerprint(directory: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.csv")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
