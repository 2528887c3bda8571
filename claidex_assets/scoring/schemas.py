"""Column schemas of the scoring engine's inputs and of each stage's output.

Inputs are checked at the boundary with
:func:`claidex_assets.ownership.schema.check_schema`, which raises naming the
missing or mistyped column. Extra input columns are allowed and ignored.
"""

from __future__ import annotations

import polars as pl

from claidex_assets.ownership.schema import OWNERSHIP_FEATURES, check_schema

# Program names in the payments view, in alphabetical order (ties between
# programs resolve to the first of these).
PROGRAMS = ("Medicaid", "Medicare", "MedicarePartD")
PROGRAM_PAYMENT_COLUMNS = {
    "Medicaid": "payments_medicaid",
    "Medicare": "payments_medicare",
    "MedicarePartD": "payments_medicare_part_d",
}

# Taxonomy or state value used when nothing is known.
UNKNOWN = "Unknown"

# Peer group levels: the (taxonomy_10, state, year) group, the
# (taxonomy_10, year) fallback, or no eligible peer at all.
LEVELS = pl.Enum(["state", "taxonomy", "none"])

PAYMENTS = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "program": pl.Utf8,
    "payments": pl.Float64,
    "claims": pl.Float64,
    "beneficiaries": pl.Float64,
    "taxonomy": pl.Utf8,
    "state": pl.Utf8,
}

PROVIDERS = {"npi": pl.Utf8, "display_name": pl.Utf8, "taxonomy_1": pl.Utf8, "state": pl.Utf8}

EXCLUSIONS = {"exclusion_id": pl.Utf8, "npi": pl.Utf8, "reinstated": pl.Boolean}

PEER_METRICS = {
    "npi": pl.Utf8,
    "year": pl.Int32,
    "window_end_year": pl.Int32,
    "payments": pl.Float64,
    "claims": pl.Float64,
    "beneficiaries": pl.Float64,
    "payments_medicaid": pl.Float64,
    "payments_medicare": pl.Float64,
    "payments_medicare_part_d": pl.Float64,
    "m1": pl.Float64,
    "m2": pl.Float64,
    "m3": pl.Float64,
    "x1": pl.Float64,
    "x2": pl.Float64,
    "x3": pl.Float64,
    # Categorical, or an Enum of the run's values as compute_peer_metrics returns.
    "taxonomy_10": pl.Categorical(),
    "state": pl.Categorical(),
    "eligible": pl.Boolean,
    "peer_group_level": LEVELS,
    "peer_count": pl.Int32,
    "z1": pl.Float64,
    "z2": pl.Float64,
    "z3": pl.Float64,
    "growth": pl.Float64,
    "growth_group_level": LEVELS,
    "growth_peer_count": pl.Int32,
    "z_growth": pl.Float64,
    "m1_percentile": pl.Float64,
}

# The peer-metrics columns the component scores read. A frame with only
# these columns gives the same scores as the full frame.
PEER_METRICS_FOR_COMPONENTS = {
    column: PEER_METRICS[column]
    for column in (
        "npi",
        "year",
        "window_end_year",
        "payments_medicaid",
        "payments_medicare",
        "payments_medicare_part_d",
        "taxonomy_10",
        "state",
        "peer_group_level",
        "peer_count",
        "z1",
        "z2",
        "z3",
        "z_growth",
        "m1_percentile",
    )
}

COMPONENT_SCORES = {
    "npi": pl.Utf8,
    "billing_outlier_score": pl.Float64,
    "billing_outlier_percentile": pl.Float64,
    "ownership_chain_risk": pl.Float64,
    "payment_trajectory_score": pl.Float64,
    "payment_trajectory_zscore": pl.Float64,
    "exclusion_proximity_score": pl.Float64,
    "program_concentration_score": pl.Float64,
    "peer_taxonomy": pl.Utf8,
    "peer_state": pl.Utf8,
    "peer_count": pl.Int32,
    "data_window_years": pl.List(pl.Int32),
    "top_program": pl.Utf8,
    "chain_excluded_count": pl.Int64,
    "r_raw": pl.Float64,
}

CALIBRATED_SCORES = {
    **COMPONENT_SCORES,
    "risk_score": pl.Float64,
    "risk_label": pl.Utf8,
    "flags": pl.List(pl.Utf8),
    "components": pl.Utf8,
}

def check_frame(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """Check ``frame`` like :func:`check_schema`, accepting any text type for Categorical and Enum columns.

    A declared Categorical column keeps its Utf8, Categorical or Enum type. A
    declared Enum column given as text is cast to the Enum, which raises on a
    value outside its categories.
    """
    accepted = dict(schema)
    casts = []
    for column, dtype in schema.items():
        actual = frame.schema.get(column)
        if not isinstance(actual, (pl.String, pl.Categorical, pl.Enum)):
            continue
        if dtype == pl.Categorical:
            accepted[column] = actual
        elif isinstance(dtype, pl.Enum) and actual != dtype:
            casts.append(pl.col(column).cast(pl.Utf8).cast(dtype))
    return check_schema(frame.with_columns(casts), accepted, name)


__all__ = [
    "CALIBRATED_SCORES",
    "COMPONENT_SCORES",
    "EXCLUSIONS",
    "OWNERSHIP_FEATURES",
    "PAYMENTS",
    "PEER_METRICS",
    "PEER_METRICS_FOR_COMPONENTS",
    "PROGRAMS",
    "PROGRAM_PAYMENT_COLUMNS",
    "PROVIDERS",
    "LEVELS",
    "UNKNOWN",
    "check_frame",
    "check_schema",
]
