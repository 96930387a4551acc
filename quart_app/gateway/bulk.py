"""Bulk actions on the gateway: ``POST /jobs/cancel`` and ``POST /jobs/retry``.

Each takes, as a JSON body, the filters of the job search (``GET /jobs`` on the read
model: ``status``, ``type`` — a string or an array of them —, ``createdAfter``,
``createdBefore``, ``finishedAfter``, ``finishedBefore``, ``correlationId``, ``error``,
``priority``,
``q``) and a ``limit`` (default and ceiling :data:`MAX_BULK`). It pages through the job
store with the search's keyset cursor (:data:`PAGE` jobs at a time, newest first; never
everything at once), acts on every job it reads, and answers::

    {"matched": n, "actedOn": n, "skipped": n, "more": bool, "filter": {...}}

``matched`` jobs were read (at most ``limit``), ``actedOn`` of them were acted on and
``skipped`` were not (they changed meanwhile, or ran the most rounds a job may);
``more`` says further jobs match past ``limit``; ``filter`` is the filter as understood.
A filter matching nothing answers 200 with zeros; an unknown field answers 400 naming it.
With ``"dryRun": true`` nothing is done: the answer counts the jobs the action would read
(``matched``, ``more``) with ``actedOn`` and ``skipped`` 0 and ``"dryRun": true``, which
is how the dashboard says how many jobs a bulk action takes before it is confirmed.

* **cancel** acts on jobs still *waiting or running*: ``PENDING``, ``VALIDATED``
  (waiting for their first or next attempt) and ``EXECUTING`` (:data:`CANCELLABLE`), as
  ``DELETE /jobs/{id}`` does for one (a cancel request the processor carries out). A
  ``status`` filter may name only those; without one, all three.
* **retry** acts on ``FAILED`` jobs only (``status``, if given, must be ``FAILED``), as
  ``POST /jobs/{id}/retry`` does for one: the same id runs again from attempt 1 of its
  next round, published to ``jobs.created`` one page at a time; the processor counts it
  (``failedJobs`` -1 when the round starts). The answer keeps ``requeued`` (= ``actedOn``)
  for the clients of the earlier bulk retry, which also took ``since`` (failed at or
  after: ``finishedAfter``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import Response, g, jsonify, request

from actors.domain.clock import utc_now
from actors.domain.events import MAX_ROUND
from actors.domain.jobs import JobStatus
from actors.domain.search import JobQuery, JobSort, normalize_timestamp
from actors.errors import ValidationIssue
from quart_app._common import json_error
from quart_app.auth import client_key
from quart_app.gateway.retry import requester, retry_envelope
from quart_app.openapi import error_response, json_body, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart import Quart

    from actors.broker import OutgoingMessage
    from actors.domain.events import Producer
    from actors.domain.jobs import JobRecord
    from actors.stores import JobStore
    from quart_app.gateway.audit import BulkAudit

__all__ = [
    "CANCELLABLE",
    "FILTER_FIELDS",
    "MAX_BULK",
    "PAGE",
    "BulkFilter",
    "install_bulk_routes",
    "parse_bulk_filter",
]

log = logging.getLogger(__name__)

MAX_BULK = 10_000
"""Most jobs one bulk action reads (the default and the ceiling of its ``limit``)."""
PAGE = 200
"""Jobs read from the store per query while a bulk action pages through them."""
MAX_TEXT_LENGTH = 200
"""Longest text filter accepted (as the search's)."""
CANCELLABLE = frozenset({JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING})
"""The statuses a bulk cancel acts on: the job waits for an attempt or runs one."""

_TIMES = {
    "createdAfter": "created_after",
    "createdBefore": "created_before",
    "finishedAfter": "finished_after",
    "finishedBefore": "finished_before",
}
_TEXTS = {"correlationId": "correlation_id", "error": "error", "q": "q"}
FILTER_FIELDS = frozenset({"status", "type", "priority", "limit", *_TIMES, *_TEXTS})
"""The fields of a bulk action's body (the search's filters, and ``limit``)."""


@dataclass(frozen=True, slots=True)
class BulkFilter:
    """A bulk action's filter: the search it pages through, and how many jobs at most."""

    query: JobQuery
    limit: int
    echo: dict[str, object]
    """The filter as understood (normalized), for the answer and the logs."""
    dry_run: bool = False
    """Only count what the action would read; act on nothing."""


async def _count_only(records: list[JobRecord]) -> int:
    """A dry run's action: nothing is done."""
    return 0


def _strings(document: dict[str, object], name: str, issues: list[ValidationIssue]) -> list[str]:
    raw = document.get(name)
    if raw is None:
        return []
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        issues.append(ValidationIssue(f"/{name}", "Expected a string or an array of strings."))
        return []
    return [str(v) for v in values]


def parse_bulk_filter(
    document: object,
    *,
    allowed: frozenset[JobStatus],
    extra: dict[str, str] | None = None,
) -> BulkFilter | list[ValidationIssue]:
    """The filter of a bulk action's body, or the problems found.

    ``allowed``: the statuses the action acts on (a ``status`` filter may name only
    these; without one, all of them). ``extra``: further time fields accepted as aliases
    (name → the :class:`JobQuery` field), for older clients.
    """
    aliases = extra or {}
    if not isinstance(document, dict):
        return [ValidationIssue("", 'Expected an object of filters, such as {"type": [...]}.')]
    known = FILTER_FIELDS | set(aliases)
    issues = [
        ValidationIssue(f"/{name}", f"Unknown filter {name!r}; use {', '.join(sorted(known))}.")
        for name in sorted(set(document) - known)
    ]
    statuses: set[JobStatus] = set()
    for raw in _strings(document, "status", issues):
        try:
            status = JobStatus(raw.upper())
        except ValueError:
            status = None
        if status not in allowed:
            names = ", ".join(sorted(s.value for s in allowed))
            issues.append(
                ValidationIssue("/status", f"{raw!r}: this action acts only on {names} jobs.")
            )
        else:
            statuses.add(status)
    types = _strings(document, "type", issues)
    fields: dict[str, object] = {}
    echo: dict[str, object] = {
        "status": sorted(s.value for s in (statuses or allowed)),
        **({"type": sorted(set(types))} if types else {}),
    }
    for name, field in {**_TIMES, **aliases}.items():
        given = document.get(name)
        if given is None:
            continue
        try:
            fields[field] = normalize_timestamp(given) if isinstance(given, str) else None
        except ValueError as exc:
            issues.append(ValidationIssue(f"/{name}", str(exc)))
            continue
        if fields[field] is None:
            issues.append(ValidationIssue(f"/{name}", "Expected an RFC 3339 timestamp."))
        echo[name] = fields[field]
    for name, field in _TEXTS.items():
        given = document.get(name)
        if given is None:
            continue
        if not isinstance(given, str) or not given or len(given) > MAX_TEXT_LENGTH:
            issues.append(
                ValidationIssue(f"/{name}", f"Expected a string of 1 to {MAX_TEXT_LENGTH} chars.")
            )
            continue
        fields[field] = echo[name] = given
    priority = document.get("priority")
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
            issues.append(ValidationIssue("/priority", "Expected an integer from 0 to 9."))
        else:
            fields["priority"] = echo["priority"] = priority
    limit = document.get("limit", MAX_BULK)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BULK:
        issues.append(ValidationIssue("/limit", f"Expected an integer from 1 to {MAX_BULK}."))
        limit = MAX_BULK
    if issues:
        return issues
    query = JobQuery(
        statuses=frozenset(statuses or allowed),
        types=frozenset(types),
        sort=JobSort(),
        limit=PAGE,
        **fields,  # type: ignore[arg-type]
    )
    return BulkFilter(query, limit, {**echo, "limit": limit})


async def walk(
    jobs: JobStore,
    bulk: BulkFilter,
    act: Callable[[list[JobRecord]], Awaitable[int]],
) -> tuple[int, int, bool]:
    """Page through the jobs matching ``bulk`` (at most its limit), calling ``act`` on
    each page (it answers how many it acted on): (matched, acted on, more match)."""
    matched = acted = 0
    query = bulk.query
    while True:
        page = await jobs.search_jobs(query)
        taken = page.items[: bulk.limit - matched]
        matched += len(taken)
        if taken:
            acted += await act(taken)
        if len(taken) < len(page.items):
            return matched, acted, True
        if page.next is None:
            return matched, acted, False
        if matched >= bulk.limit:
            return matched, acted, True
        query = dataclasses.replace(query, after=page.next)


_RESULT: dict[str, object] = {
    "type": "object",
    "required": ["matched", "actedOn", "skipped", "more", "filter"],
    "properties": {
        "matched": {"type": "integer", "minimum": 0, "description": "Jobs read (≤ limit)."},
        "actedOn": {"type": "integer", "minimum": 0},
        "skipped": {
            "type": "integer",
            "minimum": 0,
            "description": "Matched but not acted on (changed meanwhile, or at the most "
            "rounds a job may run).",
        },
        "more": {"type": "boolean", "description": "Further jobs match past `limit`."},
        "filter": {"type": "object", "description": "The filter as understood."},
        "auditEventId": {
            "type": ["string", "null"],
            "description": "The id of the `jobs.bulk-action` event recording this action in "
            "the audit trail (`GET /events?jobId=<id>` on the read model), or null when the "
            "broker did not confirm it (the action still happened).",
        },
        "dryRun": {"type": "boolean", "description": "Present (true) on a dry run only."},
    },
}


def _filter_body(statuses: list[str], status_help: str) -> dict[str, object]:
    strings = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    timestamp = {"type": "string", "format": "date-time"}
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "status": {
                "oneOf": [
                    {"type": "string", "enum": statuses},
                    {"type": "array", "items": {"type": "string", "enum": statuses}},
                ],
                "description": status_help,
            },
            "type": {**strings, "description": "Any of these job types."},
            "createdAfter": {**timestamp, "description": "Created at or after."},
            "createdBefore": {**timestamp, "description": "Created before."},
            "finishedAfter": {**timestamp, "description": "Ended at or after."},
            "finishedBefore": {**timestamp, "description": "Ended before."},
            "correlationId": {**text, "description": "Submitted with this correlation id."},
            "error": {**text, "description": "The last error contains this text."},
            "q": {**text, "description": "The id starts with, or the payload contains, this."},
            "priority": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9,
                "description": "Submitted with this priority (a job submitted without one has 5).",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_BULK},
            "dryRun": {
                "type": "boolean",
                "default": False,
                "description": "Do nothing; answer how many jobs match (`matched`, `more`).",
            },
        },
    }


