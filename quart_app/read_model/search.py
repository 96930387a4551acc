"""``GET /jobs`` (the job search) and ``GET /events`` (the audit trail), with filters and
keyset cursors.

Both refuse what they do not understand with a 400 naming the parameter: an unknown
parameter (a misspelt filter would otherwise silently list everything), a bad value, a
single-valued parameter given twice, or a cursor of another search. ``/jobs/recent``
stays as it was for old clients.

``GET /jobs`` answers ``{"items": [...], "nextCursor": ...}``; ``GET /events`` still
answers a bare array (its old clients read one) and gives the next cursor in the
``X-Next-Cursor`` header (and a ``Link: <...>; rel="next"``). A client passes the cursor
back as ``cursor`` with the same filters to read the next page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from quart import Response, jsonify, request

from actors.domain.events import EventType
from actors.domain.jobs import MAX_PRIORITY, JobStatus
from actors.domain.search import (
    MAX_PAGE_SIZE,
    EventCursor,
    EventQuery,
    JobCursor,
    JobQuery,
    JobSort,
    normalize_timestamp,
)
from actors.errors import ValidationIssue
from contracts import SchemaName
from quart_app._common import BadQuery, query_int
from quart_app.openapi import (
    error_response,
    json_response,
    limit_param,
    operation,
    query_param,
    schema_ref,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from quart import Quart

    from actors.domain.jobs import JobRecord
    from actors.stores import EventStore, JobStore

__all__ = [
    "EVENTS_PARAMETERS",
    "JOBS_PARAMETERS",
    "NEXT_CURSOR_HEADER",
    "event_query_from_request",
    "install_search_routes",
    "job_query_from_request",
    "search_item",
]

NEXT_CURSOR_HEADER = "X-Next-Cursor"
"""The response header of ``GET /events`` holding the next page's cursor."""
MAX_TEXT_LENGTH = 200
"""Longest text filter (``error``, ``q``, ``correlationId``) accepted."""
DEFAULT_JOBS_LIMIT = 50
DEFAULT_EVENTS_LIMIT = 50

JOBS_PARAMETERS = frozenset(
    {
        "status",
        "type",
        "priority",
        "createdAfter",
        "createdBefore",
        "finishedAfter",
        "finishedBefore",
        "correlationId",
        "error",
        "q",
        "sort",
        "limit",
        "cursor",
    }
)
"""The query parameters ``GET /jobs`` understands."""
EVENTS_PARAMETERS = frozenset({"jobId", "type", "since", "until", "limit", "cursor"})
"""The query parameters ``GET /events`` understands."""
_REPEATABLE = frozenset({"status", "type"})

_STATUSES = [status.value for status in JobStatus]
_EVENT_TYPES = [event_type.value for event_type in EventType]
_SORTS = ["created", "finished", *JobSort.NAMES]
_TIMESTAMP = {"type": "string", "format": "date-time"}
_CURSOR = query_param(
    "cursor",
    {
        "type": "string",
        "description": "The previous page's next cursor (opaque); the same filters apply.",
    },
)


def _repeated(name: str, item: dict[str, object], description: str) -> dict[str, object]:
    """A query parameter that may be given several times (any of its values matches)."""
    parameter = query_param(name, {"type": "array", "items": item})
    return {**parameter, "style": "form", "explode": True, "description": description}


def _described(parameter: dict[str, object], description: str) -> dict[str, object]:
    return {**parameter, "description": description}


_PRIORITY: dict[str, object] = {
    "description": "0 to 9: of the jobs waiting, the higher run first; 5 for a job "
    "submitted without one.",
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_PRIORITY,
}
_SEARCH_ITEM: dict[str, object] = {
    "type": "object",
    "required": [
        "id",
        "type",
        "status",
        "createdAt",
        "updatedAt",
        "attempts",
        "round",
        "priority",
    ],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "status": {"type": "string", "enum": _STATUSES},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "startedAt": {"type": ["string", "null"]},
        "finishedAt": {"type": ["string", "null"]},
        "correlationId": {"type": "string"},
        "attempts": {"type": "integer", "minimum": 0},
        "round": {"type": "integer", "minimum": 1},
        "error": {"description": "The last error, if any.", "type": ["string", "null"]},
        "scheduledFor": {
            "description": "A delayed job's start time; absent for a job that ran at once.",
            "type": "string",
            "format": "date-time",
        },
        "priority": _PRIORITY,
    },
}
"""One job of ``GET /jobs``."""
_JOB_PAGE: dict[str, object] = {
    "type": "object",
    "required": ["items", "nextCursor"],
    "properties": {
        "items": {"type": "array", "items": _SEARCH_ITEM},
        "nextCursor": {
            "description": "Pass it as `cursor` (same filters) for the next page; "
            "null on the last page.",
            "type": ["string", "null"],
        },
    },
}


