"""Global calibration: risk_score, risk_label, flags and the components JSON.

risk_score = 100 * PERCENT_RANK(r_raw) over all scored providers, that is
(number of providers with a strictly lower r_raw) / (n - 1), rounded to 2
decimals. Equal r_raw values get equal scores, and n = 1 gives 0. The rank
is global, so this stage runs once over the whole population.

Labels: >= 80 High, >= 60 Elevated, >= 30 Moderate, else Low.

The output never contains NaN or infinity. Every division upstream has a
defined result for empty and single-member groups, and this stage raises
ValueError naming the column if a non-finite value still reaches it.
"""

from __future__ import annotations

import logging

import polars as pl

from claidex_assets.scoring.components import round_half_away_from_zero
from claidex_assets.scoring.flags import flag_lists
from claidex_assets.scoring.schemas import CALIBRATED_SCORES, COMPONENT_SCORES, check_schema

logger = logging.getLogger(__name__)

LABEL_THRESHOLDS = ((80.0, "High"), (60.0, "Elevated"), (30.0, "Moderate"))
LOW_LABEL = "Low"
COMPONENT_KEYS = (
    "billing_outlier_score",
    "billing_outlier_percentile",
    "ownership_chain_risk",
    "payment_trajectory_score",
    "payment_trajectory_zscore",
    "exclusion_proximity_score",
    "program_concentration_score",
)


def risk_label_expr(score: pl.Expr) -> pl.Expr:
    """Map a risk score to its label."""
    label = pl.lit(LOW_LABEL)
    for threshold, name in reversed(LABEL_THRESHOLDS):
        label = pl.when(score >= threshold).then(pl.lit(name)).otherwise(label)
    return label


def calibrate_scores(component_scores: pl.DataFrame) -> pl.DataFrame:
    """Add risk_score, risk_label, flags and components; returns ``CALIBRATED_SCORES`` sorted by npi."""
    scores = check_schema(component_scores, COMPONENT_SCORES, "component_scores")
    _check_finite(scores)
    count = scores.height
    if count > 1:
        lower = pl.col("r_raw").rank("min") - 1
        risk = round_half_away_from_zero(100.0 * lower.cast(pl.Float64) / (count - 1), 2)
    else:
        risk = pl.lit(0.0)
    if not scores.get_column("npi").is_sorted():
        scores = scores.sort("npi")
    scores = scores.with_columns(risk.cast(pl.Float64).alias("risk_score")).with_columns(
        risk_label_expr(pl.col("risk_score")).alias("risk_label"),
        pl.struct(list(COMPONENT_KEYS)).struct.json_encode().alias("components"),
    )
    scores = scores.with_columns(flag_lists(scores))
    logger.info("calibrated %s scores", count)
    return scores.select(list(CALIBRATED_SCORES))


def _check_finite(scores: pl.DataFrame) -> None:
    for column, dtype in scores.schema.items():
        if dtype != pl.Float64:
            continue
        bad = scores.filter(~pl.col(column).is_finite())
        if bad.height:
            raise ValueError(
                f"component_scores: column {column!r} contains {bad.height} NaN or infinite values, "
                f"for example npi {bad['npi'][0]!r}; check the inputs of that provider"
            )
