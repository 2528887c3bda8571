"""The five component scores and the raw composite, one row per scored NPI.

Component formulas, with T the latest year in the payment data:

- billing_outlier_score: a_t = mean of max(z1, 0), max(z2, 0), max(z3, 0);
  z_b = sum(w_t a_t) / sum(w_t) with w_t = 0.7^(T - t) over the provider's
  years; score = 100 / (1 + e^(-z_b / 2)).
- payment_trajectory_score: the same decay-weighted mean of max(z_growth, 0)
  over the years that have a growth value, rounded to 4 decimals
  (payment_trajectory_zscore), then mapped with the same logistic. No growth
  value gives z = 0 and score 50.
- program_concentration_score: s = largest single-program payments / all
  payments over T-2..T; 0 when s <= 0.5, else min(100, 200 (s - 0.5)); 0
  without payments.
- ownership_chain_risk: min(100, 100 * chain_excluded_weight /
  max(chain_provider_count, 1)); providers without ownership features get 0.
- exclusion_proximity_score: 100 for an exclusions row with the NPI that is
  not reinstated, else 80 when an owner or the facility is excluded, else 50
  when the chain has an excluded provider, else 0.

Components are rounded to 2 decimals and r_raw = 0.30 S1 + 0.25 S2 + 0.20 S3
+ 0.15 S4 + 0.10 S5 is computed from the rounded values and rounded to 4
decimals, so anyone can recompute it from a published row. Rounding is half
away from zero, like Postgres ``round`` on NUMERIC.

Every NPI is scored from its own rows of the peer metrics alone (the peer
statistics in them are already global), so scoring NPI chunks and
concatenating gives the same rows as one pass.
"""

from __future__ import annotations

import logging

import polars as pl
import pyarrow as pa

from claidex_assets.scoring.metrics import npi_number
from claidex_assets.scoring.peers import LEVEL_NONE, LEVEL_STATE, WINDOW_YEARS
from claidex_assets.scoring.schemas import (
    COMPONENT_SCORES,
    EXCLUSIONS,
    OWNERSHIP_FEATURES,
    PAYMENTS,
    PEER_METRICS_FOR_COMPONENTS,
    PROGRAM_PAYMENT_COLUMNS,
    PROVIDERS,
    check_frame,
    check_schema,
)
from claidex_assets.scoring.stats import logistic_score

logger = logging.getLogger(__name__)

DECAY = 0.7
CONCENTRATION_YEARS = 3
WEIGHTS = {
    "billing_outlier_score": 0.30,
    "ownership_chain_risk": 0.25,
    "payment_trajectory_score": 0.20,
    "exclusion_proximity_score": 0.15,
    "program_concentration_score": 0.10,
}


def round_half_away_from_zero(value: pl.Expr, decimals: int) -> pl.Expr:
    """Round half away from zero, as Postgres does for NUMERIC."""
    return value.round(decimals, mode="half_away_from_zero")


def compute_component_scores(
    peer_metrics: pl.DataFrame,
    payments: pl.DataFrame | None,
    providers: pl.DataFrame | None,
    exclusions: pl.DataFrame,
    ownership_features: pl.DataFrame,
) -> pl.DataFrame:
    """Score every NPI in ``peer_metrics``; returns the ``COMPONENT_SCORES`` columns sorted by npi.

    ``payments`` and ``providers`` are only schema-checked (pass None to skip
    the check): the per-program payments and the resolved taxonomy and state
    they contribute already travel in ``peer_metrics``, which lets a chunk of
    NPIs be scored from its own rows. Only the ``PEER_METRICS_FOR_COMPONENTS``
    columns of ``peer_metrics`` are read.
    """
    peer_metrics = check_frame(peer_metrics, PEER_METRICS_FOR_COMPONENTS, "peer_metrics")
    if payments is not None:
        check_schema(payments, PAYMENTS, "payments")
    if providers is not None:
        check_schema(providers, PROVIDERS, "providers")
    exclusions = check_schema(exclusions, EXCLUSIONS, "exclusions")
    ownership_features = check_schema(ownership_features, OWNERSHIP_FEATURES, "ownership_features")

    if peer_metrics.height == 0:
        return pl.DataFrame(schema=COMPONENT_SCORES)
    peer_metrics = _sorted_by_provider_year(peer_metrics)
    window_end = _window_end_year(peer_metrics)

    scores = _window_aggregates(peer_metrics, window_end)
    scores = _add_ownership_and_exclusion(scores, exclusions, ownership_features)
    composite = pl.lit(0.0)
    for column, weight in WEIGHTS.items():
        composite = composite + weight * pl.col(column)
    scores = scores.with_columns(round_half_away_from_zero(composite, 4).alias("r_raw"))
    logger.info("component scores for %s NPIs", scores.height)
    return scores.select(list(COMPONENT_SCORES))


