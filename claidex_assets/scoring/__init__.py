"""Pure polars scoring engine: peer metrics, component scores and global calibration.

Imports neither Dagster nor a database driver, so the same code runs in the
Dagster process, in tests and in a Modal container.
"""

from claidex_assets.scoring.calibration import calibrate_scores
from claidex_assets.scoring.components import compute_component_scores
from claidex_assets.scoring.engine import METHODOLOGY_VERSION, score_providers
from claidex_assets.scoring.peers import compute_peer_metrics

__all__ = [
    "METHODOLOGY_VERSION",
    "calibrate_scores",
    "compute_component_scores",
    "compute_peer_metrics",
    "score_providers",
]
