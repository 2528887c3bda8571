"""Invariants of the whole engine on random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from claidex_assets.scoring import calibrate_scores, compute_component_scores, compute_peer_metrics, score_providers
from claidex_assets.scoring.calibration import risk_label_expr
from claidex_assets.scoring.schemas import PROGRAMS

from .conftest import exclusions_frame, npi, ownership_frame, payments_frame, providers_frame

# database=None keeps hypothesis from writing an example database into the working directory.
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TAXONOMIES = ["207Q00000X", "208D00000X", "Unknown", None]
STATES = ["TX", "CA", "Unknown", None]
# A fixed provider that never reaches 100 claims in a year, so it is nobody's peer.
TARGET = 500

amounts = st.one_of(
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    st.sampled_from([0.0, 1.0, 99.0, 100.0, 150.0]),
    st.sampled_from([float("nan"), float("inf"), -5.0]),
)


@st.composite
def scoring_inputs(draw) -> dict[str, pl.DataFrame]:
    keys = draw(
        st.lists(
            st.tuples(st.integers(0, 7), st.integers(2019, 2024), st.sampled_from(PROGRAMS)),
            min_size=1,
            max_size=30,
            unique=True,
        )
    )
    rows = [
        {
            "npi": npi(index),
            "year": year,
            "program": program,
            "payments": draw(amounts),
            "claims": draw(amounts),
            "beneficiaries": draw(amounts),
            "taxonomy": draw(st.sampled_from(TAXONOMIES)),
            "state": draw(st.sampled_from(STATES)),
        }
        for index, year, program in keys
    ]
    # Target rows: at most 33 claims per program keeps every year below 100.
    for year in draw(st.sets(st.integers(2021, 2024), min_size=1, max_size=3)):
        rows.append(
            {
                "npi": npi(TARGET),
                "year": year,
                "program": "Medicare",
                "payments": draw(st.floats(0.0, 1e6)),
                "claims": draw(st.floats(0.0, 33.0)),
                "taxonomy": "207Q00000X",
                "state": "TX",
            }
        )
    rows.extend(_background_rows(draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 110))))

    known = draw(st.lists(st.integers(0, 7), max_size=4, unique=True))
    providers = [
        {"npi": npi(i), "taxonomy_1": draw(st.sampled_from(TAXONOMIES)), "state": draw(st.sampled_from(STATES))}
        for i in known
    ]
    excluded = draw(st.lists(st.tuples(st.integers(0, 7), st.sampled_from([True, False, None])), max_size=4))
    exclusions = [{"npi": npi(i), "reinstated": reinstated} for i, reinstated in excluded]
    chained = draw(st.lists(st.integers(0, 7), max_size=3, unique=True))
    ownership = [
        {
            "npi": npi(i),
            "chain_provider_count": draw(st.integers(0, 10)),
            "chain_excluded_count": draw(st.integers(0, 3)),
            "chain_excluded_weight": draw(st.sampled_from([0.0, 0.5, 1.0, 2.5])),
            "owner_excluded": draw(st.booleans()),
        }
        for i in chained
    ]
    return {
        "payments": payments_frame(rows),
        "providers": providers_frame(providers),
        "exclusions": exclusions_frame(exclusions),
        "ownership_features": ownership_frame(ownership),
    }


def _background_rows(seed: int, count: int) -> list[dict]:
    """Eligible-ish peers in one taxonomy over two years, so state groups of 50 occur."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        state = "TX" if rng.random() < 0.8 else "CA"
        for year in (2023, 2024):
            claims = float(rng.integers(80, 250))
            rows.append(
                {
                    "npi": npi(1000 + index),
                    "year": year,
                    "program": "Medicare",
                    "payments": round(float(claims * rng.lognormal(3.0, 0.7)), 2),
                    "claims": claims,
                    "beneficiaries": float(rng.integers(1, 60)),
                    "taxonomy": "207Q00000X",
                    "state": state,
                }
            )
    return rows


def _shuffled(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


@PROPERTY_SETTINGS
@given(inputs=scoring_inputs(), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_scores(inputs, seed):
    expected = score_providers(**inputs)
    shuffled = {name: _shuffled(frame, seed) for name, frame in inputs.items()}
    assert_frame_equal(score_providers(**shuffled), expected, check_exact=True)


@PROPERTY_SETTINGS
@given(inputs=scoring_inputs(), chunk_count=st.integers(2, 4), seed=st.integers(0, 2**32 - 1))
def test_npi_chunks_match_one_pass(inputs, chunk_count, seed):
    peer_metrics = compute_peer_metrics(inputs["payments"], inputs["providers"])
    whole = compute_component_scores(
        peer_metrics, inputs["payments"], inputs["providers"], inputs["exclusions"], inputs["ownership_features"]
    )

    npis = peer_metrics.get_column("npi").unique().to_list()
    assignment = dict(zip(npis, np.random.default_rng(seed).integers(0, chunk_count, len(npis))))
    parts = []
    for chunk in range(chunk_count):
        members = [n for n, c in assignment.items() if c == chunk]
        in_chunk = pl.col("npi").is_in(members)
        parts.append(
            compute_component_scores(
                peer_metrics.filter(in_chunk),
                None,
                None,
                inputs["exclusions"].filter(in_chunk),
                inputs["ownership_features"].filter(in_chunk),
            )
        )
    combined = pl.concat(parts).sort("npi")
    assert_frame_equal(combined, whole, check_exact=True)
    assert_frame_equal(calibrate_scores(combined), calibrate_scores(whole), check_exact=True)


@PROPERTY_SETTINGS
@given(inputs=scoring_inputs())
def test_scores_within_ranges_and_labels_agree(inputs):
    scores = score_providers(**inputs)
    for column in (
        "billing_outlier_score",
        "ownership_chain_risk",
        "payment_trajectory_score",
        "exclusion_proximity_score",
        "program_concentration_score",
        "r_raw",
        "risk_score",
    ):
        assert scores[column].null_count() == 0, column
        assert scores[column].is_between(0.0, 100.0).all(), column
    percentile = scores["billing_outlier_percentile"].drop_nulls()
    assert percentile.is_between(0.0, 100.0).all()
    assert scores["payment_trajectory_zscore"].is_between(0.0, 5.0).all()
    assert scores["billing_outlier_score"].min() >= 50.0
    assert scores["peer_count"].min() >= 0

    expected_labels = scores.select(risk_label_expr(pl.col("risk_score"))).to_series()
    assert scores["risk_label"].to_list() == expected_labels.to_list()
    assert scores["npi"].is_sorted()
    assert scores["npi"].is_unique().all()


@PROPERTY_SETTINGS
@given(inputs=scoring_inputs(), factor=st.floats(1.0, 1000.0))
def test_higher_payments_per_claim_never_lower_billing(inputs, factor):
    target = npi(TARGET)
    before = score_providers(**inputs).filter(pl.col("npi") == target)
    raised = inputs["payments"].with_columns(
        pl.when(pl.col("npi") == target).then(pl.col("payments") * factor).otherwise(pl.col("payments"))
    )
    after = score_providers(**{**inputs, "payments": raised}).filter(pl.col("npi") == target)
    assert after["billing_outlier_score"][0] >= before["billing_outlier_score"][0]


@PROPERTY_SETTINGS
@given(inputs=scoring_inputs())
def test_same_inputs_same_outputs(inputs):
    assert_frame_equal(score_providers(**inputs), score_providers(**inputs), check_exact=True)
