import math

import polars as pl
import pytest

from claidex_assets.scoring import compute_component_scores
from claidex_assets.scoring.schemas import COMPONENT_SCORES

from .conftest import exclusions_frame, npi, ownership_frame, peer_metrics_frame


def _logistic(z: float) -> float:
    return 100 / (1 + math.exp(-z / 2))


def _scores(rows, exclusions=None, ownership=None) -> pl.DataFrame:
    return compute_component_scores(
        peer_metrics_frame(rows), None, None, exclusions_frame(exclusions), ownership_frame(ownership)
    )


def _only(frame: pl.DataFrame) -> dict:
    assert frame.height == 1
    return frame.row(0, named=True)


def test_billing_score_decay_weighted():
    # a_t = mean(max(z, 0)): 2022 (3 + 3 + 3) / 3 = 3, 2023 (2 + 0 + 1) / 3 = 1, 2024 0.
    # Weights 0.7^(2024 - t) = 0.49, 0.7, 1:
    # z_b = (0.49 * 3 + 0.7 * 1 + 1 * 0) / (0.49 + 0.7 + 1) = 2.17 / 2.19 = 0.990868
    rows = [
        {"npi": npi(1), "year": 2022, "z1": 3.0, "z2": 3.0, "z3": 3.0},
        {"npi": npi(1), "year": 2023, "z1": 2.0, "z2": -1.0, "z3": 1.0},
        {"npi": npi(1), "year": 2024, "z1": -2.0, "z2": -2.0, "z3": 0.0},
    ]
    row = _only(_scores(rows))
    assert row["billing_outlier_score"] == round(_logistic(2.17 / 2.19), 2)  # 62.14


def test_billing_score_single_year():
    # One year: z_b = a = (1.5 + 0.3 + 0) / 3 = 0.6, score 100 / (1 + e^-0.3) = 57.44
    row = _only(_scores([{"npi": npi(1), "z1": 1.5, "z2": 0.3, "z3": -4.0}]))
    assert row["billing_outlier_score"] == 57.44


def test_trajectory_decay_weighted_and_rounded():
    # Growth z: 2022 none, 2023 2.0, 2024 -1.0 -> max(z, 0) = 0.
    # (0.7 * 2 + 1 * 0) / (0.7 + 1) = 0.823529 -> 0.8235; score 100 / (1 + e^-0.41175) = 60.15
    rows = [
        {"npi": npi(1), "year": 2022},
        {"npi": npi(1), "year": 2023, "z_growth": 2.0},
        {"npi": npi(1), "year": 2024, "z_growth": -1.0},
    ]
    row = _only(_scores(rows))
    assert row["payment_trajectory_zscore"] == 0.8235
    assert row["payment_trajectory_score"] == round(_logistic(0.8235), 2)


def test_trajectory_without_growth_is_neutral():
    row = _only(_scores([{"npi": npi(1)}]))
    assert row["payment_trajectory_zscore"] == 0.0
    assert row["payment_trajectory_score"] == 50.0


@pytest.mark.parametrize(
    ("medicaid", "medicare", "expected"),
    [
        (50.0, 50.0, 0.0),  # s = 0.5 -> 0
        (40.0, 60.0, 20.0),  # s = 0.6 -> 200 * 0.1
        (25.0, 75.0, 50.0),  # s = 0.75 -> 200 * 0.25
        (0.0, 100.0, 100.0),  # s = 1 -> 100
        (0.0, 0.0, 0.0),  # no payments -> 0
    ],
)
def test_concentration_score_shares(medicaid, medicare, expected):
    row = _only(_scores([{"npi": npi(1), "payments_medicaid": medicaid, "payments_medicare": medicare}]))
    assert row["program_concentration_score"] == expected


