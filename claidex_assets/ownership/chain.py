"""Ownership-chain features: chains of every facility, and the features of each provider.

Definitions, all on the graph snapshot:

- The facility of a provider is the SNF entity (``entity_type == 'SNF'``)
  whose ``npi`` equals the provider's NPI. Otherwise it is the first SNF, in
  (name, entity_id) order, whose name key contains the provider's display-name
  key (keys and the 4-character minimum are defined in ``names.py``).
- The chain of a facility is the facility, every ancestor reachable over
  incoming OWNS edges in at most 5 hops, and every entity reachable over
  outgoing OWNS edges in at most 5 hops from any of those.
- Chain providers are Provider nodes linked to a chain entity, counted as
  distinct NPIs. Excluded chain providers are those with an active exclusion
  (``reinstated`` not true).
- Each excluded chain provider weighs 1 when some entity it is linked through
  lies within one OWNS edge of the facility in either direction (the facility
  itself, a direct owner or a directly owned entity), else 0.5. That is the
  minimum undirected OWNS distance rule: weight 1 at distance 0 or 1, 0.5 at
  distance 2 or more.
- ``owner_excluded`` is True when the facility or an entity that directly
  owns it has an active exclusion.

Chains depend only on the snapshot, so :func:`facility_chain_features`
computes them once per run for every SNF. A partition then only matches its
providers to facilities (:func:`chain_features_for_range`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from claidex_assets.npi import NpiRange
from claidex_assets.ownership.names import first_containing_text, may_occur_in_expr, name_key_expr
from claidex_assets.ownership.schema import OWNERSHIP_FEATURES, GraphSnapshot, check_schema

if TYPE_CHECKING:
    from claidex_assets.ownership.bulk import OwnershipBulk

logger = logging.getLogger(__name__)

MAX_HOPS = 5
SNF_ENTITY_TYPE = "SNF"
PROVIDER_COLUMNS = {"npi": pl.Utf8, "display_name": pl.Utf8}

# Per-facility features, one row per SNF, sorted by (name, entity_id) with
# null names last; a facility's row number is its rank in that order.
FACILITY_FEATURES = {
    "entity_id": pl.Utf8,
    "name": pl.Utf8,
    "name_key": pl.Utf8,
    "npi": pl.Utf8,
    "chain_provider_count": pl.Int64,
    "chain_excluded_count": pl.Int64,
    "chain_excluded_weight": pl.Float64,
    "owner_excluded": pl.Boolean,
}


@dataclass(frozen=True)
class OwnershipGraph:
    """Entities numbered 0..n-1 in entity_id order, with OWNS adjacency in both directions.

    Entity ids that appear only on OWNS edges get a number too, so a path
    through an entity missing from the entity frame is still followed.
    """

    entities: pl.DataFrame  # index, entity_id, name_key, npi for every numbered entity
    owners: list[tuple[int, ...]]  # owners[i]: entities with an OWNS edge into i
    owned: list[tuple[int, ...]]  # owned[i]: entities that i OWNS
    facilities: pl.DataFrame  # SNFs: index, entity_id, name, name_key, npi; (name, entity_id) order

    @classmethod
    def from_snapshot(cls, snapshot: GraphSnapshot) -> "OwnershipGraph":
        entities = _distinct_entities(snapshot.entities)
        owns = snapshot.owns.drop_nulls().unique()
        ids = (
            pl.concat([entities["entity_id"], owns["owner_id"], owns["owned_id"]])
            .unique()
            .sort()
            .to_frame("entity_id")
            .with_row_index("index")
            .with_columns(pl.col("index").cast(pl.Int64))
        )
        edges = owns.join(ids.rename({"entity_id": "owner_id", "index": "owner"}), on="owner_id").join(
            ids.rename({"entity_id": "owned_id", "index": "child"}), on="owned_id"
        )
        count = ids.height
        facilities = (
            entities.filter(pl.col("entity_type") == SNF_ENTITY_TYPE)
            .join(ids, on="entity_id")
            .sort(["name", "entity_id"], nulls_last=True)
            .select("index", "entity_id", "name", name_key_expr("name").alias("name_key"), "npi")
        )
        keyed = ids.join(entities, on="entity_id", how="left").select(
            "index", "entity_id", name_key_expr("name").alias("name_key"), "npi"
        )
        return cls(
            entities=keyed.sort("index"),
            owners=_adjacency(edges["child"], edges["owner"], count),
            owned=_adjacency(edges["owner"], edges["child"], count),
            facilities=facilities,
        )


@dataclass(frozen=True)
class ChainLinks:
    """Provider-node NPIs linked to each chain entity, and the NPIs and entities with an active exclusion."""

    entity_npis: dict[int, frozenset[str]]  # entity index -> linked Provider-node NPIs
    excluded_npis: frozenset[str]  # NPIs with an EXCLUDED_BY edge to an active exclusion
    excluded_entities: frozenset[int]  # entity indices with an active exclusion


class ChainIndex:
    """Bounded OWNS reachability with memoised downward sets, shared by all facilities of a run."""

    def __init__(self, graph: OwnershipGraph) -> None:
        self.graph = graph
        self._seeds: dict[int, frozenset[int]] = {}
        self._downward: dict[int, frozenset[int]] = {}

    def seeds(self, facility: int) -> frozenset[int]:
        """Return the facility and its ancestors within MAX_HOPS incoming OWNS edges."""
        seeds = self._seeds.get(facility)
        if seeds is None:
            seeds = bounded_reach(self.graph.owners, facility, MAX_HOPS)
            self._seeds[facility] = seeds
        return seeds

    def downward(self, seed: int) -> frozenset[int]:
        """Return the seed and the entities within MAX_HOPS outgoing OWNS edges of it."""
        reach = self._downward.get(seed)
        if reach is None:
            reach = bounded_reach(self.graph.owned, seed, MAX_HOPS)
            self._downward[seed] = reach
        return reach

    def chain_entities(self) -> frozenset[int]:
        """Return every entity that lies in the chain of at least one facility."""
        members: set[int] = set()
        for facility in self.graph.facilities["index"].to_list():
            for seed in self.seeds(facility):
                members.update(self.downward(seed))
        return frozenset(members)


def bounded_reach(adjacency: Sequence[tuple[int, ...]], start: int, max_hops: int) -> frozenset[int]:
    """Return ``start`` and every node within ``max_hops`` edges of it.

    Breadth-first search visits each node once, so a cycle ends the walk.
    """
    seen = {start}
    frontier = [start]
    for _ in range(max_hops):
        following = []
        for node in frontier:
            for neighbour in adjacency[node]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    following.append(neighbour)
        if not following:
            break
        frontier = following
    return frozenset(seen)


def facility_chain_features(index: ChainIndex, links: ChainLinks) -> pl.DataFrame:
    """Compute the chain features of every SNF (FACILITY_FEATURES, in (name, entity_id) order)."""
    graph = index.graph
    facilities = graph.facilities["index"].to_list()
    seeds_of = [index.seeds(facility) for facility in facilities]

    # A chain is the union of the downward sets of its seeds, so its NPIs are
    # the union of each seed's linked NPIs below it, computed once per seed.
    npis_below: dict[int, frozenset[str]] = {}
    for seeds in seeds_of:
        for seed in seeds:
            if seed not in npis_below:
                npis_below[seed] = _linked_npis(links, index.downward(seed))
    excluded_below = {seed: npis & links.excluded_npis for seed, npis in npis_below.items()}

    provider_counts, excluded_counts, weights, owner_flags = [], [], [], []
    for facility, seeds in zip(facilities, seeds_of):
        chain_npis = set().union(*[npis_below[seed] for seed in seeds])
        chain_excluded = set().union(*[excluded_below[seed] for seed in seeds])

        direct_owners = graph.owners[facility]
        # Entities at undirected OWNS distance 0 or 1; all of them are in the chain.
        near = (facility, *direct_owners, *graph.owned[facility])
        near_excluded = _linked_npis(links, near) & links.excluded_npis
        far_count = len(chain_excluded) - len(near_excluded)

        provider_counts.append(len(chain_npis))
        excluded_counts.append(len(chain_excluded))
        weights.append(len(near_excluded) + 0.5 * far_count)
        owner_flags.append(any(e in links.excluded_entities for e in (facility, *direct_owners)))

    logger.info("chain features computed for %d facilities from %d seeds", len(facilities), len(npis_below))
    return graph.facilities.select("entity_id", "name", "name_key", "npi").with_columns(
        pl.Series("chain_provider_count", provider_counts, dtype=pl.Int64),
        pl.Series("chain_excluded_count", excluded_counts, dtype=pl.Int64),
        pl.Series("chain_excluded_weight", weights, dtype=pl.Float64),
        pl.Series("owner_excluded", owner_flags, dtype=pl.Boolean),
    )


def chain_features_for_range(
    bulk: "OwnershipBulk", providers_in_range: pl.DataFrame, npi_range: NpiRange
) -> pl.DataFrame:
    """Compute OWNERSHIP_FEATURES for every provider of one NPI range, sorted by npi.

    ``providers_in_range`` has columns ``npi`` and ``display_name`` (the
    providers extract, not the graph's Provider nodes); rows outside
    ``npi_range`` or with a non-numeric NPI are ignored. A provider without a
    facility gets a null facility_id, zero counts and owner_excluded False.
    Raises ValueError when one NPI appears with two display names.
    """
    providers = _providers_within(providers_in_range, npi_range)
    if providers.height == 0:
        return pl.DataFrame(schema=OWNERSHIP_FEATURES)
    facilities = bulk.facilities.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
    matched = providers.join(_facility_ranks(bulk, facilities, providers), on="npi")
    features = matched.join(facilities.drop("npi"), on="rank", how="left").select(
        "npi",
        pl.col("entity_id").alias("facility_id"),
        pl.col("chain_provider_count").fill_null(0),
        pl.col("chain_excluded_count").fill_null(0),
        pl.col("chain_excluded_weight").fill_null(0.0),
        pl.col("owner_excluded").fill_null(False),
    )
    logger.debug(
        "range %s: %d providers, %d with a facility",
        npi_range.key,
        features.height,
        features["facility_id"].is_not_null().sum(),
    )
    return check_schema(features.sort("npi"), OWNERSHIP_FEATURES, f"ownership features {npi_range.key}")


def chain_features_all(
    bulk: "OwnershipBulk", providers: pl.DataFrame, ranges: Iterable[NpiRange]
) -> pl.DataFrame:
    """Compute every range in turn and concatenate, sorted by npi (what a backfill of all ranges yields)."""
    parts = [chain_features_for_range(bulk, providers, npi_range) for npi_range in sorted(ranges)]
    if not parts:
        return pl.DataFrame(schema=OWNERSHIP_FEATURES)
    return pl.concat(parts).sort("npi")


def _facility_ranks(bulk: "OwnershipBulk", facilities: pl.DataFrame, providers: pl.DataFrame) -> pl.DataFrame:
    """Return (npi, rank) per provider: the rank of its facility by NPI, else by name, else null."""
    by_npi = facilities.filter(pl.col("npi").is_not_null()).group_by("npi").agg(pl.col("rank").min())
    keyed = providers.join(by_npi, on="npi", how="left").with_columns(
        name_key_expr("display_name").alias("name_key")
    )
    unmatched = keyed.filter(pl.col("rank").is_null() & pl.col("name_key").is_not_null())
    patterns = (
        unmatched.filter(may_occur_in_expr("name_key", bulk.facility_name_grams))["name_key"].unique().sort()
    )
    first = first_containing_text(patterns.to_list(), bulk.facility_name_texts)
    by_name = pl.DataFrame(
        {"name_key": patterns, "name_rank": pl.Series(first, dtype=pl.Int64)}
    ).filter(pl.col("name_rank") >= 0)
    ranks = keyed.join(by_name, on="name_key", how="left")
    return ranks.select("npi", pl.coalesce("rank", "name_rank").alias("rank"))


def _providers_within(providers: pl.DataFrame, npi_range: NpiRange) -> pl.DataFrame:
    checked = check_schema(providers, PROVIDER_COLUMNS, "providers")
    as_number = pl.col("npi").cast(pl.Int64, strict=False)
    within = checked.filter((as_number >= npi_range.low) & (as_number < npi_range.high)).unique()
    if within["npi"].n_unique() < within.height:
        duplicated = within.filter(pl.col("npi").is_duplicated())["npi"].unique().sort().head(5).to_list()
        raise ValueError(
            f"providers in range {npi_range.key} list NPIs with several display names, e.g. {duplicated}; "
            f"pass one row per NPI"
        )
    return within.sort("npi")


def _distinct_entities(entities: pl.DataFrame) -> pl.DataFrame:
    """Keep one row per entity_id (the first in column order), so a duplicated read stays deterministic."""
    return (
        entities.filter(pl.col("entity_id").is_not_null())
        .sort(list(entities.columns), nulls_last=True)
        .unique("entity_id", keep="first", maintain_order=True)
    )


def _adjacency(source: pl.Series, target: pl.Series, count: int) -> list[tuple[int, ...]]:
    grouped = (
        pl.DataFrame({"source": source, "target": target})
        .group_by("source")
        .agg(pl.col("target").sort())
    )
    adjacency: list[tuple[int, ...]] = [()] * count
    for node, neighbours in zip(grouped["source"].to_list(), grouped["target"].to_list()):
        adjacency[node] = tuple(neighbours)
    return adjacency


def _linked_npis(links: ChainLinks, entities: Iterable[int]) -> frozenset[str]:
    linked = links.entity_npis
    return frozenset().union(*[linked[entity] for entity in entities if entity in linked])
