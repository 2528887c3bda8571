"""Compute backend that runs all partitions of a run on Modal as one ``starmap``.

One call of :meth:`ModalBackend.compute_partitions` starts the ephemeral app
``claidex-ownership`` (defined in ``claidex_assets/modal_app.py``) and uploads
the run's bulk inputs once to a fresh folder of the bulk Volume. It then maps
the partition function over one input per partition and yields each
partition's outcome as its result arrives. The folder is removed at the end.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from claidex_assets.errors import ConfigurationError
from claidex_assets.npi import range_for_key
from claidex_assets.resources.compute import PartitionOutcome

logger = logging.getLogger(__name__)

TOKEN_VARIABLES = ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")


def modal_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the Modal config file the SDK reads: MODAL_CONFIG_PATH, else ~/.modal.toml."""
    env = os.environ if environ is None else environ
    return Path(env.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml"))


def find_modal_credentials(environ: Mapping[str, str] | None = None) -> str | None:
    """Return where a Modal token comes from, or None when there is none.

    Follows the SDK's lookup: each of MODAL_TOKEN_ID and MODAL_TOKEN_SECRET
    from the environment, else from the active profile of the config file
    (MODAL_PROFILE, else the profile marked ``active``, else ``default``).
    The returned text names a variable or a file, never a token value.
    """
    env = os.environ if environ is None else environ
    path = modal_config_path(env)
    profile_values: Mapping[str, Any] = {}
    profile = env.get("MODAL_PROFILE") or "default"
    if path.is_file():
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read the Modal config file {path}: {exc}; fix or remove it and run `modal token new`"
            ) from None
        if not env.get("MODAL_PROFILE"):
            profile = next((name for name, values in config.items() if _is_active(values)), "default")
        section = config.get(profile, {})
        profile_values = section if isinstance(section, Mapping) else {}

    sources = []
    for variable in TOKEN_VARIABLES:
        setting = variable.removeprefix("MODAL_").lower()
        if env.get(variable):
            sources.append(variable)
        elif profile_values.get(setting):
            sources.append(f"{setting} of profile '{profile}' in {path}")
        else:
            return None
    return " and ".join(sources)


def _is_active(values: object) -> bool:
    return isinstance(values, Mapping) and values.get("active") is True


def require_modal_credentials(environ: Mapping[str, str] | None = None) -> str:
    """Return where the Modal token comes from; raise ConfigurationError naming the fix when there is none."""
    source = find_modal_credentials(environ)
    if source is None:
        raise ConfigurationError(
            "Modal credentials are missing: MODAL_TOKEN_ID and MODAL_TOKEN_SECRET are not both set, and "
            f"the Modal config file {modal_config_path(environ)} has no token for the active profile. "
            "Run `modal token new` (it writes ~/.modal.toml), or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET "
            "in the environment of the Dagster code server. To compute on this machine instead, "
            "set CLAIDEX_COMPUTE_BACKEND=local."
        )
    return source


def starmap_inputs(partition_keys: Iterable[str], bulk_ref: str) -> list[tuple[str, str]]:
    """Build one ``(partition_key, bulk_ref)`` argument tuple per distinct partition, sorted by key.

    Raises ValueError naming the first key that is not an NPI-range partition key.
    """
    keys = sorted(set(partition_keys))
    for key in keys:
        range_for_key(key)
    return [(key, bulk_ref) for key in keys]


def outcomes_from_results(
    inputs: Sequence[tuple[str, str]], results: Iterable[object]
) -> Iterator[PartitionOutcome]:
    """Turn the ordered results of a starmap with ``return_exceptions=True`` into partition outcomes.

    ``results`` contains one item per input, in input order: either the
    partition function's ``(partition_key, ipc_bytes, seconds)`` or the
    exception that input ended with after its retries. A result that names
    another partition, and an input left without a result, become failed
    outcomes.
    """
    from claidex_assets.modal_app import frame_from_ipc

    started = time.perf_counter()
    failed = 0
    position = 0
    for result in results:
        if position == len(inputs):
            logger.warning("Modal returned more results than the %d inputs; ignoring the rest", len(inputs))
            break
        key = inputs[position][0]
        position += 1
        outcome = _outcome(key, result, frame_from_ipc)
        if outcome.error is not None:
            failed += 1
            logger.warning(
                "partition %s failed on Modal: %s: %s", key, type(outcome.error).__name__, outcome.error
            )
        yield outcome
        if position % 25 == 0:
            logger.info(
                "Modal: %d/%d partitions returned, %.1fs elapsed",
                position, len(inputs), time.perf_counter() - started,
            )
    for key, _ in inputs[position:]:
        failed += 1
        yield PartitionOutcome(key, None, RuntimeError(f"Modal returned no result for partition {key}"), 0.0)
    logger.info(
        "Modal: %d partitions done (%d failed) in %.1fs", len(inputs), failed, time.perf_counter() - started
    )


def _outcome(key: str, result: object, decode: Any) -> PartitionOutcome:
    if isinstance(result, BaseException):
        return PartitionOutcome(key, None, result, 0.0)
    returned_key, ipc_bytes, seconds = result  # type: ignore[misc]
    if returned_key != key:
        error = RuntimeError(f"Modal returned the result of partition {returned_key} in the place of {key}")
        return PartitionOutcome(key, None, error, 0.0)
    return PartitionOutcome(key, decode(ipc_bytes), None, seconds)


