"""End-to-end benchmark: national-scale source files -> Postgres -> Dagster job -> provider_risk_scores.

Generates the files with the project's generator, cached in --files. Loads
them into an embedded PostgreSQL (or CLAIDEX_POSTGRES_URL) through the
loaders, cached by a marker that records which files were loaded. Then runs
the job ``claidex_full_refresh`` in process with the local backend --repeat
times, each with an empty asset folder so every partition is computed. For
each stage it prints the median wall time and the peak RSS of the run's
process and its workers while the stage ran, then the detection quality
against the generator's ground truth.

    .venv/bin/python benchmarks/bench_national.py                       # national scale
    .venv/bin/python benchmarks/bench_national.py --scale 0.05 --repeat 1
    .venv/bin/python benchmarks/bench_national.py --write-docs /tmp/benchmarks.md

``--write-docs`` writes a fresh page with the machine, the command, the
table and the detection figures, replacing the file. docs/benchmarks.md
also contains hand-written sections, so copy the table into it by hand.
A run at another scale keeps its data in bench-data/<scale>/, and the
embedded PostgreSQL server keeps running after the benchmark: stop it with
``.venv/bin/claidex stop-db --data-dir bench-data/<scale>/run``.

Each run executes in a fresh child process; its peak RSS is sampled every
0.2 s with psutil over that process and its workers (the embedded Postgres
server is a separate process tree and is not counted).
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from queue import Empty

import polars as pl
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from claidex_assets import postgres  # noqa: E402
from claidex_assets.definitions import build_definitions  # noqa: E402
from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags  # noqa: E402
from claidex_assets.npi import partition_keys  # noqa: E402
from claidex_assets.settings import Settings  # noqa: E402
from claidex_assets.sources.generator import generate  # noqa: E402
from claidex_assets.sources.graph_build import load_all  # noqa: E402

STAGES = {
    "extracts": ["provider_extract", "payment_extract", "exclusion_extract"],
    "graph snapshot": ["ownership_graph_snapshot"],
    "ownership features (all partitions)": ["ownership_chain_features"],
    "scoring core": ["peer_metrics", "component_scores", "calibrated_scores"],
    "publish": ["provider_risk_scores"],
}


class RssSampler:
    """Record (time, RSS of the process tree rooted at ``pid``) every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process(self.pid)
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    # The embedded Postgres server is started by another tree; skip any postgres child too.
                    if process.name().startswith("postgres"):
                        continue
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.samples.append((time.time(), total))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside, default=0)


def ensure_loaded(files: Path, data_dir: Path) -> tuple[str, float | None]:
    """Load the generated files once per manifest; return the database URL and the load seconds (None if cached)."""
    manifest_digest = hashlib.sha256((files / "manifest.json").read_bytes()).hexdigest()
    marker = data_dir / "loaded.json"
    url = os.environ.get("CLAIDEX_POSTGRES_URL") or postgres.resolve_postgres_url(data_dir)
    if marker.exists() and json.loads(marker.read_text()).get("manifest") == manifest_digest:
        return url, None
    started = time.perf_counter()
    with postgres.connect(url) as conn:
        postgres.apply_schema(conn)
        for table in ("providers", "exclusions", "payments_medicaid", "payments_medicare", "medicare_part_d", "quarantine"):
            conn.execute(f"TRUNCATE {table}")
        conn.commit()
        load_all(files, conn, data_dir / "graph")
        conn.commit()
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"manifest": manifest_digest, "load_seconds": seconds}))
    return url, seconds