def search_item(record: JobRecord) -> dict[str, object]:
    """One job as ``GET /jobs`` lists it: its summary, correlation id, attempts, round and
    last error."""
    return {
        **record.to_summary(),
        "correlationId": record.spec.correlation_id,
        "attempts": record.attempts,
        "round": record.round,
        "error": record.error,
    }


def _bad(name: str, message: str) -> BadQuery:
    return BadQuery(ValidationIssue(f"/{name}", message))


def _check_names(known: frozenset[str], route: str) -> None:
    """Refuse unknown parameters, and known single-valued ones given more than once."""
    unknown = sorted(set(request.args) - known)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise _bad(
            unknown[0],
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {names}; "
            f"{route} accepts {', '.join(sorted(known))}.",
        )
    for name in sorted(known - _REPEATABLE):
        if len(request.args.getlist(name)) > 1:
            raise _bad(name, f"Query parameter {name!r} may be given once.")


def _text(name: str) -> str | None:
    value = request.args.get(name) or None
    if value is not None and len(value) > MAX_TEXT_LENGTH:
        raise _bad(name, f"Query parameter {name!r} is longer than {MAX_TEXT_LENGTH} characters.")
    return value


def _timestamp(name: str) -> str | None:
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        return normalize_timestamp(value)
    except ValueError as exc:
        raise _bad(name, f"Query parameter {name!r}: {exc}") from None


def _values(name: str) -> list[str]:
    return [value for value in request.args.getlist(name) if value]


def _statuses() -> frozenset[JobStatus]:
    statuses: set[JobStatus] = set()
    for raw in _values("status"):
        try:
            statuses.add(JobStatus(raw.upper()))
        except ValueError:
            raise _bad(
                "status", f"Unknown status {raw!r}; expected one of {', '.join(_STATUSES)}."
            ) from None
    return frozenset(statuses)


def _priority() -> int | None:
    """The ``priority`` filter: 0 to 9, or ``None`` when not given."""
    if not request.args.get("priority"):
        return None
    return query_int("priority", default=0, minimum=0, maximum=MAX_PRIORITY)


def _event_types() -> frozenset[EventType]:
    types: set[EventType] = set()
    for raw in _values("type"):
        try:
            types.add(EventType(raw))
        except ValueError:
            raise _bad(
                "type", f"Unknown event type {raw!r}; expected one of {', '.join(_EVENT_TYPES)}."
            ) from None
    return frozenset(types)


def job_query_from_request() -> JobQuery:
    """The :class:`JobQuery` of the current ``GET /jobs`` request.

    Raises:
        BadQuery: a parameter is unknown, repeated, malformed or out of bounds.
    """
    _check_names(JOBS_PARAMETERS, "/jobs")
    try:
        sort = JobSort.parse(request.args.get("sort") or "created")
    except ValueError as exc:
        raise _bad("sort", f"Query parameter 'sort': {exc}") from None
    cursor = None
    if token := request.args.get("cursor"):
        try:
            cursor = JobCursor.decode(token, sort)
        except ValueError as exc:
            raise _bad("cursor", f"Query parameter 'cursor': {exc}") from None
    q = _text("q")
    return JobQuery(
        statuses=_statuses(),
        types=frozenset(_values("type")),
        priority=_priority(),
        created_after=_timestamp("createdAfter"),
        created_before=_timestamp("createdBefore"),
        finished_after=_timestamp("finishedAfter"),
        finished_before=_timestamp("finishedBefore"),
        correlation_id=_text("correlationId"),
        error=_text("error"),
        q=q,
        sort=sort,
        limit=query_int("limit", default=DEFAULT_JOBS_LIMIT, minimum=1, maximum=MAX_PAGE_SIZE),
        after=cursor,
    )


def event_query_from_request() -> EventQuery:
    """The :class:`EventQuery` of the current ``GET /events`` request.

    Raises:
        BadQuery: a parameter is unknown, repeated, malformed or out of bounds.
    """
    _check_names(EVENTS_PARAMETERS, "/events")
    cursor = None
    if token := request.args.get("cursor"):
        try:
            cursor = EventCursor.decode(token)
        except ValueError as exc:
            raise _bad("cursor", f"Query parameter 'cursor': {exc}") from None
    return EventQuery(
        job_id=request.args.get("jobId") or None,
        types=_event_types(),
        since=_timestamp("since"),
        until=_timestamp("until"),
        limit=query_int("limit", default=DEFAULT_EVENTS_LIMIT, minimum=1, maximum=MAX_PAGE_SIZE),
        after=cursor,
    )


def _next_link(cursor: str, keep: Iterable[tuple[str, str]]) -> str:
    query = urlencode([*((k, v) for k, v in keep if k != "cursor"), ("cursor", cursor)])
    return f'<{request.path}?{query}>; rel="next"'


