"""Quirk injection and the CSV writer: one quirk per row, protected rows kept, exact bytes."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from claidex_assets.sources.generator_quirks import inject, write_csv

PLAN = {
    "invalid_npi": "npi",
    "negative_amount": "paid",
    "thousands_separator": "paid",
    "suppressed": "benes",
    "non_utf8": "name",
    "duplicate_row": None,
}


def frame_of(rows: int) -> pl.DataFrame:
    return pl.DataFrame({
        "npi": ["1234567893"] * rows,
        "paid": [f"{1000 + i}.5" for i in range(rows)],
        "benes": [str(20 + i) for i in range(rows)],
        "name": [f"NAME{i}" for i in range(rows)],
    })


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(min_value=40, max_value=400), seed=st.integers(0, 2**32 - 1), protect=st.integers(0, 10))
def test_inject_one_quirk_per_row(rows, seed, protect):
    protected = np.zeros(rows, dtype=bool)
    protected[:protect] = True
    result = inject(frame_of(rows), np.random.default_rng(seed), PLAN, rate=0.01, minimum=2, protected=protected)
    counts = result.counts()
    # Each kind hits max(2, round(1% of rows)) rows; duplicates add rows.
    expected = max(2, round(0.01 * rows))
    assert counts == {kind: expected for kind in PLAN}
    assert result.frame.height == rows + expected
    assert len(result.kinds) == result.frame.height
    # The first `protect` rows come first and unchanged, because no quirk may touch them.
    assert result.frame.head(protect).equals(frame_of(rows).head(protect))
    assert (result.kinds[:protect] == "").all()


def test_inject_rejected_kinds_flagged():
    result = inject(frame_of(100), np.random.default_rng(1), PLAN, rate=0.0, minimum=2)
    rejected_kinds = set(result.kinds[result.rejected])
    assert rejected_kinds == {"invalid_npi", "negative_amount", "duplicate_row"}
    assert result.rejected.sum() == 6  # 2 invalid NPIs + 2 negative amounts + 2 duplicate copies


def test_inject_transforms_cells():
    result = inject(frame_of(50), np.random.default_rng(2), PLAN, rate=0.0, minimum=2)
    frame = result.frame.with_columns(kind=pl.Series(result.kinds))
    negative = frame.filter(pl.col("kind") == "negative_amount")["paid"]
    assert negative.str.starts_with("-").all()
    grouped = frame.filter(pl.col("kind") == "thousands_separator")["paid"]
    assert grouped.str.contains(r"^1,0\d\d\.5$").all()
    assert frame.filter(pl.col("kind") == "suppressed")["benes"].is_in(["", "*", "#"]).all()
    assert (frame.filter(pl.col("kind") == "invalid_npi")["npi"] != "1234567893").all()


def test_write_csv_layout_and_bytes(tmp_path):
    frame = pl.DataFrame({"B": ["x", ""], "A": ["1,5", "JOS\ue000"]})
    size = write_csv(frame, tmp_path / "plain.csv", layout=["A", "EMPTY", "B"])
    data = (tmp_path / "plain.csv").read_bytes()
    # Missing layout columns and empty strings are written as empty fields; the marker becomes 0xE9.
    assert data == b'A,EMPTY,B\n"1,5",,x\nJOS\xe9,,\n'
    assert size == len(data)


def test_write_csv_quoted_and_cp1252(tmp_path):
    frame = pl.DataFrame({"A": ["MUÑOZ", ""]})
    write_csv(frame, tmp_path / "quoted.csv", quote_all=True, encoding="cp1252")
    assert (tmp_path / "quoted.csv").read_bytes() == b'"A"\n"MU\xd1OZ"\n""\n'
