"""Settings read when the code location loads.

Only the partition count, the data folder and the backend choice are read
here, because Dagster needs them to build the definitions. Connection URLs
and secrets are resolved by the resources at run time (through ``EnvVar``
or the resource's own fallback), so they never enter a definition snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from claidex_assets.errors import ConfigurationError
from claidex_assets.npi import DEFAULT_PARTITION_COUNT
from claidex_assets.resources.storage import DEFAULT_DATA_DIR

BACKENDS = ("local", "modal")


@dataclass(frozen=True)
class Settings:
    data_dir: str = DEFAULT_DATA_DIR
    partition_count: int = DEFAULT_PARTITION_COUNT
    compute_backend: str = "local"
    local_workers: int = 0
    # Folder of the Neo4j import CSV files read when NEO4J_URI is unset.
    graph_csv_dir: str | None = None
    # Seconds between evaluations of the source-change sensor.
    sensor_interval_seconds: int = 300
    # Share of an extract's rows read above which its quarantine check warns.
    quarantine_warn_share: float = 0.01

    @property
    def resolved_graph_csv_dir(self) -> str:
        return self.graph_csv_dir or os.path.join(self.data_dir, "graph")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        backend = env.get("CLAIDEX_COMPUTE_BACKEND", "local").strip().lower()
        if backend not in BACKENDS:
            raise ConfigurationError(
                f"CLAIDEX_COMPUTE_BACKEND={backend!r} is not a known backend; set it to one of {', '.join(BACKENDS)}"
            )
        return cls(
            data_dir=env.get("CLAIDEX_DATA_DIR", DEFAULT_DATA_DIR),
            partition_count=_positive_int(env, "CLAIDEX_PARTITION_COUNT", DEFAULT_PARTITION_COUNT),
            compute_backend=backend,
            local_workers=_positive_int(env, "CLAIDEX_LOCAL_WORKERS", 0, allow_zero=True),
            graph_csv_dir=env.get("CLAIDEX_GRAPH_CSV_DIR") or None,
            sensor_interval_seconds=_positive_int(env, "CLAIDEX_SENSOR_INTERVAL_SECONDS", 300),
            quarantine_warn_share=_share(env, "CLAIDEX_QUARANTINE_WARN_SHARE", 0.01),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int, allow_zero: bool = False) -> int:
    text = env.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not an integer; set a whole number or unset it") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name}={value} must be positive; set a larger number or unset it")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a number; set a share such as 0.01 or unset it") from None
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{name}={value} must lie in [0, 1]; set a share such as 0.01 or unset it")
    return value
