"""OIG LEIE exclusion rows for the synthetic data.

About 10% of real LEIE rows carry an NPI; the rest have ``0000000000``.
Dates are YYYYMMDD with ``00000000`` for none. The rows that link to the
generated providers and SNF owners are passed in; the rest are drawn.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from claidex_assets.sources import generator_names as names
from claidex_assets.sources.generator_formats import LEIE_COLUMNS

EXCLUSION_TYPES = ("1128a1", "1128a2", "1128a3", "1128b4", "1128b7", "1128b8", "1128b14")
GENERAL = ("MEDICAL PRACTICE, MD", "NURSING PROFESSION", "PHARMACY", "OTHER BUSINESS", "BUSINESS", "IND- LIC HC SERV PRO")
NO_DATE = "00000000"
NO_NPI = "0000000000"


def _date(rng: np.random.Generator, first_year: int, last_year: int) -> str:
    return f"{int(rng.integers(first_year, last_year + 1))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"


def leie_frame(rng: np.random.Generator, linked: list[dict[str, str]], total: int) -> pl.DataFrame:
    """Build ``total`` LEIE rows: the ``linked`` ones first (shuffled in later), then random ones.

    A ``linked`` entry gives NPI, names or BUSNAME, STATE and optionally
    EXCLDATE and REINDATE; missing fields are drawn.
    """
    rows = [_row(rng, entry) for entry in linked]
    seen = {_identity(row) for row in rows}
    while len(rows) < total:
        if rng.random() < 0.25:
            word = names.ORG_WORDS[int(rng.integers(0, len(names.ORG_WORDS)))]
            entry = {"BUSNAME": f"{word} {names.ORG_SUFFIXES[int(rng.integers(0, len(names.ORG_SUFFIXES)))]} INC"}
        else:
            entry = {
                "LASTNAME": names.LAST_NAMES[int(rng.integers(0, len(names.LAST_NAMES)))],
                "FIRSTNAME": names.FIRST_NAMES[int(rng.integers(0, len(names.FIRST_NAMES)))],
            }
        row = _row(rng, entry)
        # Loaders treat rows with the same identifying fields as one record, so every row here is distinct.
        if _identity(row) not in seen:
            seen.add(_identity(row))
            rows.append(row)
    order = rng.permutation(len(rows))
    return pl.DataFrame([rows[i] for i in order], schema={c: pl.Utf8 for c in LEIE_COLUMNS}, orient="row")


def _identity(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row[c] for c in ("LASTNAME", "FIRSTNAME", "MIDNAME", "BUSNAME", "NPI", "DOB", "EXCLTYPE", "EXCLDATE"))


def _row(rng: np.random.Generator, entry: dict[str, str]) -> dict[str, str]:
    codes, weights = names.state_table()
    business = bool(entry.get("BUSNAME"))
    row = {column: "" for column in LEIE_COLUMNS}
    row.update({
        "GENERAL": GENERAL[3 + int(rng.integers(0, 2))] if business else GENERAL[int(rng.integers(0, 3))],
        "UPIN": "",
        "NPI": NO_NPI,
        "DOB": "" if business else _date(rng, 1940, 1990),
        "ADDRESS": f"{int(rng.integers(1, 9999))} ELM ST",
        "CITY": names.CITIES[int(rng.integers(0, len(names.CITIES)))],
        "STATE": str(codes[rng.choice(len(codes), p=weights)]),
        "ZIP": f"{int(rng.integers(1001, 99951)):05d}",
        "EXCLTYPE": EXCLUSION_TYPES[int(rng.integers(0, len(EXCLUSION_TYPES)))],
        "EXCLDATE": _date(rng, 1995, 2023),
        "REINDATE": NO_DATE,
        "WAIVERDATE": NO_DATE,
    })
    row.update(entry)
    return row
