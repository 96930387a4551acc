"""``GET /schedules`` and ``GET /schedules/{id}``, on the read model and on the gateway.

Both faces read the recurring schedules (:mod:`actors.domain.schedules`) from the job
store; the gateway also changes them (:mod:`quart_app.gateway.schedules`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Response, jsonify

from quart_app._common import json_error
from quart_app.openapi import error_response, json_response, operation

if TYPE_CHECKING:
    from quart import Quart

    from actors.stores import ScheduleStore

__all__ = ["LIST_LIMIT", "SCHEDULE_SCHEMA", "install_schedule_reads", "no_store"]

LIST_LIMIT = 1000
"""``GET /schedules`` lists at most this many schedules."""

_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEDULE_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["id", "name", "timezone", "job", "enabled", "catchUp", "nextRunAt"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "cron": {
            "type": "string",
            "description": "Five-field cron expression, in `timezone` (e.g. `*/5 * * * *`).",
        },
        "interval": {
            "type": "string",
            "pattern": "^[1-9][0-9]{0,8}[smhd]$",
            "description": "Every so often (`30s`, `5m`, `2h`, `1d`), counted from `anchorAt`.",
        },
        "timezone": {"type": "string", "description": "IANA time zone of `cron` (UTC)."},
        "job": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"type": "string"},
                "payload": {"type": "object"},
                "metadata": {"type": "object"},
                "priority": {"type": "integer", "minimum": 0, "maximum": 9},
            },
            "description": "The job submitted at each occurrence (`priority` 0 to 9, default "
            "5: of the jobs waiting, the higher run first); its metadata gains "
            "`scheduleId`, `scheduleName`, `scheduledAt` and `scheduleTrigger`.",
        },
        "enabled": {"type": "boolean", "description": "False: paused."},
        "catchUp": {
            "type": "string",
            "enum": ["none", "one", "all"],
            "description": "What becomes of occurrences missed while no gateway ran: none "
            "skips them, one fires once for them all, all fires each (at most 100).",
        },
        "nextRunAt": {**_TIME, "description": "The next occurrence; null while paused."},
        "lastRunAt": {**_TIME, "description": "The newest occurrence fired."},
        "fires": {"type": "integer", "minimum": 0},
        "misses": {"type": "integer", "minimum": 0},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "anchorAt": {"type": "string", "format": "date-time"},
    },
}
"""A schedule as every route answers it."""


def no_store() -> tuple[Response, int]:
    """The 503 of a face built without a job store."""
    return json_error(503, "This service has no job store configured, so it keeps no schedules.")


def install_schedule_reads(app: Quart, store: ScheduleStore | None) -> None:
    """Add ``GET /schedules`` and ``GET /schedules/<id>`` to ``app``, read from ``store``
    (``None``: both answer 503)."""

    @app.get("/schedules")
    @operation(
        "listSchedules",
        summary="List the recurring schedules, by name.",
        description=f"At most {LIST_LIMIT}, each with its next run, fires and misses.",
        tags=["schedules"],
        responses={
            200: json_response(
                "The schedules.",
                {
                    "type": "object",
                    "required": ["schedules"],
                    "properties": {"schedules": {"type": "array", "items": SCHEDULE_SCHEMA}},
                },
            ),
        },
    )
    async def list_schedules() -> tuple[Response, int]:
        if store is None:
            return no_store()
        schedules = await store.list_schedules(limit=LIST_LIMIT)
        return jsonify({"schedules": [s.to_json() for s in schedules]}), 200

    @app.get("/schedules/<schedule_id>")
    @operation(
        "getSchedule",
        summary="One recurring schedule.",
        tags=["schedules"],
        responses={
            200: json_response("The schedule.", SCHEDULE_SCHEMA),
            404: error_response("No schedule has this id."),
        },
    )
    async def get_schedule(schedule_id: str) -> tuple[Response, int]:
        if store is None:
            return no_store()
        schedule = await store.get_schedule(schedule_id)
        if schedule is None:
            return json_error(404, f"There is no schedule {schedule_id!r}.")
        return jsonify(schedule.to_json()), 200
