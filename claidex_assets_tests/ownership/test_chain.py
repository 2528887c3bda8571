"""Chain features on small hand-built graphs, and partition invariance on random ones.

Graph notation in comments: ``A -> B`` is an OWNS edge (A owns B), ``F`` is
the facility of the provider under test, ``x`` marks an active exclusion.
"""

from collections import deque

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from polars.testing import assert_frame_equal

from claidex_assets.npi import DEFAULT_PARTITION_COUNT, NpiRange, make_npi, npi_ranges
from claidex_assets.ownership.bulk import prepare_bulk
from claidex_assets.ownership.chain import chain_features_all, chain_features_for_range
from claidex_assets.ownership.schema import OWNERSHIP_FEATURES, GraphSnapshot

ALL_NPIS = npi_ranges(1)[0]
NPI_A, NPI_B, NPI_C, NPI_D, NPI_E, NPI_F, NPI_G = (make_npi(100_000_000 + i * 1000) for i in range(7))


def build_snapshot(
    entities=(), owns=(), provider_nodes=(), exclusions=(), provider_exclusions=(), entity_exclusions=()
) -> GraphSnapshot:
    """Build a snapshot from tuples; entities are (entity_id, name, entity_type, npi)."""

    def frame(rows, schema):
        return pl.DataFrame(list(rows), schema=schema, orient="row")

    return GraphSnapshot(
        providers=frame(provider_nodes, {"npi": pl.Utf8, "name": pl.Utf8}),
        entities=frame(
            entities, {"entity_id": pl.Utf8, "name": pl.Utf8, "entity_type": pl.Utf8, "npi": pl.Utf8}
        ),
        exclusions=frame(exclusions, {"exclusion_id": pl.Utf8, "reinstated": pl.Boolean}),
        provider_exclusions=frame(provider_exclusions, {"npi": pl.Utf8, "exclusion_id": pl.Utf8}),
        entity_exclusions=frame(entity_exclusions, {"entity_id": pl.Utf8, "exclusion_id": pl.Utf8}),
        owns=frame(owns, {"owner_id": pl.Utf8, "owned_id": pl.Utf8}),
    )


def providers_frame(rows) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={"npi": pl.Utf8, "display_name": pl.Utf8}, orient="row")


def features(snapshot: GraphSnapshot, providers) -> dict[str, dict]:
    """Compute features over one range covering every NPI, keyed by npi."""
    result = chain_features_for_range(prepare_bulk(snapshot), providers_frame(providers), ALL_NPIS)
    return {row["npi"]: row for row in result.to_dicts()}


def snf(entity_id, name, npi=None):
    return (entity_id, name, "SNF", npi)


def owner(entity_id, name=None, npi=None):
    return (entity_id, name, "LLC", npi)


ACTIVE = [("X1", False)]


# Facility matching ---------------------------------------------------------


def test_facility_npi_beats_name():
    # "ALPHA CARE CENTER" contains the display name and sorts first, but
    # ZETA carries the provider's NPI, so ZETA wins.
    snapshot = build_snapshot(entities=[snf("S1", "ALPHA CARE CENTER"), snf("S2", "ZETA HOME", NPI_A)])
    assert features(snapshot, [(NPI_A, "Alpha Care")])[NPI_A]["facility_id"] == "S2"


def test_facility_npi_ties_pick_first_by_name():
    # Two SNFs carry the NPI; "BETA" sorts before "GAMMA".
    snapshot = build_snapshot(entities=[snf("S1", "GAMMA HOME", NPI_A), snf("S2", "BETA HOME", NPI_A)])
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["facility_id"] == "S2"


def test_facility_name_order_then_entity_id():
    # Candidates containing "oak manor", ordered by (name, entity_id):
    # ("OAK MANOR EAST", "S1"), ("OAK MANOR EAST", "S3"), ("OAK MANOR WEST", "S2").
    snapshot = build_snapshot(
        entities=[snf("S2", "OAK MANOR WEST"), snf("S3", "OAK MANOR EAST"), snf("S1", "OAK MANOR EAST")]
    )
    assert features(snapshot, [(NPI_A, "Oak Manor")])[NPI_A]["facility_id"] == "S1"


def test_facility_order_uses_stored_name():
    # Ordering is by the stored name in code-point order: "OAK MANOR C" < "oak manor b"
    # because "O" (79) < "o" (111), although the lower-cased keys sort the other way.
    snapshot = build_snapshot(entities=[snf("X1", "oak manor b"), snf("X2", "OAK MANOR C")])
    assert features(snapshot, [(NPI_A, "oak manor")])[NPI_A]["facility_id"] == "X2"