def _job_windows(settings: Settings) -> tuple[float, float, dict[str, list[float]]]:
    """Run the full job once in this process; return its start, end and each step's (start, end) times."""
    shutil.rmtree(Path(settings.data_dir) / "assets", ignore_errors=True)
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(FULL_JOB_NAME)
    with dg.instance_for_test() as instance:
        started = time.time()
        result = job.execute_in_process(
            instance=instance,
            tags=partition_range_tags(partition_keys(settings.partition_count)),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        ended = time.time()
        windows: dict[str, list[float]] = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                windows.setdefault(event.step_key, []).append(record.timestamp)
    return started, ended, windows


def _child(settings: Settings, queue) -> None:
    queue.put(_job_windows(settings))


def run_once(settings: Settings) -> dict[str, tuple[float, int]]:
    """Run the full job in a fresh child process and return {stage: (seconds, peak RSS bytes)}.

    A fresh process per run keeps memory retained by earlier work (loading,
    an earlier run) out of the figures.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(settings, queue))
    child.start()
    with RssSampler(child.pid) as sampler:
        # Poll, so that a run that dies before it reports ends the benchmark
        # instead of leaving it waiting on the queue.
        while True:
            try:
                started, ended, windows = queue.get(timeout=1.0)
                break
            except Empty:
                if not child.is_alive():
                    raise SystemExit(f"benchmark run failed with exit code {child.exitcode}; see its traceback above")
        child.join()
    if child.exitcode != 0:
        raise SystemExit(f"benchmark run failed with exit code {child.exitcode}")
    figures = {}
    for stage, steps in STAGES.items():
        spans = [windows[s] for s in steps if s in windows and len(windows[s]) == 2]
        start = min(span[0] for span in spans)
        end = max(span[1] for span in spans)
        figures[stage] = (end - start, sampler.peak_between(start, end))
    figures["whole job"] = (ended - started, sampler.peak_between(started, ended))
    return figures


def detection_quality(url: str, files: Path) -> dict[str, float]:
    truth = pl.read_csv(files / "ground_truth.csv", schema_overrides={"npi": pl.Utf8})
    with postgres.connect(url) as conn:
        scores = postgres.copy_query_out(conn, "SELECT npi, risk_score, risk_label, flags FROM provider_risk_scores")
    cutoff = scores["risk_score"].quantile(0.9, interpolation="lower")
    top = set(scores.filter(pl.col("risk_score") >= cutoff)["npi"].to_list())
    planted = truth.unique("npi")
    scored_planted = planted.filter(pl.col("npi").is_in(scores["npi"].implode()))
    quality = {
        "planted NPIs scored": scored_planted.height,
        "planted in top decile": round(100 * scored_planted.filter(pl.col("npi").is_in(list(top))).height / max(scored_planted.height, 1), 1),
    }
    for anomaly, group in truth.group_by("anomaly_type"):
        npis = group.filter(pl.col("npi").is_in(scores["npi"].implode()))["npi"].unique().to_list()
        quality[f"  {anomaly[0]} in top decile"] = round(100 * len(set(npis) & top) / max(len(npis), 1), 1)
    high = scores.filter(pl.col("risk_label") == "High")
    flagged = high.filter(pl.col("flags") != "[]").height
    quality["High-label providers with a flag"] = round(100 * flagged / max(high.height, 1), 1)
    return quality


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", default="national", help="generator scale: small, national or a fraction of national (default national)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--files", type=Path, default=None, help="generated files folder (default bench-data/<scale>/files)")
    parser.add_argument("--data-dir", type=Path, default=None, help="run data folder (default bench-data/<scale>/run)")
    parser.add_argument("--repeat", type=int, default=3, help="job runs to take the median over (default 3)")
    parser.add_argument("--write-docs", type=Path, default=None, help="write the figures as a markdown page here")
    args = parser.parse_args()

    root = Path("bench-data") / str(args.scale)
    files = args.files or root / "files"
    data_dir = (args.data_dir or root / "run").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    generate(files, scale=args.scale, seed=args.seed, reuse=True)
    generate_seconds = time.perf_counter() - started
    url, load_seconds = ensure_loaded(files, data_dir)
    os.environ["CLAIDEX_POSTGRES_URL"] = url
    print(f"generate: {generate_seconds:.1f} s (cached when fast); load: "
          f"{'cached' if load_seconds is None else f'{load_seconds:.1f} s'}", flush=True)

    settings = Settings(data_dir=str(data_dir))
    runs = []
    for index in range(args.repeat):
        figures = run_once(settings)
        runs.append(figures)
        print(f"run {index + 1}: " + ", ".join(f"{k} {v[0]:.1f} s" for k, v in figures.items()), flush=True)

    lines = ["| stage | median s | min s | max s | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
    for stage in [*STAGES, "whole job"]:
        seconds = [run[stage][0] for run in runs]
        peak = max(run[stage][1] for run in runs) / 2**20
        lines.append(f"| {stage} | {statistics.median(seconds):.1f} | {min(seconds):.1f} | {max(seconds):.1f} | {peak:.0f} |")
    quality = detection_quality(url, files)
    table = "\n".join(lines)
    print(table)
    for name, value in quality.items():
        print(f"{name}: {value}")

    if args.write_docs:
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
        page = [
            "# Benchmarks",
            "",
            f"Machine: {machine}, Python {platform.python_version()}, shared with other work while measured.",
            f"Command: `.venv/bin/python benchmarks/bench_national.py --scale {args.scale} --repeat {args.repeat}`",
            "",
            f"Load of the generated files into Postgres: {'cached' if load_seconds is None else f'{load_seconds:.0f} s'}.",
            "",
            table,
            "",
            "Detection quality against the generator's planted anomalies (percent):",
            "",
            *[f"- {name.strip()}: {value}" for name, value in quality.items()],
            "",
        ]
        args.write_docs.write_text("\n".join(page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