class StarmapFunction(Protocol):
    """The part of ``modal.Function`` the backend calls: its ``starmap`` method."""

    def starmap(
        self,
        input_iterator: Iterable[Sequence[Any]],
        *,
        kwargs: Mapping[str, Any] = ...,
        order_outputs: bool = ...,
        return_exceptions: bool = ...,
        wrap_returned_exceptions: bool | None = ...,
    ) -> Iterable[Any]: ...


@dataclass(frozen=True)
class ModalRun:
    """A running app: the partition function to map and the run's bulk folder as containers see it."""

    function: StarmapFunction
    bulk_ref: str


class ModalBackend(dg.ConfigurableResource):
    """Computes partitions on Modal, one container input per partition; needs a Modal token."""

    app_name: str = Field(
        default="claidex-ownership", description="Name the ephemeral Modal app shows in the Modal dashboard."
    )
    environment: str | None = Field(
        default=None,
        description="Modal environment to run in; unset uses MODAL_ENVIRONMENT or the profile's default.",
    )
    max_containers: int | None = Field(
        default=None,
        description="Maximum containers running at once; unset keeps CLAIDEX_MODAL_MAX_CONTAINERS (default 32).",
    )
    timeout_s: int | None = Field(
        default=None,
        description="Seconds one partition may run before Modal stops it; unset keeps CLAIDEX_MODAL_TIMEOUT (default 600).",
    )
    retries: int | None = Field(
        default=None,
        description="Retries of a failed partition; unset keeps CLAIDEX_MODAL_RETRIES (default 2).",
    )
    memory_mib: int | None = Field(
        default=None,
        description="Memory request per container in MiB; unset keeps CLAIDEX_MODAL_MEMORY_MIB (default 2048).",
    )
    cpu: float | None = Field(
        default=None,
        description="CPU cores requested per container; unset keeps CLAIDEX_MODAL_CPU (default 1.0).",
    )

    def function_overrides(self) -> dict[str, Any]:
        """Return the limits set on this resource, as ``Function.with_options`` arguments."""
        overrides = {
            "max_containers": self.max_containers,
            "timeout": self.timeout_s,
            "retries": self.retries,
            "memory": self.memory_mib,
            "cpu": self.cpu,
        }
        return {name: value for name, value in overrides.items() if value is not None}

    def compute_partitions(
        self, bulk_path: Path, providers_path: Path, partition_keys: Sequence[str]
    ) -> Iterator[PartitionOutcome]:
        """Yield one outcome per partition key, in key order, as the starmap returns them.

        Raises ConfigurationError before any upload when no Modal token is configured.
        """
        source = require_modal_credentials()
        keys = sorted(set(partition_keys))
        if not keys:
            return
        logger.info("Modal credentials from %s; %d partitions to compute", source, len(keys))
        with self._open_run(bulk_path, providers_path) as run:
            inputs = starmap_inputs(keys, run.bulk_ref)
            # Ordered outputs let each exception be matched to its input's partition.
            results = run.function.starmap(inputs, order_outputs=True, return_exceptions=True)
            yield from outcomes_from_results(inputs, results)

    @contextmanager
    def _open_run(self, bulk_path: Path, providers_path: Path) -> Iterator[ModalRun]:
        """Run the app, upload the bulk inputs once, and remove them when the caller is done."""
        # NOTE: tests replace this method; app.run, the Volume upload and the
        # removal have not run against a Modal account from this repository.
        from claidex_assets import modal_app

        with modal_app.app.run(name=self.app_name, environment_name=self.environment):
            folder = f"runs/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
            _upload_bulk(modal_app, bulk_path, providers_path, folder)
            try:
                function = modal_app.ownership_partition
                overrides = self.function_overrides()
                if overrides:
                    function = function.with_options(**overrides)
                yield ModalRun(function=function, bulk_ref=(modal_app.BULK_MOUNT / folder).as_posix())
            finally:
                _remove_bulk(modal_app, folder)


def _upload_bulk(modal_app: Any, bulk_path: Path, providers_path: Path, folder: str) -> None:
    started = time.perf_counter()
    size = bulk_path.stat().st_size + providers_path.stat().st_size
    with modal_app.bulk_volume.batch_upload() as batch:
        batch.put_file(bulk_path, f"/{folder}/{modal_app.BULK_FILE}")
        batch.put_file(providers_path, f"/{folder}/{modal_app.PROVIDERS_FILE}")
    logger.info(
        "uploaded %.1f MB of bulk inputs to Modal volume %s:/%s in %.1fs",
        size / 1e6, modal_app.SETTINGS.volume_name, folder, time.perf_counter() - started,
    )


def _remove_bulk(modal_app: Any, folder: str) -> None:
    try:
        modal_app.bulk_volume.remove_file(f"/{folder}", recursive=True)
    except Exception as exc:  # cleanup must not hide the run's own result or error
        logger.warning(
            "could not remove /%s from Modal volume %s (%s: %s); remove it with `modal volume rm %s /%s -r`",
            folder, modal_app.SETTINGS.volume_name, type(exc).__name__, exc, modal_app.SETTINGS.volume_name, folder,
        )
