"""When a submitted job may start (issue 18, item 1): ``runAt`` or ``delaySeconds``
become ``scheduledFor`` in the stores' fixed-width UTC format, or the reason they cannot."""

from __future__ import annotations

import pytest

from actors.domain.scheduling import MAX_DELAY_S, message_of, scheduled_for, strip_schedule
from actors.errors import ValidationIssue

NOW = "2026-12-06T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"delaySeconds": 3}, "2026-12-06T10:00:03.000000Z"),
        ({"delaySeconds": 0.25}, "2026-12-06T10:00:00.250000Z"),
        ({"delaySeconds": MAX_DELAY_S}, "2027-01-05T10:00:00.000000Z"),
        ({"runAt": "2026-12-06T12:30:00+01:00"}, "2026-12-06T11:30:00.000000Z"),
        ({"runAt": "2026-12-06T09:59:59Z"}, None),
        ({"runAt": NOW}, None),
    ],
)
def test_the_start_time_is_normalised_to_utc(
    fields: dict[str, object], expected: str | None
) -> None:
    assert scheduled_for({"type": "echo", **fields}, NOW) == (expected, [])


@pytest.mark.parametrize(
    ("fields", "issue"),
    [
        (
            {"delaySeconds": MAX_DELAY_S + 1},
            ValidationIssue(
                "/delaySeconds",
                "delaySeconds must be above 0 and at most 2592000 (30 days), not 2.592e+06.",
            ),
        ),
        (
            {"delaySeconds": 0},
            ValidationIssue(
                "/delaySeconds",
                "delaySeconds must be above 0 and at most 2592000 (30 days), not 0.",
            ),
        ),
        (
            {"runAt": "tomorrow"},
            ValidationIssue(
                "/runAt",
                "runAt 'tomorrow' is not an RFC 3339 date-time such as 2026-12-06T10:00:00Z.",
            ),
        ),
        (
            {"runAt": "2027-01-05T10:00:01Z"},
            ValidationIssue(
                "/runAt",
                "runAt '2027-01-05T10:00:01Z' is more than 30 days ahead; schedule it later.",
            ),
        ),
    ],
)
def test_a_start_out_of_range_is_refused_at_its_field(
    fields: dict[str, object], issue: ValidationIssue
) -> None:
    assert scheduled_for({"type": "echo", **fields}, NOW) == (None, [issue])


def test_the_job_document_carries_scheduled_for_instead_of_the_request_fields() -> None:
    submission = {"type": "echo", "delaySeconds": 3, "scheduledFor": "forged"}

    assert strip_schedule(submission, "2026-12-06T10:00:03.000000Z") == {
        "type": "echo",
        "scheduledFor": "2026-12-06T10:00:03.000000Z",
    }
    assert strip_schedule({"type": "echo", "runAt": NOW}, None) == {"type": "echo"}


def test_issue_18_a_kept_scheduled_message_is_published_with_its_jobs_priority() -> None:
    body = b'{"eventType":"job.created","payload":{"id":"j","type":"echo","priority":8}}'
    assert message_of("m", None, body).priority == 8
    assert message_of("m", None, b'{"payload":{"id":"j"}}').priority == 5
    assert message_of("m", "c", b"not json").priority == 5