def test_facility_three_characters_never_match():
    snapshot = build_snapshot(entities=[snf("S1", "ELMS CARE"), snf("S2", "OAK MANOR")])
    result = features(snapshot, [(NPI_A, "oak"), (NPI_B, " oak  "), (NPI_C, "elms"), (NPI_D, "oak m")])
    # "oak" is 3 characters with or without padding; "elms" is 4; "oak m" is 5.
    assert result[NPI_A]["facility_id"] is None
    assert result[NPI_B]["facility_id"] is None
    assert result[NPI_C]["facility_id"] == "S1"
    assert result[NPI_D]["facility_id"] == "S2"


def test_facility_padding_and_case():
    snapshot = build_snapshot(entities=[snf("S1", "  Elms Care Center ")])
    result = features(snapshot, [(NPI_A, "  eLmS cArE  "), (NPI_B, "ELMS CARE CENTER")])
    assert result[NPI_A]["facility_id"] == "S1"
    assert result[NPI_B]["facility_id"] == "S1"


def test_facility_needs_snf_type():
    # An LLC whose name contains the display name is not a facility.
    snapshot = build_snapshot(entities=[owner("O1", "ELMS CARE HOLDINGS", NPI_A)])
    assert features(snapshot, [(NPI_A, "Elms Care")])[NPI_A]["facility_id"] is None


def test_facility_null_display_name():
    # A null display name can only match by NPI.
    snapshot = build_snapshot(entities=[snf("S1", "ELMS CARE"), snf("S2", "PINE HALL", NPI_B)])
    result = features(snapshot, [(NPI_A, None), (NPI_B, None)])
    assert result[NPI_A]["facility_id"] is None
    assert result[NPI_B]["facility_id"] == "S2"


def test_no_facility_gives_zeros():
    snapshot = build_snapshot(
        entities=[snf("S1", "ELMS CARE"), owner("O1")],
        owns=[("O1", "S1")],
        provider_nodes=[(NPI_B, "ELMS CARE")],
        exclusions=ACTIVE,
        provider_exclusions=[(NPI_B, "X1")],
        entity_exclusions=[("O1", "X1")],
    )
    assert features(snapshot, [(NPI_A, "Birch Hall")])[NPI_A] == {
        "npi": NPI_A,
        "facility_id": None,
        "chain_provider_count": 0,
        "chain_excluded_count": 0,
        "chain_excluded_weight": 0.0,
        "owner_excluded": False,
    }


# Chain membership ----------------------------------------------------------


def ancestor_line(length: int) -> tuple[list, list, list]:
    """F <- A1 <- A2 ... <- A{length}; Provider node NPI i+1 is linked to A{i} by the entity's npi."""
    npis = [make_npi(110_000_000 + i) for i in range(1, length + 1)]
    entities = [snf("F", "FACILITY HOME", NPI_A)] + [owner(f"A{i}", None, npis[i - 1]) for i in range(1, length + 1)]
    owns = [("A1", "F")] + [(f"A{i + 1}", f"A{i}") for i in range(1, length)]
    nodes = [(npi, f"clinic {i}") for i, npi in enumerate(npis, start=1)]
    return entities, owns, nodes


def test_ancestors_five_hops_included_six_excluded():
    entities, owns, nodes = ancestor_line(6)
    snapshot = build_snapshot(entities=entities, owns=owns, provider_nodes=nodes)
    # A1..A5 are 1..5 hops above F and in the chain; A6 is 6 hops above and
    # not reached downward either, so 5 chain providers.
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 5


def test_descendants_of_ancestors_within_five_hops():
    # P -> F and P -> D1 -> D2 -> D3 -> D4 -> D5 -> D6. D1..D5 are 1..5 hops
    # below P (included); D6 is 6 hops below P and 7 from F (excluded).
    descendant_npis = [make_npi(120_000_000 + i) for i in range(1, 7)]
    entities = [snf("F", "FACILITY HOME", NPI_A), owner("P")] + [
        owner(f"D{i}", None, descendant_npis[i - 1]) for i in range(1, 7)
    ]
    owns = [("P", "F"), ("P", "D1")] + [(f"D{i}", f"D{i + 1}") for i in range(1, 6)]
    nodes = [(npi, f"clinic {i}") for i, npi in enumerate(descendant_npis, start=1)]
    snapshot = build_snapshot(entities=entities, owns=owns, provider_nodes=nodes)
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 5


