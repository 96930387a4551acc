"""Recurring schedules' rules: intervals, cron in a time zone (daylight saving time),
the occurrences that came due, and what ``catchUp`` fires of them (an injected clock:
every time is given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.domain.clock import format_timestamp
from actors.domain.schedules import (
    MAX_CATCH_UP,
    MAX_MISSES_COUNTED,
    Trigger,
    apply_changes,
    next_occurrence,
    occurrence_job_id,
    parse_interval,
    plan_firing,
    schedule_changes,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make(**fields: object):  # type: ignore[no-untyped-def]
    return apply_changes(
        {"name": "s", "job": {"type": "echo"}, **fields}, current=None, schedule_id="s", now=T0
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86_400)]
)
def test_an_interval_is_a_whole_number_of_seconds_minutes_hours_or_days(
    text: str, seconds: int
) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0s", "10", "1.5m", "10w", " 5m", "400d"])
def test_a_malformed_or_too_long_interval_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^Interval .*"):
        parse_interval(text)


def test_interval_occurrences_count_from_the_anchor() -> None:
    schedule = make(interval="30s")

    assert schedule.next_run_at == format_timestamp(T0 + timedelta(seconds=30))
    assert next_occurrence(schedule, T0 + timedelta(seconds=75)) == T0 + timedelta(seconds=90)
    assert next_occurrence(schedule, T0 + timedelta(seconds=90)) == T0 + timedelta(seconds=120)


def test_cron_occurrences_follow_the_time_zone_across_daylight_saving_time() -> None:
    # Berlin springs forward on 29 March 2026: 02:00 local does not exist that day.
    schedule = make(cron="30 2 * * *", timezone="Europe/Berlin")
    before = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)

    first = next_occurrence(schedule, before)
    second = next_occurrence(schedule, first)
    third = next_occurrence(schedule, second)

    assert first == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert second == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # no 02:30: 03:00 CEST
    assert third == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_a_schedule_on_time_fires_its_one_occurrence_whatever_catch_up() -> None:
    for policy in ("none", "one", "all"):
        schedule = make(interval="10s", catchUp=policy)

        firing = plan_firing(schedule, T0 + timedelta(seconds=10.3))

        assert firing.occurrences == (format_timestamp(T0 + timedelta(seconds=10)),)
        assert firing.missed == 0
        assert firing.schedule.next_run_at == format_timestamp(T0 + timedelta(seconds=20))


@pytest.mark.parametrize(
    ("policy", "fired", "missed"),
    [("none", [], 5), ("one", [50], 4), ("all", [10, 20, 30, 40, 50], 0)],
)
def test_after_downtime_past_the_grace_catch_up_decides(
    policy: str, fired: list[int], missed: int
) -> None:
    schedule = make(interval="10s", catchUp=policy)

    # Nothing ran from 0 to 59 s: occurrences 10..50 fell due, the newest 9 s ago (grace 5 s).
    firing = plan_firing(schedule, T0 + timedelta(seconds=59), grace_s=5)

    assert firing.occurrences == tuple(format_timestamp(T0 + timedelta(seconds=s)) for s in fired)
    assert firing.missed == missed
    assert firing.schedule.misses == missed
    assert firing.schedule.fires == len(fired)
    assert firing.schedule.next_run_at == format_timestamp(T0 + timedelta(seconds=60))


def test_catch_up_all_fires_at_most_the_newest_hundred() -> None:
    schedule = make(interval="1s", catchUp="all")

    firing = plan_firing(schedule, T0 + timedelta(seconds=1000.5))

    assert len(firing.occurrences) == MAX_CATCH_UP
    assert firing.occurrences[-1] == format_timestamp(T0 + timedelta(seconds=1000))
    assert firing.missed == 1000 - MAX_CATCH_UP


def test_a_cron_schedule_down_for_days_counts_its_misses() -> None:
    schedule = make(cron="0 * * * *", catchUp="one")  # hourly; next run 13:00

    firing = plan_firing(schedule, T0 + timedelta(days=2, minutes=5))

    assert firing.occurrences == (format_timestamp(T0 + timedelta(days=2)),)
    assert firing.missed == 48 - 1


def test_occurrence_job_ids_are_the_same_for_one_occurrence_and_differ_otherwise() -> None:
    at = format_timestamp(T0)
    later = format_timestamp(T0 + timedelta(seconds=1))

    assert occurrence_job_id("s", at, Trigger.SCHEDULE) == occurrence_job_id(
        "s", at, Trigger.SCHEDULE
    )
    assert (
        len(
            {
                occurrence_job_id("s", at, Trigger.SCHEDULE),
                occurrence_job_id("s", later, Trigger.SCHEDULE),
                occurrence_job_id("t", at, Trigger.SCHEDULE),
                occurrence_job_id("s", at, Trigger.MANUAL),
            }
        )
        == 4
    )


def test_a_patch_keeps_what_it_does_not_name_and_resuming_starts_from_now() -> None:
    schedule = make(interval="10s")
    paused_at = T0 + timedelta(seconds=5)
    resumed_at = T0 + timedelta(seconds=1000.5)

    changes, issues = schedule_changes({"enabled": False}, current=schedule)
    paused = apply_changes(changes, current=schedule, schedule_id="s", now=paused_at)
    changes, _ = schedule_changes({"enabled": True}, current=paused)
    resumed = apply_changes(changes, current=paused, schedule_id="s", now=resumed_at)

    assert issues == []
    assert (paused.next_run_at, paused.interval, paused.job) == (None, "10s", schedule.job)
    assert resumed.next_run_at == format_timestamp(T0 + timedelta(seconds=1010))


def test_a_cron_schedule_down_for_a_month_counts_ten_thousand_misses_and_fires_the_newest() -> None:
    schedule = make(cron="* * * * *", catchUp="all")  # every minute: 43,200 in 30 days

    firing = plan_firing(schedule, T0 + timedelta(days=30, seconds=30))

    assert len(firing.occurrences) == MAX_CATCH_UP
    assert firing.occurrences[-1] == format_timestamp(T0 + timedelta(days=30))
    assert firing.missed >= MAX_MISSES_COUNTED
