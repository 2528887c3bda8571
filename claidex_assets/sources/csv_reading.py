"""Reading the public CMS and OIG CSV files, with the quirks they have in practice.

Every loader reads through this module, so each quirk is handled once:

- header names differ between release years in case, spacing and naming
  (``Rndrng_NPI`` or ``rndrng_npi``); :func:`resolve_columns` matches a
  normalised name against a list of aliases per column and ignores the rest;
- a file may start with a UTF-8 byte order mark and end lines with CRLF;
- quoted fields may hold commas and doubled quotes (standard CSV);
- files that are not valid UTF-8 (older files are cp1252) are re-encoded by
  :func:`utf8_copy`: each invalid byte is decoded as cp1252 (latin-1 for the
  five bytes cp1252 leaves undefined), valid UTF-8 is kept as is;
- suppressed or missing counts are written as blank, ``*`` or ``#`` and
  become null; numbers may carry thousands separators or a ``$``;
- files are read in batches of rows, never whole, so an 11 GB file fits.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from claidex_assets.errors import InputDataError
from claidex_assets.npi import valid_npi_expr
from claidex_assets.sources.validation import MAX_AMOUNT, first_reason

log = logging.getLogger(__name__)

# Rows per batch when streaming a file: a batch of a wide NPPES selection is
# a few hundred MB at most.
BATCH_ROWS = 1_000_000

SUPPRESSED_MARKERS = ("", "*", "#")
# Blank cells are null once read, so only these two remain to check.
SUPPRESSION_MARKS = ["*", "#"]
NPI_VALID = "__npi_valid"

# Data rows are numbered from 2 because line 1 is the header. The number is
# the physical line only while no quoted field contains a line break.
FIRST_DATA_LINE = 2

_READ_BLOCK_BYTES = 64 << 20
_ERROR_HANDLER = "claidex-cp1252-fallback"
_recoded_bytes = 0


def _decode_invalid_as_cp1252(error: UnicodeDecodeError) -> tuple[str, int]:
    global _recoded_bytes
    bad = error.object[error.start : error.end]
    _recoded_bytes += len(bad)
    # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; latin-1 maps
    # them to the matching C1 control characters.
    text = "".join(bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in bad)
    return text, error.end


codecs.register_error(_ERROR_HANDLER, _decode_invalid_as_cp1252)


def normalize_header(name: str) -> str:
    """Normalise a header cell for matching: drop a BOM, case and every non-alphanumeric character."""
    return re.sub(r"[^0-9a-z]", "", name.replace("\ufeff", "").lower())


def read_header(path: Path) -> list[str]:
    """Return the cells of the first line of ``path`` (decoded as UTF-8, else cp1252)."""
    try:
        with open(path, "rb") as handle:
            first_line = handle.readline()
    except OSError as exc:
        raise InputDataError(f"cannot read {path}: {exc.strerror}; check the path and its permissions") from exc
    if not first_line.strip():
        raise InputDataError(f"{path} is empty or has no header line; expected a CSV file with a header row")
    text = first_line.decode("utf-8", errors=_ERROR_HANDLER).lstrip("\ufeff").rstrip("\r\n")
    return next(csv.reader([text]))


def resolve_columns(
    header: Sequence[str],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    path: Path,
    source: str,
) -> dict[str, str]:
    """Map file header names to canonical column names.

    ``aliases`` gives, per canonical name, the header names it may have in
    any release year; matching ignores case, spaces and punctuation. The
    first header cell that matches wins. Raises :class:`InputDataError`
    naming the missing columns when a required one is absent.
    """
    by_normal: dict[str, str] = {}
    for cell in header:
        by_normal.setdefault(normalize_header(cell), cell)
    mapping: dict[str, str] = {}
    for canonical, names in aliases.items():
        for name in (canonical, *names):
            cell = by_normal.get(normalize_header(name))
            if cell is not None and cell not in mapping:
                mapping[cell] = canonical
                break
    found = set(mapping.values())
    missing = [name for name in required if name not in found]
    if missing:
        expected = "; ".join(f"{name} (one of {', '.join(aliases[name]) or name})" for name in missing)
        raise InputDataError(
            f"{path.name} does not look like a {source} file: missing column(s) {expected}. "
            f"Its header starts with {list(header[:8])}; pass the right file or loader."
        )
    return mapping


def is_utf8(path: Path) -> bool:
    """Return True when the whole file decodes as UTF-8 (read in 64 MB blocks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            while block := handle.read(_READ_BLOCK_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


@contextmanager
def utf8_copy(path: Path) -> Iterator[tuple[Path, int]]:
    """Yield a UTF-8 version of ``path`` and the number of bytes re-decoded as cp1252.

    A valid UTF-8 file is yielded as it is (count 0). Otherwise a re-encoded
    copy is written to a temporary file, which is removed afterwards.
    """
    if is_utf8(path):
        yield path, 0
        return
    global _recoded_bytes
    before = _recoded_bytes
    decoder = codecs.getincrementaldecoder("utf-8")(errors=_ERROR_HANDLER)
    with tempfile.NamedTemporaryFile(prefix=f"{path.stem}-", suffix=".utf8.csv", delete=False) as target:
        target_path = Path(target.name)
        with open(path, "rb") as source:
            while block := source.read(_READ_BLOCK_BYTES):
                target.write(decoder.decode(block).encode("utf-8"))
            target.write(decoder.decode(b"", final=True).encode("utf-8"))
    recoded = _recoded_bytes - before
    log.warning("%s is not valid UTF-8: decoded %s byte(s) as cp1252", path.name, recoded)
    try:
        yield target_path, recoded
    finally:
        target_path.unlink(missing_ok=True)


def scan_text_columns(path: Path, mapping: Mapping[str, str], *, encoding: str = "utf8") -> pl.LazyFrame:
    """Scan ``path`` with every column as text, keeping the mapped columns under canonical names.

    Adds ``line_number`` (the header is line 1). Surrounding whitespace is
    stripped and blank cells become null. Rows with too many fields are
    truncated and rows with too few get nulls, so one ragged line never
    stops a national load. Such rows usually fail validation afterwards.
    """
    frame = pl.scan_csv(
        path,
        infer_schema=False,
        row_index_name="line_number",
        row_index_offset=FIRST_DATA_LINE,
        truncate_ragged_lines=True,
        encoding=encoding,
        quote_char='"',
    )
    # polars keeps a BOM in the first header name; match it by position.
    header = read_header(path)
    renames = {}
    for index, cell in enumerate(header):
        if cell in mapping:
            renames[index] = mapping[cell]
    schema_names = frame.collect_schema().names()[1:]
    selected = [_blank_to_null(pl.col(schema_names[index])).alias(canonical) for index, canonical in renames.items()]
    return frame.select(pl.col("line_number").cast(pl.Int64), *selected)


def _blank_to_null(column: pl.Expr) -> pl.Expr:
    stripped = column.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def iter_batches(frame: pl.LazyFrame, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """Yield ``frame`` in batches of about ``batch_rows`` rows without collecting it whole."""
    try:
        for batch in frame.collect_batches(chunk_size=batch_rows):
            if batch.height:
                yield batch
    except pl.exceptions.ComputeError as exc:
        raise InputDataError(f"cannot parse CSV: {exc}; check that the file is a complete, comma-separated CSV") from exc


def add_missing(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Add absent optional columns as all-null text."""
    missing = [pl.lit(None, pl.Utf8).alias(name) for name in columns if name not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def value_column(column: str) -> str:
    """Name of the parsed numeric value of a text column (see :func:`with_values`)."""
    return f"__{column}"


def number(column: str) -> pl.Expr:
    """Parse stripped text to Float64: thousands separators and ``$`` dropped, ``*`` and ``#`` null.

    Expects cells as :func:`scan_text_columns` yields them (stripped, blank
    as null). Text that is no number also becomes null, and
    :func:`not_a_number` distinguishes it from a suppressed cell.
    """
    text = pl.col(column)
    cleaned = text.str.replace_all(",", "", literal=True).str.replace_all("$", "", literal=True)
    return pl.when(text.is_in(SUPPRESSION_MARKS)).then(None).otherwise(cleaned.cast(pl.Float64, strict=False))


def with_values(columns: Sequence[str]) -> list[pl.Expr]:
    """Expressions that add each column's parsed value as :func:`value_column`, computed once per batch.

    The checks below read these value columns, so each cell is parsed once
    however many checks look at it.
    """
    return [number(name).alias(value_column(name)) for name in columns]


def not_a_number(column: str) -> pl.Expr:
    """True where a cell is present, not a suppression mark, and no finite number."""
    text = pl.col(column)
    finite = pl.col(value_column(column)).is_finite().fill_null(False)
    return text.is_not_null() & ~text.is_in(SUPPRESSION_MARKS) & ~finite


def not_a_count(column: str) -> pl.Expr:
    """True where a count cell is present but not a whole, finite number."""
    value = pl.col(value_column(column))
    return not_a_number(column) | (value.is_not_null() & (value != value.floor()))


def count(column: str) -> pl.Expr:
    """Return a count's parsed value as Int64 (suppressed cells null); check :func:`not_a_count` first."""
    value = pl.col(value_column(column))
    return pl.when(value == value.floor()).then(value).otherwise(None).cast(pl.Int64, strict=False)


def too_large(columns: Sequence[str]) -> pl.Expr:
    """True where any of the columns' values is above ``MAX_AMOUNT`` in size."""
    return pl.any_horizontal([(pl.col(value_column(name)).abs() > MAX_AMOUNT).fill_null(False) for name in columns])


def negative(columns: Sequence[str]) -> pl.Expr:
    """True where any of the columns' values is negative."""
    return pl.any_horizontal([(pl.col(value_column(name)) < 0).fill_null(False) for name in columns])


def with_npi_validity(batch: pl.DataFrame, column: str = "npi") -> pl.DataFrame:
    """Add ``__npi_valid`` (Luhn check of ``column``), computed once per distinct NPI.

    Payment files repeat each NPI many times, so checking the distinct values
    and joining back is several times cheaper than checking every row.
    """
    distinct = batch.select(pl.col(column).unique())
    flags = distinct.with_columns(valid_npi_expr(column).alias(NPI_VALID))
    return batch.join(flags, on=column, how="left", nulls_equal=True, maintain_order="left")


def has_replacement_char(columns: Sequence[str]) -> pl.Expr:
    """True where any text column contains U+FFFD, the mark of bytes that failed to decode."""
    return pl.any_horizontal([pl.col(name).str.contains("\ufffd", literal=True).fill_null(False) for name in columns])


def year_from_filename(path: Path) -> int | None:
    """Return the data year a CMS file name states, else None.

    ``MUP_PHY_R24_P05_V10_D22_Prov.csv`` is data year 2022 (the ``D22``
    part; ``R24`` is the release year and is ignored), and so is the Part D
    name ``MUP_DPR_RY24_P04_V10_DY22_NPI.csv`` (``DY22``). Failing that, a
    4-digit year 2000-2099 standing alone in the name counts
    (``Medicare_Part_D_Prescribers_by_Provider_2021.csv``).
    """
    stem = path.stem
    match = re.search(r"(?:^|[_\-.\s])DY?(\d{2})(?=$|[_\-.\s])", stem, flags=re.IGNORECASE)
    if match:
        return 2000 + int(match.group(1))
    match = re.search(r"(?<!\d)(20\d{2})(?!\d)", stem)
    if match:
        return int(match.group(1))
    return None


def resolve_year(path: Path, year: int | None) -> int:
    """Return ``year`` when given, else the year in the file name, else raise InputDataError."""
    if year is not None:
        return int(year)
    found = year_from_filename(path)
    if found is None:
        raise InputDataError(
            f"cannot tell the data year of {path.name}: the name has no 'D22'-style part or 4-digit year; "
            "pass --year YYYY"
        )
    return found


@dataclass
class BatchResult:
    """Accepted rows (parsed columns plus ``line_number``) and rejected rows (raw text plus ``reason``)."""

    accepted: pl.DataFrame
    rejected: pl.DataFrame
    rows_read: int
    rows_skipped: int


def parse_batches(
    batches: Iterable[pl.DataFrame],
    *,
    checks: Sequence[tuple[str, pl.Expr]],
    parsed: Mapping[str, pl.Expr],
    values: Sequence[str] = (),
    skip: pl.Expr | None = None,
) -> BatchResult:
    """Check and parse text batches, keeping the raw text of rejected rows.

    ``skip`` marks rows that are dropped on purpose and only counted (for
    example deactivated NPIs); it is applied before the checks. Each batch
    then gets the parsed values of the ``values`` columns and the NPI check
    (``__npi_valid``), which ``checks`` and ``parsed`` may read. ``checks``
    run in order and the first failing one names the reason. ``parsed``
    builds the output columns of the accepted rows.
    """
    accepted_parts: list[pl.DataFrame] = []
    rejected_parts: list[pl.DataFrame] = []
    rows_read = 0
    rows_skipped = 0
    reason = first_reason(checks)
    for batch in batches:
        rows_read += batch.height
        if skip is not None:
            keep = batch.select(~skip.fill_null(False)).to_series()
            rows_skipped += batch.height - int(keep.sum())
            batch = batch.filter(keep)
        raw_columns = batch.columns
        tagged = with_npi_validity(batch).with_columns(with_values(values)).with_columns(reason.alias("reason"))
        rejected_parts.append(tagged.filter(pl.col("reason").is_not_null()).select(*raw_columns, "reason"))
        good = tagged.filter(pl.col("reason").is_null())
        accepted_parts.append(good.select(pl.col("line_number"), *[expr.alias(name) for name, expr in parsed.items()]))
        log.debug("parsed %s rows so far", rows_read)
    accepted = pl.concat(accepted_parts) if accepted_parts else pl.DataFrame()
    rejected = pl.concat(rejected_parts) if rejected_parts else pl.DataFrame({"line_number": [], "reason": []})
    return BatchResult(accepted, rejected, rows_read, rows_skipped)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast every column except ``line_number`` to text, for quarantine raw values."""
    return frame.with_columns(pl.exclude("line_number").cast(pl.Utf8))
