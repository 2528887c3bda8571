"""Source fingerprints and the run plan of the source-change sensor, without Dagster.

A fingerprint is ``"<row count>:<sum of 64-bit row hashes>"`` over the columns
the extracts read, so reloading identical rows (new ``loaded_at``) changes
nothing. ``providers`` is fingerprinted per NPI-range partition, the other
source tables as a whole, and the graph by ``Neo4jResource.fingerprint()``.
:func:`plan_runs` compares two sets of fingerprints and returns the runs that
bring the scores up to date.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from claidex_assets.npi import npi_ranges

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
EMPTY = "0:0"
# Providers rows whose NPI is not 10 digits starting with 1 or 2 fall in no
# partition; they are fingerprinted together under this name.
INVALID_NPI_BUCKET = "invalid_npi"

# Columns each extract reads; a change to any other column (source_file,
# loaded_at) cannot change a score.
PROVIDER_COLUMNS = ("npi", "display_name", "taxonomy_1", "state", "is_excluded", "entity_type_code")
TABLE_COLUMNS = {
    "payments_medicaid": ("npi", "year", "payments", "claims", "beneficiaries"),
    "payments_medicare": (
        "npi", "year", "provider_type", "state", "medicare_paid", "medicare_allowed",
        "total_services", "total_beneficiaries",
    ),
    "medicare_part_d": ("npi", "year", "provider_type", "state", "total_drug_cost", "total_claims", "total_benes"),
    "exclusions": ("exclusion_id", "npi", "excldate", "reindate", "reinstated"),
}

ALL_PARTITIONS = "all_partitions"
PARTITION_RANGE = "partition_range"
GLOBAL_ASSETS = "global_assets"


@dataclass(frozen=True)
class SourceFingerprints:
    """Fingerprints of every source at one moment.

    ``provider_ranges`` maps a partition key to the fingerprint of the
    providers rows in that NPI range; empty ranges are left out.
    """

    partition_keys: tuple[str, ...]
    provider_ranges: dict[str, str]
    invalid_providers: str
    tables: dict[str, str]
    graph: str


@dataclass(frozen=True)
class SensorCursor:
    """Sensor cursor: the last fingerprints and a change counter.

    ``generation`` counts the evaluations that requested runs. It is part of
    each run key, so data that changes back to an earlier state still gets a run.
    """

    fingerprints: SourceFingerprints
    generation: int = 0

    def to_json(self) -> str:
        fp = self.fingerprints
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "generation": self.generation,
                "partition_keys": list(fp.partition_keys),
                "providers": fp.provider_ranges,
                INVALID_NPI_BUCKET: fp.invalid_providers,
                "tables": fp.tables,
                "graph": fp.graph,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> SensorCursor | None:
        """Parse a stored cursor; return None for an empty, unreadable or older-format cursor."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("version") != CURSOR_VERSION:
                log.warning("ignoring sensor cursor of version %s; expected %s", data.get("version"), CURSOR_VERSION)
                return None
            fingerprints = SourceFingerprints(
                partition_keys=tuple(data["partition_keys"]),
                provider_ranges=dict(data["providers"]),
                invalid_providers=data[INVALID_NPI_BUCKET],
                tables=dict(data["tables"]),
                graph=data["graph"],
            )
            return cls(fingerprints=fingerprints, generation=int(data["generation"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable sensor cursor (%s): %.200s", exc, text)
            return None


@dataclass(frozen=True)
class PlannedRun:
    """One run the sensor requests.

    ``partition_keys`` is the contiguous block of ownership partitions to
    recompute; it is empty for a run of the global assets only.
    """

    kind: str
    partition_keys: tuple[str, ...]
    run_key: str
    reason: str


@dataclass(frozen=True)
class RunPlan:
    runs: list[PlannedRun] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def _row_hash_sql(columns: Sequence[str]) -> str:
    # ROW(...)::text keeps NULL apart from the empty string; hashtextextended
    # gives a 64-bit hash, and the sum (NUMERIC, no overflow) ignores row order.
    row = ", ".join(columns)
    return f"count(*), COALESCE(sum(hashtextextended(ROW({row})::text, 0)), 0)"


def provider_range_query(partition_count: int) -> tuple[str, list[int]]:
    """Return the query grouping providers by partition index (0: invalid NPI), and its lower bounds."""
    lows = [npi_range.low for npi_range in npi_ranges(partition_count)]
    query = (
        "SELECT CASE WHEN npi ~ '^[12][0-9]{9}$' THEN width_bucket(npi::bigint, %s::bigint[]) ELSE 0 END AS bucket, "
        f"{_row_hash_sql(PROVIDER_COLUMNS)} FROM providers GROUP BY 1"
    )
    return query, lows


def table_query(table: str) -> str:
    return f"SELECT {_row_hash_sql(TABLE_COLUMNS[table])} FROM {table}"


def read_provider_fingerprints(conn: psycopg.Connection, partition_keys: Sequence[str]) -> tuple[dict[str, str], str]:
    """Fingerprint providers per NPI range; return ``({partition key: fp}, fp of invalid-NPI rows)``."""
    query, lows = provider_range_query(len(partition_keys))
    ranges: dict[str, str] = {}
    invalid = EMPTY
    for bucket, count, total in conn.execute(query, (lows,)).fetchall():
        value = f"{count}:{total}"
        if bucket == 0:
            invalid = value
        else:
            ranges[partition_keys[bucket - 1]] = value
    return ranges, invalid


def read_table_fingerprint(conn: psycopg.Connection, table: str) -> str:
    count, total = conn.execute(table_query(table)).fetchone()
    return f"{count}:{total}"


def read_source_fingerprints(
    conn: psycopg.Connection, partition_keys: Sequence[str], graph: str, statement_timeout_s: float = 45.0
) -> SourceFingerprints:
    """Fingerprint every source table in one read-only transaction, so all see the same snapshot.

    ``conn`` must be in autocommit mode, so the block below is a transaction
    of its own. ``statement_timeout_s`` bounds each query, so a slow
    database makes the evaluation fail instead of overrunning the sensor's
    time limit.
    """
    if not conn.autocommit:
        raise ValueError("read_source_fingerprints needs a connection in autocommit mode (connect(url, autocommit=True))")
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_s * 1000)}")
        ranges, invalid = read_provider_fingerprints(conn, partition_keys)
        tables = {table: read_table_fingerprint(conn, table) for table in TABLE_COLUMNS}
    return SourceFingerprints(tuple(partition_keys), ranges, invalid, tables, graph)


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def contiguous_blocks(changed: Sequence[str], partition_keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Group changed partition keys into runs of neighbours in ``partition_keys`` order."""
    position = {key: index for index, key in enumerate(partition_keys)}
    blocks: list[list[str]] = []
    previous = None
    for key in sorted(changed, key=position.__getitem__):
        if previous is not None and position[key] == previous + 1:
            blocks[-1].append(key)
        else:
            blocks.append([key])
        previous = position[key]
    return [tuple(block) for block in blocks]


def plan_runs(previous: SensorCursor, current: SourceFingerprints) -> RunPlan:
    """Return the runs that bring the scores from ``previous`` fingerprints up to ``current``.

    - graph changed, or the partition layout changed: one run over every partition;
    - providers changed in some NPI ranges: one run per contiguous block of
      changed ranges (each run also reruns the extracts, scoring and publish);
    - otherwise payments, exclusions or invalid-NPI providers rows changed: one
      run of the global assets that leaves the ownership partitions alone;
    - nothing changed: no run.
    """
    before = previous.fingerprints
    generation = previous.generation + 1
    keys = current.partition_keys

    if before.partition_keys != keys or before.graph != current.graph:
        cause = "ownership_graph" if before.graph != current.graph else "partition layout"
        run_key = f"claidex-all-{generation}-{_digest([current.graph, current.provider_ranges, current.tables])}"
        reason = f"{cause} changed: recompute all {len(keys)} ownership partitions"
        return RunPlan([PlannedRun(ALL_PARTITIONS, tuple(keys), run_key, reason)], [cause])

    changed_ranges = [
        key for key in keys if before.provider_ranges.get(key, EMPTY) != current.provider_ranges.get(key, EMPTY)
    ]
    changed_tables = [table for table in TABLE_COLUMNS if before.tables.get(table) != current.tables.get(table)]
    changed = list(changed_tables)
    if before.invalid_providers != current.invalid_providers:
        changed.append("providers (rows with an invalid NPI)")

    if changed_ranges:
        changed.insert(0, f"providers ({len(changed_ranges)} NPI ranges)")
        runs = []
        for block in contiguous_blocks(changed_ranges, keys):
            fingerprints = [current.provider_ranges.get(key, EMPTY) for key in block]
            run_key = f"claidex-range-{block[0]}-{block[-1]}-{generation}-{_digest([fingerprints, current.tables])}"
            reason = f"providers changed in {len(block)} NPI range(s) {block[0]}..{block[-1]}"
            runs.append(PlannedRun(PARTITION_RANGE, block, run_key, reason))
        return RunPlan(runs, changed)

    if changed:
        run_key = f"claidex-global-{generation}-{_digest([current.tables, current.invalid_providers])}"
        reason = f"{', '.join(changed)} changed: rerun extracts, scoring and publish"
        return RunPlan([PlannedRun(GLOBAL_ASSETS, (), run_key, reason)], changed)

    return RunPlan([], [])
