"""Parse the CMS SNF All Owners and SNF Enrollments files into tidy frames.

CMS publishes both files in cp1252 (Windows-1252). A file that is valid
UTF-8 is read as UTF-8 and any other file as cp1252, so a re-saved copy
still reads correctly. Every value stays text; blank cells become null.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from claidex_assets.errors import InputDataError

log = logging.getLogger(__name__)

# File column -> frame column. The owner-kind flags keep their meaning as Y/N text.
OWNER_COLUMNS = {
    "ENROLLMENT ID": "enrollment_id",
    "ASSOCIATE ID": "associate_id",
    "ORGANIZATION NAME": "organization_name",
    "ASSOCIATE ID - OWNER": "owner_associate_id",
    "TYPE - OWNER": "owner_type",
    "ROLE CODE - OWNER": "role_code",
    "ROLE TEXT - OWNER": "role_text",
    "ASSOCIATION DATE - OWNER": "association_date",
    "FIRST NAME - OWNER": "first_name",
    "MIDDLE NAME - OWNER": "middle_name",
    "LAST NAME - OWNER": "last_name",
    "ORGANIZATION NAME - OWNER": "owner_name",
    "STATE - OWNER": "owner_state",
    "PERCENTAGE OWNERSHIP": "percentage_ownership",
    "HOLDING COMPANY - OWNER": "holding_company",
    "PRIVATE EQUITY COMPANY - OWNER": "private_equity_company",
    "PARENT COMPANY - OWNER": "parent_company",
    "OWNED BY ANOTHER ORG OR INDIVIDUAL - OWNER": "owned_by_another",
}
OWNER_REQUIRED = ("ENROLLMENT ID", "ASSOCIATE ID", "ORGANIZATION NAME", "ASSOCIATE ID - OWNER", "TYPE - OWNER",
                  "ROLE CODE - OWNER", "ORGANIZATION NAME - OWNER", "STATE - OWNER")

ENROLLMENT_COLUMNS = {
    "ENROLLMENT ID": "enrollment_id",
    "ENROLLMENT STATE": "enrollment_state",
    "NPI": "npi",
    "MULTIPLE NPI FLAG": "multiple_npi_flag",
    "CCN": "ccn",
    "ASSOCIATE ID": "associate_id",
    "ORGANIZATION NAME": "organization_name",
    "DOING BUSINESS AS NAME": "doing_business_as_name",
    "STATE": "state",
}
ENROLLMENT_REQUIRED = ("ENROLLMENT ID", "NPI", "ASSOCIATE ID", "ORGANIZATION NAME", "STATE")


def decode_cms_text(path: Path) -> tuple[str, str]:
    """Read a whole file as text: UTF-8 when it is valid UTF-8, else cp1252. Returns (text, encoding)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Five byte values are undefined in cp1252; they become U+FFFD rather than failing the file.
        return data.decode("cp1252", errors="replace"), "cp1252"


def _read(path: Path, columns: dict[str, str], required: tuple[str, ...], what: str) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{what} file not found: {path}; pass the CSV downloaded from data.cms.gov")
    text, encoding = decode_cms_text(path)
    frame = pl.read_csv(text.encode("utf-8"), infer_schema=False, truncate_ragged_lines=False)
    frame = frame.rename({name: name.strip().upper() for name in frame.columns})
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise InputDataError(
            f"{path.name} is not an {what} file: missing column(s) {missing}; it has {frame.columns[:8]}..."
        )
    present = {source: target for source, target in columns.items() if source in frame.columns}
    frame = frame.select(
        [pl.col(source).str.strip_chars().alias(target) for source, target in present.items()]
        + [pl.lit(None, pl.Utf8).alias(target) for source, target in columns.items() if source not in present]
    ).with_columns(pl.all().replace("", None))
    log.info("read %s rows from %s (%s)", frame.height, path.name, encoding)
    return frame


def parse_owners(path: Path) -> pl.DataFrame:
    """Parse SNF All Owners into one row per owner row, with the columns of ``OWNER_COLUMNS``."""
    return _read(path, OWNER_COLUMNS, OWNER_REQUIRED, "SNF All Owners")


def parse_enrollments(path: Path) -> pl.DataFrame:
    """Parse SNF Enrollments into one row per enrollment, with the columns of ``ENROLLMENT_COLUMNS``."""
    return _read(path, ENROLLMENT_COLUMNS, ENROLLMENT_REQUIRED, "SNF Enrollments")
