"""One partition of ownership-chain features as a pure function of its inputs.

Both compute backends call :func:`compute_partition`: the local process pool
in worker processes and the Modal function in its container. The bulk inputs
(the prepared graph and the provider names) are loaded once per worker and
reused for every partition that worker computes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from claidex_assets.npi import range_for_key
from claidex_assets.ownership.bulk import OwnershipBulk
from claidex_assets.ownership.chain import chain_features_for_range
from claidex_assets.ownership.schema import OWNERSHIP_FEATURES, check_schema

logger = logging.getLogger(__name__)

# Bump when the chain-feature logic changes: stored partitions whose
# fingerprint carries an older version are recomputed on the next run.
OWNERSHIP_CODE_VERSION = "1"

PROVIDER_COLUMNS = {"npi": pl.Utf8, "display_name": pl.Utf8}


@dataclass
class PartitionInputs:
    """The per-run bulk inputs every partition reads."""

    bulk: OwnershipBulk
    providers: pl.DataFrame  # npi, display_name for every provider, sorted by npi

    @classmethod
    def from_bytes(cls, bulk_bytes: bytes, providers_parquet: bytes) -> "PartitionInputs":
        import io

        providers = pl.read_parquet(io.BytesIO(providers_parquet))
        return cls(bulk=OwnershipBulk.from_bytes(bulk_bytes), providers=_checked_providers(providers))

    @classmethod
    def from_files(cls, bulk_path: Path, providers_path: Path) -> "PartitionInputs":
        return cls.from_bytes(bulk_path.read_bytes(), providers_path.read_bytes())


def _checked_providers(providers: pl.DataFrame) -> pl.DataFrame:
    return check_schema(providers, PROVIDER_COLUMNS, "providers").sort("npi")


def providers_in_range(providers: pl.DataFrame, partition_key: str) -> pl.DataFrame:
    """Select the providers whose NPI falls in the partition's half-open range.

    ``providers`` must be sorted by npi. Valid NPIs are 10-digit strings, so
    their string order is their numeric order and two binary searches find
    the slice without scanning the national frame once per partition.
    """
    npi_range = range_for_key(partition_key)
    npis = providers["npi"]
    start = npis.search_sorted(f"{npi_range.low:010d}", side="left")
    end = npis.search_sorted(f"{npi_range.high:010d}", side="left")
    return providers.slice(start, end - start)


def compute_partition(inputs: PartitionInputs, partition_key: str) -> pl.DataFrame:
    """Compute the OWNERSHIP_FEATURES rows of every provider in one NPI-range partition."""
    started = time.perf_counter()
    subset = providers_in_range(inputs.providers, partition_key)
    features = chain_features_for_range(inputs.bulk, subset, range_for_key(partition_key))
    features = check_schema(features, OWNERSHIP_FEATURES, f"ownership features {partition_key}")
    logger.debug(
        "partition %s: %d providers in %.2fs", partition_key, features.height, time.perf_counter() - started
    )
    return features
