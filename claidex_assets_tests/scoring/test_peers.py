import math

import polars as pl
import pytest

from claidex_assets.scoring import compute_peer_metrics
from claidex_assets.scoring.peers import _positions
from claidex_assets.scoring.schemas import PEER_METRICS, check_frame

from .conftest import STATE, TAXONOMY, npi, payments_frame, providers_frame

SCALE = 1.4826


def _metrics(rows: list[dict], providers: list[dict] | None = None) -> pl.DataFrame:
    return compute_peer_metrics(payments_frame(rows), providers_frame(providers))


def _row(frame: pl.DataFrame, index: int, year: int = 2024) -> dict:
    return frame.filter((pl.col("npi") == npi(index)) & (pl.col("year") == year)).row(0, named=True)


def test_eligibility_edge_99_and_100_claims():
    metrics = _metrics([{"npi": npi(1), "claims": 99.0}, {"npi": npi(2), "claims": 100.0}])
    assert _row(metrics, 1)["eligible"] is False
    assert _row(metrics, 2)["eligible"] is True
    # Only npi 2 is a peer, so both rows compare with a group of one.
    assert _row(metrics, 1)["peer_count"] == 1
    assert _row(metrics, 2)["peer_count"] == 1


def test_state_group_used_at_50_peers():
    rows = [{"npi": npi(i)} for i in range(50)]
    metrics = _metrics(rows)
    assert metrics["peer_group_level"].unique().to_list() == ["state"]
    assert metrics["peer_count"].unique().to_list() == [50]


def test_fallback_to_taxonomy_at_49_peers():
    # 49 eligible peers in TX and one in CA: the TX group has 49 < 50
    # members, so every row uses the taxonomy group of all 50.
    rows = [{"npi": npi(i)} for i in range(49)] + [{"npi": npi(49), "state": "CA"}]
    metrics = _metrics(rows)
    assert metrics["peer_group_level"].unique().to_list() == ["taxonomy"]
    assert metrics["peer_count"].unique().to_list() == [50]


def test_no_eligible_peer_gives_level_none():
    metrics = _metrics([{"npi": npi(1), "claims": 10.0, "payments": 5000.0}])
    row = _row(metrics, 1)
    assert row["peer_group_level"] == "none"
    assert row["peer_count"] == 0
    assert (row["z1"], row["z2"], row["z3"]) == (0.0, 0.0, 0.0)
    assert row["m1_percentile"] is None


def test_z_scores_hand_computed():
    # Three peers with 100 claims and beneficiaries and payments 99, 999, 9999.
    # x3 = ln(P + 1) = ln 100, ln 1000, ln 10000: median ln 1000, deviations
    # ln 10, 0, ln 10, so MAD = ln 10 and z3 = +-ln 10 / (1.4826 ln 10) = +-0.67449.
    # x2 = ln(1 + 1) for all: MAD = 0 and every z2 = 0.
    # x1 = ln(m1 + 1) with m1 = 0.99, 9.99, 99.99: median ln 10.99, deviations
    # ln(10.99 / 1.99) = 1.70888 and ln(100.99 / 10.99) = 2.21812, so MAD = 1.70888.
    rows = [{"npi": npi(i), "payments": p} for i, p in enumerate([99.0, 999.0, 9999.0])]
    # A provider with 50 claims is no peer, but still gets a z against the group:
    # m1 = 500 / 50 = 10, z1 = (ln 11 - ln 10.99) / (1.4826 * 1.70888).
    rows.append({"npi": npi(3), "claims": 50.0, "payments": 500.0})
    metrics = _metrics(rows)
    mad_x1 = math.log(10.99 / 1.99)

    low, middle, high, outsider = (_row(metrics, i) for i in range(4))
    assert high["z3"] == pytest.approx(1 / SCALE)
    assert low["z3"] == pytest.approx(-1 / SCALE)
    assert middle["z3"] == pytest.approx(0.0)
    assert high["z2"] == 0.0
    assert high["z1"] == pytest.approx(math.log(100.99 / 10.99) / (SCALE * mad_x1))
    assert low["z1"] == pytest.approx(-1 / SCALE)
    assert outsider["z1"] == pytest.approx(math.log(11 / 10.99) / (SCALE * mad_x1))
    assert outsider["peer_count"] == 3
    assert outsider["peer_group_level"] == "taxonomy"


def test_z_clipped_when_all_peers_equal():
    # Both peers bill 1000 for 100 claims: MAD = 0 (floored at 1e-9), so the
    # non-peer with 2000 for 50 claims sits far above and clips to +5.
    rows = [{"npi": npi(1)}, {"npi": npi(2)}, {"npi": npi(3), "claims": 50.0, "payments": 2000.0}]
    metrics = _metrics(rows)
    assert _row(metrics, 1)["z1"] == 0.0
    assert _row(metrics, 3)["z1"] == 5.0
    assert _row(metrics, 3)["z3"] == 5.0


