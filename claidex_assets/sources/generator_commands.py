"""``claidex generate`` and ``claidex load-graph``: synthetic source files and the ownership graph."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from claidex_assets.errors import ConfigurationError

log = logging.getLogger(__name__)

NEO4J_VARIABLES = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE")


def register(subparsers: argparse._SubParsersAction) -> None:
    generate = subparsers.add_parser(
        "generate", help="write synthetic NPPES, LEIE, Medicare, Part D, Medicaid and SNF files with planted anomalies"
    )
    generate.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write the files into")
    generate.add_argument(
        "--scale", default="small",
        help="'small' (about 2,000 scored providers), 'national' (about 1.78M) or a fraction of national size",
    )
    generate.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    generate.add_argument(
        "--reuse", action="store_true", help="keep OUT_DIR as it is when its manifest has the same scale and seed"
    )
    generate.set_defaults(handler=run_generate)

    graph = subparsers.add_parser(
        "load-graph",
        help="build the ownership graph from the SNF files plus the providers and exclusions tables",
    )
    graph.add_argument("--owners", type=Path, required=True, help="CMS SNF All Owners CSV file")
    graph.add_argument("--enrollments", type=Path, required=True, help="CMS SNF Enrollments CSV file")
    graph.add_argument(
        "--csv-dir", type=Path, default=None,
        help="folder to write Neo4j import CSV files into (default without --neo4j: DATA_DIR/graph)",
    )
    graph.add_argument(
        "--neo4j", action="store_true",
        help="also write the graph to Neo4j over Bolt, using NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE",
    )
    graph.add_argument(
        "--replace", action="store_true",
        help="with --neo4j, delete every node of NEO4J_DATABASE first; without it, nodes missing from the new "
        "graph stay",
    )
    graph.add_argument(
        "--data-dir", type=Path, default=None,
        help="folder of the embedded Postgres server, used when CLAIDEX_POSTGRES_URL is unset "
        "(default: $CLAIDEX_DATA_DIR or ./.claidex)",
    )
    graph.set_defaults(handler=run_load_graph)


def run_generate(args: argparse.Namespace) -> int:
    from claidex_assets.sources.generator import generate

    try:
        manifest = generate(args.out_dir, scale=args.scale, seed=args.seed, reuse=args.reuse)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    for table, entry in manifest["tables"].items():
        print(f"{table:18} {entry['rows_written']:>12,} rows in {len(entry['files'])} file(s)")
    print(f"planted anomalies: {json.dumps(manifest['ground_truth']['counts'])}")
    print(f"quirks: {json.dumps(manifest['quirk_totals'])}")
    print(f"wrote {args.out_dir}/manifest.json and {args.out_dir}/ground_truth.csv")
    return 0


def neo4j_settings() -> dict[str, str | None]:
    """Read the Bolt connection settings from the environment; NEO4J_URI is required."""
    uri = os.environ.get("NEO4J_URI", "").strip()
    if not uri:
        raise ConfigurationError(
            "NEO4J_URI is not set; export NEO4J_URI (for example neo4j://localhost:7687), NEO4J_USER and "
            "NEO4J_PASSWORD, or drop --neo4j to write import CSV files only"
        )
    return {
        "uri": uri,
        "user": os.environ.get("NEO4J_USER", "neo4j"),
        "password": os.environ.get("NEO4J_PASSWORD"),
        "database": os.environ.get("NEO4J_DATABASE") or None,
    }


def run_load_graph(args: argparse.Namespace) -> int:
    from claidex_assets.postgres import connect, default_data_dir, mask_url, resolve_postgres_url
    from claidex_assets.sources.graph_build import build_graph_snapshot, read_graph_inputs

    settings = neo4j_settings() if args.neo4j else None
    data_dir = args.data_dir or default_data_dir()
    csv_dir = args.csv_dir or (None if args.neo4j else Path(data_dir) / "graph")
    url = resolve_postgres_url(data_dir)
    with connect(url) as conn:
        log.info("reading providers and exclusions from %s", mask_url(url))
        providers, exclusions = read_graph_inputs(conn)
    snapshot, report = build_graph_snapshot(providers, exclusions, args.owners, args.enrollments)
    print("ownership graph: " + ", ".join(f"{name} {count:,}" for name, count in snapshot.row_counts().items()))
    print("build report: " + ", ".join(f"{name} {count:,}" for name, count in report.as_dict().items()))

    if csv_dir is not None:
        from claidex_assets.ownership.import_csv import write_import_csv

        write_import_csv(snapshot, Path(csv_dir))
        print(f"wrote Neo4j import CSV files to {csv_dir}")
    if settings is not None:
        from claidex_assets import neo4j_graph

        driver = neo4j_graph.open_driver(settings["uri"], settings["user"], settings["password"], settings["database"])
        try:
            if args.replace:
                deleted = neo4j_graph.clear_graph(driver, database=settings["database"])
                print(f"deleted {deleted:,} nodes from Neo4j before writing")
            neo4j_graph.write_graph(driver, snapshot, database=settings["database"])
        finally:
            driver.close()
        print(f"wrote the graph to Neo4j at {settings['uri']}")
    return 0