def test_sibling_under_common_parent_in_chain():
    # P -> F, P -> S (sibling SNF); the Provider node "SUNRISE OAKS REHAB"
    # contains S's name, and the one named after F carries F's NPI.
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), snf("S", "SUNRISE OAKS"), owner("P", "PARENT HOLDINGS")],
        owns=[("P", "F"), ("P", "S")],
        provider_nodes=[(NPI_A, "Elms Care"), (NPI_B, "Sunrise Oaks Rehab"), (NPI_C, "Unrelated Clinic")],
    )
    result = features(snapshot, [(NPI_A, None), (NPI_B, "Sunrise Oaks")])
    # Both facilities share the chain {P, F, S}, linking NPI_A (by npi and by
    # name) and NPI_B (by name): 2 distinct NPIs.
    assert result[NPI_A]["chain_provider_count"] == 2
    assert result[NPI_B]["facility_id"] == "S"
    assert result[NPI_B]["chain_provider_count"] == 2


def test_cycle_in_owns_terminates():
    # F -> B -> A -> F is a cycle; all three are in the chain.
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), owner("A", None, NPI_B), owner("B", None, NPI_C)],
        owns=[("A", "F"), ("B", "A"), ("F", "B"), ("F", "F")],
        provider_nodes=[(NPI_A, "x"), (NPI_B, "y"), (NPI_C, "z")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 3


def test_entity_name_guard_for_chain_links():
    # Entity "ABC" (3 characters) never links; "ABCD" links "ABCD CLINIC".
    snapshot = build_snapshot(
        entities=[snf("F", "ABC", NPI_A), owner("O", "ABCD")],
        owns=[("O", "F")],
        provider_nodes=[(NPI_B, "ABC CLINIC"), (NPI_C, "abcd clinic")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 1


def test_provider_nodes_not_extract_define_chain():
    # The chain counts Provider nodes; the provider extract's display names
    # only choose facilities, so NPI_B's extract name "ELMS CARE" adds nothing.
    snapshot = build_snapshot(entities=[snf("F", "ELMS CARE", NPI_A)], provider_nodes=[(NPI_A, "z")])
    result = features(snapshot, [(NPI_A, None), (NPI_B, "ELMS CARE")])
    assert result[NPI_A]["chain_provider_count"] == 1
    assert result[NPI_B]["chain_provider_count"] == 1


# Exclusions and weights ----------------------------------------------------


def weighted_graph() -> GraphSnapshot:
    """O -> F, O -> S, F -> C; excluded providers linked to F, O, S and C; one clean one at S.

    Undirected OWNS distances from F: F 0, O 1, C 1, S 2 (F - O - S).
    """
    return build_snapshot(
        entities=[
            snf("F", "ELMS CARE", NPI_A),
            owner("O", "OWNER GROUP"),
            snf("S", "SUNRISE OAKS"),
            owner("C", "CHILD THERAPY"),
        ],
        owns=[("O", "F"), ("O", "S"), ("F", "C")],
        provider_nodes=[
            (NPI_A, "facility billing"),
            (NPI_B, "Owner Group Physicians"),
            (NPI_C, "Sunrise Oaks Rehab"),
            (NPI_D, "Sunrise Oaks Pharmacy"),
            (NPI_E, "Child Therapy Associates"),
        ],
        exclusions=ACTIVE,
        provider_exclusions=[(NPI_A, "X1"), (NPI_B, "X1"), (NPI_C, "X1"), (NPI_E, "X1")],
    )


def test_weights_by_distance():
    result = features(weighted_graph(), [(NPI_A, None)])[NPI_A]
    # Chain {F, O, S, C} links 5 NPIs; 4 are excluded: A at F (distance 0,
    # weight 1), B at O (1, weight 1), E at C (1, weight 1), C at S (2, 0.5).
    assert result["chain_provider_count"] == 5
    assert result["chain_excluded_count"] == 4
    assert result["chain_excluded_weight"] == 3.5


def test_weights_relative_to_each_facility():
    # Seen from S: S 0, O 1, F 2, C 3. Excluded: C at S (1), B at O (1),
    # A at F (0.5), E at C (0.5) -> 3.0.
    result = features(weighted_graph(), [(NPI_F, "sunrise oaks")])[NPI_F]
    assert result["facility_id"] == "S"
    assert result["chain_excluded_count"] == 4
    assert result["chain_excluded_weight"] == 3.0


def test_reinstated_exclusions_not_counted():
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), owner("O", None, NPI_B), owner("Q", None, NPI_C)],
        owns=[("O", "F"), ("Q", "F")],
        provider_nodes=[(NPI_A, "a"), (NPI_B, "b"), (NPI_C, "c"), (NPI_D, "d")],
        exclusions=[("X1", True), ("X2", None), ("X3", False)],
        provider_exclusions=[(NPI_A, "X1"), (NPI_B, "X2"), (NPI_C, "X1"), (NPI_C, "X3")],
    )
    result = features(snapshot, [(NPI_A, None)])[NPI_A]
    # A: only reinstated X1, not counted. B: X2 has reinstated null, which is
    # not true, so it counts. C: X1 is reinstated but X3 is active, counts once.
    assert result["chain_excluded_count"] == 2
    assert result["chain_excluded_weight"] == 2.0


