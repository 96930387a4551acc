"""The gateway's schedule routes: create, change, pause, delete and run recurring schedules.

=================================  ======================================================
route                              answer
=================================  ======================================================
``POST /schedules``                201 with the schedule (its ``id``, ``nextRunAt``)
``PATCH /schedules/{id}``          200 with the schedule; ``{"enabled": false}`` pauses
                                   it, ``{"enabled": true}`` resumes it from now
``DELETE /schedules/{id}``         200 with the schedule as it was
``POST /schedules/{id}/run``       202 ``{jobId, eventId, scheduleId, scheduledAt}``:
                                   one job now, whatever the schedule's next run
``GET /schedules``, ``/{id}``      as the read model (:mod:`quart_app.schedules`)
=================================  ======================================================

A body is refused with 400 naming each field at fault: ``name``; ``cron`` (five fields)
or ``interval`` (``30s``, ``5m``, ``2h``, ``1d``), exactly one; ``timezone`` (IANA);
``catchUp`` (``none``, ``one``, ``all``); ``enabled``; the ``job`` template, checked as a
job submission and, where the gateway knows the handlers, against its type's handler and
payload schema. The scheduler (:mod:`quart_app.gateway.scheduler`) fires the occurrences.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from quart import Response, jsonify

from actors.domain.clock import utc_now, wall_clock
from actors.domain.schedules import Trigger, apply_changes, schedule_changes
from actors.errors import StoreUnavailable, ValidationIssue
from actors.observability.logs import bind
from contracts import SchemaName, get_contracts
from quart_app._common import json_error
from quart_app.gateway.scheduler import SubmitFailed, pending
from quart_app.openapi import error_response, json_body, json_response, operation
from quart_app.schedules import SCHEDULE_SCHEMA, install_schedule_reads, no_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart import Quart

    from actors.observability.prometheus import GatewayMetrics
    from actors.stores import ScheduleStore
    from quart_app.gateway.scheduler import Submitter

__all__ = ["install_schedule_routes"]

log = logging.getLogger(__name__)

_BODY: dict[str, object] = {
    "type": "object",
    "properties": {
        key: value
        for key, value in SCHEDULE_SCHEMA["properties"].items()  # type: ignore[attr-defined]
        if key in {"name", "cron", "interval", "timezone", "job", "enabled", "catchUp"}
    },
    "additionalProperties": False,
}
_RUN_ANSWER: dict[str, object] = {
    "type": "object",
    "required": ["jobId", "eventId", "scheduleId", "scheduledAt"],
    "properties": {
        "jobId": {"type": "string", "format": "uuid"},
        "eventId": {"type": "string"},
        "scheduleId": {"type": "string"},
        "scheduledAt": {"type": "string", "format": "date-time"},
    },
}
_INVALID = error_response(
    "Not a valid schedule; `details` names each field at fault (`/cron`, `/interval`, "
    "`/timezone`, `/job/type`, `/job/payload/...`, ...)."
)
_UNAVAILABLE = error_response("The job store cannot be reached; nothing was changed.")


def install_schedule_routes(
    app: Quart,
    *,
    store: ScheduleStore | None,
    submitter: Submitter,
    metrics: GatewayMetrics,
    read_json: Callable[[int, str], Awaitable[object | tuple[Response, int]]],
    refuse_type: Callable[[dict[str, object]], tuple[str, list[ValidationIssue]] | None],
    max_body_bytes: int,
) -> None:
    """Add the schedule routes to the gateway ``app`` (``store`` ``None``: 503)."""
    contracts = get_contracts()
    install_schedule_reads(app, store)

    def invalid(issues: list[ValidationIssue]) -> tuple[Response, int]:
        fields = ", ".join(dict.fromkeys(issue.path.split("/")[1] or "body" for issue in issues))
        return json_error(
            400, f"The schedule is not valid ({fields}): {len(issues)} problem(s).", issues
        )

    def job_issues(changes: dict[str, object]) -> list[ValidationIssue]:
        """The job template's problems: as a submission, then as its type's handler sees it."""
        job = changes.get("job")
        if not isinstance(job, dict):
            return []
        issues = [
            ValidationIssue(f"/job{issue.path}", issue.message)
            for issue in contracts.issues(SchemaName.JOB_SUBMISSION, job)
        ]
        if issues:
            return issues
        refused = refuse_type(job)
        if refused is None:
            return []
        return [ValidationIssue(f"/job{issue.path}", issue.message) for issue in refused[1]]

    @app.post("/schedules")
    @operation(
        "createSchedule",
        summary="Create a recurring schedule.",
        description=(
            "Submits the `job` template at each occurrence: every `interval` (`30s`, `5m`, "
            "`2h`, `1d`) from now, or at each time the five-field `cron` expression names in "
            "`timezone` (UTC by default). Exactly one gateway fires each occurrence, whatever "
            "the number running; each job gets an id of its own per occurrence and metadata "
            "`scheduleId`, `scheduleName`, `scheduledAt`, `scheduleTrigger`. `catchUp` "
            "(default `one`) says what becomes of occurrences missed while no gateway ran: "
            "`none` skips them, `one` fires once for them all, `all` fires each (at most "
            "100). `enabled: false` creates it paused."
        ),
        tags=["schedules"],
        request_body=json_body(
            {**_BODY, "required": ["name", "job"]},
        ),
        responses={
            201: json_response("Created; `Location` names it.", SCHEDULE_SCHEMA),
            400: _INVALID,
            415: error_response("Content type is not application/json."),
            503: _UNAVAILABLE,
        },
    )
    async def create_schedule() -> tuple[Response, int]:
        document = await read_json(max_body_bytes, "the schedule")
        if isinstance(document, tuple):
            return document
        changes, issues = schedule_changes(document, current=None)
        issues += job_issues(changes)
        if issues:
            return invalid(issues)
        if store is None:
            return no_store()
        schedule = apply_changes(
            changes, current=None, schedule_id=str(uuid.uuid4()), now=wall_clock()
        )
        await store.add_schedule(schedule)
        log.info(
            "schedule.created schedule_id=%s name=%r next_run_at=%s",
            schedule.id,
            schedule.name,
            schedule.next_run_at,
        )
        response = jsonify(schedule.to_json())
        response.headers["Location"] = f"/schedules/{schedule.id}"
        return response, 201

    @app.patch("/schedules/<schedule_id>")
    @operation(
        "updateSchedule",
        summary="Change a schedule: any of its fields; `enabled` pauses or resumes it.",
        description=(
            "Fields left out keep their value. A new `cron` replaces an `interval` and the "
            "other way round. Changing when it runs (`cron`, `interval`, `timezone`) or "
            "resuming it computes its next run from now: occurrences while it was paused are "
            "not fired."
        ),
        tags=["schedules"],
        request_body=json_body(_BODY),
        responses={
            200: json_response("The schedule as changed.", SCHEDULE_SCHEMA),
            400: _INVALID,
            404: error_response("No schedule has this id."),
            415: error_response("Content type is not application/json."),
            503: _UNAVAILABLE,
        },
    )
    async def update_schedule(schedule_id: str) -> tuple[Response, int]:
        document = await read_json(max_body_bytes, "the changes")
        if isinstance(document, tuple):
            return document
        if store is None:
            return no_store()
        current = await store.get_schedule(schedule_id)
        if current is None:
            return json_error(404, f"There is no schedule {schedule_id!r}.")
        changes, issues = schedule_changes(document, current=current)
        issues += job_issues(changes)
        if issues:
            return invalid(issues)
        changed = await store.change_schedule(
            schedule_id,
            lambda schedule: apply_changes(
                changes, current=schedule, schedule_id=schedule_id, now=wall_clock()
            ),
        )
        if changed is None:
            return json_error(404, f"There is no schedule {schedule_id!r}.")
        log.info(
            "schedule.changed schedule_id=%s fields=%s enabled=%s next_run_at=%s",
            schedule_id,
            ",".join(sorted(changes)),
            changed.enabled,
            changed.next_run_at,
        )
        return jsonify(changed.to_json()), 200

    @app.delete("/schedules/<schedule_id>")
    @operation(
        "deleteSchedule",
        summary="Delete a schedule; the jobs it submitted stay.",
        tags=["schedules"],
        responses={
            200: json_response("Deleted; the schedule as it was.", SCHEDULE_SCHEMA),
            404: error_response("No schedule has this id."),
            503: _UNAVAILABLE,
        },
    )
    async def delete_schedule(schedule_id: str) -> tuple[Response, int]:
        if store is None:
            return no_store()
        schedule = await store.get_schedule(schedule_id)
        if schedule is None or not await store.remove_schedule(schedule_id):
            return json_error(404, f"There is no schedule {schedule_id!r}.")
        log.info("schedule.deleted schedule_id=%s", schedule_id)
        return jsonify(schedule.to_json()), 200

    @app.post("/schedules/<schedule_id>/run")
    @operation(
        "runSchedule",
        summary="Run a schedule now: submit its job once, paused or not.",
        description=(
            "The job is submitted as `POST /jobs` submits one, with `scheduleTrigger: "
            "manual` and `scheduledAt` now in its metadata; the schedule's next run is "
            "unchanged."
        ),
        tags=["schedules"],
        responses={
            202: json_response("The job was accepted.", _RUN_ANSWER),
            404: error_response("No schedule has this id."),
            503: error_response(
                "The job store or the broker cannot be reached; nothing was accepted."
            ),
        },
    )
    async def run_schedule(schedule_id: str) -> tuple[Response, int]:
        if store is None:
            return no_store()
        schedule = await store.get_schedule(schedule_id)
        if schedule is None:
            return json_error(404, f"There is no schedule {schedule_id!r}.")
        now = utc_now()
        job = pending(schedule, now, Trigger.MANUAL)
        try:
            [answer] = await submitter.submit([job], now=now)
        except SubmitFailed as exc:
            return json_error(503, f"The job of schedule {schedule_id} was not accepted: {exc}.")
        metrics.schedule_fires.labels(Trigger.MANUAL.value).inc()
        try:
            await store.change_schedule(
                schedule_id, lambda s: replace(s, fires=s.fires + 1, last_run_at=now)
            )
        except StoreUnavailable as exc:
            # The job was accepted: answered 202 all the same, its count left behind.
            log.warning("schedule.run_not_counted schedule_id=%s reason=%s", schedule_id, exc)
        with bind(job_id=answer.job_id):
            log.info("schedule.run schedule_id=%s", schedule_id)
        return jsonify(
            {
                "jobId": answer.job_id,
                "eventId": answer.event_id,
                "scheduleId": schedule_id,
                "scheduledAt": now,
            }
        ), 202
