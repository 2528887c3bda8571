import math

import polars as pl
import pytest

from claidex_assets.scoring.stats import clean_amount, logistic_score, median_and_mad, robust_z


def _z_of(values: list[float], x: float) -> float:
    frame = pl.DataFrame({"group": [1] * len(values), "value": values})
    stats = frame.group_by("group").agg(median_and_mad("value"))
    probe = pl.DataFrame({"value": [x]}).with_columns(
        pl.lit(stats["value_median"][0]).alias("median"), pl.lit(stats["value_mad"][0]).alias("mad")
    )
    return probe.select(robust_z(pl.col("value"), pl.col("median"), pl.col("mad"))).item()


def test_median_and_mad_odd_group():
    # values 1, 2, 4: median 2, deviations 1, 0, 2, MAD = median(0, 1, 2) = 1
    stats = pl.DataFrame({"v": [4.0, 1.0, 2.0]}).select(median_and_mad("v"))
    assert stats["v_median"][0] == 2.0
    assert stats["v_mad"][0] == 1.0


def test_median_of_even_count_is_middle_mean():
    # values 1, 2, 4, 10: median (2 + 4) / 2 = 3; deviations 2, 1, 1, 7 -> MAD (1 + 2) / 2 = 1.5
    stats = pl.DataFrame({"v": [10.0, 1.0, 4.0, 2.0]}).select(median_and_mad("v"))
    assert stats["v_median"][0] == 3.0
    assert stats["v_mad"][0] == 1.5


def test_robust_z_hand_computed():
    # median 2, MAD 1: z(4) = (4 - 2) / (1.4826 * 1) = 1.34898...
    assert _z_of([1.0, 2.0, 4.0], 4.0) == pytest.approx(2 / 1.4826)


def test_robust_z_zero_mad_floored_and_clipped():
    # All members equal 3: MAD = 0 is floored at 1e-9, so any other value
    # is about 1e9 scale units away and clips to +5 or -5.
    assert _z_of([3.0, 3.0, 3.0], 3.0) == 0.0
    assert _z_of([3.0, 3.0, 3.0], 3.5) == 5.0
    assert _z_of([3.0, 3.0, 3.0], 2.5) == -5.0


def test_robust_z_clipped_at_five():
    # median 2, MAD 1: z(100) = 98 / 1.4826 = 66.1 -> clipped to 5
    assert _z_of([1.0, 2.0, 4.0], 100.0) == 5.0
    assert _z_of([1.0, 2.0, 4.0], -100.0) == -5.0


def test_robust_z_without_group_is_zero():
    probe = pl.DataFrame({"value": [7.0], "median": [None], "mad": [None]}, schema={
        "value": pl.Float64, "median": pl.Float64, "mad": pl.Float64
    })
    assert probe.select(robust_z(pl.col("value"), pl.col("median"), pl.col("mad"))).item() == 0.0


def test_robust_z_null_value_stays_null():
    probe = pl.DataFrame({"value": [None], "median": [1.0], "mad": [1.0]}, schema={
        "value": pl.Float64, "median": pl.Float64, "mad": pl.Float64
    })
    assert probe.select(robust_z(pl.col("value"), pl.col("median"), pl.col("mad"))).item() is None


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        (0.0, 50.0),  # 100 / (1 + e^0) = 50
        (2.0, 100 / (1 + math.exp(-1))),  # 73.1059
        (5.0, 100 / (1 + math.exp(-2.5))),  # 92.4142
        (-5.0, 100 / (1 + math.exp(2.5))),  # 7.5858
    ],
)
def test_logistic_score_values(z, expected):
    assert pl.select(logistic_score(pl.lit(z))).item() == pytest.approx(expected)


def test_clean_amount_zeroes_bad_values():
    values = pl.Series("v", [5.0, -1.0, float("nan"), float("inf"), None, 2e15])
    cleaned = pl.DataFrame([values]).select(clean_amount(pl.col("v"))).to_series().to_list()
    assert cleaned == [5.0, 0.0, 0.0, 0.0, 0.0, 1e15]
