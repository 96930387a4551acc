"""Delayed jobs: when a submitted job may start, and what the job store keeps until then.

A submission may carry ``runAt`` (an RFC 3339 time) or ``delaySeconds`` (a number above 0),
never both, for a start at most :data:`MAX_DELAY_S` ahead. The gateway turns either into
the job's ``scheduledFor`` (:func:`scheduled_for`); a job due later than now is kept in the
job store (:class:`ScheduledJob`) instead of being published, and the processors'
``scheduler`` publishes it when it is due (:mod:`actors.processor.scheduler`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from actors.broker import OutgoingMessage
from actors.domain.clock import format_timestamp, parse_timestamp
from actors.domain.jobs import DEFAULT_PRIORITY, job_priority
from actors.errors import InvalidMessage, ValidationIssue
from contracts import parse_json

if TYPE_CHECKING:
    from actors.domain.jobs import JobSpec

__all__ = [
    "MAX_DELAY_S",
    "DueJob",
    "ScheduledJob",
    "scheduled_for",
    "strip_schedule",
]

MAX_DELAY_S = 30 * 24 * 3600
"""The furthest ahead a job may be scheduled: 30 days."""

RUN_AT = "runAt"
DELAY_SECONDS = "delaySeconds"
SCHEDULED_FOR = "scheduledFor"


def scheduled_for(
    submission: dict[str, object], now: str
) -> tuple[str | None, list[ValidationIssue]]:
    """When the submitted job may start, from its ``runAt`` or ``delaySeconds``.

    Args:
        submission: a submission valid against the ``job-submission`` contract.
        now: the submission time, RFC 3339 UTC (:func:`~actors.domain.clock.utc_now`).

    Returns:
        ``(scheduledFor, [])``: the start time in the stores' fixed-width UTC format, or
        ``None`` for a job that runs at once; or ``(None, issues)`` saying what is wrong
        (both fields given, a time that is not RFC 3339, a delay not above 0, or a start
        more than 30 days ahead). A ``runAt`` not after ``now`` runs at once: ``None``.
    """
    run_at, delay = submission.get(RUN_AT), submission.get(DELAY_SECONDS)
    if run_at is None and delay is None:
        return None, []
    if run_at is not None and delay is not None:
        message = "Give either runAt or delaySeconds, not both."
        return None, [ValidationIssue("/runAt", message), ValidationIssue("/delaySeconds", message)]
    start = parse_timestamp(now)
    if delay is not None:
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
        ):
            return None, [ValidationIssue("/delaySeconds", "delaySeconds must be a number.")]
        if not 0 < delay <= MAX_DELAY_S:
            return None, [
                ValidationIssue(
                    "/delaySeconds",
                    f"delaySeconds must be above 0 and at most {MAX_DELAY_S} (30 days), "
                    f"not {delay:g}.",
                )
            ]
        return format_timestamp(start + timedelta(seconds=float(delay))), []
    if not isinstance(run_at, str):
        return None, [ValidationIssue("/runAt", "runAt must be an RFC 3339 date-time string.")]
    try:
        moment = parse_timestamp(run_at)
    except ValueError:
        return None, [
            ValidationIssue(
                "/runAt",
                f"runAt {run_at!r} is not an RFC 3339 date-time such as 2026-12-06T10:00:00Z.",
            )
        ]
    if moment - start > timedelta(seconds=MAX_DELAY_S):
        return None, [
            ValidationIssue(
                "/runAt", f"runAt {run_at!r} is more than 30 days ahead; schedule it later."
            )
        ]
    if moment <= start:
        return None, []  # due already: it runs at once, as a job without a time
    return format_timestamp(moment), []


def strip_schedule(submission: dict[str, object], scheduled: str | None) -> dict[str, object]:
    """The submission as the job document carries it: ``runAt`` and ``delaySeconds``
    replaced by ``scheduledFor`` (absent for a job that runs at once)."""
    job = {k: v for k, v in submission.items() if k not in (RUN_AT, DELAY_SECONDS, SCHEDULED_FOR)}
    if scheduled is not None:
        job[SCHEDULED_FOR] = scheduled
    return job


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job waiting in the job store until ``scheduled_for``
    (:meth:`~actors.stores.JobStore.schedule_jobs`)."""

    spec: JobSpec
    scheduled_for: str
    """When it is due, RFC 3339 UTC (fixed width, so string order is time order)."""
    at: str
    """When it was scheduled: the job record's ``updatedAt``."""
    message: OutgoingMessage
    """Its ``job.created`` message, published as it is once due."""


@dataclass(frozen=True, slots=True)
class DueJob:
    """A scheduled job taken for publishing (:meth:`~actors.stores.JobStore.claim_due_jobs`)."""

    job_id: str
    message: OutgoingMessage


def message_of(message_id: str, correlation_id: str | None, body: bytes) -> OutgoingMessage:
    """The message a store kept for a scheduled job, as it was given (its priority, which
    the stores do not keep beside it, read back from the ``job.created`` it carries)."""
    return OutgoingMessage(
        body=body,
        message_id=message_id,
        correlation_id=correlation_id,
        priority=_priority_of(body),
    )


def _priority_of(body: bytes) -> int:
    try:
        document = parse_json(body)
    except InvalidMessage:
        return DEFAULT_PRIORITY
    payload = document.get("payload") if isinstance(document, dict) else None
    return job_priority(payload) if isinstance(payload, dict) else DEFAULT_PRIORITY
