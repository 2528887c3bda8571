"""Robust statistics shared by the peer comparisons: median/MAD z-scores and the logistic map.

Every peer comparison in the score is a robust z-score of a value ``x``
against the eligible members of its peer group::

    z = (x - median) / (1.4826 * MAD),   MAD = median(|x_j - median|)

NaN and zero-scale policy:

- Inputs are finite. The engine replaces null, NaN, infinite and negative
  amounts by 0 before any metric is formed, so ``x`` is never NaN here.
- The median of an even count is the mean of the two middle values.
- MAD is floored at 1e-9 before dividing, so a group whose members all share
  one value (MAD = 0) gives z = 0 for that value and a z clipped to +5 or -5
  for any other value. The division never produces infinity or NaN.
- z is clipped to [-5, 5].
- A value without a peer group (no eligible member) gets z = 0: no evidence
  counts as typical, not as an outlier.
"""

from __future__ import annotations

import polars as pl

MAD_SCALE = 1.4826
MAD_FLOOR = 1e-9
Z_LIMIT = 5.0


def median_and_mad(column: str) -> list[pl.Expr]:
    """Aggregations giving ``{column}_median`` and ``{column}_mad`` in one group_by pass."""
    value = pl.col(column)
    median = value.median()
    return [
        median.alias(f"{column}_median"),
        (value - median).abs().median().alias(f"{column}_mad"),
    ]


def robust_z(value: pl.Expr, median: pl.Expr, mad: pl.Expr) -> pl.Expr:
    """Clipped robust z of ``value``; 0 where ``median`` is null (no peer group).

    A null ``value`` stays null, so callers decide what a missing value means.
    """
    scale = MAD_SCALE * pl.max_horizontal(mad, pl.lit(MAD_FLOOR))
    z = ((value - median) / scale).clip(-Z_LIMIT, Z_LIMIT)
    return pl.when(value.is_null()).then(None).when(median.is_null()).then(0.0).otherwise(z)


def logistic_score(z: pl.Expr) -> pl.Expr:
    """Map a z-score to 0..100 with ``100 / (1 + e^(-z / 2))``; z = 0 maps to 50."""
    return 100.0 / (1.0 + (-z / 2.0).exp())


# Largest amount the engine accepts; larger values are capped so that fixed
# point sums in Int64 cannot overflow.
AMOUNT_CAP = 1e15


def clean_amount(value: pl.Expr) -> pl.Expr:
    """Return the amount capped at 1e15 when it is finite and positive, else 0.0."""
    return pl.when(value.is_finite() & (value > 0.0)).then(value.clip(upper_bound=AMOUNT_CAP)).otherwise(0.0)
