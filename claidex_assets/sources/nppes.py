"""Loader for the NPPES full replacement file (``npidata_pfile_*.csv``).

The file has about 330 quoted columns; only the NPI, entity type, names,
practice-location state and the 15 taxonomy codes with their primary
switches are read. The display name is the organization name for entity
type 2 and "FIRST LAST" for individuals (type 1). The primary taxonomy is
the code whose switch is ``Y``, else the first code present. A row with a
blank entity type is a deactivated NPI: it is skipped and counted, not
quarantined. ``is_excluded`` is set from the exclusions table after loading.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import psycopg

from claidex_assets.sources import csv_reading as csvr
from claidex_assets.sources import quarantine as reasons
from claidex_assets.sources.leie import update_is_excluded
from claidex_assets.sources.quarantine import LoadReport, ParsedSource, store_parsed
from claidex_assets.sources.schema import PROVIDERS
from claidex_assets.sources.validation import split_by_reason

log = logging.getLogger(__name__)

SOURCE = "nppes"
TABLE = "providers"
TAXONOMY_SLOTS = 15

ALIASES: dict[str, tuple[str, ...]] = {
    "npi": ("NPI",),
    "entity_type_code": ("Entity Type Code",),
    "organization_name": ("Provider Organization Name (Legal Business Name)",),
    "last_name": ("Provider Last Name (Legal Name)",),
    "first_name": ("Provider First Name",),
    "state": ("Provider Business Practice Location Address State Name",),
    **{f"taxonomy_code_{slot}": (f"Healthcare Provider Taxonomy Code_{slot}",) for slot in range(1, TAXONOMY_SLOTS + 1)},
    **{
        f"primary_switch_{slot}": (f"Healthcare Provider Primary Taxonomy Switch_{slot}",)
        for slot in range(1, TAXONOMY_SLOTS + 1)
    },
}
REQUIRED = ("npi", "entity_type_code", "taxonomy_code_1")


def _display_name() -> pl.Expr:
    person = pl.concat_str([pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True)
    name = pl.when(pl.col("entity_type_code") == "2").then(pl.col("organization_name")).otherwise(person)
    return pl.when(name == "").then(None).otherwise(name)


def _primary_taxonomy() -> pl.Expr:
    slots = range(1, TAXONOMY_SLOTS + 1)
    switched = [
        pl.when(pl.col(f"primary_switch_{slot}").str.to_uppercase() == "Y").then(pl.col(f"taxonomy_code_{slot}"))
        for slot in slots
    ]
    first_present = [pl.col(f"taxonomy_code_{slot}") for slot in slots]
    return pl.coalesce(*switched, *first_present)


def parse_nppes(path: Path, *, batch_rows: int = csvr.BATCH_ROWS) -> ParsedSource:
    """Parse an NPPES file into ``providers`` rows.

    Checks, in order: ``missing_required`` (NPI blank), ``invalid_npi``,
    ``invalid_entity_type`` (not 1 or 2). Rows with the same NPI collapse
    when identical and are all rejected as ``duplicate_key`` when they differ.
    """
    path = Path(path)
    mapping = csvr.resolve_columns(csvr.read_header(path), ALIASES, REQUIRED, path, SOURCE)
    checks = [
        (reasons.MISSING_REQUIRED, pl.col("npi").is_null()),
        (reasons.INVALID_NPI, ~pl.col(csvr.NPI_VALID)),
        (reasons.INVALID_ENTITY_TYPE, ~pl.col("entity_type_code").is_in(["1", "2"])),
    ]
    parsed_columns: dict[str, pl.Expr] = {
        "npi": pl.col("npi"),
        "display_name": _display_name(),
        "taxonomy_1": _primary_taxonomy(),
        "state": pl.col("state").str.to_uppercase(),
        "is_excluded": pl.lit(False),
        "entity_type_code": pl.col("entity_type_code").cast(pl.Int16),
    }
    with csvr.utf8_copy(path) as (readable, recoded_bytes):
        scan = csvr.scan_text_columns(readable, mapping)
        batches = (csvr.add_missing(batch, list(ALIASES)) for batch in csvr.iter_batches(scan, batch_rows))
        result = csvr.parse_batches(
            batches, checks=checks, parsed=parsed_columns, skip=pl.col("entity_type_code").is_null()
        )

    accepted = result.accepted
    if not accepted.width:
        accepted = pl.DataFrame(schema={"line_number": pl.Int64, **PROVIDERS})
    split = split_by_reason(accepted, pl.lit(None, pl.Utf8), key=["npi"], identity=list(PROVIDERS))
    rejected = pl.concat([result.rejected, csvr.as_text(split.rejected)], how="diagonal_relaxed")
    # Sorted by NPI, so the COPY appends to the primary key index in order.
    frame = split.valid.select(list(PROVIDERS)).cast(PROVIDERS).sort("npi")
    log.info(
        "parsed %s: %s rows read, %s accepted, %s deactivated skipped, %s rejected",
        path.name, result.rows_read, frame.height, result.rows_skipped, rejected.height,
    )
    return ParsedSource(
        source=SOURCE,
        path=path,
        table=TABLE,
        frame=frame,
        rejected=rejected,
        rows_read=result.rows_read,
        rows_accepted=frame.height,
        duplicates_collapsed=split.duplicates_collapsed,
        rows_skipped=result.rows_skipped,
        details={"recoded_bytes": recoded_bytes, "deactivated": result.rows_skipped},
    )


def load_nppes(conn: psycopg.Connection, path: Path, *, run_id: str | None = None) -> LoadReport:
    """Load an NPPES file, replacing every provider row (the file is a full snapshot), then set is_excluded."""
    parsed = parse_nppes(path)
    return store_parsed(
        conn, parsed, delete_statement=f"TRUNCATE {TABLE}", run_id=run_id, after_load=update_is_excluded
    )
