import json

import polars as pl
import pytest

from claidex_assets.scoring import calibrate_scores, score_providers
from claidex_assets.scoring.calibration import risk_label_expr
from claidex_assets.scoring.flags import (
    BILLING_PERCENTILE_FLAG,
    EXCLUSION_FLAG,
    RAPID_GROWTH_FLAG,
    chain_flag,
    concentration_flag,
)
from claidex_assets.scoring.schemas import CALIBRATED_SCORES

from .conftest import component_frame, npi, payments_frame, providers_frame


def _calibrated(rows: list[dict]) -> pl.DataFrame:
    return calibrate_scores(component_frame(rows))


def test_percent_rank_with_ties():
    # r_raw 10, 20, 20, 30: strictly lower counts 0, 1, 1, 3 over n - 1 = 3
    scores = _calibrated([{"r_raw": r} for r in (10.0, 20.0, 20.0, 30.0)])
    assert scores["risk_score"].to_list() == [0.0, 33.33, 33.33, 100.0]


def test_percent_rank_single_provider_is_zero():
    assert _calibrated([{"r_raw": 77.0}])["risk_score"].to_list() == [0.0]


def test_percent_rank_all_equal_is_zero():
    assert _calibrated([{"r_raw": 40.0}] * 3)["risk_score"].to_list() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, "Low"),
        (29.99, "Low"),
        (30.0, "Moderate"),
        (59.99, "Moderate"),
        (60.0, "Elevated"),
        (79.99, "Elevated"),
        (80.0, "High"),
        (100.0, "High"),
    ],
)
def test_label_boundaries(score, label):
    assert pl.select(risk_label_expr(pl.lit(score))).item() == label


def test_labels_follow_scores():
    # Six providers: risk scores 0, 20, 40, 60, 80, 100
    scores = _calibrated([{"r_raw": float(r)} for r in range(6)])
    assert scores["risk_score"].to_list() == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert scores["risk_label"].to_list() == ["Low", "Low", "Moderate", "Elevated", "High", "High"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"billing_outlier_percentile": 95.0}, [BILLING_PERCENTILE_FLAG]),
        ({"billing_outlier_percentile": 94.99}, []),
        ({"billing_outlier_percentile": None}, []),
        ({"billing_outlier_score": 80.0, "payment_trajectory_score": 60.0}, [RAPID_GROWTH_FLAG]),
        ({"billing_outlier_score": 79.99, "payment_trajectory_score": 90.0}, []),
        ({"billing_outlier_score": 90.0, "payment_trajectory_score": 59.99}, []),
        ({"ownership_chain_risk": 50.0, "chain_excluded_count": 1}, ["Ownership chain includes 1 excluded provider"]),
        ({"ownership_chain_risk": 75.0, "chain_excluded_count": 2}, ["Ownership chain includes 2 excluded providers"]),
        ({"ownership_chain_risk": 49.99, "chain_excluded_count": 2}, []),
        ({"program_concentration_score": 60.0, "top_program": "MedicarePartD"},
         ["Highly concentrated in one payer program (Medicare Part D)"]),
        ({"program_concentration_score": 59.99}, []),
        ({"exclusion_proximity_score": 80.0}, [EXCLUSION_FLAG]),
        ({"exclusion_proximity_score": 50.0}, []),
    ],
)
def test_each_flag_and_threshold(row, expected):
    assert _calibrated([row])["flags"].to_list() == [expected]


def test_flags_in_fixed_order():
    row = {
        "billing_outlier_percentile": 99.0,
        "billing_outlier_score": 85.0,
        "payment_trajectory_score": 70.0,
        "ownership_chain_risk": 100.0,
        "chain_excluded_count": 3,
        "program_concentration_score": 100.0,
        "top_program": "Medicaid",
        "exclusion_proximity_score": 100.0,
    }
    assert _calibrated([row])["flags"].to_list() == [
        [
            BILLING_PERCENTILE_FLAG,
            RAPID_GROWTH_FLAG,
            chain_flag(3),
            concentration_flag("Medicaid"),
            EXCLUSION_FLAG,
        ]
    ]


def test_chain_flag_plural():
    assert chain_flag(1) == "Ownership chain includes 1 excluded provider"
    assert chain_flag(2) == "Ownership chain includes 2 excluded providers"


def test_components_json_values_and_nulls():
    row = {"billing_outlier_score": 62.14, "billing_outlier_percentile": None, "payment_trajectory_zscore": 0.8235}
    components = json.loads(_calibrated([row])["components"][0])
    assert list(components) == [
        "billing_outlier_score",
        "billing_outlier_percentile",
        "ownership_chain_risk",
        "payment_trajectory_score",
        "payment_trajectory_zscore",
        "exclusion_proximity_score",
        "program_concentration_score",
    ]
    assert components["billing_outlier_score"] == 62.14
    assert components["billing_outlier_percentile"] is None
    assert components["payment_trajectory_zscore"] == 0.8235


def test_non_finite_component_raises():
    with pytest.raises(ValueError, match="billing_outlier_score"):
        _calibrated([{"billing_outlier_score": float("nan")}])


def test_calibrated_schema_and_empty_input():
    scores = _calibrated([])
    assert scores.height == 0
    assert scores.schema == pl.Schema(CALIBRATED_SCORES)


def test_score_providers_empty_and_single(no_exclusions, no_ownership):
    empty = score_providers(payments_frame([]), providers_frame(), no_exclusions, no_ownership)
    assert empty.height == 0
    single = score_providers(payments_frame([{"npi": npi(1)}]), providers_frame(), no_exclusions, no_ownership)
    assert single["risk_score"].to_list() == [0.0]
    assert single["risk_label"].to_list() == ["Low"]
    assert single.schema == pl.Schema(CALIBRATED_SCORES)
