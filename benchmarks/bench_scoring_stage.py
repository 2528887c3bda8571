"""Benchmark the scoring core through Dagster on the stored national frames, with an engine breakdown.

Reads the frames that ``bench_national.py`` left in its data folder
(``bench-data/national/run/assets`` by default), so it needs one run of that
benchmark first. Each repeat runs in a fresh child process and does one of
two things:

- ``stage`` (default): materializes ``peer_metrics``, ``component_scores``
  and ``calibrated_scores`` in process with the project's I/O manager, and
  reports each step from its start event to its success event, Parquet
  reads and writes included, and the three together. It replaces the three
  stored scoring frames in the data folder with the ones it computes.
- ``--breakdown``: times each part of the engine on the same inputs outside
  Dagster (payment aggregation, taxonomy and state, metrics, growth, peer
  z-scores, m1 percentile, component scores, calibration) plus the Parquet
  write of the peer metrics.

Medians over the repeats are printed. Run from the repository root:

    .venv/bin/python benchmarks/bench_scoring_stage.py --repeat 5
    .venv/bin/python benchmarks/bench_scoring_stage.py --breakdown --repeat 5
    .venv/bin/python benchmarks/bench_scoring_stage.py --data-dir bench-data/0.02/run   # after a --scale 0.02 run
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS = ("peer_metrics", "component_scores", "calibrated_scores")
STAGE = "scoring core"


def _stage_once(data_dir: str) -> dict[str, float]:
    """Materialize the scoring assets once; return each step's seconds and the stage's."""
    import dagster as dg

    from claidex_assets.definitions import build_definitions
    from claidex_assets.settings import Settings

    # Scoring reads no database; a placeholder URL keeps the embedded server off.
    os.environ.setdefault("CLAIDEX_POSTGRES_URL", "postgresql://unused@127.0.0.1:1/unused")
    definitions = build_definitions(Settings(data_dir=data_dir))
    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(step) for step in STEPS}
    )
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        )
        windows: dict[str, list[float]] = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is not None and event.step_key and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                windows.setdefault(event.step_key, []).append(record.timestamp)
    figures = {step: windows[step][1] - windows[step][0] for step in STEPS}
    figures[STAGE] = windows[STEPS[-1]][1] - windows[STEPS[0]][0]
    return figures


def _breakdown_once(data_dir: str) -> dict[str, float]:
    """Time each part of the engine once on the stored inputs.

    NOTE: the steps below repeat the order of ``compute_peer_metrics`` so
    that each can be timed alone. A change to that function must be copied
    here, or the breakdown stops matching what the asset runs.
    """
    import polars as pl

    from claidex_assets.assets.scoring import scoring_payments
    from claidex_assets.scoring import calibration, components, metrics, peers

    assets = Path(data_dir) / "assets"
    payments = scoring_payments(pl.read_parquet(assets / "payment_extract.parquet"))
    providers = pl.read_parquet(assets / "provider_extract.parquet")
    exclusions = pl.read_parquet(assets / "exclusion_extract.parquet")
    ownership = pl.read_parquet(sorted((assets / "ownership_chain_features").glob("*.parquet")))

    figures: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        figures[name] = now - started
        started = now

    window_end = payments.get_column("year").max()
    window_start = window_end - (peers.WINDOW_YEARS - 1)
    window = payments.lazy().filter(pl.col("year").is_between(window_start, window_end))
    started = time.perf_counter()
    years = metrics.aggregate_provider_years(window, window_start)
    lap("aggregate provider-years")
    years = metrics.resolve_taxonomy_and_state(years, window, providers)
    lap("taxonomy and state")
    years = metrics.add_billing_metrics(years).with_columns(
        pl.lit(window_end, pl.Int32).alias("window_end_year"),
        (pl.col("claims") >= peers.ELIGIBLE_MIN_CLAIMS).alias("eligible"),
    )
    lap("billing metrics")
    years = peers._add_growth(years)
    years = peers._add_group_ids(years.drop("npi_number"), window_start)
    lap("growth and group keys")
    years = peers._add_z_scores(years)
    lap("peer z-scores")
    years = peers._add_m1_percentile(years)
    lap("m1 percentile")
    peer_metrics = years.select(list(peers.PEER_METRICS))
    with tempfile.TemporaryDirectory(dir=data_dir) as folder:
        started = time.perf_counter()
        peer_metrics.write_parquet(Path(folder) / "peer_metrics.parquet", compression="lz4", statistics=False)
        lap("write peer metrics")
    started = time.perf_counter()
    scores = components.compute_component_scores(peer_metrics, None, None, exclusions, ownership)
    lap("component scores")
    calibration.calibrate_scores(scores)
    lap("calibration")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("bench-data/national/run"),
        help="data folder of a bench_national.py run (default bench-data/national/run; "
        "a --scale S run uses bench-data/S/run)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs to take the median over (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="time the engine's parts instead of the Dagster steps")
    args = parser.parse_args()

    data_dir = args.data_dir.resolve()
    assets = data_dir / "assets"
    needed = [assets / f"{name}.parquet" for name in ("payment_extract", "provider_extract", "exclusion_extract")]
    needed.append(assets / "ownership_chain_features")
    missing = [path.name for path in needed if not path.exists()]
    if missing:
        print(
            f"missing {missing} in {assets}; run benchmarks/bench_national.py once first, "
            "or pass --data-dir with the data folder of an earlier run",
            file=sys.stderr,
        )
        return 2

    measure = _breakdown_once if args.breakdown else _stage_once
    context = multiprocessing.get_context("spawn")
    runs = []
    for index in range(args.repeat):
        # A fresh worker process per repeat; an exception in it is raised here.
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            try:
                figures = pool.submit(measure, str(data_dir)).result()
            except Exception as exc:
                print(f"run {index + 1} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
        runs.append(figures)
        print(f"run {index + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()), flush=True)

    if args.breakdown:
        for run in runs:
            run["total"] = sum(run.values())
    print(f"| {'part' if args.breakdown else 'step'} | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    for name in runs[0]:
        seconds = [run[name] for run in runs]
        print(f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | {max(seconds):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
