import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from polars.testing import assert_frame_equal

from claidex_assets.ownership.bulk import OwnershipBulk, prepare_bulk
from claidex_assets.ownership.chain import FACILITY_FEATURES
from claidex_assets.ownership.schema import GraphSnapshot
from claidex_assets_tests.ownership.test_chain import (
    NPI_A,
    build_snapshot,
    graphs_and_providers,
    owner,
    snf,
    weighted_graph,
)


def test_bulk_facility_rows_of_weighted_graph():
    # weighted_graph: O -> F, O -> S, F -> C, excluded providers linked to F,
    # O, S and C. Only the SNFs F ("ELMS CARE") and S ("SUNRISE OAKS") get
    # rows, in name order. Weights: from F 1 + 1 + 1 + 0.5 = 3.5; from S
    # (S 0, O 1, F 2, C 3) 1 + 1 + 0.5 + 0.5 = 3.0.
    facilities = prepare_bulk(weighted_graph()).facilities
    assert facilities.to_dicts() == [
        {
            "entity_id": "F",
            "name": "ELMS CARE",
            "name_key": "elms care",
            "npi": NPI_A,
            "chain_provider_count": 5,
            "chain_excluded_count": 4,
            "chain_excluded_weight": 3.5,
            "owner_excluded": False,
        },
        {
            "entity_id": "S",
            "name": "SUNRISE OAKS",
            "name_key": "sunrise oaks",
            "npi": None,
            "chain_provider_count": 5,
            "chain_excluded_count": 4,
            "chain_excluded_weight": 3.0,
            "owner_excluded": False,
        },
    ]


def test_bulk_null_names_sort_last():
    snapshot = build_snapshot(entities=[snf("S1", None, NPI_A), snf("S2", "ZETA HOME"), snf("S0", "ALPHA HOME")])
    bulk = prepare_bulk(snapshot)
    assert bulk.facilities["entity_id"].to_list() == ["S0", "S2", "S1"]
    assert bulk.facility_name_keys == ["alpha home", "zeta home", None]


def test_bulk_bytes_round_trip():
    bulk = prepare_bulk(weighted_graph())
    restored = OwnershipBulk.from_bytes(bulk.to_bytes())
    assert_frame_equal(restored.facilities, bulk.facilities)
    assert restored.facility_name_keys == bulk.facility_name_keys


def test_bulk_empty_snapshot_round_trip():
    bulk = prepare_bulk(GraphSnapshot.empty())
    restored = OwnershipBulk.from_bytes(bulk.to_bytes())
    assert restored.facilities.height == 0
    assert restored.facilities.schema == pl.Schema(FACILITY_FEATURES)


def test_bulk_rejects_foreign_bytes():
    parquet = pl.DataFrame({"a": [1]}).write_ipc(None).getvalue()
    with pytest.raises(ValueError, match="prepare it again"):
        OwnershipBulk.from_bytes(parquet)


def test_bulk_rejects_missing_column():
    frame = prepare_bulk(weighted_graph()).facilities.drop("owner_excluded")
    with pytest.raises(ValueError, match="missing column 'owner_excluded'"):
        OwnershipBulk(frame)


def test_bulk_summary_counts():
    # F carries an NPI and S does not. Both have 5 chain providers, 4 of them
    # excluded. The owner O is excluded, so both facilities are owner-excluded.
    snapshot = weighted_graph()
    snapshot = GraphSnapshot(
        **{
            **vars(snapshot),
            "entity_exclusions": pl.DataFrame({"entity_id": ["O"], "exclusion_id": ["X1"]}),
        }
    )
    assert prepare_bulk(snapshot).summary() == {
        "facilities": 2,
        "facilities_with_npi": 1,
        "facilities_with_chain_providers": 2,
        "facilities_with_excluded_chain_providers": 2,
        "facilities_owner_excluded": 2,
    }


def test_bulk_duplicate_entity_rows_deterministic():
    # The same entity_id read twice with different names: the row first in
    # column order wins ("ALPHA HOME" < "OMEGA HOME"), whatever the row order.
    rows = [snf("S1", "OMEGA HOME"), snf("S1", "ALPHA HOME"), owner("O1")]
    forward = prepare_bulk(build_snapshot(entities=rows))
    backward = prepare_bulk(build_snapshot(entities=rows[::-1]))
    assert forward.facilities["name"].to_list() == ["ALPHA HOME"]
    assert forward.to_bytes() == backward.to_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_and_providers(), st.integers(0, 2**32 - 1))
def test_bulk_bytes_independent_of_row_order(case, seed):
    snapshot, _ = case
    # Shuffle every frame and repeat its rows: a re-read of the same graph.
    reread = GraphSnapshot(
        **{
            name: pl.concat([frame, frame]).sample(fraction=1.0, shuffle=True, seed=seed)
            for name, frame in vars(snapshot).items()
        }
    )
    assert prepare_bulk(reread).to_bytes() == prepare_bulk(snapshot).to_bytes()
