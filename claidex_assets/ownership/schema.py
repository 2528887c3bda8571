"""Frame schemas shared by the graph snapshot, its readers and writers, and the chain features.

The ownership graph in Neo4j has these nodes and relationships:

- ``(:Provider {npi, name})``
- ``(:CorporateEntity {entity_id, name, entityType, npi?})``; ``entityType = 'SNF'`` marks a facility
- ``(:Exclusion {exclusion_id, reinstated})``
- ``(:Provider)-[:EXCLUDED_BY]->(:Exclusion)`` and ``(:CorporateEntity)-[:EXCLUDED_BY]->(:Exclusion)``
- ``(:CorporateEntity)-[:OWNS]->(:CorporateEntity)`` from owner to owned

A :class:`GraphSnapshot` holds the whole graph as six polars frames, one per
node label or relationship type. This module imports no database driver.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

PROVIDER_NODES = {"npi": pl.Utf8, "name": pl.Utf8}
ENTITY_NODES = {"entity_id": pl.Utf8, "name": pl.Utf8, "entity_type": pl.Utf8, "npi": pl.Utf8}
EXCLUSION_NODES = {"exclusion_id": pl.Utf8, "reinstated": pl.Boolean}
PROVIDER_EXCLUDED_BY = {"npi": pl.Utf8, "exclusion_id": pl.Utf8}
ENTITY_EXCLUDED_BY = {"entity_id": pl.Utf8, "exclusion_id": pl.Utf8}
OWNS = {"owner_id": pl.Utf8, "owned_id": pl.Utf8}

SNAPSHOT_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "providers": PROVIDER_NODES,
    "entities": ENTITY_NODES,
    "exclusions": EXCLUSION_NODES,
    "provider_exclusions": PROVIDER_EXCLUDED_BY,
    "entity_exclusions": ENTITY_EXCLUDED_BY,
    "owns": OWNS,
}

# One row per provider NPI of a partition; the scoring engine reads this.
# chain_excluded_weight is the distance-weighted count of excluded chain
# providers (weight 1 at distance 0 or 1, 0.5 at distance 2 or more), and
# owner_excluded is True when the facility or an entity that directly OWNS it
# has an EXCLUDED_BY edge to an exclusion that is not reinstated.
OWNERSHIP_FEATURES = {
    "npi": pl.Utf8,
    "facility_id": pl.Utf8,
    "chain_provider_count": pl.Int64,
    "chain_excluded_count": pl.Int64,
    "chain_excluded_weight": pl.Float64,
    "owner_excluded": pl.Boolean,
}


def check_schema(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """Return ``frame`` restricted to ``schema``'s columns in order, or raise naming the bad column."""
    for column, dtype in schema.items():
        if column not in frame.columns:
            raise ValueError(
                f"{name}: missing column {column!r} (expected {dtype}); got columns {frame.columns}"
            )
        if frame.schema[column] != dtype and frame.schema[column] != pl.Null:
            raise TypeError(
                f"{name}: column {column!r} has type {frame.schema[column]}, expected {dtype}; "
                f"cast it before passing the frame"
            )
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


@dataclass(frozen=True)
class GraphSnapshot:
    """The ownership graph read once per run: one frame per node label or relationship type."""

    providers: pl.DataFrame
    entities: pl.DataFrame
    exclusions: pl.DataFrame
    provider_exclusions: pl.DataFrame
    entity_exclusions: pl.DataFrame
    owns: pl.DataFrame

    def __post_init__(self) -> None:
        for field in fields(self):
            checked = check_schema(getattr(self, field.name), SNAPSHOT_SCHEMAS[field.name], field.name)
            object.__setattr__(self, field.name, checked)

    @classmethod
    def empty(cls) -> "GraphSnapshot":
        return cls(**{name: pl.DataFrame(schema=schema) for name, schema in SNAPSHOT_SCHEMAS.items()})

    def canonical(self) -> "GraphSnapshot":
        """Return the same graph with every frame deduplicated and sorted, so two reads compare equal."""
        return GraphSnapshot(
            **{
                name: getattr(self, name).unique().sort(list(SNAPSHOT_SCHEMAS[name]), nulls_last=True)
                for name in SNAPSHOT_SCHEMAS
            }
        )

    def write_parquet(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in SNAPSHOT_SCHEMAS:
            getattr(self, name).write_parquet(directory / f"{name}.parquet")

    @classmethod
    def read_parquet(cls, directory: Path) -> "GraphSnapshot":
        return cls(**{name: pl.read_parquet(directory / f"{name}.parquet") for name in SNAPSHOT_SCHEMAS})

    def row_counts(self) -> dict[str, int]:
        return {name: getattr(self, name).height for name in SNAPSHOT_SCHEMAS}
