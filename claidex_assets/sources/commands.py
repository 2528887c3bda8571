"""``claidex init-db``, ``claidex load`` and ``claidex load-dir``: set up the database and load public files."""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import logging
from collections.abc import Callable
from pathlib import Path

import psycopg

from claidex_assets.errors import InputDataError
from claidex_assets.postgres import apply_schema, connect, default_data_dir, mask_url, resolve_postgres_url
from claidex_assets.sources.leie import load_leie
from claidex_assets.sources.medicaid import load_medicaid
from claidex_assets.sources.medicare import load_medicare
from claidex_assets.sources.nppes import load_nppes
from claidex_assets.sources.partd import load_partd
from claidex_assets.sources.quarantine import LoadReport

log = logging.getLogger(__name__)


def _load_without_year(loader: Callable[..., LoadReport]) -> Callable[..., LoadReport]:
    def load(conn: psycopg.Connection, path: Path, year: int | None, *, run_id: str) -> LoadReport:
        if year is not None:
            raise InputDataError(f"--year does not apply to {path.name}: NPPES and LEIE files are full snapshots")
        return loader(conn, path, run_id=run_id)

    return load


LOADERS: dict[str, Callable[..., LoadReport]] = {
    "nppes": _load_without_year(load_nppes),
    "leie": _load_without_year(load_leie),
    "medicare": load_medicare,
    "partd": load_partd,
    "medicaid": load_medicaid,
}

# File name patterns (case-insensitive) of each source, as CMS and OIG
# publish them. The order is the load order: providers and exclusions first.
FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "nppes": ("npidata_pfile*.csv",),
    "leie": ("updated.csv", "*leie*.csv"),
    "medicare": ("mup_phy*prov*.csv", "*physician*other*practitioners*provider*.csv"),
    "partd": ("mup_dpr*npi*.csv", "*part*d*prescriber*provider*.csv"),
    "medicaid": ("*medicaid*provider*spending*.csv", "*medicaid*spending*.csv"),
}


def source_of_file(path: Path) -> str | None:
    """Return the source a file name belongs to, or None (NPPES ``*_fileheader.csv`` files are not data)."""
    name = path.name.lower()
    if name.endswith("_fileheader.csv"):
        return None
    for source, patterns in FILE_PATTERNS.items():
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
            return source
    return None


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the embedded Postgres server, used when CLAIDEX_POSTGRES_URL is unset "
        "(default: $CLAIDEX_DATA_DIR or ./.claidex)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    init_db = subparsers.add_parser("init-db", help="create the source tables, the payment view and the score table")
    _add_data_dir(init_db)
    init_db.set_defaults(handler=run_init_db)

    load = subparsers.add_parser("load", help="load public CMS or OIG files into Postgres")
    load.add_argument("source", choices=sorted(LOADERS), help="which file format the files have")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV file(s) to load")
    load.add_argument(
        "--year", type=int, default=None,
        help="data year (Medicare and Part D: default from the file name; Medicaid: load only this claim year)",
    )
    _add_data_dir(load)
    load.set_defaults(handler=run_load)

    load_dir = subparsers.add_parser("load-dir", help="load every known public file found in a folder, by file name")
    load_dir.add_argument("directory", type=Path, metavar="DIR", help="folder to search (not recursive)")
    _add_data_dir(load_dir)
    load_dir.set_defaults(handler=run_load_dir)


def _open(args: argparse.Namespace) -> psycopg.Connection:
    url = resolve_postgres_url(args.data_dir or default_data_dir())
    conn = connect(url)
    log.info("connected to %s", mask_url(url))
    return conn


def _run_id() -> str:
    return "load-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run_init_db(args: argparse.Namespace) -> int:
    with _open(args) as conn:
        apply_schema(conn)
        print(f"schema ready in database {conn.info.dbname!r}")
    return 0


def _load_files(conn: psycopg.Connection, jobs: list[tuple[str, Path]], year: int | None) -> None:
    run_id = _run_id()
    apply_schema(conn)
    for source, path in jobs:
        if not path.is_file():
            raise InputDataError(f"file not found: {path}; check the path")
        report = LOADERS[source](conn, path, year, run_id=run_id)
        print(report.summary(), flush=True)


def run_load(args: argparse.Namespace) -> int:
    with _open(args) as conn:
        _load_files(conn, [(args.source, path) for path in args.files], args.year)
    return 0


def run_load_dir(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        raise InputDataError(f"folder not found: {directory}; pass a folder that contains the downloaded CSV files")
    found = [(source_of_file(path), path) for path in sorted(directory.iterdir()) if path.is_file()]
    order = list(FILE_PATTERNS)
    jobs = sorted(((source, path) for source, path in found if source), key=lambda job: (order.index(job[0]), job[1].name))
    if not jobs:
        patterns = "; ".join(f"{source}: {', '.join(names)}" for source, names in FILE_PATTERNS.items())
        raise InputDataError(f"no known source files in {directory}; expected names like {patterns}")
    with _open(args) as conn:
        _load_files(conn, jobs, None)
    return 0
