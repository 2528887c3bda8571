"""I/O manager that stores polars frames as Parquet, one file per partition.

Dagster's built-in file I/O managers reject an output that spans several
partitions, which is exactly what a single-run backfill of
``ownership_chain_features`` produces. This manager accepts a
``{partition_key: DataFrame}`` dict for such an output and writes one file per
key, so every partition of the run is persisted and can be reloaded alone.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from claidex_assets.errors import ConfigurationError
from claidex_assets.ownership.schema import GraphSnapshot


def _atomic_write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write to a temporary name in the same folder, then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # lz4 writes several times faster than zstd for a modest size cost, which
    # matters for the multi-million-row frames passed between scoring stages.
    frame.write_parquet(temporary, compression="lz4", statistics=False)
    os.replace(temporary, path)


def partition_path(base_dir: Path, asset_key: dg.AssetKey, partition_key: str) -> Path:
    """Return where one partition of an asset is stored; assets that persist partitions themselves use it too."""
    return base_dir.joinpath(*asset_key.path) / f"{partition_key}.parquet"


def write_partition(base_dir: Path, asset_key: dg.AssetKey, partition_key: str, frame: pl.DataFrame) -> Path:
    path = partition_path(base_dir, asset_key, partition_key)
    _atomic_write_parquet(frame, path)
    return path


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset under ``<base_dir>/<asset key path>`` as Parquet."""

    base_dir: str = Field(description="Folder of every stored asset value (created when missing).")

    def _asset_dir(self, asset_key: dg.AssetKey) -> Path:
        return Path(self.base_dir).joinpath(*asset_key.path)

    def partition_path(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        return partition_path(Path(self.base_dir), asset_key, partition_key)

    def _check_writable(self) -> Path:
        base = Path(self.base_dir)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"data directory {base} cannot be created ({exc.strerror}); "
                "set CLAIDEX_DATA_DIR to a writable folder"
            ) from exc
        if not os.access(base, os.W_OK):
            raise ConfigurationError(
                f"data directory {base} is not writable; set CLAIDEX_DATA_DIR to a writable folder"
            )
        return base

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        self._check_writable()
        key = context.asset_key
        if context.has_asset_partitions:
            expected = set(context.asset_partition_keys)
            if not isinstance(obj, dict):
                raise TypeError(
                    f"{key.to_user_string()} is partitioned: return a dict of partition key to DataFrame, "
                    f"got {type(obj).__name__}"
                )
            missing = sorted(expected - set(obj))
            if missing:
                raise ValueError(f"{key.to_user_string()}: no output for partitions {missing[:5]}")
            for partition_key in sorted(expected):
                _atomic_write_parquet(obj[partition_key], self.partition_path(key, partition_key))
            return
        if isinstance(obj, GraphSnapshot):
            obj.write_parquet(self._asset_dir(key))
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        _atomic_write_parquet(obj, self._asset_dir(key).with_suffix(".parquet"))

    def load_input(self, context: dg.InputContext) -> object:
        key = context.asset_key
        if context.has_asset_partitions:
            return self.load_partitions(key, context.asset_partition_keys)
        directory = self._asset_dir(key)
        if (directory / "providers.parquet").exists():
            return GraphSnapshot.read_parquet(directory)
        path = directory.with_suffix(".parquet")
        if not path.exists():
            raise FileNotFoundError(
                f"{key.to_user_string()} has not been materialized yet (no file {path}); materialize it first"
            )
        # An input declared with metadata {"columns": [...]} reads only those columns.
        columns = (context.definition_metadata or {}).get("columns")
        return pl.read_parquet(path, columns=list(columns) if columns else None)

    def load_partitions(self, key: dg.AssetKey, partition_keys: list[str]) -> pl.DataFrame:
        """Concatenate the stored partitions in key order (which is NPI order); raise naming any missing one."""
        ordered = sorted(partition_keys)
        paths = [self.partition_path(key, k) for k in ordered]
        missing = [k for k, p in zip(ordered, paths) if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} partition(s) of {key.to_user_string()} are not materialized, "
                f"first {missing[:3]}; launch a backfill of those partitions"
            )
        if not paths:
            raise ValueError(f"{key.to_user_string()}: no partitions requested")
        # One multi-file read decodes the files in parallel and keeps the list order.
        return pl.read_parquet(paths)
