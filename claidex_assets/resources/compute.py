"""Compute backends that fan NPI-range partitions out to workers.

A backend receives the paths of the per-run bulk inputs (written once by the
asset) and the partition keys of the run, and yields one
:class:`PartitionOutcome` per partition as results arrive. The local backend
uses a process pool on this machine; the Modal backend lives in
``resources/modal_backend.py``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
from pydantic import Field

from claidex_assets.ownership.tasks import PartitionInputs, compute_partition


@dataclass
class PartitionOutcome:
    """The result of one partition: features on success, the exception on failure."""

    partition_key: str
    features: pl.DataFrame | None
    error: BaseException | None
    seconds: float


PROVIDERS_PER_WORKER = 100_000

# Loaded once per worker process by the pool initializer.
_worker_inputs: PartitionInputs | None = None


def _init_worker(bulk_path: str, providers_path: str) -> None:
    global _worker_inputs
    _worker_inputs = PartitionInputs.from_files(Path(bulk_path), Path(providers_path))


def _run_one(partition_key: str) -> tuple[str, pl.DataFrame, float]:
    assert _worker_inputs is not None, "worker was started without its bulk inputs"
    started = time.perf_counter()
    features = compute_partition(_worker_inputs, partition_key)
    return partition_key, features, time.perf_counter() - started


class LocalProcessBackend(dg.ConfigurableResource):
    """Computes partitions in a local process pool; needs no account."""

    max_workers: int = Field(
        default=0,
        description=(
            "Worker processes. 0 picks one per CPU core, but only one per "
            f"{PROVIDERS_PER_WORKER:,} providers (small data runs in this process); 1 always runs in this process."
        ),
    )

    def worker_count(self, partition_count: int, provider_count: int) -> int:
        if self.max_workers:
            workers = self.max_workers
        else:
            # Starting a worker costs a few seconds of imports and bulk loading,
            # which only pays off when each worker gets enough providers.
            workers = min(os.cpu_count() or 1, max(1, provider_count // PROVIDERS_PER_WORKER))
        return max(1, min(workers, partition_count))

    def compute_partitions(
        self, bulk_path: Path, providers_path: Path, partition_keys: Sequence[str]
    ) -> Iterator[PartitionOutcome]:
        """Yield one outcome per partition key, in completion order."""
        if not partition_keys:
            return
        provider_count = pq.ParquetFile(providers_path).metadata.num_rows
        workers = self.worker_count(len(partition_keys), provider_count)
        if workers == 1:
            inputs = PartitionInputs.from_files(bulk_path, providers_path)
            for key in partition_keys:
                yield _outcome_in_process(inputs, key)
            return
        # spawn, not fork: polars keeps a thread pool that a forked child must not inherit.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(str(bulk_path), str(providers_path)),
        ) as pool:
            futures = {pool.submit(_run_one, key): key for key in partition_keys}
            for future in concurrent.futures.as_completed(futures):
                key = futures[future]
                try:
                    _, features, seconds = future.result()
                except Exception as exc:  # reported per partition; the asset decides how to fail
                    yield PartitionOutcome(key, None, exc, 0.0)
                else:
                    yield PartitionOutcome(key, features, None, seconds)


def _outcome_in_process(inputs: PartitionInputs, key: str) -> PartitionOutcome:
    started = time.perf_counter()
    try:
        features = compute_partition(inputs, key)
    except Exception as exc:  # reported per partition; the asset decides how to fail
        return PartitionOutcome(key, None, exc, time.perf_counter() - started)
    return PartitionOutcome(key, features, None, time.perf_counter() - started)
