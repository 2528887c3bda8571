"""Benchmark the scoring engine on a national-shaped synthetic population.

The generator builds, with vectorised numpy, about 1.78M providers and about
11M provider-year-program payment rows over five years and three programs,
with lognormal amounts and a few hundred taxonomy/state groups. The inputs are
written once to Parquet. Every repeat runs in a fresh child process that
reads them and times ``score_providers`` alone, so the figures leave out the
generator. Peak RSS includes the loaded inputs (about 1.2 GiB).

Run from the repository root:

    .venv/bin/python benchmarks/bench_scoring.py --repeat 3
    .venv/bin/python benchmarks/bench_scoring.py --small
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claidex_assets.sources.generator_population import npi_check_digits  # noqa: E402

PROGRAMS = np.array(["Medicaid", "Medicare", "MedicarePartD"])
FIRST_YEAR = 2020
YEARS = 5


def generate_inputs(provider_count: int, seed: int = 7) -> dict[str, pl.DataFrame]:
    """Build payments, providers, exclusions and ownership features frames."""
    rng = np.random.default_rng(seed)
    n = provider_count

    stems = 100_000_000 + np.arange(n, dtype=np.int64) * 50 + rng.integers(0, 50, n)
    npi_numbers = stems * 10 + npi_check_digits(stems)
    npis = pl.Series("npi", npi_numbers).cast(pl.Utf8)

    taxonomy_codes = np.array([f"{200 + i:03d}Q0{i % 10}000X" for i in range(30)])
    state_codes = np.array([f"S{i:02d}" for i in range(50)])
    taxonomy_weights = 1.0 / np.arange(1, 31) ** 1.1
    state_weights = 1.0 / np.arange(1, 51) ** 1.0
    taxonomy_index = rng.choice(30, n, p=taxonomy_weights / taxonomy_weights.sum())
    state_index = rng.choice(50, n, p=state_weights / state_weights.sum())

    # Active years: a contiguous span, most providers present through the last year.
    start = rng.choice(5, n, p=[0.55, 0.13, 0.11, 0.11, 0.10])
    end = np.where(rng.random(n) < 0.85, 4, start + (rng.random(n) * (5 - start)).astype(np.int64))
    year_offsets = np.arange(YEARS)
    year_active = (year_offsets >= start[:, None]) & (year_offsets <= end[:, None])
    # A few providers skip a year in the middle of their span.
    gap_year = rng.integers(0, YEARS, n)
    has_gap = (rng.random(n) < 0.05) & (gap_year > start) & (gap_year < end)
    year_active[np.arange(n)[has_gap], gap_year[has_gap]] = False

    program_count = rng.choice([1, 2, 3], n, p=[0.45, 0.35, 0.20])
    program_order = np.argsort(rng.random((n, 3)), axis=1)
    program_active = np.argsort(program_order, axis=1) < program_count[:, None]

    active = year_active[:, :, None] & program_active[:, None, :]
    provider_row, year_row, program_row = np.nonzero(active)
    rows = provider_row.shape[0]

    provider_scale = rng.lognormal(0.0, 0.6, n)
    claims = np.round(rng.lognormal(5.0, 1.3, rows) * provider_scale[provider_row])
    price = rng.lognormal(4.0, 0.8, rows)
    payments = np.round(claims * price, 2)
    beneficiaries = np.maximum(1.0, np.round(claims / rng.lognormal(1.0, 0.5, rows)))

    # Providers known to the providers table carry its taxonomy and state in
    # the view; a fifth of the other rows have neither ('Unknown').
    known = rng.random(n) < 0.97
    unknown_rows = pl.Series(~known[provider_row] & (rng.random(rows) < 0.2))
    taxonomy_by_provider = pl.Series(taxonomy_codes).gather(taxonomy_index)
    state_by_provider = pl.Series(state_codes).gather(state_index)
    row_labels = pl.DataFrame(
        {
            "unknown": unknown_rows,
            "taxonomy": taxonomy_by_provider.gather(provider_row),
            "state": state_by_provider.gather(provider_row),
        }
    ).select(
        pl.when("unknown").then(pl.lit("Unknown")).otherwise(pl.col("taxonomy")).alias("taxonomy"),
        pl.when("unknown").then(pl.lit("Unknown")).otherwise(pl.col("state")).alias("state"),
    )

    payments_frame = pl.DataFrame(
        {
            "npi": npis.gather(provider_row),
            "year": (FIRST_YEAR + year_row).astype(np.int32),
            "program": pl.Series(PROGRAMS).gather(program_row),
            "payments": payments,
            "claims": claims,
            "beneficiaries": beneficiaries,
        }
    ).hstack(row_labels)

    known_index = np.nonzero(known)[0]
    providers = pl.DataFrame(
        {
            "npi": npis.gather(known_index),
            "display_name": pl.Series(known_index).cast(pl.Utf8),
            "taxonomy_1": taxonomy_by_provider.gather(known_index),
            "state": state_by_provider.gather(known_index),
        }
    ).with_columns(pl.format("Provider {}", "display_name").alias("display_name"))

    # National proportions: about 80,000 exclusions and 15,000 SNF chains per 1.78M providers.
    exclusion_count = max(1, n * 80_000 // 1_780_000)
    excluded_index = np.sort(rng.choice(n, exclusion_count, replace=False))
    exclusions = pl.DataFrame(
        {
            "exclusion_id": pl.Series(np.arange(exclusion_count)).cast(pl.Utf8),
            "npi": npis.gather(excluded_index),
            "reinstated": rng.random(exclusion_count) < 0.1,
        }
    )

    chain_count = max(1, n * 15_000 // 1_780_000)
    chain_index = np.sort(rng.choice(n, chain_count, replace=False))
    chain_size = rng.integers(1, 40, chain_count)
    excluded_count = rng.binomial(chain_size, 0.05)
    ownership = pl.DataFrame(
        {
            "npi": npis.gather(chain_index),
            "facility_id": pl.Series(np.arange(chain_count)).cast(pl.Utf8),
            "chain_provider_count": chain_size.astype(np.int64),
            "chain_excluded_count": excluded_count.astype(np.int64),
            "chain_excluded_weight": excluded_count * rng.choice([0.5, 1.0], chain_count),
            "owner_excluded": rng.random(chain_count) < 0.02,
        }
    )
    return {
        "payments": payments_frame,
        "providers": providers,
        "exclusions": exclusions,
        "ownership_features": ownership,
    }


def _current_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_child(directory: Path) -> None:
    """Read the inputs, time one ``score_providers`` call and print JSON figures."""
    from claidex_assets.scoring import score_providers

    inputs = {name: pl.read_parquet(directory / f"{name}.parquet") for name in
              ("payments", "providers", "exclusions", "ownership_features")}
    baseline = _current_rss_bytes()
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _current_rss_bytes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    scores = score_providers(**inputs)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stop.set()
    sampler.join()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rows": scores.height,
        "inputs_rss": baseline,
        "sampled_peak_rss": peak[0],
        "max_rss": max_rss,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="number of timed runs, each in a fresh process")
    parser.add_argument("--providers", type=int, default=1_780_000, help="number of synthetic providers")
    parser.add_argument("--small", action="store_true", help="quick run with 20,000 providers")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generator")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        run_child(args.child)
        return

    provider_count = 20_000 if args.small else args.providers
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as temp:
        directory = Path(temp)
        started = time.perf_counter()
        inputs = generate_inputs(provider_count, args.seed)
        generated = time.perf_counter() - started
        for name, frame in inputs.items():
            frame.write_parquet(directory / f"{name}.parquet")
        print(f"generated {inputs['payments'].height:,} payment rows for {provider_count:,} providers "
              f"in {generated:.1f} s")
        del inputs

        results = []
        for attempt in range(args.repeat):
            completed = subprocess.run(
                [sys.executable, __file__, "--child", str(directory)],
                check=True, capture_output=True, text=True,
            )
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"run {attempt + 1}: {result['seconds']:.2f} s wall, {result['cpu_seconds']:.2f} s CPU, "
                  f"{result['rows']:,} scored, "
                  f"inputs RSS {result['inputs_rss'] / 2**30:.2f} GiB, "
                  f"peak RSS while scoring {result['sampled_peak_rss'] / 2**30:.2f} GiB, "
                  f"process max RSS {result['max_rss'] / 2**30:.2f} GiB")

    seconds = statistics.median(r["seconds"] for r in results)
    cpu = statistics.median(r["cpu_seconds"] for r in results)
    peak = max(max(r["sampled_peak_rss"], r["max_rss"]) for r in results)
    print(f"median wall time {seconds:.2f} s, median CPU time {cpu:.2f} s over {len(results)} runs; "
          f"max peak RSS {peak / 2**30:.2f} GiB (inputs included)")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