def test_metrics_formulas():
    # m1 = 900 / 30 = 30, m2 = 30 / max(0, 1) = 30, m3 = 900, x = ln(m + 1)
    metrics = _metrics([{"npi": npi(1), "payments": 900.0, "claims": 30.0, "beneficiaries": 0.0}])
    row = _row(metrics, 1)
    assert (row["m1"], row["m2"], row["m3"]) == (30.0, 30.0, 900.0)
    assert row["x1"] == pytest.approx(math.log(31.0))
    assert row["x3"] == pytest.approx(math.log(901.0))


def test_growth_only_across_consecutive_years():
    rows = [
        {"npi": npi(1), "year": 2020, "payments": 100.0},
        {"npi": npi(1), "year": 2021, "payments": 150.0},
        {"npi": npi(1), "year": 2023, "payments": 300.0},
        {"npi": npi(1), "year": 2024, "payments": 0.0},
        {"npi": npi(2), "year": 2023, "payments": 0.5},
        {"npi": npi(2), "year": 2024, "payments": 10.5},
    ]
    metrics = _metrics(rows)
    growth = {(r["npi"], r["year"]): r["growth"] for r in metrics.iter_rows(named=True)}
    assert growth[(npi(1), 2020)] is None  # no earlier year
    assert growth[(npi(1), 2021)] == pytest.approx(0.5)  # (150 - 100) / 100
    assert growth[(npi(1), 2023)] is None  # 2022 is missing, so no growth across the gap
    assert growth[(npi(1), 2024)] == pytest.approx(-1.0)  # (0 - 300) / 300
    assert growth[(npi(2), 2024)] == pytest.approx(10.0)  # (10.5 - 0.5) / max(0.5, 1)


def test_growth_z_against_growth_peers():
    # Three eligible providers grow by 0, 1 and 3 from 2023 to 2024:
    # median 1, deviations 1, 0, 2, MAD 1, so z(3) = 2 / 1.4826.
    # A fourth grows by 3 with 50 claims in 2024: no growth peer, same z.
    rows = []
    for index, later in enumerate([100.0, 200.0, 400.0]):
        rows.append({"npi": npi(index), "year": 2023, "payments": 100.0})
        rows.append({"npi": npi(index), "year": 2024, "payments": later})
    rows.append({"npi": npi(3), "year": 2023, "payments": 100.0})
    rows.append({"npi": npi(3), "year": 2024, "payments": 400.0, "claims": 50.0})
    metrics = _metrics(rows)
    assert _row(metrics, 2)["z_growth"] == pytest.approx(2 / SCALE)
    assert _row(metrics, 0)["z_growth"] == pytest.approx(-1 / SCALE)
    assert _row(metrics, 3)["z_growth"] == pytest.approx(2 / SCALE)
    assert _row(metrics, 3)["growth_peer_count"] == 3
    assert _row(metrics, 3)["growth_group_level"] == "taxonomy"
    assert _row(metrics, 0, 2023)["z_growth"] is None


def test_percentile_members_and_non_members():
    # Members (100 claims) with m1 = 1, 2, 2, 4. A member compares with the
    # other n - 1 = 3 members, a non-member (50 claims) with all n = 4.
    rows = [{"npi": npi(i), "payments": 100.0 * m} for i, m in enumerate([1, 2, 2, 4])]
    rows.append({"npi": npi(4), "claims": 50.0, "payments": 175.0})  # m1 3.5
    rows.append({"npi": npi(5), "claims": 50.0, "payments": 100.0})  # m1 2
    metrics = _metrics(rows)
    percentile = {r["npi"]: r["m1_percentile"] for r in metrics.iter_rows(named=True)}
    assert percentile[npi(0)] == 0.0  # nobody lower
    assert percentile[npi(1)] == pytest.approx(100 / 3)  # only m1 = 1 is strictly lower: 1 / 3
    assert percentile[npi(3)] == 100.0  # 3 / 3
    assert percentile[npi(4)] == 75.0  # 1, 2, 2 are lower: 3 / 4
    assert percentile[npi(5)] == 25.0  # only 1 is lower: 1 / 4


def test_percentile_group_of_one_and_no_group():
    rows = [
        {"npi": npi(1), "taxonomy": "111100000X"},  # the only member: 0
        {"npi": npi(2), "taxonomy": "111100000X", "claims": 50.0, "payments": 5000.0},  # m1 100 > 10: 1 / 1
        {"npi": npi(3), "taxonomy": "222200000X", "claims": 50.0},  # no eligible peer: null
    ]
    metrics = _metrics(rows)
    assert _row(metrics, 1)["m1_percentile"] == 0.0
    assert _row(metrics, 2)["m1_percentile"] == 100.0
    assert _row(metrics, 3)["m1_percentile"] is None


