"""Ownership graph snapshot and the NPI-range partitioned ownership-chain features."""

import hashlib
import time
import uuid
import warnings

import dagster as dg
import polars as pl

from claidex_assets.assets.metadata import partition_table_markdown
from claidex_assets.npi import range_for_key
from claidex_assets.ownership.bulk import prepare_bulk
from claidex_assets.ownership.schema import GraphSnapshot
from claidex_assets.ownership.tasks import OWNERSHIP_CODE_VERSION, providers_in_range
from claidex_assets.resources.neo4j import Neo4jResource
from claidex_assets.resources.parquet_io import partition_path, write_partition
from claidex_assets.resources.storage import DataDirResource

OWNERSHIP_GROUP = "ownership"
FEATURES_KEY = dg.AssetKey("ownership_chain_features")


@dg.asset(group_name=OWNERSHIP_GROUP, deps=["ownership_graph"], kinds={"neo4j", "polars"})
def ownership_graph_snapshot(context: dg.AssetExecutionContext, neo4j: Neo4jResource) -> dg.Output[GraphSnapshot]:
    """The whole ownership graph read once per run, so partitions never query Neo4j."""
    started = time.perf_counter()
    snapshot = neo4j.read_snapshot()
    counts = snapshot.row_counts()
    context.log.info("read ownership graph from %s: %s", neo4j.describe(), counts)
    snf_count = snapshot.entities.filter(pl.col("entity_type") == "SNF").height
    return dg.Output(
        snapshot,
        metadata={
            **{f"{name}_rows": count for name, count in counts.items()},
            "snf_count": snf_count,
            "source": neo4j.describe(),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


def _partition_fingerprint(bulk_digest: str, providers: pl.DataFrame) -> str:
    """Hash what one partition's result depends on: the prepared graph, its providers and the code version."""
    digest = hashlib.sha256(f"{OWNERSHIP_CODE_VERSION}:{bulk_digest}:{providers.height}".encode())
    if providers.height:
        row_hashes = providers.hash_rows(seed=0)
        digest.update(row_hashes.to_numpy().tobytes())
    return digest.hexdigest()


def build_ownership_chain_features(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Create the partitioned features asset for ``partitions_def`` (the NPI-range count is a setting)."""

    # Dagster 1.13 marks backfill_policy as beta and warns on every import.
    # The single-run policy is deliberate, so only that warning is silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        asset_decorator = dg.asset(
            name="ownership_chain_features",
            group_name=OWNERSHIP_GROUP,
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            code_version=OWNERSHIP_CODE_VERSION,
            kinds={"polars"},
            required_resource_keys={"compute_backend", "storage"},
        )

    @asset_decorator
    def ownership_chain_features(
        context: dg.AssetExecutionContext,
        provider_extract: pl.DataFrame,
        ownership_graph_snapshot: GraphSnapshot,
    ) -> None:
        """Chain size, excluded chain members and owner-level exclusion per provider, by NPI range."""
        started = time.perf_counter()
        storage: DataDirResource = context.resources.storage
        keys = sorted(context.partition_keys)
        providers = provider_extract.select("npi", "display_name").sort("npi")

        bulk = prepare_bulk(ownership_graph_snapshot)
        bulk_bytes = bulk.to_bytes()
        bulk_digest = hashlib.sha256(bulk_bytes).hexdigest()
        run_dir = storage.run_dir(_scratch_name(context))
        bulk_path = run_dir / "ownership_bulk.bin"
        providers_path = run_dir / "providers.parquet"
        bulk_path.write_bytes(bulk_bytes)
        providers.write_parquet(providers_path)
        prepared = time.perf_counter()
        context.log.info(
            "prepared ownership bulk inputs: %.1f MB graph, %d providers, %d partitions requested",
            len(bulk_bytes) / 1e6, providers.height, len(keys),
        )

        base = storage.asset_dir
        rows: dict[str, dict] = {}
        stale: list[str] = []
        fingerprints: dict[str, str] = {}
        for key in keys:
            fingerprints[key] = _partition_fingerprint(bulk_digest, providers_in_range(providers, key))
            fingerprint_file = partition_path(base, FEATURES_KEY, key).with_suffix(".fingerprint")
            stored = partition_path(base, FEATURES_KEY, key)
            if stored.exists() and fingerprint_file.exists() and fingerprint_file.read_text() == fingerprints[key]:
                rows[key] = _row(key, pl.scan_parquet(stored).select(pl.len()).collect().item(), 0.0, False)
            else:
                stale.append(key)
        context.log.info("%d of %d partitions have changed inputs and will be computed", len(stale), len(keys))

        backend = context.resources.compute_backend
        failures: dict[str, BaseException] = {}
        done = 0
        for outcome in backend.compute_partitions(bulk_path, providers_path, stale):
            done += 1
            if outcome.error is not None:
                failures[outcome.partition_key] = outcome.error
                context.log.error("partition %s failed: %s", outcome.partition_key, outcome.error)
            else:
                path = write_partition(base, FEATURES_KEY, outcome.partition_key, outcome.features)
                path.with_suffix(".fingerprint").write_text(fingerprints[outcome.partition_key])
                rows[outcome.partition_key] = _row(
                    outcome.partition_key, outcome.features.height, outcome.seconds, True
                )
            if done == len(stale) or done % max(1, len(stale) // 10) == 0:
                context.log.info(
                    "ownership features: %d/%d partitions done, %.1fs elapsed",
                    done, len(stale), time.perf_counter() - started,
                )

        if failures:
            listed = "; ".join(f"{key}: {type(err).__name__}: {err}" for key, err in sorted(failures.items()))
            raise dg.Failure(
                description=(
                    f"{len(failures)} of {len(keys)} ownership partitions failed ({listed}). The other "
                    "partitions are stored; rerun the same range to compute only the failed ones."
                ),
                metadata={"failed_partitions": sorted(failures)},
            )

        ordered = [rows[key] for key in keys]
        context.add_output_metadata(
            {
                "row_count": sum(r["rows"] for r in ordered),
                "partitions": len(keys),
                "partitions_computed": len(stale),
                "first_npi": ordered[0]["low"] if ordered else "",
                "last_npi": ordered[-1]["high"] if ordered else "",
                "partition_table": dg.MetadataValue.md(partition_table_markdown(ordered)),
                "prepare_seconds": round(prepared - started, 3),
                "seconds": round(time.perf_counter() - started, 3),
                "compute_backend": type(backend).__name__,
            }
        )

    return ownership_chain_features


def _scratch_name(context: dg.AssetExecutionContext) -> str:
    """Name the per-run scratch folder after the run, or uniquely when the asset is invoked directly."""
    try:
        return context.run.run_id
    except dg.DagsterError:  # direct invocation has no run
        return f"direct-{uuid.uuid4().hex}"


def _row(key: str, count: int, seconds: float, computed: bool) -> dict:
    npi_range = range_for_key(key)
    return {
        "partition": key,
        "low": f"{npi_range.low:010d}",
        "high": f"{npi_range.high - 1:010d}",
        "rows": count,
        "seconds": seconds,
        "computed": computed,
    }
