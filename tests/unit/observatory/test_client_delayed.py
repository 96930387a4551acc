"""Delayed jobs in the client (issue 18, item 1): ``run_at`` on ``submit`` and ``NewJob``
becomes the submission's ``runAt`` or ``delaySeconds``; a job record reads back its
``scheduledFor``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from observatory import Job, NewJob
from observatory._search import JobSummary
from observatory.client import _as_new_job, _submission


def test_a_wait_becomes_delay_seconds_and_a_time_run_at() -> None:
    later = _submission("echo", None, "id-1", None, timedelta(minutes=10))
    at = datetime(2026, 12, 6, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    timed = _as_new_job(NewJob("echo", job_id="id-2", run_at=at))
    now = _submission("echo", None, "id-3", None)

    assert later["delaySeconds"] == 600.0
    assert "runAt" not in later
    assert timed["runAt"] == "2026-12-06T10:00:00+01:00"
    assert "delaySeconds" not in timed
    assert "runAt" not in now
    assert "delaySeconds" not in now


@pytest.mark.parametrize(
    ("run_at", "message"),
    [
        (timedelta(0), r"^run_at must be a wait above zero, not 0:00:00\.$"),
        (
            datetime(2026, 12, 6, 10, 0),
            r"^run_at 2026-12-06T10:00:00 has no timezone; give an aware datetime, e\.g\. "
            r"datetime\.now\(UTC\) \+ timedelta\(minutes=10\)\.$",
        ),
    ],
)
def test_a_run_at_the_gateway_could_not_read_is_refused_here(
    run_at: datetime | timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _submission("echo", None, None, None, run_at)


def test_the_job_and_its_summary_read_scheduled_for() -> None:
    when = datetime(2026, 12, 6, 10, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {"id": "j", "type": "echo", "status": "PENDING", "scheduledFor": when}

    assert Job.from_json(doc).scheduled_for == when
    assert JobSummary.from_json(doc).scheduled_for == when
    assert Job.from_json({**doc, "scheduledFor": None}).scheduled_for is None
