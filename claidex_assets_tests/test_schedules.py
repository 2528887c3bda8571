"""The weekly schedule's run requests."""

import datetime

import dagster as dg

from claidex_assets.npi import partition_keys
from claidex_assets.schedules import build_weekly_schedule

KEYS = partition_keys(7)


def evaluate(scheduled: datetime.datetime) -> dg.RunRequest:
    schedule = build_weekly_schedule(dg.StaticPartitionsDefinition(KEYS))
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=scheduled) as context,
    ):
        result = schedule.evaluate_tick(context)
    assert len(result.run_requests) == 1
    return result.run_requests[0]


def test_schedule_requests_full_range():
    request = evaluate(datetime.datetime(2026, 3, 2, 3, 0, tzinfo=datetime.UTC))
    assert request.tags["dagster/asset_partition_range_start"] == KEYS[0]
    assert request.tags["dagster/asset_partition_range_end"] == KEYS[-1]


def test_schedule_run_key_per_week():
    monday = evaluate(datetime.datetime(2026, 3, 2, 3, 0, tzinfo=datetime.UTC))
    same_day = evaluate(datetime.datetime(2026, 3, 2, 3, 0, tzinfo=datetime.UTC))
    next_monday = evaluate(datetime.datetime(2026, 3, 9, 3, 0, tzinfo=datetime.UTC))
    assert monday.run_key == "weekly-2026-03-02"
    assert same_day.run_key == monday.run_key  # a retried tick launches nothing twice
    assert next_monday.run_key == "weekly-2026-03-09"


def test_schedule_cron_and_job():
    schedule = build_weekly_schedule(dg.StaticPartitionsDefinition(KEYS))
    assert schedule.cron_schedule == "0 3 * * 1"  # Mondays 03:00
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "claidex_full_refresh"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
