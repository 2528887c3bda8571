"""One call that runs the whole scoring methodology: peer metrics, components, calibration."""

from __future__ import annotations

import polars as pl

from claidex_assets.scoring.calibration import calibrate_scores
from claidex_assets.scoring.components import compute_component_scores
from claidex_assets.scoring.peers import compute_peer_metrics

# Bump when a formula, threshold or tie rule changes, so published rows can
# be traced to the methodology that produced them.
METHODOLOGY_VERSION = "2026.12.1"


def score_providers(
    payments: pl.DataFrame,
    providers: pl.DataFrame,
    exclusions: pl.DataFrame,
    ownership_features: pl.DataFrame,
) -> pl.DataFrame:
    """Score every valid NPI with a payment row in the window; returns the calibrated frame sorted by npi."""
    peer_metrics = compute_peer_metrics(payments, providers)
    components = compute_component_scores(peer_metrics, None, None, exclusions, ownership_features)
    # Release the provider-year frame (about 1 GB nationally) before calibration allocates.
    del peer_metrics
    return calibrate_scores(components)