def install_search_routes(app: Quart, jobs: JobStore, events: EventStore) -> None:
    """Add ``GET /jobs`` and ``GET /events`` to the read model's ``app``."""
    bad_parameter = error_response(
        "A query parameter is unknown, given twice, malformed or out of bounds "
        "(`details[0].path` names it)."
    )

    @app.get("/jobs")
    @operation(
        "searchJobs",
        summary="Search every job: filters, sort, and a cursor to page through them.",
        description=(
            "Every filter given must hold; a repeated `status` or `type` matches any of "
            "its values. Time bounds are RFC 3339 (any offset): `*After` inclusive, "
            "`*Before` exclusive. Text filters are case-insensitive (ASCII letters). "
            "Pages are cut by keyset on (sort key, job id): pass `nextCursor` back as "
            "`cursor` with the same filters; jobs arriving meanwhile never make a job "
            "appear twice or be skipped. `sort=finished` lists only jobs that ended. "
            "Unknown parameters are refused (400), not ignored."
        ),
        tags=["read"],
        parameters=[
            _repeated("status", {"type": "string", "enum": _STATUSES}, "Any of these statuses."),
            _repeated("type", {"type": "string"}, "Any of these job types."),
            _described(
                query_param("priority", {"type": "integer", "minimum": 0, "maximum": MAX_PRIORITY}),
                "Submitted with this priority, 0 to 9 (a job submitted without one has 5).",
            ),
            _described(query_param("createdAfter", _TIMESTAMP), "Created at or after."),
            _described(query_param("createdBefore", _TIMESTAMP), "Created before."),
            _described(query_param("finishedAfter", _TIMESTAMP), "Ended at or after."),
            _described(query_param("finishedBefore", _TIMESTAMP), "Ended before."),
            _described(
                query_param("correlationId", {"type": "string", "maxLength": MAX_TEXT_LENGTH}),
                "Submitted with this correlation id (exact).",
            ),
            _described(
                query_param("error", {"type": "string", "maxLength": MAX_TEXT_LENGTH}),
                "The last error contains this text.",
            ),
            _described(
                query_param("q", {"type": "string", "maxLength": MAX_TEXT_LENGTH}),
                "The job id starts with this text, or the payload's JSON text contains it.",
            ),
            _described(
                query_param("sort", {"type": "string", "enum": _SORTS, "default": "created"}),
                "`created` or `finished`, newest first unless `:asc`.",
            ),
            limit_param(DEFAULT_JOBS_LIMIT, MAX_PAGE_SIZE),
            _CURSOR,
        ],
        responses={200: json_response("A page of jobs.", _JOB_PAGE), 400: bad_parameter},
    )
    async def search_jobs() -> Response:
        query = job_query_from_request()
        page = await jobs.search_jobs(query)
        return jsonify(
            {
                "items": [search_item(record) for record in page.items],
                "nextCursor": None if page.next is None else page.next.encode(),
            }
        )

    @app.get("/events")
    @operation(
        "recentEvents",
        summary="The audit trail, newest first, with filters and a cursor.",
        description=(
            "The body is an array of events; when more follow, the `X-Next-Cursor` "
            "header holds the cursor of the next page (pass it as `cursor` with the same "
            'filters) and `Link` its URL (`rel="next"`). `since` is inclusive, `until` '
            "exclusive (RFC 3339). Unknown parameters are refused (400), not ignored."
        ),
        tags=["read"],
        parameters=[
            limit_param(DEFAULT_EVENTS_LIMIT, MAX_PAGE_SIZE),
            _described(query_param("jobId", {"type": "string"}), "Only this job's events."),
            _repeated(
                "type", {"type": "string", "enum": _EVENT_TYPES}, "Any of these event types."
            ),
            _described(query_param("since", _TIMESTAMP), "Occurred at or after."),
            _described(query_param("until", _TIMESTAMP), "Occurred before."),
            _CURSOR,
        ],
        responses={
            200: {
                **json_response(
                    "Events.", {"type": "array", "items": schema_ref(SchemaName.EVENT_ENVELOPE)}
                ),
                "headers": {
                    NEXT_CURSOR_HEADER: {
                        "description": "The next page's cursor, when more events follow.",
                        "schema": {"type": "string"},
                    },
                    "Link": {
                        "description": 'The next page\'s URL (`rel="next"`).',
                        "schema": {"type": "string"},
                    },
                },
            },
            400: bad_parameter,
        },
    )
    async def recent_events() -> Response:
        query = event_query_from_request()
        page = await events.search_events(query)
        response = jsonify([event.to_json() for event in page.items])
        if page.next is not None:
            token = page.next.encode()
            response.headers[NEXT_CURSOR_HEADER] = token
            response.headers["Link"] = _next_link(token, request.args.items(multi=True))
        return response
