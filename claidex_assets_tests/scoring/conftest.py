"""Builders for small scoring inputs whose expected scores can be worked out by hand."""

from __future__ import annotations

import polars as pl
import pytest

from claidex_assets.npi import make_npi
from claidex_assets.ownership.schema import OWNERSHIP_FEATURES
from claidex_assets.scoring.schemas import COMPONENT_SCORES, EXCLUSIONS, PAYMENTS, PEER_METRICS, PROVIDERS

TAXONOMY = "207Q00000X"
STATE = "TX"
WINDOW_END = 2024


def npi(index: int) -> str:
    """Return a valid NPI numbered ``index`` (1000000000 + index with its check digit)."""
    return make_npi(100_000_000 + index)


def payments_frame(rows: list[dict]) -> pl.DataFrame:
    """Build payments rows; missing fields default to one Medicare row of 100 claims in 2024."""
    defaults = {
        "year": WINDOW_END,
        "program": "Medicare",
        "payments": 1000.0,
        "claims": 100.0,
        "beneficiaries": None,
        "taxonomy": TAXONOMY,
        "state": STATE,
    }
    filled = []
    for row in rows:
        record = {**defaults, **row}
        if record["beneficiaries"] is None:
            record["beneficiaries"] = record["claims"]
        filled.append(record)
    return pl.DataFrame(filled, schema=PAYMENTS)


def providers_frame(rows: list[dict] | None = None) -> pl.DataFrame:
    rows = rows or []
    return pl.DataFrame(
        [{"display_name": "Provider", "taxonomy_1": TAXONOMY, "state": STATE, **row} for row in rows],
        schema=PROVIDERS,
    )


def exclusions_frame(rows: list[dict] | None = None) -> pl.DataFrame:
    rows = rows or []
    return pl.DataFrame(
        [{"exclusion_id": f"E{i}", "reinstated": False, **row} for i, row in enumerate(rows)], schema=EXCLUSIONS
    )


def ownership_frame(rows: list[dict] | None = None) -> pl.DataFrame:
    defaults = {
        "facility_id": "SNF1",
        "chain_provider_count": 0,
        "chain_excluded_count": 0,
        "chain_excluded_weight": 0.0,
        "owner_excluded": False,
    }
    return pl.DataFrame([{**defaults, **row} for row in rows or []], schema=OWNERSHIP_FEATURES)


def peer_metrics_frame(rows: list[dict]) -> pl.DataFrame:
    """Build peer-metrics rows directly, to test the component formulas on chosen z-scores."""
    defaults = {
        "year": WINDOW_END,
        "window_end_year": WINDOW_END,
        "payments": 1000.0,
        "claims": 100.0,
        "beneficiaries": 100.0,
        "payments_medicaid": 0.0,
        "payments_medicare": 1000.0,
        "payments_medicare_part_d": 0.0,
        "m1": 10.0,
        "m2": 1.0,
        "m3": 1000.0,
        "x1": 0.0,
        "x2": 0.0,
        "x3": 0.0,
        "taxonomy_10": TAXONOMY,
        "state": STATE,
        "eligible": True,
        "peer_group_level": "state",
        "peer_count": 50,
        "z1": 0.0,
        "z2": 0.0,
        "z3": 0.0,
        "growth": None,
        "growth_group_level": "none",
        "growth_peer_count": 0,
        "z_growth": None,
        "m1_percentile": 50.0,
    }
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=PEER_METRICS)


def component_frame(rows: list[dict]) -> pl.DataFrame:
    """Build component-score rows directly, to test calibration, labels and flags."""
    defaults = {
        "billing_outlier_score": 50.0,
        "billing_outlier_percentile": 50.0,
        "ownership_chain_risk": 0.0,
        "payment_trajectory_score": 50.0,
        "payment_trajectory_zscore": 0.0,
        "exclusion_proximity_score": 0.0,
        "program_concentration_score": 0.0,
        "peer_taxonomy": TAXONOMY,
        "peer_state": STATE,
        "peer_count": 50,
        "data_window_years": [WINDOW_END],
        "top_program": "Medicare",
        "chain_excluded_count": 0,
        "r_raw": 30.0,
    }
    return pl.DataFrame(
        [{"npi": npi(i), **defaults, **row} for i, row in enumerate(rows)], schema=COMPONENT_SCORES
    )


@pytest.fixture
def no_exclusions() -> pl.DataFrame:
    return exclusions_frame()


@pytest.fixture
def no_ownership() -> pl.DataFrame:
    return ownership_frame()
