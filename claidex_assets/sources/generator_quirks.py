"""Malformed and unusual cells that the generator plants at a low rate, and the CSV writer.

Each quirk kind changes one cell of a row (or copies the whole row), and a
row gets at most one quirk, so the expected loader outcome of each row is
known: ``REJECTED_KINDS`` must go to the quarantine, the others must load.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

# A private-use character that the writer turns into the single byte 0xE9
# ("é" in cp1252), which is not valid UTF-8 on its own.
NON_UTF8_MARKER = "\ue000"
NON_UTF8_BYTE = b"\xe9"

REJECTED_KINDS = frozenset(
    {"invalid_npi", "negative_amount", "non_numeric_amount", "duplicate_row", "year_out_of_range"}
)
LOADED_KINDS = frozenset({"suppressed", "thousands_separator", "non_utf8", "zip_plus4", "non_state_code"})


@dataclass
class QuirkResult:
    """A frame after injection and the quirk kind of each of its rows ("" for clean rows).

    The original of a duplicated row has kind ``duplicate_original``: it
    loads, but it is no good as a sample because its key is not unique.
    """

    frame: pl.DataFrame
    kinds: np.ndarray

    @property
    def rejected(self) -> np.ndarray:
        return np.isin(self.kinds, list(REJECTED_KINDS))

    @property
    def clean(self) -> np.ndarray:
        return self.kinds == ""

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        kinds = self.kinds if mask is None else self.kinds[mask]
        values, counts = np.unique(kinds[(kinds != "") & (kinds != "duplicate_original")], return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts)}


def _thousands(value: str) -> str:
    whole, _, fraction = value.partition(".")
    grouped = f"{int(whole):,}"
    return grouped + ("." + fraction if fraction else "")


def _transform(kind: str, value: str, rng: np.random.Generator) -> str:
    if kind == "suppressed":
        return ("", "*", "#")[int(rng.integers(0, 3))]
    if kind == "thousands_separator":
        return _thousands(value)
    if kind == "invalid_npi":
        return value[:9] + str((int(value[9]) + 1 + int(rng.integers(0, 8))) % 10)
    if kind == "negative_amount":
        return "-" + value
    if kind == "non_numeric_amount":
        return ("N/A", "abc", "12.3.4", "$")[int(rng.integers(0, 4))]
    if kind == "non_utf8":
        return value + NON_UTF8_MARKER
    if kind == "zip_plus4":
        return value[:5] + "-" + f"{int(rng.integers(0, 10_000)):04d}"
    if kind == "non_state_code":
        return ("AA", "ZZ", "GU", "VI", "PR")[int(rng.integers(0, 5))]
    if kind == "year_out_of_range":
        return "1899" + value[4:]
    raise ValueError(f"unknown quirk kind {kind!r}")


def inject(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    plan: dict[str, str | None],
    rate: float,
    minimum: int,
    protected: np.ndarray | None = None,
) -> QuirkResult:
    """Plant each quirk kind of ``plan`` (kind -> column, None for duplicate rows) in distinct rows.

    Each kind hits ``max(minimum, rate * rows)`` rows, never a ``protected``
    row (for example a planted anomaly whose values must stay exact).
    Duplicate rows are inserted right after their original.
    """
    height = frame.height
    free = np.ones(height, dtype=bool)
    if protected is not None:
        free &= ~protected
    kinds = np.full(height, "", dtype=object)
    columns = {name: frame[name].clone() for name in {c for c in plan.values() if c}}
    duplicates = np.array([], dtype=np.int64)

    for kind, column in plan.items():
        candidates = free.copy()
        if kind == "thousands_separator":
            values = frame[column].cast(pl.Float64, strict=False).fill_null(0).to_numpy()
            candidates &= values >= 1000
        elif kind in ("negative_amount", "invalid_npi", "zip_plus4"):
            candidates &= frame[column].str.len_chars().fill_null(0).to_numpy() >= (10 if kind == "invalid_npi" else 5)
        pool = np.flatnonzero(candidates)
        count = min(len(pool), max(minimum, int(round(rate * height))))
        chosen = np.sort(rng.choice(pool, size=count, replace=False)) if count else np.array([], dtype=np.int64)
        free[chosen] = False
        if kind == "duplicate_row":
            duplicates = chosen
            kinds[chosen] = "duplicate_original"
            continue
        kinds[chosen] = kind
        if count:
            old = columns[column].gather(chosen).to_list()
            columns[column] = columns[column].scatter(chosen, [_transform(kind, value, rng) for value in old])

    if columns:
        frame = frame.with_columns(columns.values())
    if len(duplicates):
        order = np.sort(np.concatenate([np.arange(height), duplicates]), kind="stable")
        is_copy = np.zeros(len(order), dtype=bool)
        is_copy[1:] = order[1:] == order[:-1]
        frame = frame[order]
        kinds = kinds[order]
        kinds[is_copy] = "duplicate_row"
    return QuirkResult(frame=frame, kinds=kinds)


def write_csv(
    frame: pl.DataFrame,
    path: Path,
    *,
    layout: list[str] | None = None,
    quote_all: bool = False,
    encoding: str = "utf-8",
    chunk_rows: int = 250_000,
) -> int:
    """Write ``frame`` (all Utf8) as CSV in chunks and return the byte size.

    ``layout`` lists the file's columns in order; those missing from the
    frame are written empty.
    Empty strings are written as empty fields, or as ``""`` when ``quote_all``.
    Non-UTF-8 markers become the raw byte 0xE9. With ``encoding='cp1252'``
    the whole file is re-encoded, as the CMS SNF owner files are.
    """
    quote_style = "always" if quote_all else "necessary"
    columns = layout or frame.columns
    marker = NON_UTF8_MARKER.encode("utf-8")
    size = 0
    with open(path, "wb") as handle:
        for start in range(0, max(frame.height, 1), chunk_rows):
            buffer = io.BytesIO()
            chunk = frame.slice(start, chunk_rows)
            chunk = chunk.select([pl.col(c) if c in chunk.columns else pl.lit("").alias(c) for c in columns])
            if not quote_all:
                # Polars quotes an empty string to tell it from null; the public files write nothing.
                chunk = chunk.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in columns)
            chunk.write_csv(
                buffer, include_header=start == 0, quote_style=quote_style, null_value=""
            )
            data = buffer.getvalue()
            if encoding == "utf-8":
                if marker in data:
                    data = data.replace(marker, NON_UTF8_BYTE)
            else:
                # In a cp1252 file every accented letter is already a non-UTF-8 byte.
                data = data.decode("utf-8").replace(NON_UTF8_MARKER, "é").encode(encoding)
            handle.write(data)
            size += len(data)
    return size
