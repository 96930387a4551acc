"""Recurring schedules: what one is, when it fires, and what a missed occurrence becomes.

A schedule submits a job from its template at each **occurrence**: every ``interval``
(``30s``, ``5m``, ``2h``, ``1d``) counted from its anchor (when it was created, or its
interval last changed), or at each time its five-field ``cron`` expression names in its
``timezone`` (croniter; daylight saving time as the zone has it).

The scheduler (:class:`quart_app.gateway.scheduler.Scheduler`) asks the job store for the
schedules that are due and, in the same transaction, moves each one's ``nextRunAt`` past
now (:func:`plan_firing`), so one instance fires each occurrence. Occurrences that came
due while no scheduler ran are **missed**; the newest due occurrence is *on time* when it
is at most ``grace_s`` old (a scheduler's tick, a restart). ``catchUp`` says what becomes
of the rest:

========  ===============================================================================
catchUp   fired
========  ===============================================================================
``none``  the on-time occurrence only; missed ones are skipped (counted as misses)
``one``   one job for the lot: the newest due occurrence, on time or not (the others are
          counted as misses)
``all``   every due occurrence, oldest first, at most :data:`MAX_CATCH_UP` (the newest
          ones; the older are counted as misses)
========  ===============================================================================

Each fired job gets a deterministic id per occurrence (:func:`occurrence_job_id`), so a
second fire of one occurrence is a resubmission the gateway's ledger answers without
publishing anything; its metadata names the schedule (``scheduleId``) and the occurrence
(``scheduledAt``).
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from actors.domain.clock import format_timestamp, parse_timestamp
from actors.errors import ValidationIssue

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_GRACE_S",
    "MAX_CATCH_UP",
    "MAX_MISSES_COUNTED",
    "CatchUp",
    "Firing",
    "Schedule",
    "Trigger",
    "apply_changes",
    "cron_issue",
    "next_occurrence",
    "occurrence_job_id",
    "occurrence_submission",
    "parse_interval",
    "plan_firing",
    "schedule_changes",
    "timezone_issue",
]

MAX_CATCH_UP = 100
"""``catchUp: all`` fires at most this many missed occurrences at once (the newest)."""
MAX_MISSES_COUNTED = 10_000
"""Missed cron occurrences are counted one by one up to this many, then no further."""
DEFAULT_GRACE_S = 60.0
"""How late an occurrence may be found and still be on time (not missed)."""
MAX_INTERVAL_S = 366 * 86_400
"""The longest interval: a year (a longer wait is a cron expression)."""

_NAMESPACE = uuid.UUID("0b9f0a52-4c0e-5b8e-9f6e-6a7d0e1c2b3a")
"""The UUIDv5 namespace of fired jobs' ids."""
_INTERVAL = re.compile(r"^([1-9][0-9]{0,8})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class CatchUp(enum.StrEnum):
    """What a schedule does with the occurrences it missed (see the module's table)."""

    NONE = "none"
    """Skip them: only an on-time occurrence fires."""
    ONE = "one"
    """Fire once for all of them."""
    ALL = "all"
    """Fire each of them (at most :data:`MAX_CATCH_UP`)."""


class Trigger(enum.StrEnum):
    """Why a schedule's job was submitted."""

    SCHEDULE = "schedule"
    """An occurrence came due."""
    MANUAL = "manual"
    """``POST /schedules/{id}/run``: run now."""


def parse_interval(text: str) -> int:
    """The seconds of an interval such as ``30s``, ``5m``, ``2h`` or ``1d``.

    Raises:
        ValueError: not a positive whole number followed by s, m, h or d, or over a year.
    """
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(
            f"Interval {text!r} is not a positive whole number followed by s, m, h or d "
            "(e.g. 30s, 5m, 2h, 1d)."
        )
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_INTERVAL_S:
        raise ValueError(f"Interval {text!r} is longer than a year; use a cron expression.")
    return seconds


def cron_issue(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression (``None`` when it is)."""
    if len(expression.split()) != 5:
        return (
            f"Cron expression {expression!r} must have five fields: minute, hour, day of "
            "month, month, day of week (e.g. '*/5 * * * *')."
        )
    if not croniter.is_valid(expression):
        return f"Cron expression {expression!r} is not valid."
    return None


def timezone_issue(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone (``None`` when it is)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'."
    return None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring schedule, as the job store keeps it and the API shows it."""

    id: str
    name: str
    job: Mapping[str, object]
    """The template: ``type``, ``payload``, ``metadata``."""
    created_at: str
    updated_at: str
    anchor_at: str
    """Where interval occurrences are counted from: creation, or the last interval change."""
    cron: str | None = None
    interval: str | None = None
    """As given (``30s``); exactly one of ``cron`` and ``interval`` is set."""
    timezone: str = "UTC"
    enabled: bool = True
    catch_up: CatchUp = CatchUp.ONE
    next_run_at: str | None = None
    """The next occurrence (``None`` while paused)."""
    last_run_at: str | None = None
    """The newest occurrence fired (by the scheduler or run now)."""
    fires: int = 0
    """Jobs submitted by this schedule (run now included)."""
    misses: int = 0
    """Occurrences skipped (catchUp)."""

    def to_json(self) -> dict[str, object]:
        """The API's and the stores' form (camelCase; absent cron/interval left out)."""
        document: dict[str, object] = {"id": self.id, "name": self.name}
        if self.cron is not None:
            document["cron"] = self.cron
        if self.interval is not None:
            document["interval"] = self.interval
        document.update(
            {
                "timezone": self.timezone,
                "job": dict(self.job),
                "enabled": self.enabled,
                "catchUp": self.catch_up.value,
                "nextRunAt": self.next_run_at,
                "lastRunAt": self.last_run_at,
                "fires": self.fires,
                "misses": self.misses,
                "createdAt": self.created_at,
                "updatedAt": self.updated_at,
                "anchorAt": self.anchor_at,
            }
        )
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> Schedule:
        """The schedule :meth:`to_json` wrote."""
        job = document["job"]
        assert isinstance(job, dict)

        def text(key: str) -> str | None:
            value = document.get(key)
            return None if value is None else str(value)

        return cls(
            id=str(document["id"]),
            name=str(document["name"]),
            job=job,
            created_at=str(document["createdAt"]),
            updated_at=str(document["updatedAt"]),
            anchor_at=str(document.get("anchorAt") or document["createdAt"]),
            cron=text("cron"),
            interval=text("interval"),
            timezone=str(document.get("timezone") or "UTC"),
            enabled=bool(document.get("enabled", True)),
            catch_up=CatchUp(str(document.get("catchUp") or CatchUp.ONE.value)),
            next_run_at=text("nextRunAt"),
            last_run_at=text("lastRunAt"),
            fires=int(str(document.get("fires") or 0)),
            misses=int(str(document.get("misses") or 0)),
        )

    def rescheduled(self, now: datetime) -> Schedule:
        """This schedule with ``nextRunAt`` the first occurrence after ``now`` (``None``
        while paused)."""
        upcoming = next_occurrence(self, now) if self.enabled else None
        return replace(self, next_run_at=None if upcoming is None else format_timestamp(upcoming))


def next_occurrence(schedule: Schedule, after: datetime) -> datetime:
    """The schedule's first occurrence strictly after ``after`` (aware, UTC)."""
    if schedule.interval is not None:
        step = parse_interval(schedule.interval)
        anchor = parse_timestamp(schedule.anchor_at)
        elapsed = (after - anchor).total_seconds()
        steps = 1 if elapsed < 0 else int(elapsed // step) + 1
        moment = anchor + timedelta(seconds=steps * step)
        while moment <= after:  # float rounding of a huge elapsed time
            moment += timedelta(seconds=step)
        return moment.astimezone(UTC)
    assert schedule.cron is not None
    zone = ZoneInfo(schedule.timezone)
    following = croniter(schedule.cron, after.astimezone(zone)).get_next(datetime)
    assert isinstance(following, datetime)
    return following.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Firing:
    """What one scheduler pass does with one due schedule."""

    schedule: Schedule
    """The schedule as stored after the pass (its next run moved past now)."""
    occurrences: tuple[str, ...]
    """The occurrences to fire, oldest first."""
    missed: int
    """Occurrences skipped (counted in the schedule's ``misses``)."""


def _due(schedule: Schedule, now: datetime) -> tuple[list[datetime], int]:
    """The due occurrences (at most :data:`MAX_CATCH_UP`, the newest) and how many older
    ones were left out of that list."""
    assert schedule.next_run_at is not None
    first = parse_timestamp(schedule.next_run_at)
    if first > now:
        return [], 0
    if schedule.interval is not None:
        step = parse_interval(schedule.interval)
        count = int((now - first).total_seconds() // step) + 1
        kept = min(count, MAX_CATCH_UP)
        start = first + timedelta(seconds=(count - kept) * step)
        return [start + timedelta(seconds=i * step) for i in range(kept)], count - kept
    assert schedule.cron is not None
    zone = ZoneInfo(schedule.timezone)
    upcoming = croniter(schedule.cron, first.astimezone(zone))
    due: list[datetime] = []
    dropped = 0
    moment = first
    while moment <= now:
        due.append(moment)
        if len(due) > MAX_CATCH_UP:
            due.pop(0)
            dropped += 1
            if dropped >= MAX_MISSES_COUNTED:
                # Counted no further: the newest occurrences are found counting back from now.
                earlier = croniter(schedule.cron, now.astimezone(zone))
                newest: list[datetime] = []
                while len(newest) < MAX_CATCH_UP:
                    previous = earlier.get_prev(datetime)
                    assert isinstance(previous, datetime)
                    if previous.astimezone(UTC) < moment:
                        break
                    newest.append(previous.astimezone(UTC))
                return sorted(newest), dropped
        following = upcoming.get_next(datetime)
        assert isinstance(following, datetime)
        moment = following.astimezone(UTC)
    return due, dropped


def plan_firing(schedule: Schedule, now: datetime, *, grace_s: float = DEFAULT_GRACE_S) -> Firing:
    """What to fire for a due ``schedule`` at ``now``, per its ``catchUp``; see the module.

    The returned schedule has ``nextRunAt`` after ``now``, ``lastRunAt`` the newest fired
    occurrence, and its ``fires`` and ``misses`` counted.
    """
    due, dropped = _due(schedule, now)
    on_time = bool(due) and (now - due[-1]).total_seconds() <= grace_s
    if schedule.catch_up is CatchUp.ALL:
        fired = due
    elif schedule.catch_up is CatchUp.ONE:
        fired = due[-1:]
    else:
        fired = due[-1:] if on_time else []
    missed = dropped + len(due) - len(fired)
    occurrences = tuple(format_timestamp(moment) for moment in fired)
    after = replace(
        schedule.rescheduled(now),
        last_run_at=occurrences[-1] if occurrences else schedule.last_run_at,
        fires=schedule.fires + len(occurrences),
        misses=schedule.misses + missed,
    )
    return Firing(after, occurrences, missed)


def occurrence_job_id(schedule_id: str, scheduled_at: str, trigger: Trigger) -> str:
    """The job id of one occurrence: the same for every fire of it (a UUIDv5)."""
    return str(uuid.uuid5(_NAMESPACE, f"{schedule_id} {trigger.value} {scheduled_at}"))


def occurrence_submission(
    schedule: Schedule, scheduled_at: str, trigger: Trigger = Trigger.SCHEDULE
) -> dict[str, object]:
    """The job submission of one occurrence: the template with its id and the metadata
    linking it to its schedule (``scheduleId``, ``scheduleName``, ``scheduledAt``,
    ``scheduleTrigger``)."""
    template = schedule.job
    metadata = template.get("metadata")
    return {
        "id": occurrence_job_id(schedule.id, scheduled_at, trigger),
        "type": template["type"],
        "payload": template.get("payload") or {},
        **({"priority": template["priority"]} if "priority" in template else {}),
        "metadata": {
            **(metadata if isinstance(metadata, dict) else {}),
            "scheduleId": schedule.id,
            "scheduleName": schedule.name,
            "scheduledAt": scheduled_at,
            "scheduleTrigger": trigger.value,
        },
    }


_FIELDS = frozenset({"name", "cron", "interval", "timezone", "job", "enabled", "catchUp"})
_JOB_FIELDS = frozenset({"type", "payload", "metadata", "priority"})
MAX_NAME_LENGTH = 200


def schedule_changes(
    document: object, *, current: Schedule | None
) -> tuple[dict[str, object], list[ValidationIssue]]:
    """Check the body of ``POST /schedules`` (``current`` ``None``) or of ``PATCH
    /schedules/{id}``; returns the fields it sets and every problem, each at its path.

    The job template's ``type`` and ``payload`` are checked further by the gateway (the
    job-submission contract, the type's handler and payload schema).
    """
    if not isinstance(document, dict):
        return {}, [ValidationIssue("", "Expected a JSON object.")]
    issues = [
        ValidationIssue(f"/{key}", f"Unknown field {key!r}; the fields are {sorted(_FIELDS)}.")
        for key in document
        if key not in _FIELDS
    ]
    changes = {key: value for key, value in document.items() if key in _FIELDS}
    creating = current is None
    if "name" in changes or creating:
        name = changes.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            issues.append(
                ValidationIssue(
                    "/name", f"A name of 1 to {MAX_NAME_LENGTH} characters is required."
                )
            )
    cron = changes.get("cron")
    interval = changes.get("interval")
    if cron is not None and interval is not None:
        issues.append(ValidationIssue("/interval", "Give either cron or interval, not both."))
    elif creating and cron is None and interval is None:
        issues.append(ValidationIssue("/cron", "Give cron (with timezone) or interval."))
    if cron is not None:
        problem = cron_issue(cron) if isinstance(cron, str) else "cron must be a string."
        if problem is not None:
            issues.append(ValidationIssue("/cron", problem))
    if interval is not None:
        try:
            if not isinstance(interval, str):
                raise ValueError("interval must be a string such as '30s'.")
            parse_interval(interval)
        except ValueError as exc:
            issues.append(ValidationIssue("/interval", str(exc)))
    if "timezone" in changes:
        zone = changes["timezone"]
        problem = timezone_issue(zone) if isinstance(zone, str) else "timezone must be a string."
        if problem is not None:
            issues.append(ValidationIssue("/timezone", problem))
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        issues.append(ValidationIssue("/enabled", "enabled must be true or false."))
    if "catchUp" in changes and changes["catchUp"] not in {c.value for c in CatchUp}:
        issues.append(
            ValidationIssue("/catchUp", f"catchUp must be one of {[c.value for c in CatchUp]}.")
        )
    if "job" in changes or creating:
        job = changes.get("job")
        if not isinstance(job, dict) or not isinstance(job.get("type"), str):
            issues.append(
                ValidationIssue(
                    "/job", "A job template {type, payload?, metadata?, priority?} is required."
                )
            )
        else:
            issues.extend(
                ValidationIssue(f"/job/{key}", f"Unknown field {key!r} in the job template.")
                for key in job
                if key not in _JOB_FIELDS
            )
    return changes, issues


def apply_changes(
    changes: Mapping[str, object], *, current: Schedule | None, schedule_id: str, now: datetime
) -> Schedule:
    """The schedule ``changes`` (checked by :func:`schedule_changes`) make of ``current``
    (or a new one), its next run computed from ``now``."""
    stamp = format_timestamp(now)
    base = current or Schedule(
        id=schedule_id, name="", job={}, created_at=stamp, updated_at=stamp, anchor_at=stamp
    )
    cron = base.cron
    interval = base.interval
    anchor = base.anchor_at
    if changes.get("cron") is not None:
        cron, interval = str(changes["cron"]), None
    if changes.get("interval") is not None:
        cron, interval = None, str(changes["interval"])
        if interval != base.interval:
            anchor = stamp
    job = changes.get("job")
    updated = replace(
        base,
        name=str(changes.get("name", base.name)).strip(),
        cron=cron,
        interval=interval,
        anchor_at=anchor,
        timezone=str(changes.get("timezone", base.timezone)),
        job=dict(job) if isinstance(job, dict) else base.job,
        enabled=bool(changes.get("enabled", base.enabled)),
        catch_up=CatchUp(str(changes.get("catchUp", base.catch_up.value))),
        updated_at=stamp,
    )
    when_changed = {"cron", "interval", "timezone", "enabled"} & changes.keys()
    if current is None or when_changed or updated.next_run_at is None:
        return updated.rescheduled(now)
    return updated
