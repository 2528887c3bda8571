"""Local data directory shared by the I/O manager, the per-run bulk inputs and the demo."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

DEFAULT_DATA_DIR = ".claidex"


class DataDirResource(dg.ConfigurableResource):
    """Root folder of stored asset values, per-run scratch files and the embedded Postgres."""

    data_dir: str = Field(default=DEFAULT_DATA_DIR, description="Root data folder (CLAIDEX_DATA_DIR).")

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    @property
    def asset_dir(self) -> Path:
        return self.root / "assets"

    def run_dir(self, run_id: str) -> Path:
        path = self.root / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path
