"""The quarantine of rejected rows, and the row accounting of every load.

A rejected row keeps its raw values (as text, in a JSON object), the reason
it was rejected, and where it came from (source, file, line number), so a
user can query ``quarantine`` and fix the input. Reasons come from the fixed
vocabulary :data:`QUARANTINE_REASONS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.postgres import copy_frame_in

log = logging.getLogger(__name__)

INVALID_NPI = "invalid_npi"
NEGATIVE_AMOUNT = "negative_amount"
NON_NUMERIC_AMOUNT = "non_numeric_amount"
YEAR_OUT_OF_RANGE = "year_out_of_range"
DUPLICATE_KEY = "duplicate_key"
UNKNOWN_PROGRAM = "unknown_program"
UNDECODABLE_TEXT = "undecodable_text"
MISSING_REQUIRED = "missing_required"
INVALID_DATE = "invalid_date"
INVALID_ENTITY_TYPE = "invalid_entity_type"
AMOUNT_OUT_OF_RANGE = "amount_out_of_range"

QUARANTINE_REASONS = (
    INVALID_NPI,
    NEGATIVE_AMOUNT,
    NON_NUMERIC_AMOUNT,
    YEAR_OUT_OF_RANGE,
    DUPLICATE_KEY,
    UNKNOWN_PROGRAM,
    UNDECODABLE_TEXT,
    MISSING_REQUIRED,
    INVALID_DATE,
    INVALID_ENTITY_TYPE,
    AMOUNT_OUT_OF_RANGE,
)

# Columns of a rejected frame that describe the rejection; every other
# column is a raw value and goes into the ``raw`` JSON object.
_META_COLUMNS = ("reason", "line_number")


def quarantine_frame(
    rejected: pl.DataFrame, source: str, source_file: str | None = None, run_id: str | None = None
) -> pl.DataFrame:
    """Shape a rejected frame (a ``reason`` column, optional ``line_number``, raw values) as quarantine rows."""
    if "reason" not in rejected.columns:
        raise ValueError(f"rejected rows need a 'reason' column; got columns {rejected.columns}")
    raw_columns = [name for name in rejected.columns if name not in _META_COLUMNS]
    if raw_columns:
        # Raw values go in as text so NaN, dates and big numbers survive JSON.
        raw = pl.struct([pl.col(name).cast(pl.Utf8) for name in raw_columns]).struct.json_encode()
    else:
        raw = pl.lit("{}")
    line_number = pl.col("line_number").cast(pl.Int64) if "line_number" in rejected.columns else pl.lit(None, pl.Int64)
    return rejected.select(
        pl.lit(source, pl.Utf8).alias("source"),
        pl.lit(source_file, pl.Utf8).alias("source_file"),
        line_number.alias("line_number"),
        pl.col("reason").cast(pl.Utf8),
        raw.alias("raw"),
        pl.lit(run_id, pl.Utf8).alias("run_id"),
    )


def write_quarantine(
    conn: psycopg.Connection,
    rejected: pl.DataFrame,
    source: str,
    source_file: str | None = None,
    run_id: str | None = None,
) -> int:
    """Append rejected rows to the ``quarantine`` table and return how many were written.

    The caller owns the transaction, so a load and its quarantine rows
    commit together.
    """
    if rejected.height == 0:
        return 0
    rows = quarantine_frame(rejected, source, source_file, run_id)
    return copy_frame_in(conn, "quarantine", rows)


def clear_quarantine(conn: psycopg.Connection, source: str, source_file: str | None = None) -> int:
    """Delete earlier quarantine rows of ``source`` (and of ``source_file`` when given)."""
    if source_file is None:
        cursor = conn.execute("DELETE FROM quarantine WHERE source = %s", (source,))
    else:
        cursor = conn.execute("DELETE FROM quarantine WHERE source = %s AND source_file = %s", (source, source_file))
    return cursor.rowcount


def count_reasons(rejected: pl.DataFrame) -> dict[str, int]:
    """Count rejected rows per reason, sorted by reason."""
    if rejected.height == 0:
        return {}
    counts = rejected.group_by("reason").len().sort("reason")
    return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))


@dataclass
class ParsedSource:
    """A source file parsed into table rows and rejected rows, not yet written anywhere.

    ``frame`` has the target table's columns (``schema.py``) and ``rejected``
    has ``line_number``, ``reason`` and the raw text of the columns read.
    Every row read ends up in exactly one of: ``frame`` (for Medicaid, summed
    into a provider-year row), ``rejected``, ``duplicates_collapsed`` or
    ``rows_skipped``.
    """

    source: str
    path: Path
    table: str
    frame: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int
    rows_accepted: int
    duplicates_collapsed: int = 0
    rows_skipped: int = 0
    years: tuple[int, ...] = ()
    details: dict[str, object] = field(default_factory=dict)

    @property
    def rows_quarantined(self) -> int:
        return self.rejected.height


@dataclass
class LoadReport:
    """Row counts of one file load; ``rows_read`` equals the sum of the other four counts."""

    source: str
    source_file: str
    table: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicates_collapsed: int
    rows_skipped: int
    reasons: dict[str, int]
    rows_written: int
    years: tuple[int, ...] = ()
    seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_parsed(cls, parsed: ParsedSource, rows_written: int, seconds: float) -> LoadReport:
        return cls(
            source=parsed.source,
            source_file=parsed.path.name,
            table=parsed.table,
            rows_read=parsed.rows_read,
            rows_loaded=parsed.rows_accepted,
            rows_quarantined=parsed.rows_quarantined,
            duplicates_collapsed=parsed.duplicates_collapsed,
            rows_skipped=parsed.rows_skipped,
            reasons=count_reasons(parsed.rejected),
            rows_written=rows_written,
            years=parsed.years,
            seconds=seconds,
            details=dict(parsed.details),
        )

    def summary(self) -> str:
        """Return a one-line summary for the command line."""
        years = f" year {','.join(str(year) for year in self.years)}" if self.years else ""
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in self.reasons.items())
        quarantined = f"quarantined {self.rows_quarantined:,}" + (f" ({reasons})" if reasons else "")
        return (
            f"{self.source} {self.source_file}{years}: read {self.rows_read:,}, loaded {self.rows_loaded:,}, "
            f"{quarantined}, duplicates collapsed {self.duplicates_collapsed:,}, skipped {self.rows_skipped:,}; "
            f"{self.rows_written:,} rows in {self.table} ({self.seconds:.1f}s)"
        )


def store_parsed(
    conn: psycopg.Connection,
    parsed: ParsedSource,
    *,
    delete_statement: str,
    delete_params: Sequence[object] = (),
    run_id: str | None = None,
    after_load: Callable[[psycopg.Connection], None] | None = None,
) -> LoadReport:
    """Replace earlier rows of this source in one transaction, then return the load report.

    Runs ``delete_statement`` (which removes the rows a reload replaces, for
    example one year), copies ``parsed.frame`` into ``parsed.table`` with the
    file name in ``source_file``, replaces this file's quarantine rows and
    runs ``after_load``. Nothing is visible to other sessions until all of it
    has succeeded.
    """
    started = time.perf_counter()
    source_file = parsed.path.name
    rows = parsed.frame.drop("line_number", strict=False).with_columns(pl.lit(source_file).alias("source_file"))
    with conn.transaction():
        conn.execute(delete_statement, tuple(delete_params))
        written = copy_frame_in(conn, parsed.table, rows)
        clear_quarantine(conn, parsed.source, source_file)
        write_quarantine(conn, parsed.rejected, parsed.source, source_file, run_id)
        if after_load is not None:
            after_load(conn)
    report = LoadReport.from_parsed(parsed, written, time.perf_counter() - started)
    log.info("%s", report.summary())
    return report