async def _dry_run(
    jobs: JobStore, bulk: BulkFilter, *, requeued: bool = False
) -> tuple[Response, int]:
    """The answer of a dry run: how many jobs match, nothing done."""
    matched, _, more = await walk(jobs, bulk, _count_only)
    body: dict[str, object] = {"matched": matched, "actedOn": 0, "skipped": 0, "more": more}
    if requeued:
        body["requeued"] = 0
    return jsonify({**body, "filter": bulk.echo, "dryRun": True}), 200


def _body_problem(action: str, issues: list[ValidationIssue]) -> tuple[Response, int]:
    unknown = [i.path.lstrip("/") for i in issues if i.message.startswith("Unknown filter")]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        return json_error(400, f"Unknown filter field{'s' * (len(unknown) > 1)} {names}.", issues)
    return json_error(400, f"The {action} filter is not valid.", issues)


def install_bulk_routes(
    app: Quart,
    *,
    jobs: JobStore | None,
    producer: Producer,
    publish: Callable[[list[OutgoingMessage]], Awaitable[str | None]],
    audit: BulkAudit,
    read_json: Callable[[int, str], Awaitable[object | tuple[Response, int]]],
    max_body_bytes: int,
) -> None:
    """Add ``POST /jobs/cancel`` and ``POST /jobs/retry`` to the gateway ``app``; each
    action is recorded in the audit trail by ``audit``."""

    async def filter_of(
        action: str, allowed: frozenset[JobStatus], extra: dict[str, str] | None = None
    ) -> BulkFilter | tuple[Response, int]:
        document: object = {}
        if await request.get_data(cache=True):
            read = await read_json(max_body_bytes, "the filter")
            if isinstance(read, tuple):
                return read
            document = read
        dry_run = False
        if isinstance(document, dict) and "dryRun" in document:
            document = dict(document)
            dry_run = document.pop("dryRun")
            if not isinstance(dry_run, bool):
                problem = ValidationIssue("/dryRun", "Expected true or false.")
                return _body_problem(action, [problem])
        parsed = parse_bulk_filter(document, allowed=allowed, extra=extra)
        if isinstance(parsed, list):
            return _body_problem(action, parsed)
        parsed = dataclasses.replace(parsed, dry_run=dry_run)
        if jobs is None:
            return json_error(
                503, f"This gateway has no job store configured, so it cannot {action} jobs."
            )
        return parsed

    problems = {
        400: error_response("A filter field is unknown or malformed; `details` name it."),
        413: error_response("The body is too large."),
        415: error_response("Content type is not application/json."),
        503: error_response("No job store, or the store or the broker is unavailable."),
    }

    @app.post("/jobs/cancel")
    @operation(
        "cancelJobs",
        summary="Cancel every waiting or running job matching the search filters (bulk).",
        description=(
            "Takes the filters of `GET /jobs` (read model) as a JSON body and keeps a "
            "cancel request, as `DELETE /jobs/{jobId}` does, for each matching job that is "
            "waiting (PENDING, VALIDATED) or running (EXECUTING): the processor then ends "
            "it FAILED (cancelled). `status` may name only those three (all of them "
            f"without it). Pages through the store, at most `limit` (≤ {MAX_BULK}) jobs; "
            "`more` says further jobs match. A job still queued (not yet taken by a "
            "processor) is not in the store yet, so no filter reaches it. `dryRun: true` "
            "cancels nothing and answers how many jobs match."
        ),
        tags=["jobs"],
        request_body=json_body(
            _filter_body(
                sorted(s.value for s in CANCELLABLE), "Any of these (default: all three)."
            ),
            required=False,
        ),
        responses={200: json_response("What the bulk cancel did.", _RESULT), **problems},
    )
    async def cancel_jobs() -> tuple[Response, int]:
        bulk = await filter_of("cancel", CANCELLABLE)
        if isinstance(bulk, tuple):
            return bulk
        assert jobs is not None
        if bulk.dry_run:
            return await _dry_run(jobs, bulk)
        who = client_key(getattr(g, "token", None), request.remote_addr)

        async def cancel(records: list[JobRecord]) -> int:
            done = 0
            for record in records:
                answer = await jobs.request_cancel(record.spec.id, requested_by=who)
                done += answer.request is not None
            return done

        matched, acted, more = await walk(jobs, bulk, cancel)
        log.info(
            "jobs.bulk_cancel matched=%d acted_on=%d more=%s filter=%s requested_by=%s",
            *(matched, acted, more, bulk.echo, who),
        )
        event_id = await audit.record(
            "cancel", by=requester(), filter_=bulk.echo, matched=matched, acted_on=acted, more=more
        )
        body = {"matched": matched, "actedOn": acted, "skipped": matched - acted, "more": more}
        return jsonify({**body, "filter": bulk.echo, "auditEventId": event_id}), 200

    failed = frozenset({JobStatus.FAILED})

    @app.post("/jobs/retry")
    @operation(
        "retryJobs",
        summary="Run every FAILED job matching the search filters again (bulk retry).",
        description=(
            "Takes the filters of `GET /jobs` (read model) as a JSON body (`status`, if "
            "given, must be FAILED; `since` is kept as an alias of `finishedAfter`) and "
            "retries, as `POST /jobs/{jobId}/retry` does, each matching job: the same id "
            "runs again from attempt 1 of its next round. Pages through the store and "
            f"publishes a page at a time, at most `limit` (≤ {MAX_BULK}) jobs; `more` says "
            "further jobs match (they leave FAILED when a processor starts their round; "
            "until then asking again publishes the same rounds, run once). `requeued` is "
            "`actedOn`, for older clients. `dryRun: true` retries nothing and answers how "
            "many jobs match."
        ),
        tags=["jobs"],
        request_body=json_body(_filter_body(["FAILED"], "FAILED (the default)."), required=False),
        responses={
            200: json_response(
                "What the bulk retry did.",
                {
                    **_RESULT,
                    "required": [*_RESULT["required"], "requeued"],  # type: ignore[misc]
                    "properties": {
                        **_RESULT["properties"],  # type: ignore[dict-item]
                        "requeued": {"type": "integer", "minimum": 0},
                    },
                },
            ),
            **problems,
        },
    )
    async def retry_jobs() -> tuple[Response, int]:
        bulk = await filter_of("retry", failed, {"since": "finished_after"})
        if isinstance(bulk, tuple):
            return bulk
        assert jobs is not None
        if bulk.dry_run:
            return await _dry_run(jobs, bulk, requeued=True)
        by, at = requester(), utc_now()
        published = 0

        class Unconfirmed(Exception):
            pass

        async def retry(records: list[JobRecord]) -> int:
            nonlocal published
            messages = [
                retry_envelope(record, producer=producer, by=by, at=at).to_message()
                for record in records
                if record.round < MAX_ROUND
            ]
            if messages:
                failure = await publish(messages)
                if failure is not None:
                    raise Unconfirmed(failure)
                published += len(messages)
            return len(messages)

        try:
            matched, acted, more = await walk(jobs, bulk, retry)
        except Unconfirmed as exc:
            return json_error(
                503,
                f"The broker did not confirm a page of retries ({exc}); {published} jobs were "
                "requeued before it. Ask again (already requeued rounds are not run twice).",
            )
        log.info(
            "jobs.bulk_retry matched=%d acted_on=%d more=%s filter=%s role=%s",
            *(matched, acted, more, bulk.echo, by["role"]),
        )
        event_id = await audit.record(
            "retry", by=by, filter_=bulk.echo, matched=matched, acted_on=acted, more=more
        )
        body = {"matched": matched, "actedOn": acted, "skipped": matched - acted, "more": more}
        return jsonify(
            {**body, "requeued": acted, "filter": bulk.echo, "auditEventId": event_id}
        ), 200
