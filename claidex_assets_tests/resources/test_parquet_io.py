import dagster as dg
import polars as pl
import pytest

from claidex_assets.resources.parquet_io import ParquetIOManager

PARTS = dg.StaticPartitionsDefinition(["1000000000-1499999999", "1500000000-1999999999", "2000000000-2999999999"])


def _frames(keys):
    return {key: pl.DataFrame({"npi": [key[:10]], "value": [index]}) for index, key in enumerate(keys)}


def test_single_run_range_stores_each_partition(tmp_path):
    keys = PARTS.get_partition_keys()

    @dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
    def features(context: dg.AssetExecutionContext) -> dict:
        return _frames(context.partition_keys)

    @dg.asset(deps=[features])
    def combined(features: pl.DataFrame) -> pl.DataFrame:
        return features

    manager = ParquetIOManager(base_dir=str(tmp_path))
    result = dg.materialize(
        [features],
        resources={"io_manager": manager},
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
    )
    assert result.success
    materialized = {
        event.partition for event in result.get_asset_materialization_events() if event.partition
    }
    assert materialized == set(keys)
    for key in keys:
        assert (tmp_path / "features" / f"{key}.parquet").exists()

    loaded = manager.load_partitions(dg.AssetKey("features"), list(reversed(keys)))
    # Rows come back in partition-key order whatever order the keys were asked in.
    assert loaded["value"].to_list() == [0, 1, 2]


def test_missing_partition_names_it(tmp_path):
    manager = ParquetIOManager(base_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="1500000000-1999999999"):
        manager.load_partitions(dg.AssetKey("features"), ["1500000000-1999999999"])


def test_unpartitioned_round_trip(tmp_path):
    @dg.asset
    def table() -> pl.DataFrame:
        return pl.DataFrame({"a": [1, 2]})

    @dg.asset
    def doubled(table: pl.DataFrame) -> pl.DataFrame:
        return table.with_columns(pl.col("a") * 2)

    result = dg.materialize([table, doubled], resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))})
    assert result.success
    assert pl.read_parquet(tmp_path / "doubled.parquet")["a"].to_list() == [2, 4]


def test_input_columns_metadata_narrows_load(tmp_path):
    @dg.asset
    def wide() -> pl.DataFrame:
        return pl.DataFrame({"a": [1], "b": [2], "c": [3]})

    @dg.asset(ins={"wide": dg.AssetIn(metadata={"columns": ["c", "a"]})})
    def narrow(wide: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame({"seen": [",".join(wide.columns)]})

    result = dg.materialize([wide, narrow], resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))})
    assert result.success
    assert pl.read_parquet(tmp_path / "narrow.parquet")["seen"].to_list() == ["c,a"]


def test_unwritable_data_dir_is_configuration_error(tmp_path):
    from claidex_assets.errors import ConfigurationError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    manager = ParquetIOManager(base_dir=str(blocker / "sub"))
    with pytest.raises(ConfigurationError, match="CLAIDEX_DATA_DIR"):
        manager._check_writable()
