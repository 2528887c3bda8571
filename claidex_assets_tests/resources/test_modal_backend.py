"""Tests of the Modal backend up to the Modal API, with no Modal account.

``InProcessFunction`` replaces ``modal.Function`` and only for its
``starmap``: it runs each input through the real partition function via
``Function.local()`` and follows starmap's contract for return_exceptions
and order_outputs. ``ModalBackend._open_run`` (app run, upload, cleanup) is
the one method the tests replace, so everything around the starmap runs as
in production.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from hypothesis import given, strategies as st
from polars.testing import assert_frame_equal

from claidex_assets import modal_app
from claidex_assets.errors import ConfigurationError
from claidex_assets.modal_app import BULK_FILE, PROVIDERS_FILE, frame_to_ipc
from claidex_assets.npi import partition_keys
from claidex_assets.resources.compute import LocalProcessBackend
from claidex_assets.resources.modal_backend import (
    ModalBackend,
    ModalRun,
    find_modal_credentials,
    outcomes_from_results,
    require_modal_credentials,
    starmap_inputs,
)
from claidex_assets_tests.test_modal_app import KEYS, write_bulk_folder

BULK_REF = "/bulk/runs/test"
ALL_KEYS = partition_keys()


class PartitionCrash(RuntimeError):
    """The error the stand-in raises for each partition listed in ``failing``."""


class InProcessFunction:
    """A stand-in for ``modal.Function`` whose ``starmap`` runs every input in this process."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.failing = set(failing)
        self.calls: list[dict[str, Any]] = []

    def _call(self, partition_key: str, bulk_ref: str) -> tuple[str, bytes, float]:
        if partition_key in self.failing:
            raise PartitionCrash(f"injected failure in {partition_key}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will not have access to the mounted Volume.*")
            return modal_app.ownership_partition.local(partition_key, bulk_ref)

    def starmap(
        self,
        input_iterator: Iterable[Sequence[Any]],
        *,
        kwargs: Mapping[str, Any] = {},
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> Iterator[Any]:
        inputs = [tuple(args) for args in input_iterator]
        self.calls.append(
            {"inputs": inputs, "order_outputs": order_outputs, "return_exceptions": return_exceptions}
        )
        # Without ordering, outputs come in completion order; reversed input
        # order is one such order.
        for args in inputs if order_outputs else list(reversed(inputs)):
            try:
                yield self._call(*args, **kwargs)
            except Exception as exc:
                if not return_exceptions:
                    raise
                yield exc


def backend_with(function: InProcessFunction, bulk_root: Path, **fields: Any) -> ModalBackend:
    """A ModalBackend whose run copies the bulk files to a local folder instead of a Modal Volume."""

    class InProcessModalBackend(ModalBackend):
        @contextmanager
        def _open_run(self, bulk_path: Path, providers_path: Path) -> Iterator[ModalRun]:
            folder = bulk_root / uuid.uuid4().hex
            folder.mkdir(parents=True)
            shutil.copyfile(bulk_path, folder / BULK_FILE)
            shutil.copyfile(providers_path, folder / PROVIDERS_FILE)
            try:
                yield ModalRun(function=function, bulk_ref=str(folder))
            finally:
                shutil.rmtree(folder)

    return InProcessModalBackend(**fields)


@pytest.fixture
def modal_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test-id")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test-secret")
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "absent.toml"))


@pytest.fixture
def no_modal_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    empty = tmp_path / "modal.toml"
    empty.write_text("")
    for variable in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(empty))
    return empty


def local_features(bulk_dir: Path, keys: Sequence[str]) -> dict[str, pl.DataFrame]:
    outcomes = LocalProcessBackend(max_workers=1).compute_partitions(
        bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE, keys
    )
    return {outcome.partition_key: outcome.features for outcome in outcomes}


# --- starmap inputs -------------------------------------------------------


