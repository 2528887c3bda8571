"""The Modal app that computes ownership-chain feature partitions in containers.

The container imports this module and the pure code it needs (``npi``,
``errors`` and the ``ownership`` package), never Dagster or a database
driver. The bulk inputs of a run (the prepared graph and the provider names)
are uploaded once per run to a folder of a Modal Volume. Each container reads
that folder once, keeps the inputs in memory and computes every partition it
is given with :func:`claidex_assets.ownership.tasks.compute_partition`, the
function the local backend calls too.

The function limits are read from the environment when this module is
imported (see :class:`ModalSettings`); ``ModalBackend`` can override them per
run.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import modal
import polars as pl

from claidex_assets.errors import ConfigurationError
from claidex_assets.ownership.tasks import PartitionInputs, compute_partition

logger = logging.getLogger(__name__)

APP_NAME = "claidex-ownership"
PYTHON_VERSION = "3.11"

# The versions this project is developed and tested with, so a container
# computes exactly what the local backend computes. polars 2.1.0 pins its own
# polars-runtime-32 build, so that one needs no line here.
PINNED_PACKAGES = (
    "numpy==2.4.6",
    "polars==2.1.0",
    "pyahocorasick==2.3.1",
    "pyarrow==26.0.1",
)

# Paths inside the claidex_assets package that the container needs; every
# other module (assets, resources, Dagster definitions) stays out of the image.
CONTAINER_MODULES = frozenset({"__init__.py", "errors.py", "modal_app.py", "npi.py"})
CONTAINER_PACKAGES = ("ownership",)

# Mount path of the bulk Volume in the container, and the file names in one
# run's folder on it.
BULK_MOUNT = PurePosixPath("/bulk")
BULK_FILE = "ownership_bulk.bin"
PROVIDERS_FILE = "providers.parquet"


@dataclass(frozen=True)
class ModalSettings:
    """Limits of the partition function and the name of the bulk Volume."""

    max_containers: int = 32
    timeout_s: int = 600
    retries: int = 2
    memory_mib: int = 2048
    cpu: float = 1.0
    region: str | None = None
    volume_name: str = "claidex-ownership-bulk"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ModalSettings":
        """Read the ``CLAIDEX_MODAL_*`` variables; an unset or empty variable keeps its default."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_containers=_env_number(env, "CLAIDEX_MODAL_MAX_CONTAINERS", defaults.max_containers, int, minimum=1),
            timeout_s=_env_number(env, "CLAIDEX_MODAL_TIMEOUT", defaults.timeout_s, int, minimum=10),
            retries=_env_number(env, "CLAIDEX_MODAL_RETRIES", defaults.retries, int, minimum=0),
            memory_mib=_env_number(env, "CLAIDEX_MODAL_MEMORY_MIB", defaults.memory_mib, int, minimum=128),
            cpu=_env_number(env, "CLAIDEX_MODAL_CPU", defaults.cpu, float, minimum=0.125),
            region=(env.get("CLAIDEX_MODAL_REGION") or "").strip() or None,
            volume_name=(env.get("CLAIDEX_MODAL_VOLUME") or "").strip() or defaults.volume_name,
        )

    def function_options(self) -> dict[str, Any]:
        """Return the keyword arguments of ``App.function`` that carry these limits."""
        options: dict[str, Any] = {
            "max_containers": self.max_containers,
            "timeout": self.timeout_s,
            "retries": self.retries,
            "memory": self.memory_mib,
            "cpu": self.cpu,
        }
        if self.region:
            options["region"] = self.region
        return options


def _env_number(env: Mapping[str, str], name: str, default: Any, kind: type, minimum: float) -> Any:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigurationError(
            f"{name}={text!r} is not a valid {kind.__name__}; set a number of at least {minimum} or unset it"
        ) from None
    if value < minimum:
        raise ConfigurationError(f"{name}={value} is below the minimum {minimum}; set a larger value or unset it")
    return value


def is_container_source(relative_path: Path) -> bool:
    """Return True for the files of the claidex_assets package that the container image carries."""
    parts = relative_path.parts
    if len(parts) == 1:
        return parts[0] in CONTAINER_MODULES
    return parts[0] in CONTAINER_PACKAGES and relative_path.suffix == ".py"


def build_image() -> modal.Image:
    """Build the container image: Debian slim, the pinned packages, and only the pure source files."""
    return (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .pip_install(*PINNED_PACKAGES)
        .add_local_python_source("claidex_assets", ignore=lambda path: not is_container_source(path))
    )


# --- Container code: plain functions, callable and testable without Modal ---

# The inputs of the bulk folder this container read last, keyed by that folder.
_cached_inputs: tuple[str, PartitionInputs] | None = None


def load_bulk_inputs(bulk_dir: Path) -> tuple[PartitionInputs, float]:
    """Read the bulk folder once per container; return its inputs and the seconds spent reading (0 when cached)."""
    global _cached_inputs
    key = str(bulk_dir)
    if _cached_inputs is not None and _cached_inputs[0] == key:
        return _cached_inputs[1], 0.0
    started = time.perf_counter()
    bulk_path, providers_path = bulk_dir / BULK_FILE, bulk_dir / PROVIDERS_FILE
    for path in (bulk_path, providers_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"bulk input {path} not found; the backend uploads {BULK_FILE} and {PROVIDERS_FILE} "
                f"to this folder before it starts the partitions"
            )
    inputs = PartitionInputs.from_files(bulk_path, providers_path)
    _cached_inputs = (key, inputs)
    seconds = time.perf_counter() - started
    logger.info("loaded bulk inputs from %s: %d providers in %.2fs", bulk_dir, inputs.providers.height, seconds)
    return inputs, seconds


def frame_to_ipc(frame: pl.DataFrame) -> bytes:
    """Serialise a frame to Arrow IPC bytes, which keep the column types of an empty frame too."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="zstd")
    return buffer.getvalue()


def frame_from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


def compute_partition_from_volume(partition_key: str, bulk_dir: Path) -> tuple[str, bytes, float]:
    """Compute one partition from the bulk folder ``bulk_dir``.

    Returns the partition key, the OWNERSHIP_FEATURES rows as Arrow IPC bytes,
    and the seconds this call took, including reading the bulk folder when
    this call was the container's first.
    """
    started = time.perf_counter()
    inputs, _ = load_bulk_inputs(bulk_dir)
    features = compute_partition(inputs, partition_key)
    return partition_key, frame_to_ipc(features), time.perf_counter() - started


# --- The Modal app ---

SETTINGS = ModalSettings.from_env()
app = modal.App(APP_NAME)
bulk_volume = modal.Volume.from_name(SETTINGS.volume_name, create_if_missing=True)


# include_source=False: Modal would otherwise add the whole claidex_assets
# package (Dagster code included); the image adds the pure files instead.
@app.function(
    image=build_image(),
    volumes={BULK_MOUNT.as_posix(): bulk_volume},
    include_source=False,
    **SETTINGS.function_options(),
)
def ownership_partition(partition_key: str, bulk_ref: str) -> tuple[str, bytes, float]:
    """Compute one NPI-range partition; ``bulk_ref`` is the run's bulk folder as mounted in the container."""
    bulk_dir = Path(bulk_ref)
    if not bulk_dir.is_dir() and not modal.is_local():
        # A container that started before the upload was committed reads an
        # older state of the Volume until it reloads.
        bulk_volume.reload()
    return compute_partition_from_volume(partition_key, bulk_dir)
