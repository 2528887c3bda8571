"""Loader for the OIG List of Excluded Individuals/Entities (LEIE ``UPDATED.csv``).

The file has 18 columns: LASTNAME, FIRSTNAME, MIDNAME, BUSNAME, GENERAL,
SPECIALTY, UPIN, NPI, DOB, ADDRESS, CITY, STATE, ZIP, EXCLTYPE, EXCLDATE,
REINDATE, WAIVERDATE, WVRSTATE. Dates are ``YYYYMMDD`` with ``00000000``
for none. An NPI of ``0000000000`` or blank means the NPI is unknown. Such
a row is kept with a null NPI, because the ownership graph can still link
an excluded organization by its normalized business name and state.

Each record gets a stable ``exclusion_id`` (:func:`make_exclusion_id`), so a
reload of a later file keeps the ids of the records it shares.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.sources import csv_reading as csvr
from claidex_assets.sources import quarantine as reasons
from claidex_assets.sources.quarantine import LoadReport, ParsedSource, store_parsed
from claidex_assets.sources.schema import EXCLUSIONS
from claidex_assets.sources.validation import split_by_reason

log = logging.getLogger(__name__)

SOURCE = "leie"
TABLE = "exclusions"

# File column -> canonical column of the exclusions table.
FILE_COLUMNS: dict[str, str] = {
    "LASTNAME": "last_name",
    "FIRSTNAME": "first_name",
    "MIDNAME": "middle_name",
    "BUSNAME": "business_name",
    "GENERAL": "general",
    "SPECIALTY": "specialty",
    "UPIN": "upin",
    "NPI": "npi",
    "DOB": "dob",
    "ADDRESS": "address",
    "CITY": "city",
    "STATE": "state",
    "ZIP": "zip",
    "EXCLTYPE": "excltype",
    "EXCLDATE": "excldate",
    "REINDATE": "reindate",
    "WAIVERDATE": "waiverdate",
    "WVRSTATE": "wvrstate",
}
ALIASES = {canonical: (name,) for name, canonical in FILE_COLUMNS.items()}
REQUIRED = ("npi", "excltype", "excldate")
DATE_COLUMNS = ("dob", "excldate", "reindate", "waiverdate")
NO_NPI = "0000000000"
NO_DATE = "00000000"

# Fields that identify a record, in the order they enter the id hash.
ID_FIELDS = ("last_name", "first_name", "middle_name", "business_name", "npi", "dob", "excltype", "excldate")


def _normalize_id_field(value: object) -> str:
    if value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip().upper()


def make_exclusion_id(
    last_name: str | None,
    first_name: str | None,
    middle_name: str | None,
    business_name: str | None,
    npi: str | None,
    dob: str | None,
    excltype: str | None,
    excldate: str | None,
) -> str:
    """Return ``'LEIE-'`` plus the first 16 hex digits of a SHA-1 over the record's identifying fields.

    Takes the raw file values. Each is trimmed, upper-cased and has its runs
    of whitespace collapsed; blank, ``0000000000`` (NPI) and ``00000000``
    (date) count as empty. The fields are joined with ``|`` in argument
    order, so equal records get equal ids in every load and in the generator.
    """
    values = [_normalize_id_field(value) for value in (last_name, first_name, middle_name, business_name, npi, dob, excltype, excldate)]
    if values[4] == NO_NPI:
        values[4] = ""
    for index in (5, 7):
        if values[index] == NO_DATE:
            values[index] = ""
    digest = hashlib.sha1("|".join(values).encode("utf-8")).hexdigest()
    return f"LEIE-{digest[:16]}"


def exclusion_ids(frame: pl.DataFrame) -> pl.Series:
    """Compute :func:`make_exclusion_id` for every row of a frame with the raw ``ID_FIELDS`` columns."""
    rows = frame.select(ID_FIELDS).iter_rows()
    return pl.Series("exclusion_id", [make_exclusion_id(*row) for row in rows], dtype=pl.Utf8)


def normalize_business_name(name: str | None) -> str | None:
    """Upper-case a business name and reduce every run of non-alphanumeric characters to one space."""
    if name is None:
        return None
    normalized = re.sub(r"[^0-9A-Z]+", " ", name.upper()).strip()
    return normalized or None


def normalized_business_name_expr(column: str = "business_name") -> pl.Expr:
    """Vectorised :func:`normalize_business_name` for a Utf8 column."""
    normalized = pl.col(column).str.to_uppercase().str.replace_all(r"[^0-9A-Z]+", " ").str.strip_chars()
    return pl.when(normalized == "").then(None).otherwise(normalized)


def _date(column: str) -> pl.Expr:
    text = pl.col(column)
    parsed = pl.coalesce(
        text.str.to_date("%Y%m%d", strict=False),
        text.str.to_date("%Y-%m-%d", strict=False),
    )
    return pl.when(text.is_null() | (text == NO_DATE)).then(None).otherwise(parsed)


def _bad_date(column: str) -> pl.Expr:
    text = pl.col(column)
    return text.is_not_null() & (text != NO_DATE) & _date(column).is_null()


def _npi() -> pl.Expr:
    text = pl.col("npi")
    return pl.when(text.is_null() | (text == NO_NPI)).then(None).otherwise(text)


def parse_leie(path: Path, *, batch_rows: int = csvr.BATCH_ROWS) -> ParsedSource:
    """Parse an LEIE file into ``exclusions`` rows.

    Checks, in order: ``missing_required`` (EXCLDATE blank or ``00000000``),
    ``invalid_npi`` (an NPI other than blank or ``0000000000`` that fails the
    check digit), ``invalid_date`` (a date field that is not a real
    ``YYYYMMDD`` date). Records with equal ids collapse when identical and
    are all rejected as ``duplicate_key`` when they differ.
    """
    path = Path(path)
    mapping = csvr.resolve_columns(csvr.read_header(path), ALIASES, REQUIRED, path, SOURCE)
    checks = [
        (reasons.MISSING_REQUIRED, _date("excldate").is_null() & ~_bad_date("excldate")),
        (reasons.INVALID_NPI, _npi().is_not_null() & ~pl.col(csvr.NPI_VALID)),
        (reasons.INVALID_DATE, pl.any_horizontal([_bad_date(name) for name in DATE_COLUMNS])),
    ]
    text_columns = [name for name in FILE_COLUMNS.values() if name not in DATE_COLUMNS and name != "npi"]
    parsed_columns: dict[str, pl.Expr] = {
        **{f"raw_{name}": pl.col(name) for name in ID_FIELDS},
        **{name: pl.col(name) for name in text_columns},
        "state": pl.col("state").str.to_uppercase(),
        "npi": _npi(),
        **{name: _date(name) for name in DATE_COLUMNS},
    }
    with csvr.utf8_copy(path) as (readable, recoded_bytes):
        scan = csvr.scan_text_columns(readable, mapping)
        batches = (csvr.add_missing(batch, list(ALIASES)) for batch in csvr.iter_batches(scan, batch_rows))
        result = csvr.parse_batches(batches, checks=checks, parsed=parsed_columns)

    accepted = result.accepted
    if not accepted.width:
        accepted = pl.DataFrame(schema={"line_number": pl.Int64, **{name: pl.Utf8 for name in parsed_columns}})
    raw_ids = accepted.select(pl.col(f"raw_{name}").alias(name) for name in ID_FIELDS)
    accepted = accepted.drop([f"raw_{name}" for name in ID_FIELDS]).with_columns(
        exclusion_ids(raw_ids),
        pl.col("reindate").is_not_null().alias("reinstated"),
        normalized_business_name_expr().alias("business_name_normalized"),
    )
    identity = [name for name in EXCLUSIONS]
    split = split_by_reason(accepted, pl.lit(None, pl.Utf8), key=["exclusion_id"], identity=identity)
    rejected = pl.concat([result.rejected, csvr.as_text(split.rejected)], how="diagonal_relaxed")
    frame = split.valid.select(list(EXCLUSIONS)).cast(EXCLUSIONS).sort("exclusion_id")
    log.info("parsed %s: %s rows read, %s accepted, %s rejected", path.name, result.rows_read, frame.height, rejected.height)
    return ParsedSource(
        source=SOURCE,
        path=path,
        table=TABLE,
        frame=frame,
        rejected=rejected,
        rows_read=result.rows_read,
        rows_accepted=frame.height,
        duplicates_collapsed=split.duplicates_collapsed,
        details={"recoded_bytes": recoded_bytes, "reinstated": int(frame["reinstated"].sum())},
    )


def update_is_excluded(conn: psycopg.Connection) -> None:
    """Set ``providers.is_excluded`` from the exclusions that are not reinstated, changing only rows that differ."""
    conn.execute(
        """
        UPDATE providers SET is_excluded = TRUE
        WHERE NOT is_excluded
          AND npi IN (SELECT npi FROM exclusions WHERE npi IS NOT NULL AND NOT reinstated)
        """
    )
    conn.execute(
        """
        UPDATE providers SET is_excluded = FALSE
        WHERE is_excluded
          AND npi NOT IN (SELECT npi FROM exclusions WHERE npi IS NOT NULL AND NOT reinstated)
        """
    )


def load_leie(conn: psycopg.Connection, path: Path, *, run_id: str | None = None) -> LoadReport:
    """Load an LEIE file, replacing every earlier exclusion row (the file is a full snapshot)."""
    parsed = parse_leie(path)
    return store_parsed(
        conn, parsed, delete_statement=f"DELETE FROM {TABLE}", run_id=run_id, after_load=update_is_excluded
    )