def _sorted_by_provider_year(peer_metrics: pl.DataFrame) -> pl.DataFrame:
    """Return the rows sorted by (npi, year); raise on a repeated (npi, year)."""
    # Checking the order is one pass over the rows, much cheaper than a sort.
    if peer_metrics.get_column("npi").is_sorted():
        provider = pl.col("npi").rle_id()
        year = pl.col("year")
        ascending = (provider != provider.shift(1)) | (year > year.shift(1))
        if peer_metrics.select(ascending.fill_null(True).all()).item():
            return peer_metrics
    duplicated = peer_metrics.filter(pl.struct("npi", "year").is_duplicated())
    if duplicated.height:
        raise ValueError(
            f"peer_metrics: npi {duplicated['npi'].min()!r} has more than one row for a year; "
            f"pass the output of compute_peer_metrics, which has one row per (npi, year)"
        )
    return peer_metrics.sort("npi", "year")


def _window_end_year(peer_metrics: pl.DataFrame) -> int:
    ends = peer_metrics.get_column("window_end_year").unique().to_list()
    if len(ends) != 1 or ends[0] is None:
        raise ValueError(
            f"peer_metrics: window_end_year has the values {ends}, expected one year; pass rows "
            f"of a single compute_peer_metrics run"
        )
    start = ends[0] - (WINDOW_YEARS - 1)
    outside = peer_metrics.filter(~pl.col("year").is_between(start, ends[0]))
    if outside.height:
        raise ValueError(
            f"peer_metrics: {outside.height} rows lie outside the window {start}..{ends[0]}, "
            f"for example npi {outside['npi'][0]!r} year {outside['year'][0]}"
        )
    return ends[0]