def test_percentile_state_and_taxonomy_levels_together():
    # TX has 50 members with m1 = 1..50, so TX rows use the TX group. CA has
    # one member (m1 5.5), so CA rows fall back to the taxonomy group of 51.
    rows = [{"npi": npi(i), "payments": 100.0 * i} for i in range(1, 51)]
    rows.append({"npi": npi(60), "state": "CA", "payments": 550.0})  # member, m1 5.5
    rows.append({"npi": npi(61), "state": "CA", "claims": 50.0, "payments": 50.0 * 25.5})  # m1 25.5
    rows.append({"npi": npi(62), "claims": 50.0, "payments": 50.0 * 70})  # TX non-member, m1 70
    metrics = _metrics(rows)
    assert _row(metrics, 10)["peer_group_level"] == "state"
    assert _row(metrics, 10)["m1_percentile"] == pytest.approx(100 * 9 / 49)  # 1..9 of the other 49
    assert _row(metrics, 62)["m1_percentile"] == 100.0  # all 50 TX members, not the CA one
    assert _row(metrics, 60)["peer_group_level"] == "taxonomy"
    assert _row(metrics, 60)["m1_percentile"] == 10.0  # 1..5 of the other 50
    assert _row(metrics, 61)["m1_percentile"] == pytest.approx(100 * 26 / 51)  # 1..25 and 5.5


def test_percentile_only_on_latest_year():
    rows = [{"npi": npi(1), "year": 2023}, {"npi": npi(1), "year": 2024}]
    metrics = _metrics(rows)
    assert _row(metrics, 1, 2023)["m1_percentile"] is None
    assert _row(metrics, 1, 2024)["m1_percentile"] == 0.0


def test_providers_row_sets_taxonomy_and_state():
    rows = [{"npi": npi(1), "taxonomy": "999900000X", "state": "CA"}]
    metrics = _metrics(rows, providers=[{"npi": npi(1), "taxonomy_1": "207Q00000X-EXTRA", "state": "NY"}])
    row = _row(metrics, 1)
    assert row["taxonomy_10"] == "207Q00000X"
    assert row["state"] == "NY"


def test_most_frequent_payment_taxonomy_and_ties():
    rows = [
        # npi 1: A once, B twice -> B
        {"npi": npi(1), "program": "Medicare", "taxonomy": "AAAA", "state": "NY"},
        {"npi": npi(1), "program": "Medicaid", "taxonomy": "BBBB", "state": "NY"},
        {"npi": npi(1), "program": "MedicarePartD", "taxonomy": "BBBB", "state": "CA"},
        # npi 2: B once, A once -> the alphabetically first, A
        {"npi": npi(2), "program": "Medicare", "taxonomy": "BBBB", "state": "WA"},
        {"npi": npi(2), "program": "Medicaid", "taxonomy": "AAAA", "state": "OR"},
        # npi 3: 'Unknown' and null count as no value -> C
        {"npi": npi(3), "program": "Medicare", "taxonomy": "Unknown", "state": None},
        {"npi": npi(3), "program": "Medicaid", "taxonomy": "Unknown", "state": "Unknown"},
        {"npi": npi(3), "program": "MedicarePartD", "taxonomy": "CCCC", "state": "NV"},
        # npi 4: nothing known -> 'Unknown'
        {"npi": npi(4), "program": "Medicare", "taxonomy": None, "state": "Unknown"},
    ]
    metrics = _metrics(rows)
    assert (_row(metrics, 1)["taxonomy_10"], _row(metrics, 1)["state"]) == ("BBBB", "NY")
    assert (_row(metrics, 2)["taxonomy_10"], _row(metrics, 2)["state"]) == ("AAAA", "OR")
    assert (_row(metrics, 3)["taxonomy_10"], _row(metrics, 3)["state"]) == ("CCCC", "NV")
    assert (_row(metrics, 4)["taxonomy_10"], _row(metrics, 4)["state"]) == ("Unknown", "Unknown")


def test_providers_null_taxonomy_falls_back_to_payments():
    rows = [{"npi": npi(1), "taxonomy": "333300000X", "state": "TX"}]
    metrics = _metrics(rows, providers=[{"npi": npi(1), "taxonomy_1": None, "state": "NY"}])
    assert _row(metrics, 1)["taxonomy_10"] == "333300000X"
    assert _row(metrics, 1)["state"] == "NY"


