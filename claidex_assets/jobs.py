"""Jobs and the run requests that target them."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

PIPELINE_GROUPS = ["extracts", "ownership", "scoring", "publish"]
FULL_JOB_NAME = "claidex_full_refresh"
PIPELINE_TAG = "claidex/pipeline"

pipeline_selection = dg.AssetSelection.groups(*PIPELINE_GROUPS)

# One run over the whole graph: the partitioned asset receives every
# partition key of the range tags at once (single-run backfill policy).
full_refresh_job = dg.define_asset_job(
    FULL_JOB_NAME,
    selection=pipeline_selection,
    description="Extract, compute ownership features for a range of NPI partitions, score and publish.",
    # dagster.yaml limits runs with this tag to one at a time.
    tags={PIPELINE_TAG: "full-refresh"},
)


def partition_range_tags(partition_keys: Sequence[str]) -> dict[str, str]:
    """Tags that hand the contiguous range first..last of ``partition_keys`` to one run."""
    ordered = sorted(partition_keys)
    if not ordered:
        raise ValueError("at least one partition key is required")
    return {
        "dagster/asset_partition_range_start": ordered[0],
        "dagster/asset_partition_range_end": ordered[-1],
    }
