"""Scoring stages: peer metrics, the five component scores and the calibrated risk score.

Each asset is a thin call into ``claidex_assets.scoring``; peer statistics are
always computed over the whole population, never per partition.
"""

import time

import dagster as dg
import polars as pl

from claidex_assets.assets.metadata import score_distribution_markdown
from claidex_assets.scoring import engine
from claidex_assets.scoring.schemas import PAYMENTS as PAYMENT_COLUMNS, PEER_METRICS_FOR_COMPONENTS

SCORING_GROUP = "scoring"


def scoring_payments(payment_extract: pl.DataFrame) -> pl.DataFrame:
    """Select and type the payment columns the engine reads."""
    return payment_extract.select([pl.col(c).cast(t) for c, t in PAYMENT_COLUMNS.items()])


@dg.asset(
    group_name=SCORING_GROUP,
    code_version=engine.METHODOLOGY_VERSION,
    kinds={"polars"},
    ins={"payment_extract": dg.AssetIn(metadata={"columns": list(PAYMENT_COLUMNS)})},
)
def peer_metrics(
    context: dg.AssetExecutionContext, payment_extract: pl.DataFrame, provider_extract: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Provider-year billing metrics with robust z-scores against state/taxonomy peer groups."""
    started = time.perf_counter()
    metrics = engine.compute_peer_metrics(scoring_payments(payment_extract), provider_extract)
    context.log.info("peer metrics: %d provider-years", metrics.height)
    levels = metrics.group_by("peer_group_level").len().sort("peer_group_level")
    # Rows are sorted by (npi, year), so counting NPI changes is one cheap pass.
    npi_count = 0
    if metrics.height:
        npi_count = metrics.select(pl.col("npi").rle_id().max() + 1).item()
    return dg.Output(
        metrics,
        metadata={
            "row_count": metrics.height,
            "npi_count": npi_count,
            "years": dg.MetadataValue.json(sorted(metrics["year"].unique().to_list())),
            "peer_group_levels": dg.MetadataValue.json(dict(zip(levels["peer_group_level"], levels["len"]))),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


@dg.asset(
    group_name=SCORING_GROUP,
    code_version=engine.METHODOLOGY_VERSION,
    kinds={"polars"},
    # Only 15 of the 28 peer-metrics columns feed the components, so the load
    # of the largest stored frame reads only those.
    ins={"peer_metrics": dg.AssetIn(metadata={"columns": list(PEER_METRICS_FOR_COMPONENTS)})},
)
def component_scores(
    context: dg.AssetExecutionContext,
    peer_metrics: pl.DataFrame,
    exclusion_extract: pl.DataFrame,
    ownership_chain_features: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The five component scores, billing percentile and trajectory z for every scored NPI."""
    started = time.perf_counter()
    # Per-program payments and the resolved taxonomy and state already travel
    # in peer_metrics, so the payment and provider extracts are not reloaded.
    scores = engine.compute_component_scores(
        peer_metrics, None, None, exclusion_extract, ownership_chain_features
    )
    context.log.info("component scores: %d providers", scores.height)
    means = {
        column: round(float(scores[column].mean() or 0.0), 2)
        for column in (
            "billing_outlier_score",
            "ownership_chain_risk",
            "payment_trajectory_score",
            "exclusion_proximity_score",
            "program_concentration_score",
        )
    }
    return dg.Output(
        scores,
        metadata={
            "row_count": scores.height,
            "component_means": dg.MetadataValue.json(means),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


@dg.asset(group_name=SCORING_GROUP, code_version=engine.METHODOLOGY_VERSION, kinds={"polars"})
def calibrated_scores(context: dg.AssetExecutionContext, component_scores: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Risk score 0-100 as the percent rank of the composite, with label and flags."""
    started = time.perf_counter()
    scores = engine.calibrate_scores(component_scores)
    labels = scores.group_by("risk_label").len()
    context.log.info("calibrated %d providers: %s", scores.height, dict(zip(labels["risk_label"], labels["len"])))
    return dg.Output(
        scores,
        metadata={
            "row_count": scores.height,
            "score_distribution": dg.MetadataValue.md(score_distribution_markdown(scores)),
            "flagged_providers": scores.filter(pl.col("flags").list.len() > 0).height,
            "methodology_version": engine.METHODOLOGY_VERSION,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