def test_programs_summed_per_provider_year():
    rows = [
        {"npi": npi(1), "program": "Medicare", "payments": 100.0, "claims": 60.0, "beneficiaries": 10.0},
        {"npi": npi(1), "program": "Medicaid", "payments": 50.25, "claims": 40.0, "beneficiaries": 5.0},
    ]
    row = _row(_metrics(rows), 1)
    assert (row["payments"], row["claims"], row["beneficiaries"]) == (150.25, 100.0, 15.0)
    assert (row["payments_medicare"], row["payments_medicaid"], row["payments_medicare_part_d"]) == (100.0, 50.25, 0.0)
    assert row["eligible"] is True


def test_window_is_five_latest_years():
    rows = [{"npi": npi(1), "year": year} for year in (2018, 2019, 2020, 2024)]
    metrics = _metrics(rows)
    assert metrics["year"].to_list() == [2020, 2024]
    assert metrics["window_end_year"].unique().to_list() == [2024]


def test_bad_amounts_count_as_zero():
    rows = [
        {"npi": npi(1), "payments": float("nan"), "claims": float("inf"), "beneficiaries": -4.0},
        {"npi": npi(2), "payments": -10.0, "claims": None},
    ]
    metrics = _metrics(rows)
    for column, dtype in PEER_METRICS.items():
        if dtype == pl.Float64:
            assert metrics[column].is_nan().sum() == 0, column
            assert metrics[column].is_infinite().sum() == 0, column
    assert _row(metrics, 1)["payments"] == 0.0
    assert _row(metrics, 1)["claims"] == 0.0


def test_invalid_npis_not_scored():
    rows = [{"npi": npi(1)}, {"npi": "1234567890"}, {"npi": "0123456789"}, {"npi": "abc"}]
    metrics = _metrics(rows)
    assert metrics["npi"].to_list() == [npi(1)]


def test_unknown_program_raises():
    with pytest.raises(ValueError, match="unknown program.*Medigap"):
        _metrics([{"npi": npi(1), "program": "Medigap"}])


def test_duplicate_program_rows_raise():
    with pytest.raises(ValueError, match=r"repeat an \(npi, year, program\)"):
        _metrics([{"npi": npi(1)}, {"npi": npi(1)}])


@pytest.mark.parametrize("order", [[1, 2, 1], [1, 1, 2]], ids=["unsorted", "sorted"])
def test_duplicate_provider_npi_raises(order):
    providers = [{"npi": npi(i)} for i in order]
    with pytest.raises(ValueError, match=f"1 rows repeat the NPI of an earlier row, for example {npi(1)}"):
        _metrics([{"npi": npi(1)}], providers)


def test_missing_column_named_in_error():
    frame = payments_frame([{"npi": npi(1)}]).drop("claims")
    with pytest.raises(ValueError, match="claims"):
        compute_peer_metrics(frame, providers_frame())


def test_wrong_type_named_in_error():
    frame = payments_frame([{"npi": npi(1)}]).with_columns(pl.col("year").cast(pl.Int64))
    with pytest.raises(TypeError, match="year"):
        compute_peer_metrics(frame, providers_frame())


def test_empty_payments_give_empty_metrics():
    metrics = _metrics([])
    assert metrics.height == 0
    assert metrics.columns == list(PEER_METRICS)
    assert check_frame(metrics, PEER_METRICS, "peer_metrics").height == 0


def test_output_sorted_by_npi_and_year():
    rows = [{"npi": npi(i), "year": y} for i in (3, 1, 2) for y in (2024, 2022)]
    metrics = _metrics(rows)
    assert metrics.select("npi", "year").rows() == sorted(metrics.select("npi", "year").rows())
    assert (TAXONOMY, STATE) == (metrics["taxonomy_10"][0], metrics["state"][0])


def test_group_table_dense_and_joined_layouts_agree():
    # Keys 0..5 with a table holding keys 1 and 4: the dense layout (6 slots)
    # and the joined layout (slots beyond the key count) give the same rows.
    keys = pl.Series("_state_group", [4, 1, 5, 4, 0], dtype=pl.Int32)
    table = pl.DataFrame({"_state_group": [1, 4], "value": [10.0, 40.0]}, schema={
        "_state_group": pl.Int32, "value": pl.Float64
    })
    for slots in (6, 1_000_000):
        positions, laid_out = _positions(keys, table, "_state_group", slots)
        values = laid_out.get_column("value").gather(positions).to_list()
        assert values == [40.0, 10.0, None, 40.0, None], slots


def test_only_invalid_npis_give_empty_metrics():
    metrics = _metrics([{"npi": "1234567890"}, {"npi": "not-an-npi"}])
    assert metrics.height == 0
    assert metrics.columns == list(PEER_METRICS)
