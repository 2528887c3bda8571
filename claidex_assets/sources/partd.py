"""Loader for Medicare Part D Prescribers, by provider (one file per data year).

Reads the prescriber NPI, type, state, total claims, total drug cost and
total beneficiaries; every other column is ignored. Parsing and checks are
those of the Medicare loader (:func:`parse_yearly_summary`).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from claidex_assets.sources import csv_reading as csvr
from claidex_assets.sources.medicare import parse_yearly_summary
from claidex_assets.sources.quarantine import LoadReport, ParsedSource, store_parsed

SOURCE = "partd"
TABLE = "medicare_part_d"

# Canonical column -> header names across release years (the 2013-2018
# files used the lower-case names).
ALIASES: dict[str, tuple[str, ...]] = {
    "npi": ("PRSCRBR_NPI", "npi"),
    "provider_type": ("Prscrbr_Type", "specialty_description"),
    "state": ("Prscrbr_State_Abrvtn", "nppes_provider_state"),
    "total_claims": ("Tot_Clms", "total_claim_count"),
    "total_drug_cost": ("Tot_Drug_Cst", "total_drug_cost"),
    "total_benes": ("Tot_Benes", "bene_count"),
}
REQUIRED = ("npi", "total_drug_cost")
AMOUNTS = ("total_drug_cost",)
COUNTS = ("total_claims", "total_benes")


def parse_partd(path: Path, year: int | None = None, *, batch_rows: int = csvr.BATCH_ROWS) -> ParsedSource:
    """Parse a Part D Prescribers by-provider file into ``medicare_part_d`` rows."""
    return parse_yearly_summary(
        path, year, source=SOURCE, table=TABLE, aliases=ALIASES, required=REQUIRED,
        amounts=AMOUNTS, counts=COUNTS, batch_rows=batch_rows,
    )


def load_partd(
    conn: psycopg.Connection, path: Path, year: int | None = None, *, run_id: str | None = None
) -> LoadReport:
    """Load one Part D by-provider file, replacing that data year's rows and earlier loads of the file."""
    parsed = parse_partd(path, year)
    return store_parsed(
        conn, parsed, delete_statement=f"DELETE FROM {TABLE} WHERE year = %s OR source_file = %s",
        delete_params=(*parsed.years, parsed.path.name), run_id=run_id,
    )