def test_starmap_inputs_first_and_last_keys():
    inputs = starmap_inputs([ALL_KEYS[-1], ALL_KEYS[0]], BULK_REF)
    # The default 179 ranges split the 1-prefixed block into 178 ranges of
    # floor(1e9 / 178) = 5,617,977 NPIs, so the first ends at 1,005,617,976;
    # the 2-prefixed block is the last range.
    assert inputs == [("1000000000-1005617976", BULK_REF), ("2000000000-2999999999", BULK_REF)]


def test_starmap_inputs_middle_range():
    middle = ALL_KEYS[80:85]
    inputs = starmap_inputs(reversed(middle), BULK_REF)
    assert [key for key, _ in inputs] == middle
    assert {ref for _, ref in inputs} == {BULK_REF}


def test_starmap_inputs_one_partition():
    assert starmap_inputs([ALL_KEYS[42]], BULK_REF) == [(ALL_KEYS[42], BULK_REF)]


def test_starmap_inputs_no_partitions():
    assert starmap_inputs([], BULK_REF) == []


def test_starmap_inputs_invalid_key():
    with pytest.raises(ValueError, match="1000000000-999"):
        starmap_inputs([ALL_KEYS[0], "1000000000-999"], BULK_REF)


@given(st.lists(st.sampled_from(ALL_KEYS), max_size=40))
def test_starmap_inputs_sorted_distinct(keys):
    inputs = starmap_inputs(keys, BULK_REF)
    input_keys = [key for key, _ in inputs]
    assert input_keys == sorted(set(keys))
    assert all(ref == BULK_REF for _, ref in inputs)


# --- results to outcomes --------------------------------------------------


def test_outcomes_decode_results_in_order():
    frame = pl.DataFrame({"npi": ["1000000012"]})
    inputs = [(KEYS[0], BULK_REF), (KEYS[1], BULK_REF)]
    crash = PartitionCrash("boom")
    outcomes = list(outcomes_from_results(inputs, [(KEYS[0], frame_to_ipc(frame), 1.5), crash]))
    assert [outcome.partition_key for outcome in outcomes] == KEYS[:2]
    assert_frame_equal(outcomes[0].features, frame)
    assert outcomes[0].seconds == 1.5
    assert outcomes[0].error is None
    assert outcomes[1].features is None
    assert outcomes[1].error is crash


def test_outcomes_reject_misplaced_result():
    inputs = [(KEYS[0], BULK_REF)]
    outcomes = list(outcomes_from_results(inputs, [(KEYS[1], frame_to_ipc(pl.DataFrame()), 0.1)]))
    assert outcomes[0].features is None
    assert f"partition {KEYS[1]} in the place of {KEYS[0]}" in str(outcomes[0].error)


def test_outcomes_report_missing_result():
    inputs = [(KEYS[0], BULK_REF), (KEYS[1], BULK_REF)]
    outcomes = list(outcomes_from_results(inputs, [PartitionCrash("x")]))
    assert [outcome.partition_key for outcome in outcomes] == KEYS[:2]
    assert str(outcomes[1].error) == f"Modal returned no result for partition {KEYS[1]}"


def test_outcomes_ignore_extra_result():
    frame = frame_to_ipc(pl.DataFrame({"npi": ["1000000012"]}))
    results = [(KEYS[0], frame, 0.1), (KEYS[1], frame, 0.1)]
    outcomes = list(outcomes_from_results([(KEYS[0], BULK_REF)], results))
    assert [outcome.partition_key for outcome in outcomes] == [KEYS[0]]


@given(st.lists(st.booleans(), min_size=1, max_size=len(KEYS)))
def test_outcomes_match_failures_to_keys(failed_flags):
    keys = KEYS[: len(failed_flags)]
    inputs = [(key, BULK_REF) for key in keys]
    results = [
        PartitionCrash(key) if failed else (key, frame_to_ipc(pl.DataFrame({"npi": [key[:10]]})), 0.0)
        for key, failed in zip(keys, failed_flags)
    ]
    for key, failed, outcome in zip(keys, failed_flags, outcomes_from_results(inputs, results)):
        assert outcome.partition_key == key
        assert (outcome.error is not None) == failed
        if not failed:
            assert outcome.features["npi"].to_list() == [key[:10]]


