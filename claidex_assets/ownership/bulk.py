"""The once-per-run part of the ownership-chain features and its serialised form.

:func:`prepare_bulk` reads the whole graph snapshot once and computes the
chain features of every SNF. Those depend only on the snapshot, never on which
providers a partition holds, so every partition (a local worker process or a
Modal container) receives the same :class:`OwnershipBulk` and only matches its
own providers to facilities. At national scale the bulk is one row per SNF,
about 15,000 rows, which serialise to about 0.5 MB on the synthetic national
graph of ``benchmarks/bench_ownership.py``.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from claidex_assets.ownership.chain import (
    FACILITY_FEATURES,
    ChainIndex,
    ChainLinks,
    OwnershipGraph,
    facility_chain_features,
)
from claidex_assets.ownership.names import JoinedTexts, find_containments, name_grams, name_key_expr
from claidex_assets.ownership.schema import GraphSnapshot, check_schema

logger = logging.getLogger(__name__)

# Prefixed to the serialised bulk so a worker running older or newer code
# rejects it with a clear message instead of misreading it.
_FORMAT_TAG = b"claidex-ownership-bulk/1\n"


@dataclass(frozen=True, eq=False)
class OwnershipBulk:
    """Chain features of every SNF, in (name, entity_id) order (FACILITY_FEATURES columns)."""

    facilities: pl.DataFrame

    def __post_init__(self) -> None:
        object.__setattr__(self, "facilities", check_schema(self.facilities, FACILITY_FEATURES, "facilities"))

    @cached_property
    def facility_name_keys(self) -> list[str | None]:
        """Name keys of the facilities in rank order."""
        return self.facilities["name_key"].to_list()

    @cached_property
    def facility_name_texts(self) -> JoinedTexts:
        """The facility name keys joined once per process, the texts every partition scans."""
        return JoinedTexts(self.facility_name_keys)

    @cached_property
    def facility_name_grams(self) -> pl.Series:
        """Four-character substrings of the facility name keys, to skip display names no facility contains."""
        return name_grams(self.facility_name_keys)

    def to_bytes(self) -> bytes:
        """Serialise to zstd-compressed Arrow IPC behind a format tag. Equal bulks give equal bytes."""
        buffer = io.BytesIO()
        buffer.write(_FORMAT_TAG)
        # One record batch and plain (non-view) strings: polars' string-view
        # buffers keep the layout of how a frame was built, so equal frames
        # could otherwise serialise to different bytes.
        self.facilities.rechunk().write_ipc(buffer, compression="zstd", compat_level=pl.CompatLevel.oldest())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "OwnershipBulk":
        """Read bytes written by :meth:`to_bytes`, raising ValueError when they lack the format tag."""
        if not data.startswith(_FORMAT_TAG):
            raise ValueError(
                f"ownership bulk data starts with {data[:len(_FORMAT_TAG)]!r}, expected {_FORMAT_TAG!r}; "
                f"prepare it again with this version of claidex_assets"
            )
        return cls(pl.read_ipc(io.BytesIO(data[len(_FORMAT_TAG) :])))

    def summary(self) -> dict[str, int]:
        """Count facilities overall, with chain providers, with excluded chain providers and owner-excluded."""
        facilities = self.facilities
        return {
            "facilities": facilities.height,
            "facilities_with_npi": int(facilities["npi"].is_not_null().sum()),
            "facilities_with_chain_providers": int((facilities["chain_provider_count"] > 0).sum()),
            "facilities_with_excluded_chain_providers": int((facilities["chain_excluded_count"] > 0).sum()),
            "facilities_owner_excluded": int(facilities["owner_excluded"].sum()),
        }


def prepare_bulk(snapshot: GraphSnapshot) -> OwnershipBulk:
    """Compute the chain features of every SNF of ``snapshot`` once for the whole run.

    The result does not depend on the row order of any snapshot frame or on
    duplicated rows in it.
    """
    started = time.perf_counter()
    graph = OwnershipGraph.from_snapshot(snapshot)
    index = ChainIndex(graph)
    chain_entities = index.chain_entities()
    links = chain_links(snapshot, graph, chain_entities)
    facilities = facility_chain_features(index, links)
    logger.info(
        "ownership bulk: %d entities, %d facilities, %d chain entities, %d linked entities, "
        "%d excluded NPIs, %d excluded entities in %.1fs",
        graph.entities.height,
        facilities.height,
        len(chain_entities),
        len(links.entity_npis),
        len(links.excluded_npis),
        len(links.excluded_entities),
        time.perf_counter() - started,
    )
    return OwnershipBulk(facilities)


def chain_links(snapshot: GraphSnapshot, graph: OwnershipGraph, chain_entities: frozenset[int]) -> ChainLinks:
    """Link chain entities to Provider-node NPIs and collect the active exclusions.

    A Provider node links to an entity when their NPIs are equal or when the
    provider's name key contains the entity's name key. Provider nodes
    without an NPI are ignored, because chain providers are counted by NPI.
    """
    provider_nodes = snapshot.providers.filter(pl.col("npi").is_not_null())
    members = pl.DataFrame({"index": sorted(chain_entities)}, schema={"index": pl.Int64})
    entities = graph.entities.join(members, on="index", how="semi")

    by_npi = entities.join(provider_nodes.select("npi").unique(), on="npi").select(
        pl.col("index").alias("entity"), "npi"
    )
    by_name = _name_links(provider_nodes, entities)
    pairs = pl.concat([by_npi, by_name]).group_by("entity").agg(pl.col("npi").unique())
    entity_npis = {
        entity: frozenset(npis) for entity, npis in zip(pairs["entity"].to_list(), pairs["npi"].to_list())
    }

    reinstated = _reinstated_exclusion_ids(snapshot.exclusions)
    excluded_npis = snapshot.provider_exclusions.join(reinstated, on="exclusion_id", how="anti")["npi"]
    excluded_entities = (
        snapshot.entity_exclusions.join(reinstated, on="exclusion_id", how="anti")
        .join(graph.entities, on="entity_id")["index"]
    )
    return ChainLinks(
        entity_npis=entity_npis,
        excluded_npis=frozenset(excluded_npis.drop_nulls().to_list()),
        excluded_entities=frozenset(excluded_entities.to_list()),
    )


def _name_links(provider_nodes: pl.DataFrame, entities: pl.DataFrame) -> pl.DataFrame:
    """Return (entity, npi) pairs where the provider's name key contains the entity's name key."""
    patterns = entities.filter(pl.col("name_key").is_not_null())
    pattern_keys = patterns["name_key"].unique()
    if pattern_keys.is_empty():
        return pl.DataFrame(schema={"entity": pl.Int64, "npi": pl.Utf8})
    # polars' own Aho-Corasick test (multi-threaded Rust) keeps only the few
    # provider names that contain some entity name, so the pyahocorasick pass
    # that reports which ones scans a small share of the 1.78M names.
    texts = (
        provider_nodes.select("npi", name_key_expr("name").alias("text"))
        .drop_nulls()
        .filter(pl.col("text").str.contains_any(pattern_keys.implode()))
    )
    pattern_index, text_index = find_containments(pattern_keys.to_list(), texts["text"].to_list())
    matched = pl.DataFrame({"name_key": pattern_keys.gather(pattern_index), "npi": texts["npi"].gather(text_index)})
    return matched.join(patterns, on="name_key").select(pl.col("index").alias("entity"), "npi")


def _reinstated_exclusion_ids(exclusions: pl.DataFrame) -> pl.DataFrame:
    """Return the exclusion ids with ``reinstated`` true on any of their rows.

    Every other EXCLUDED_BY edge is active: one whose ``reinstated`` is null
    or false, and one whose Exclusion node is missing from the snapshot,
    because "reinstated is not true" holds for both.
    """
    return exclusions.filter(pl.col("reinstated").fill_null(False)).select("exclusion_id").unique()