def _window_aggregates(peer_metrics: pl.DataFrame, window_end: int) -> pl.DataFrame:
    """Collapse each NPI's provider-years into billing, trajectory and concentration scores.

    The rows are sorted by (npi, year) and an NPI has at most five years, so
    each NPI's sums add the rows 4..0 places before its last row, oldest year
    first. That makes every sum an exact function of the NPI's own rows,
    independent of chunking and row order.
    """
    provider_ids = peer_metrics.select(pl.col("npi").rle_id()).to_series()
    boundaries = pl.DataFrame({"provider": provider_ids}).select(
        pl.arg_where(pl.col("provider") != pl.col("provider").shift(1).fill_null(-1)).alias("start")
    ).to_series()
    starts = boundaries.cast(pl.Int64)
    ends = pl.concat([starts.slice(1), pl.Series([peer_metrics.height], dtype=pl.Int64)]) - 1
    provider = pl.col("_provider")

    weight = pl.lit(DECAY).pow(window_end - pl.col("year"))
    billing = (
        pl.col("z1").clip(lower_bound=0.0) + pl.col("z2").clip(lower_bound=0.0) + pl.col("z3").clip(lower_bound=0.0)
    ) / 3.0
    has_growth = pl.col("z_growth").is_not_null()
    in_concentration_window = pl.col("year") > window_end - CONCENTRATION_YEARS
    recent = [f"_recent_{c}" for c in PROGRAM_PAYMENT_COLUMNS.values()]
    term_exprs = [
        weight.alias("_weight"),
        (weight * billing).alias("_weighted_billing"),
        pl.when(has_growth).then(weight).otherwise(0.0).alias("_growth_weight"),
        pl.when(has_growth).then(weight * pl.col("z_growth").clip(lower_bound=0.0)).otherwise(0.0)
        .alias("_weighted_growth"),
        *[
            pl.when(in_concentration_window).then(pl.col(c)).otherwise(0.0).alias(name)
            for c, name in zip(PROGRAM_PAYMENT_COLUMNS.values(), recent)
        ],
    ]

    # A row 1..4 places back counts only when it belongs to the same NPI.
    # Shifted columns do this in one parallel pass with no gathers.
    same_at = {offset: provider.shift(offset) == provider for offset in range(1, WINDOW_YEARS)}
    offsets = list(range(WINDOW_YEARS - 1, -1, -1))

    def window_total(term: pl.Expr) -> pl.Expr:
        total = pl.lit(0.0)
        for offset in offsets:
            value = term.shift(offset)
            if offset:
                value = pl.when(same_at[offset]).then(value).otherwise(0.0)
            total = total + value
        return total

    names = [term.meta.output_name() for term in term_exprs]
    last = (provider != provider.shift(-1)).fill_null(True)
    sums = (
        peer_metrics.lazy()
        .select("year", "z1", "z2", "z3", "z_growth", *PROGRAM_PAYMENT_COLUMNS.values())
        .select(pl.Series("_provider", provider_ids), *term_exprs)
        .select(*[window_total(pl.col(name)).alias(name) for name in names], last.alias("_last"))
        .filter("_last")
        .drop("_last")
        .collect()
    )

    latest_columns = ["npi", "m1_percentile", "taxonomy_10", "state", "peer_group_level", "peer_count"]
    latest = (
        peer_metrics.select(pl.col(latest_columns).gather(ends))
        .hstack(sums)
        .with_columns(_year_lists(peer_metrics, starts))
    )
    billing_z = pl.col("_weighted_billing") / pl.col("_weight")
    trajectory_z = round_half_away_from_zero(
        pl.when(pl.col("_growth_weight") > 0.0)
        .then(pl.col("_weighted_growth") / pl.col("_growth_weight"))
        .otherwise(0.0),
        4,
    )
    return latest.with_columns(
        round_half_away_from_zero(logistic_score(billing_z), 2).alias("billing_outlier_score"),
        round_half_away_from_zero(pl.col("m1_percentile"), 2).alias("billing_outlier_percentile"),
        trajectory_z.alias("payment_trajectory_zscore"),
        round_half_away_from_zero(logistic_score(trajectory_z), 2).alias("payment_trajectory_score"),
        _concentration_score(recent).alias("program_concentration_score"),
        _top_program(recent).alias("top_program"),
        pl.col("taxonomy_10").cast(pl.Utf8).alias("peer_taxonomy"),
        pl.when(pl.col("peer_group_level") == LEVEL_STATE)
        .then(pl.col("state").cast(pl.Utf8))
        .otherwise(None)
        .alias("peer_state"),
    ).with_columns(
        # With no eligible peer at all the group is empty: peer_count is 0 and
        # peer_taxonomy keeps the taxonomy that was searched.
        pl.when(pl.col("peer_group_level") == LEVEL_NONE).then(0).otherwise(pl.col("peer_count"))
        .cast(pl.Int32)
        .alias("peer_count"),
    )


def _year_lists(peer_metrics: pl.DataFrame, starts: pl.Series) -> pl.Series:
    """Return each NPI's years as one List[Int32] row, built from the row offsets of the NPIs."""
    offsets = pl.concat([starts, pl.Series([peer_metrics.height], dtype=pl.Int64)]).cast(pl.Int32)
    lists = pa.ListArray.from_arrays(offsets.to_arrow(), peer_metrics.get_column("year").to_arrow())
    return pl.Series("data_window_years", lists, dtype=pl.List(pl.Int32))