def test_exclusion_without_node_counts():
    # The EXCLUDED_BY edge points at an exclusion missing from the snapshot:
    # its reinstated is not true, so it is active.
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A)],
        provider_nodes=[(NPI_A, "a")],
        provider_exclusions=[(NPI_A, "MISSING")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_excluded_count"] == 1


def test_provider_linked_twice_counted_once_nearest():
    # P -> F, P -> S. NPI_B is linked to S by name (distance 2 from F) and to
    # the owner P by the entity's npi (distance 1).
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), snf("S", "SUNRISE OAKS"), owner("P", None, NPI_B)],
        owns=[("P", "F"), ("P", "S")],
        provider_nodes=[(NPI_B, "Sunrise Oaks Rehab")],
        exclusions=ACTIVE,
        provider_exclusions=[(NPI_B, "X1")],
    )
    result = features(snapshot, [(NPI_A, None)])[NPI_A]
    # One distinct NPI, minimum distance 1, weight 1.
    assert result["chain_provider_count"] == 1
    assert result["chain_excluded_count"] == 1
    assert result["chain_excluded_weight"] == 1.0


def test_duplicate_provider_nodes_counted_once():
    # Two Provider nodes with the same NPI and different names, both linked.
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A)],
        provider_nodes=[(NPI_B, "Elms Care North"), (NPI_B, "Elms Care South"), (None, "Elms Care")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 1


@pytest.mark.parametrize(
    ("excluded_entity", "expected"),
    [
        ("F", True),  # the facility itself
        ("O", True),  # a direct owner
        ("G", False),  # the owner's owner (grandparent)
        ("S", False),  # a sibling under the same owner
    ],
)
def test_owner_excluded_levels(excluded_entity, expected):
    # G -> O -> F, O -> S
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), owner("O"), owner("G"), snf("S", "SUNRISE OAKS")],
        owns=[("G", "O"), ("O", "F"), ("O", "S")],
        exclusions=ACTIVE,
        entity_exclusions=[(excluded_entity, "X1")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["owner_excluded"] is expected


def test_owner_excluded_ignores_reinstated():
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), owner("O")],
        owns=[("O", "F")],
        exclusions=[("X1", True)],
        entity_exclusions=[("O", "X1")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["owner_excluded"] is False


def test_owner_entity_only_on_edges():
    # "O" has no entity row, only OWNS edges: O -> F, O -> S. The path
    # through it still puts S in F's chain.
    snapshot = build_snapshot(
        entities=[snf("F", "ELMS CARE", NPI_A), snf("S", "SUNRISE OAKS", NPI_B)],
        owns=[("O", "F"), ("O", "S")],
        provider_nodes=[(NPI_B, "b")],
    )
    assert features(snapshot, [(NPI_A, None)])[NPI_A]["chain_provider_count"] == 1


# Ranges and inputs -----------------------------------------------------------


def test_empty_range_gives_typed_empty_frame():
    snapshot = build_snapshot(entities=[snf("F", "ELMS CARE", NPI_A)])
    result = chain_features_for_range(prepare_bulk(snapshot), providers_frame([]), ALL_NPIS)
    assert result.height == 0
    assert result.schema == pl.Schema(OWNERSHIP_FEATURES)


def test_empty_snapshot_gives_zeros():
    result = features(GraphSnapshot.empty(), [(NPI_B, "Elms Care"), (NPI_A, None)])
    assert list(result) == [NPI_A, NPI_B]
    assert all(row["facility_id"] is None and row["chain_provider_count"] == 0 for row in result.values())


def test_rows_outside_range_ignored():
    snapshot = build_snapshot(entities=[snf("F", "ELMS CARE", NPI_A)])
    inside = NpiRange(int(NPI_A), int(NPI_A) + 1)
    providers = providers_frame([(NPI_A, None), (NPI_B, None), ("not-an-npi", None)])
    result = chain_features_for_range(prepare_bulk(snapshot), providers, inside)
    assert result["npi"].to_list() == [NPI_A]


def test_output_sorted_by_npi_with_schema():
    snapshot = build_snapshot(entities=[snf("F", "ELMS CARE", NPI_A)])
    providers = providers_frame([(NPI_C, None), (NPI_A, None), (NPI_B, None)])
    result = chain_features_for_range(prepare_bulk(snapshot), providers, ALL_NPIS)
    assert result["npi"].to_list() == [NPI_A, NPI_B, NPI_C]
    assert result.schema == pl.Schema(OWNERSHIP_FEATURES)


def test_null_display_name_column_accepted():
    providers = pl.DataFrame({"npi": [NPI_A], "display_name": [None]})
    result = chain_features_for_range(prepare_bulk(GraphSnapshot.empty()), providers, ALL_NPIS)
    assert result["npi"].to_list() == [NPI_A]


def test_conflicting_duplicate_npi_rejected():
    providers = providers_frame([(NPI_A, "Elms Care"), (NPI_A, "Pine Hall")])
    with pytest.raises(ValueError, match=f"several display names, e.g. \\['{NPI_A}'\\]"):
        chain_features_for_range(prepare_bulk(GraphSnapshot.empty()), providers, ALL_NPIS)


def test_identical_duplicate_rows_kept_once():
    providers = providers_frame([(NPI_A, "Elms Care"), (NPI_A, "Elms Care")])
    result = chain_features_for_range(prepare_bulk(GraphSnapshot.empty()), providers, ALL_NPIS)
    assert result.height == 1


# Invariance and a reference implementation ----------------------------------

# Twelve NPIs spread over the whole NPI space so 7 and 179 ranges split them.
NPI_POOL = [make_npi(100_000_000 + i * 8_300_000) for i in range(12)] + [make_npi(299_999_999)]
NAME_POOL = [None, "Oak", "OAK MANOR", " oak manor west ", "Elms", "ELMS CARE", "elms care home", "Pine Hall", "ab"]


def _key(name):
    if name is None:
        return None
    key = name.strip().lower()
    return key if len(key) >= 4 else None


def reference_features(snapshot: GraphSnapshot, providers: pl.DataFrame) -> dict[str, tuple]:
    """Compute the features straight from their definitions, with nested loops and full BFS."""
    entity_rows = {}
    for row in snapshot.entities.sort(list(snapshot.entities.columns), nulls_last=True).to_dicts():
        entity_rows.setdefault(row["entity_id"], row)
    edges = {(r["owner_id"], r["owned_id"]) for r in snapshot.owns.to_dicts()}
    reinstated = {r["exclusion_id"] for r in snapshot.exclusions.to_dicts() if r["reinstated"] is True}
    excluded_npis = {r["npi"] for r in snapshot.provider_exclusions.to_dicts() if r["exclusion_id"] not in reinstated}
    excluded_entities = {
        r["entity_id"] for r in snapshot.entity_exclusions.to_dicts() if r["exclusion_id"] not in reinstated
    }
    nodes = [r for r in snapshot.providers.to_dicts() if r["npi"] is not None]
    snfs = sorted(
        (r for r in entity_rows.values() if r["entity_type"] == "SNF"),
        key=lambda r: (r["name"] is None, r["name"] or "", r["entity_id"]),
    )

    def distances(start, step, limit=None):
        seen = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if limit is not None and seen[node] == limit:
                continue
            for a, b in edges:
                for nxt in step(a, b, node):
                    if nxt not in seen:
                        seen[nxt] = seen[node] + 1
                        queue.append(nxt)
        return seen

    def up(a, b, node):
        return [a] if b == node else []

    def down(a, b, node):
        return [b] if a == node else []

    def either(a, b, node):
        neighbours = []
        if b == node:
            neighbours.append(a)
        if a == node:
            neighbours.append(b)
        return neighbours

    def linked(node, entity_id):
        entity = entity_rows.get(entity_id)
        if entity is None:
            return False
        entity_key, node_key = _key(entity["name"]), _key(node["name"]) or ""
        return entity["npi"] == node["npi"] or (entity_key is not None and entity_key in node_key)

    result = {}
    for provider in providers.to_dicts():
        npi, display_key = provider["npi"], _key(provider["display_name"])
        facility = next((s for s in snfs if s["npi"] == npi), None)
        if facility is None and display_key is not None:
            facility = next((s for s in snfs if s["name"] is not None and display_key in s["name"].lower()), None)
        if facility is None:
            result[npi] = (None, 0, 0, 0.0, False)
            continue
        f = facility["entity_id"]
        chain = set()
        for seed in distances(f, up, limit=5):
            chain |= set(distances(seed, down, limit=5))
        undirected = distances(f, either)
        chain_npis, nearest = set(), {}
        for node in nodes:
            hops = [undirected[e] for e in chain if linked(node, e)]
            if hops:
                chain_npis.add(node["npi"])
                nearest[node["npi"]] = min(min(hops), nearest.get(node["npi"], 99))
        excluded = [n for n in chain_npis if n in excluded_npis]
        weight = sum(1.0 if nearest[n] <= 1 else 0.5 for n in excluded)
        owners = {a for a, b in edges if b == f}
        owner_flag = bool(({f} | owners) & excluded_entities)
        result[npi] = (f, len(chain_npis), len(excluded), weight, owner_flag)
    return result


@st.composite
def graphs_and_providers(draw):
    entity_count = draw(st.integers(1, 9))
    entity_ids = [f"E{i}" for i in range(entity_count)]
    entities = [
        (
            entity_id,
            draw(st.sampled_from(NAME_POOL)),
            draw(st.sampled_from(["SNF", "SNF", "LLC", None])),
            draw(st.one_of(st.none(), st.sampled_from(NPI_POOL))),
        )
        for entity_id in entity_ids
    ]
    edge_ids = entity_ids + ["GHOST"]
    owns = draw(st.lists(st.tuples(st.sampled_from(edge_ids), st.sampled_from(edge_ids)), max_size=14))
    provider_nodes = draw(
        st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(NPI_POOL)), st.sampled_from(NAME_POOL)), max_size=10)
    )
    exclusion_ids = ["X0", "X1", "X2", "X3"]
    exclusions = [(x, draw(st.sampled_from([True, False, None]))) for x in exclusion_ids[:3]]
    provider_exclusions = draw(
        st.lists(st.tuples(st.sampled_from(NPI_POOL), st.sampled_from(exclusion_ids)), max_size=8)
    )
    entity_exclusions = draw(
        st.lists(st.tuples(st.sampled_from(edge_ids), st.sampled_from(exclusion_ids)), max_size=4)
    )
    snapshot = build_snapshot(entities, owns, provider_nodes, exclusions, provider_exclusions, entity_exclusions)
    npis = draw(st.lists(st.sampled_from(NPI_POOL), unique=True, max_size=len(NPI_POOL)))
    providers = providers_frame((npi, draw(st.sampled_from(NAME_POOL))) for npi in npis)
    return snapshot, providers


def shuffled(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


# Fewer examples here: each one computes 1 + 7 + 179 + 7 ranges.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_and_providers(), st.integers(0, 2**32 - 1))
def test_partitioning_and_order_invariant(case, seed):
    snapshot, providers = case
    bulk = prepare_bulk(snapshot)
    whole = chain_features_all(bulk, providers, npi_ranges(1))
    assert_frame_equal(chain_features_all(bulk, providers, npi_ranges(7)), whole)
    assert_frame_equal(chain_features_all(bulk, providers, npi_ranges(DEFAULT_PARTITION_COUNT)), whole)

    reordered = GraphSnapshot(**{name: shuffled(frame, seed) for name, frame in vars(snapshot).items()})
    reordered_bulk = prepare_bulk(reordered)
    assert_frame_equal(chain_features_all(reordered_bulk, shuffled(providers, seed), npi_ranges(7)), whole)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_and_providers())
def test_features_match_reference(case):
    snapshot, providers = case
    result = chain_features_all(prepare_bulk(snapshot), providers, npi_ranges(7))
    actual = {row.pop("npi"): tuple(row.values()) for row in result.to_dicts()}
    assert actual == reference_features(snapshot, providers)
