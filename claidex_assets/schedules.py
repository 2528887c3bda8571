"""Weekly full refresh of the whole asset graph."""

import dagster as dg

from claidex_assets.jobs import full_refresh_job, partition_range_tags


def build_weekly_schedule(partitions_def: dg.StaticPartitionsDefinition) -> dg.ScheduleDefinition:
    keys = partitions_def.get_partition_keys()

    @dg.schedule(
        name="claidex_weekly_refresh",
        cron_schedule="0 3 * * 1",
        execution_timezone="UTC",
        job=full_refresh_job,
        description="Mondays 03:00 UTC: rescore every provider from the current source tables and graph.",
    )
    def claidex_weekly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=f"weekly-{context.scheduled_execution_time:%Y-%m-%d}",
            tags=partition_range_tags(keys),
        )

    return claidex_weekly_refresh