def test_concentration_uses_three_latest_years():
    # 2021 lies outside 2022..2024, so its Medicaid payments do not count:
    # 2022 + 2024 give Medicare 300 of 400 -> s = 0.75 -> 50.
    rows = [
        {"npi": npi(1), "year": 2021, "payments_medicaid": 10_000.0, "payments_medicare": 0.0},
        {"npi": npi(1), "year": 2022, "payments_medicaid": 100.0, "payments_medicare": 100.0},
        {"npi": npi(1), "year": 2024, "payments_medicaid": 0.0, "payments_medicare": 200.0},
    ]
    row = _only(_scores(rows))
    assert row["program_concentration_score"] == 50.0
    assert row["top_program"] == "Medicare"


@pytest.mark.parametrize(
    ("medicaid", "medicare", "part_d", "expected"),
    [
        (50.0, 50.0, 0.0, "Medicaid"),  # tie: alphabetical
        (0.0, 50.0, 50.0, "Medicare"),  # tie: alphabetical
        (1.0, 2.0, 3.0, "MedicarePartD"),
        (0.0, 0.0, 0.0, None),  # no payments, no top program
    ],
)
def test_top_program_ties_alphabetical(medicaid, medicare, part_d, expected):
    rows = [
        {
            "npi": npi(1),
            "payments_medicaid": medicaid,
            "payments_medicare": medicare,
            "payments_medicare_part_d": part_d,
        }
    ]
    assert _only(_scores(rows))["top_program"] == expected


@pytest.mark.parametrize(
    ("exclusions", "ownership", "expected"),
    [
        ([{"npi": npi(1), "reinstated": False}], [], 100.0),
        ([{"npi": npi(1), "reinstated": None}], [], 100.0),  # reinstated not true counts as active
        ([{"npi": npi(1), "reinstated": True}], [], 0.0),
        ([{"npi": npi(1), "reinstated": True}], [{"npi": npi(1), "owner_excluded": True}], 80.0),
        ([], [{"npi": npi(1), "owner_excluded": True, "chain_excluded_count": 2}], 80.0),
        ([], [{"npi": npi(1), "chain_excluded_count": 1, "chain_provider_count": 5}], 50.0),
        ([{"npi": None, "reinstated": False}, {"npi": npi(2)}], [], 0.0),
        ([], [], 0.0),
    ],
)
def test_exclusion_proximity_rules(exclusions, ownership, expected):
    row = _only(_scores([{"npi": npi(1)}], exclusions, ownership))
    assert row["exclusion_proximity_score"] == expected


@pytest.mark.parametrize(
    ("count", "weight", "expected"),
    [
        (4, 1.5, 37.5),  # 100 * 1.5 / 4
        (3, 1.0, 33.33),  # 100 / 3 rounded
        (1, 3.0, 100.0),  # 300 capped at 100
        (0, 0.0, 0.0),  # 0 / max(0, 1)
    ],
)
def test_ownership_chain_risk_formula(count, weight, expected):
    ownership = [{"npi": npi(1), "chain_provider_count": count, "chain_excluded_weight": weight}]
    row = _only(_scores([{"npi": npi(1)}], ownership=ownership))
    assert row["ownership_chain_risk"] == expected


def test_missing_ownership_features_are_zero():
    row = _only(_scores([{"npi": npi(1)}], ownership=[{"npi": npi(2), "chain_excluded_weight": 5.0}]))
    assert row["ownership_chain_risk"] == 0.0
    assert row["chain_excluded_count"] == 0


def test_r_raw_from_rounded_components():
    # billing 50 (z = 0), chain 100 * 1.5 / 4 = 37.5, trajectory 50,
    # exclusion 100, concentration 0 (s = 0.5):
    # 0.30 * 50 + 0.25 * 37.5 + 0.20 * 50 + 0.15 * 100 + 0.10 * 0 = 49.375
    rows = [{"npi": npi(1), "payments_medicaid": 500.0, "payments_medicare": 500.0}]
    ownership = [{"npi": npi(1), "chain_provider_count": 4, "chain_excluded_weight": 1.5}]
    row = _only(_scores(rows, [{"npi": npi(1)}], ownership))
    assert row["r_raw"] == 49.375