# --- credentials ----------------------------------------------------------


def test_missing_credentials_raise_before_upload(no_modal_token, tmp_path):
    function = InProcessFunction()
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    backend = backend_with(function, tmp_path / "volume")
    with pytest.raises(ConfigurationError) as raised:
        next(iter(backend.compute_partitions(bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE, KEYS)))
    message = str(raised.value)
    assert "modal token new" in message
    assert "MODAL_TOKEN_ID" in message
    assert "MODAL_TOKEN_SECRET" in message
    assert "CLAIDEX_COMPUTE_BACKEND=local" in message
    assert str(no_modal_token) in message
    # Nothing was uploaded and no starmap ran.
    assert not (tmp_path / "volume").exists()
    assert function.calls == []


def test_missing_credentials_with_no_partitions(no_modal_token, tmp_path):
    backend = backend_with(InProcessFunction(), tmp_path / "volume")
    with pytest.raises(ConfigurationError, match="modal token new"):
        list(backend.compute_partitions(tmp_path / "bulk.bin", tmp_path / "providers.parquet", []))


def test_one_token_variable_is_not_enough(no_modal_token, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-only-id")
    assert find_modal_credentials() is None
    with pytest.raises(ConfigurationError) as raised:
        require_modal_credentials()
    assert "ak-only-id" not in str(raised.value)


def test_credentials_from_environment(modal_token):
    assert require_modal_credentials() == "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"


def test_credentials_from_config_file(no_modal_token):
    no_modal_token.write_text('[default]\ntoken_id = "ak-file-id"\ntoken_secret = "as-file-secret"\n')
    source = require_modal_credentials()
    assert str(no_modal_token) in source
    assert "profile 'default'" in source
    assert "ak-file-id" not in source
    assert "as-file-secret" not in source


def test_credentials_from_active_profile(no_modal_token):
    no_modal_token.write_text(
        '[default]\ntoken_id = "ak-default"\n\n'
        '[work]\nactive = true\ntoken_id = "ak-work"\ntoken_secret = "as-work"\n'
    )
    # The active profile has both values although "default" lacks the secret.
    assert "profile 'work'" in require_modal_credentials()


def test_credentials_profile_variable_wins(no_modal_token, monkeypatch):
    no_modal_token.write_text('[work]\nactive = true\ntoken_id = "ak-work"\ntoken_secret = "as-work"\n')
    monkeypatch.setenv("MODAL_PROFILE", "other")
    assert find_modal_credentials() is None


def test_credentials_mix_environment_and_file(no_modal_token, monkeypatch):
    no_modal_token.write_text('[default]\ntoken_secret = "as-file-secret"\n')
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-env-id")
    source = require_modal_credentials()
    assert source.startswith("MODAL_TOKEN_ID and token_secret of profile 'default'")


def test_unreadable_config_file_names_it(no_modal_token):
    no_modal_token.write_text("[default\ntoken_id = ")
    with pytest.raises(ConfigurationError, match="cannot read the Modal config file") as raised:
        find_modal_credentials()
    assert str(no_modal_token) in str(raised.value)


# --- the backend around starmap -------------------------------------------


def test_backend_matches_local_backend(modal_token, tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    function = InProcessFunction()
    backend = backend_with(function, tmp_path / "volume")
    outcomes = list(backend.compute_partitions(bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE, reversed(KEYS)))

    # One starmap over every partition, in key order, with outputs kept in
    # input order and exceptions returned as results.
    assert len(function.calls) == 1
    assert function.calls[0]["order_outputs"] is True
    assert function.calls[0]["return_exceptions"] is True
    assert [key for key, _ in function.calls[0]["inputs"]] == KEYS

    expected = local_features(bulk_dir, KEYS)
    assert [outcome.partition_key for outcome in outcomes] == KEYS
    for outcome in outcomes:
        assert outcome.error is None
        assert_frame_equal(outcome.features, expected[outcome.partition_key])
    # The bulk folder is removed when the run ends.
    assert list((tmp_path / "volume").iterdir()) == []


def test_backend_partial_failure(modal_token, tmp_path):
    bulk_dir = write_bulk_folder(tmp_path / "bulk")
    function = InProcessFunction(failing={KEYS[1], KEYS[3]})
    backend = backend_with(function, tmp_path / "volume")
    outcomes = {
        outcome.partition_key: outcome
        for outcome in backend.compute_partitions(bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE, KEYS)
    }
    assert sorted(outcomes) == KEYS

    expected = local_features(bulk_dir, KEYS)
    for key in (KEYS[0], KEYS[2]):
        assert outcomes[key].error is None
        assert_frame_equal(outcomes[key].features, expected[key])
    for key in (KEYS[1], KEYS[3]):
        assert outcomes[key].features is None
        assert isinstance(outcomes[key].error, PartitionCrash)
        assert str(outcomes[key].error) == f"injected failure in {key}"


def test_backend_no_partitions_runs_nothing(modal_token, tmp_path):
    function = InProcessFunction()
    backend = backend_with(function, tmp_path / "volume")
    assert list(backend.compute_partitions(tmp_path / "bulk.bin", tmp_path / "providers.parquet", [])) == []
    assert function.calls == []
    assert not (tmp_path / "volume").exists()


def test_backend_overrides_only_set_limits():
    assert ModalBackend().function_overrides() == {}
    backend = ModalBackend(max_containers=4, timeout_s=90, retries=0, memory_mib=1024, cpu=2.0)
    assert backend.function_overrides() == {
        "max_containers": 4,
        "timeout": 90,
        "retries": 0,
        "memory": 1024,
        "cpu": 2.0,
    }
    # with_options builds the variant without contacting Modal. It keeps the
    # bulk Volume mount, and retries=0 is kept rather than read as unset.
    info = modal_app.ownership_partition.with_options(**backend.function_overrides()).info()
    assert info.max_retries == 0
    assert info.timeout == 90
    assert info.memory_mib == 1024
    assert info.cpu == 2.0
    assert list(info.volumes) == ["/bulk"]


def test_backend_fields_have_descriptions():
    for name, field in ModalBackend.model_fields.items():
        assert field.description, name


# --- the asset on the Modal backend ---------------------------------------


def test_asset_rerun_computes_failed_partitions(modal_token, tmp_path):
    from claidex_assets.assets.ownership import build_ownership_chain_features
    from claidex_assets.resources.storage import DataDirResource
    from claidex_assets_tests.test_modal_app import sample_providers, sample_snapshot

    features_asset = build_ownership_chain_features(dg.StaticPartitionsDefinition(KEYS))
    storage = DataDirResource(data_dir=str(tmp_path / "data"))

    def run(function: InProcessFunction) -> None:
        with dg.build_asset_context(
            partition_key_range=dg.PartitionKeyRange(KEYS[0], KEYS[-1]),
            resources={"compute_backend": backend_with(function, tmp_path / "volume"), "storage": storage},
        ) as context:
            features_asset(
                context, provider_extract=sample_providers(), ownership_graph_snapshot=sample_snapshot()
            )

    first = InProcessFunction(failing={KEYS[2]})
    with pytest.raises(dg.Failure) as raised:
        run(first)
    assert f"{KEYS[2]}: PartitionCrash: injected failure in {KEYS[2]}" in raised.value.description
    assert [key for key, _ in first.calls[0]["inputs"]] == KEYS

    second = InProcessFunction()
    run(second)
    # Only the partition that failed had no stored result with a matching fingerprint.
    assert [key for key, _ in second.calls[0]["inputs"]] == [KEYS[2]]