def _concentration_score(program_columns: list[str]) -> pl.Expr:
    medicaid, medicare, part_d = (pl.col(c) for c in program_columns)
    total = medicaid + medicare + part_d
    share = pl.max_horizontal(medicaid, medicare, part_d) / total
    score = pl.min_horizontal(pl.lit(100.0), 200.0 * (share - 0.5))
    return round_half_away_from_zero(pl.when((total > 0.0) & (share > 0.5)).then(score).otherwise(0.0), 2)


def _top_program(program_columns: list[str]) -> pl.Expr:
    """Return the program with the largest recent payments (ties: alphabetical); null without payments."""
    medicaid, medicare, part_d = (pl.col(c) for c in program_columns)
    names = list(PROGRAM_PAYMENT_COLUMNS)
    return (
        pl.when(medicaid + medicare + part_d <= 0.0)
        .then(None)
        .when((medicaid >= medicare) & (medicaid >= part_d))
        .then(pl.lit(names[0]))
        .when(medicare >= part_d)
        .then(pl.lit(names[1]))
        .otherwise(pl.lit(names[2]))
    )


def _add_ownership_and_exclusion(
    scores: pl.DataFrame, exclusions: pl.DataFrame, ownership_features: pl.DataFrame
) -> pl.DataFrame:
    """Add ownership_chain_risk, exclusion_proximity_score and chain_excluded_count."""
    npi = pl.col("npi")
    # Features loaded from the partitions are sorted by NPI. A repeat is then
    # next to its twin, and one pass finds it.
    if ownership_features.get_column("npi").is_sorted():
        duplicated = ownership_features.filter(npi == npi.shift(1))
    else:
        duplicated = ownership_features.filter(npi.is_duplicated())
    if duplicated.height:
        raise ValueError(
            f"ownership_features: npi {duplicated['npi'].min()!r} has more than one row; "
            f"the features must have one row per NPI"
        )
    features = ownership_features.select(
        npi_number("npi").alias("_npi_number"),
        pl.col("chain_provider_count").fill_null(0),
        pl.col("chain_excluded_count").fill_null(0),
        pl.col("chain_excluded_weight").fill_null(0.0),
        pl.col("owner_excluded").fill_null(False),
    )
    # Join on the NPI as a number (cheaper than 10-character text) and on
    # the key column alone, then stack the result, so the wide frame is not
    # copied.
    matched = (
        scores.select(npi_number("npi").alias("_npi_number"))
        .join(features.drop_nulls("_npi_number"), on="_npi_number", how="left", maintain_order="left")
        .drop("_npi_number")
    )
    scores = scores.hstack(
        matched.select(
            pl.col("chain_provider_count").fill_null(0),
            pl.col("chain_excluded_count").fill_null(0),
            pl.col("chain_excluded_weight").fill_null(0.0),
            pl.col("owner_excluded").fill_null(False),
        )
    )

    active = exclusions.filter(pl.col("npi").is_not_null() & ~pl.col("reinstated").fill_null(False))
    excluded = pl.col("npi").is_in(active.get_column("npi").unique().implode())
    chain_risk = pl.min_horizontal(
        pl.lit(100.0),
        100.0 * pl.col("chain_excluded_weight") / pl.max_horizontal(pl.col("chain_provider_count"), pl.lit(1)),
    )
    proximity = (
        pl.when(excluded)
        .then(100.0)
        .when(pl.col("owner_excluded"))
        .then(80.0)
        .when(pl.col("chain_excluded_count") > 0)
        .then(50.0)
        .otherwise(0.0)
    )
    return scores.with_columns(
        round_half_away_from_zero(chain_risk, 2).alias("ownership_chain_risk"),
        proximity.alias("exclusion_proximity_score"),
    )