def test_peer_fields_from_latest_year():
    rows = [
        {"npi": npi(1), "year": 2023, "peer_group_level": "state", "peer_count": 80, "state": "NY"},
        {"npi": npi(1), "year": 2024, "peer_group_level": "taxonomy", "peer_count": 120, "state": "NY"},
        {"npi": npi(2), "peer_group_level": "state", "peer_count": 55, "state": "CA"},
        {"npi": npi(3), "peer_group_level": "none", "peer_count": 0, "m1_percentile": None},
    ]
    scores = _scores(rows)
    first, second, third = scores.iter_rows(named=True)
    assert (first["peer_state"], first["peer_count"]) == (None, 120)
    assert (second["peer_state"], second["peer_count"]) == ("CA", 55)
    assert (third["peer_state"], third["peer_count"]) == (None, 0)
    assert third["billing_outlier_percentile"] is None


def test_percentile_rounded_to_two_decimals():
    row = _only(_scores([{"npi": npi(1), "m1_percentile": 200 / 3}]))
    assert row["billing_outlier_percentile"] == 66.67


def test_data_window_years_sorted():
    rows = [{"npi": npi(1), "year": y} for y in (2024, 2020, 2022)]
    row = _only(_scores(rows))
    assert row["data_window_years"] == [2020, 2022, 2024]


def test_output_schema_and_order():
    rows = [{"npi": npi(i)} for i in (5, 2, 9)]
    scores = _scores(rows)
    assert scores.schema == pl.Schema(COMPONENT_SCORES)
    assert scores["npi"].to_list() == sorted(npi(i) for i in (5, 2, 9))


def test_mixed_window_end_years_raise():
    rows = [{"npi": npi(1), "window_end_year": 2024}, {"npi": npi(2), "window_end_year": 2023, "year": 2023}]
    with pytest.raises(ValueError, match="window_end_year"):
        _scores(rows)


def test_repeated_provider_year_raises():
    with pytest.raises(ValueError, match="more than one row for a year"):
        _scores([{"npi": npi(1)}, {"npi": npi(1)}])


def test_duplicate_ownership_rows_raise():
    with pytest.raises(ValueError, match="ownership_features"):
        _scores([{"npi": npi(1)}], ownership=[{"npi": npi(1)}, {"npi": npi(1)}])


def test_empty_peer_metrics_give_empty_scores():
    scores = _scores([])
    assert scores.height == 0
    assert scores.schema == pl.Schema(COMPONENT_SCORES)


def test_peer_metrics_accepted_as_text():
    # Peer metrics read back from a store that has no Enum type arrive as text.
    rows = [{"npi": npi(1), "peer_group_level": "taxonomy", "peer_count": 7}]
    text = peer_metrics_frame(rows).with_columns(
        pl.col("taxonomy_10", "state", "peer_group_level", "growth_group_level").cast(pl.Utf8)
    )
    row = _only(compute_component_scores(text, None, None, exclusions_frame(), ownership_frame()))
    assert (row["peer_state"], row["peer_count"]) == (None, 7)


def test_unknown_peer_level_raises():
    text = peer_metrics_frame([{"npi": npi(1)}]).with_columns(pl.lit("county").alias("peer_group_level"))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        compute_component_scores(text, None, None, exclusions_frame(), ownership_frame())


@pytest.mark.parametrize("order", [[2, 1, 2], [1, 2, 2]], ids=["unsorted", "sorted"])
def test_duplicate_ownership_npi_raises(order):
    ownership = [{"npi": npi(i)} for i in order]
    with pytest.raises(ValueError, match=f"ownership_features: npi '{npi(2)}' has more than one row"):
        _scores([{"npi": npi(1)}], ownership=ownership)


def test_malformed_ownership_npi_ignored():
    ownership = [{"npi": "12345", "chain_provider_count": 2, "chain_excluded_weight": 2.0}, {"npi": npi(1)}]
    row = _only(_scores([{"npi": npi(1)}], ownership=ownership))
    assert row["ownership_chain_risk"] == 0.0
