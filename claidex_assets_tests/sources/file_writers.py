"""Write small CSV files in the public formats, with control over line endings and byte encodings."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from claidex_assets.npi import make_npi

# Valid NPIs for fixtures; NPI_CHECK_ZERO ends in the check digit 0.
NPI_A = make_npi(123456789)  # 1234567893
NPI_CHECK_ZERO = make_npi(123456781)  # 1234567810
NPI_B = make_npi(123456780)  # 1234567802
NPI_C = make_npi(123456782)  # 1234567828
NPI_D = make_npi(123456783)  # 1234567836
NPI_E = make_npi(123456784)  # 1234567844
NPI_F = make_npi(123456785)  # 1234567851
NPI_G = make_npi(123456786)  # 1234567869
NPI_H = make_npi(123456787)  # 1234567877
NPI_I = make_npi(123456788)  # 1234567885
BAD_CHECK_DIGIT = "1234567890"


def csv_line(cells: Sequence[object], quote_all: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="")
    writer.writerow(["" if cell is None else cell for cell in cells])
    return buffer.getvalue()


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    line_end: str = "\r\n",
    quote_all: bool = False,
    cp1252_rows: Sequence[int] = (),
) -> Path:
    """Write ``rows`` under ``header``; rows whose index is in ``cp1252_rows`` are encoded as cp1252, the rest as UTF-8."""
    data = bytearray((csv_line(header, quote_all) + line_end).encode("utf-8"))
    for index, row in enumerate(rows):
        encoding = "cp1252" if index in cp1252_rows else "utf-8"
        data += (csv_line(row, quote_all) + line_end).encode(encoding)
    path.write_bytes(bytes(data))
    return path
