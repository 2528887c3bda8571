"""Benchmark the ownership graph storage: import CSV files and Neo4j over Bolt.

Builds a synthetic graph of national shape (1.78M providers, 100,000 corporate entities of
which 15,000 are SNFs, 300,000 OWNS edges, 80,000 exclusions) and prints medians over
``--repeat`` runs of:

- ``write_import_csv`` and ``read_import_csv`` at full scale, with the file sizes;
- on a Neo4j test server (full JIT, 2 GB heap, 512 MB page cache) with ``--neo4j-scale`` of
  the graph: ``write_graph``, ``read_snapshot``, ``graph_fingerprint`` and ``clear_graph``.

The process's peak RSS is printed at the end. Run from the repository root:

    .venv/bin/python benchmarks/bench_graph_storage.py                       # about 3-6 minutes
    .venv/bin/python benchmarks/bench_graph_storage.py --scale 0.1 --neo4j-scale 0.1 --repeat 1
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claidex_assets.neo4j_graph import (  # noqa: E402
    clear_graph,
    graph_fingerprint,
    open_driver,
    read_snapshot,
    write_graph,
)
from claidex_assets.ownership.import_csv import read_import_csv, write_import_csv  # noqa: E402
from claidex_assets.ownership.schema import GraphSnapshot  # noqa: E402
from claidex_assets_tests.neo4j_server import Neo4jServer  # noqa: E402

NATIONAL = {"providers": 1_780_000, "entities": 100_000, "snfs": 15_000, "owns": 300_000, "exclusions": 80_000}


def synthetic_graph(scale: float, seed: int = 7) -> GraphSnapshot:
    """Return a graph with the national counts times ``scale``; names contain commas and quotes."""
    rng = np.random.default_rng(seed)
    counts = {key: max(1, int(value * scale)) for key, value in NATIONAL.items()}
    counts["snfs"] = min(counts["snfs"], counts["entities"])

    providers = pl.DataFrame({"i": np.arange(counts["providers"])}).select(
        npi=pl.lit("1") + pl.col("i").cast(pl.Utf8).str.zfill(9),
        name=pl.format('Provider {}, "MD"', pl.col("i")),
    )
    snf_npis = providers["npi"].sample(counts["entities"], with_replacement=True, seed=seed)
    entities = pl.DataFrame({"i": np.arange(counts["entities"]), "snf_npi": snf_npis}).select(
        entity_id=pl.format("E{}", pl.col("i")),
        name=pl.format("Entity {}, LLC", pl.col("i")),
        entity_type=pl.when(pl.col("i") < counts["snfs"]).then(pl.lit("SNF")).otherwise(pl.lit("HOLDING")),
        npi=pl.when(pl.col("i") < counts["snfs"]).then(pl.col("snf_npi")),
    )
    exclusions = pl.DataFrame(
        {"i": np.arange(counts["exclusions"]), "reinstated": rng.random(counts["exclusions"]) < 0.1}
    ).select(exclusion_id=pl.format("X{}", pl.col("i")), reinstated=pl.col("reinstated"))
    provider_exclusions = pl.DataFrame(
        {
            "npi": providers["npi"].sample(min(counts["exclusions"], counts["providers"]), seed=seed + 1),
            "exclusion_id": exclusions["exclusion_id"].head(min(counts["exclusions"], counts["providers"])),
        }
    )
    entity_exclusion_count = max(1, min(counts["exclusions"], counts["entities"]) // 40)
    entity_exclusions = pl.DataFrame(
        {
            "entity_id": entities["entity_id"].sample(entity_exclusion_count, seed=seed + 2),
            "exclusion_id": exclusions["exclusion_id"].tail(entity_exclusion_count),
        }
    )
    owns = pl.DataFrame(
        {
            "owner": rng.integers(0, counts["entities"], counts["owns"]),
            "owned": rng.integers(0, counts["entities"], counts["owns"]),
        }
    ).select(owner_id=pl.format("E{}", pl.col("owner")), owned_id=pl.format("E{}", pl.col("owned")))
    return GraphSnapshot(
        providers=providers,
        entities=entities,
        exclusions=exclusions,
        provider_exclusions=provider_exclusions,
        entity_exclusions=entity_exclusions,
        owns=owns.unique(),
    )


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def bench_csv(graph: GraphSnapshot, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="claidex-bench-csv-") as folder:
        directory = Path(folder)
        write_s = median_seconds(lambda: write_import_csv(graph, directory), repeat)
        read_s = median_seconds(lambda: read_import_csv(directory), repeat)
        size_mb = sum(path.stat().st_size for path in directory.glob("*.csv")) / 1e6
        back = read_import_csv(directory)
    assert back.row_counts() == graph.row_counts()
    print(f"CSV  rows {graph.row_counts()}")
    print(f"CSV  write_import_csv median {write_s:.2f} s, read_import_csv median {read_s:.2f} s, {size_mb:.0f} MB")


def bench_neo4j(graph: GraphSnapshot, repeat: int) -> None:
    started = time.perf_counter()
    with Neo4jServer(heap="2g", page_cache="512m", jvm_options=()) as info:
        print(f"NEO4J server start {time.perf_counter() - started:.1f} s")
        driver = open_driver(info.uri, info.user, info.password, info.database)
        try:
            started = time.perf_counter()
            counts = write_graph(driver, graph)
            write_s = time.perf_counter() - started
            rewrite_s = median_seconds(lambda: write_graph(driver, graph), 1)
            read_s = median_seconds(lambda: read_snapshot(driver), repeat)
            fingerprint_ms = 1000 * median_seconds(lambda: graph_fingerprint(driver), 20)
            back = read_snapshot(driver)
            started = time.perf_counter()
            deleted = clear_graph(driver)
            clear_s = time.perf_counter() - started
        finally:
            driver.close()
    assert back.canonical().row_counts() == graph.canonical().row_counts()
    nodes = counts["nodes_created"]
    print(f"NEO4J rows {graph.row_counts()}")
    print(f"NEO4J write_graph {write_s:.1f} s ({nodes / write_s:,.0f} nodes/s), idempotent rewrite {rewrite_s:.1f} s")
    print(f"NEO4J read_snapshot median {read_s:.2f} s ({sum(back.row_counts().values()) / read_s:,.0f} rows/s)")
    print(f"NEO4J graph_fingerprint median {fingerprint_ms:.1f} ms, clear_graph {clear_s:.1f} s ({deleted} nodes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national graph for the CSV part")
    parser.add_argument("--neo4j-scale", type=float, default=0.1, help="fraction of the national graph for Neo4j")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timed step (median printed)")
    parser.add_argument("--skip-neo4j", action="store_true", help="time only the CSV files")
    args = parser.parse_args()

    bench_csv(synthetic_graph(args.scale), args.repeat)
    if not args.skip_neo4j:
        bench_neo4j(synthetic_graph(args.neo4j_scale), args.repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
