"""Dead letters from the gateway: requeue (as they are or edited), discard, and probe.

A dead letter taken from ``jobs.created`` holds the message the processor refused. The
gateway reads it back, takes the job out of it (the ``job.created`` envelope's payload,
or a bare job document), optionally replaced by the operator's edited text, checks it
against the same contract as ``POST /jobs`` and publishes it as a new ``job.created``
envelope. Only once the broker confirmed is the dead letter removed; a job id missing
from the message is derived from the dead letter's id, so requeueing one twice (say,
the removal failed) still runs the job once.

``DELETE /dead-letters/{id}`` discards one for good. ``POST /probes/dead-letter``
publishes one deliberately malformed message to ``jobs.created``, so an operator (or
``observatory gate``) can see the dead-letter path work end to end, then discard it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quart import Quart, Response, jsonify, request

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_CREATED
from actors.domain.clock import utc_now
from actors.domain.search import normalize_timestamp
from actors.errors import InvalidMessage, ValidationIssue
from actors.observability.logs import bind
from contracts import SchemaName, get_contracts, parse_json
from quart_app._common import json_error
from quart_app.gateway.retry import requester
from quart_app.openapi import error_response, json_body, json_response, operation

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from actors.domain.dead_letters import DeadLetter
    from actors.domain.events import Envelope
    from actors.stores import DeadLetterStore
    from quart_app.gateway.audit import BulkAudit

__all__ = [
    "MAX_REQUEUE_ALL",
    "PROBE_KIND",
    "DeadLetterFilter",
    "RequeueRefused",
    "install_dead_letter_routes",
    "job_from_dead_letter",
]

log = logging.getLogger(__name__)

MAX_REQUEUE_ALL = 1000
"""Most dead letters one ``POST /dead-letters/requeue`` handles."""
_REQUEUED: dict[str, object] = {
    "type": "object",
    "required": ["deadLetterId", "jobId", "eventId"],
    "properties": {
        "deadLetterId": {"type": "string"},
        "jobId": {"type": "string", "format": "uuid"},
        "eventId": {"type": "string", "format": "uuid"},
    },
}
"""The body of a requeued dead letter."""
_REQUEUE_NAMESPACE = uuid.UUID("6f1d3c1a-5b1e-4d7e-9a1f-2f4b8c0d7e21")
PROBE_KIND = "dead-letter-probe"
"""What a probe message says it is (it is no envelope, so the processor refuses it)."""


class RequeueRefused(Exception):
    """This dead letter cannot be requeued as it is; ``issues`` say where."""

    def __init__(self, message: str, issues: list[ValidationIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


_DEAD_LETTER_FILTERS = ("ids", "queue", "reason", "occurredAfter", "occurredBefore")


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters a bulk requeue takes (every field given must hold)."""

    queue: str | None = None
    """Taken from this queue (exact)."""
    reason: str | None = None
    """The reason contains this text (case-insensitive)."""
    occurred_after: str | None = None
    """Dead-lettered at or after (normalized timestamp text)."""
    occurred_before: str | None = None
    """Dead-lettered before (exclusive)."""

    @classmethod
    def parse(
        cls, document: object
    ) -> tuple[DeadLetterFilter, list[str] | None] | list[ValidationIssue]:
        """The filter and the ids of a bulk requeue's body, or the problems found."""
        if not isinstance(document, dict):
            return [ValidationIssue("", "Expected an object.")]
        issues = [
            ValidationIssue(
                f"/{name}", f"Unknown filter {name!r}; use {', '.join(_DEAD_LETTER_FILTERS)}."
            )
            for name in sorted(set(document) - set(_DEAD_LETTER_FILTERS))
        ]
        ids: list[str] | None = None
        if "ids" in document:
            raw_ids = document["ids"]
            if not isinstance(raw_ids, list) or not all(isinstance(i, str) for i in raw_ids):
                issues.append(ValidationIssue("/ids", "Expected an array of strings."))
            else:
                ids = [str(i) for i in raw_ids]
        texts: dict[str, str | None] = {}
        for name in ("queue", "reason"):
            value = document.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                issues.append(ValidationIssue(f"/{name}", "Expected a non-empty string."))
            texts[name] = value if isinstance(value, str) and value else None
        times: dict[str, str | None] = {}
        for name in ("occurredAfter", "occurredBefore"):
            value = document.get(name)
            times[name] = None
            if value is None:
                continue
            try:
                if not isinstance(value, str):
                    raise ValueError(f"{value!r} is not an RFC 3339 timestamp.")
                times[name] = normalize_timestamp(value)
            except ValueError as exc:
                issues.append(ValidationIssue(f"/{name}", str(exc)))
        if issues:
            return issues
        chosen = cls(
            texts["queue"], texts["reason"], times["occurredAfter"], times["occurredBefore"]
        )
        return chosen, ids

    def matches(self, record: DeadLetter) -> bool:
        """Whether ``record`` passes every filter given."""
        try:
            at = normalize_timestamp(record.occurred_at)
        except ValueError:  # not ours to refuse: compare the text as it is
            at = record.occurred_at
        return (
            (self.queue is None or record.queue == self.queue)
            and (self.reason is None or self.reason.lower() in record.reason.lower())
            and (self.occurred_after is None or at >= self.occurred_after)
            and (self.occurred_before is None or at < self.occurred_before)
        )

    def to_json(self) -> dict[str, str]:
        """The filter as given (normalized), for the answer and the logs."""
        given = {
            "queue": self.queue,
            "reason": self.reason,
            "occurredAfter": self.occurred_after,
            "occurredBefore": self.occurred_before,
        }
        return {name: value for name, value in given.items() if value is not None}


def job_from_dead_letter(record: DeadLetter, body: str | None = None) -> dict[str, object]:
    """The job submission inside ``record`` (or inside ``body``, its edited text).

    Raises:
        RequeueRefused: the dead letter is not from ``jobs.created``, or the text is not a
            job ``POST /jobs`` would accept.
    """
    if record.queue != JOBS_CREATED:
        raise RequeueRefused(
            f"Dead letter {record.dead_letter_id} came from {record.queue!r}; only messages "
            f"refused on {JOBS_CREATED!r} (jobs) can be requeued."
        )
    raw = record.body if body is None else body.encode()
    try:
        document = parse_json(raw)
    except InvalidMessage as exc:
        raise RequeueRefused(f"The message is not a JSON job: {exc}", exc.issues) from None
    prefix = ""
    if isinstance(document, dict) and "eventType" in document and "payload" in document:
        # A job.created envelope: the job is its payload.
        document, prefix = document["payload"], "/payload"
    if not isinstance(document, dict):
        raise RequeueRefused(
            "The message holds no job object.",
            [ValidationIssue(prefix, "Expected a job object (or a job.created envelope).")],
        )
    job = dict(document)
    # A stored status is not part of what is resubmitted: requeued means pending again.
    issues = get_contracts().issues(SchemaName.JOB_SUBMISSION, job)
    if issues:
        raise RequeueRefused(
            f"The job does not match the job-submission contract: {len(issues)} problem(s)"
            + (" (paths inside the envelope's payload)." if prefix else "."),
            [ValidationIssue(prefix + issue.path, issue.message) for issue in issues],
        )
    if not job.get("id"):
        job["id"] = str(uuid.uuid5(_REQUEUE_NAMESPACE, record.dead_letter_id))
    return job


def install_dead_letter_routes(
    app: Quart,
    *,
    dead_letters: DeadLetterStore | None,
    prepare: Callable[[dict[str, object], str], tuple[Envelope, OutgoingMessage]],
    publish: Callable[..., Awaitable[str | None]],
    audit: BulkAudit,
    read_json: Callable[[int, str], Awaitable[object | tuple[Response, int]]],
    max_body_bytes: int,
) -> None:
    """Add the requeue, discard and probe routes to the gateway's ``app``; a requeue by
    filter (or of all) is recorded in the audit trail by ``audit``."""

    def store() -> DeadLetterStore:
        if dead_letters is None:
            raise RequeueRefused("This gateway has no dead-letter store configured.")
        return dead_letters

    async def requeue_one(
        dead_letter_id: str, body: str | None
    ) -> tuple[dict[str, object], int, list[ValidationIssue]]:
        """The result document, its status, and the problems found (for a 400)."""
        record = await store().get(dead_letter_id)
        if record is None:
            return {"error": f"No dead letter with id {dead_letter_id!r} is known."}, 404, []
        try:
            job = job_from_dead_letter(record, body)
        except RequeueRefused as exc:
            status = 400 if exc.issues or body is not None else 409
            return {"error": str(exc)}, status, exc.issues
        envelope, message = prepare(job, utc_now())
        failure = await publish([message])
        if failure is not None:
            error = (
                f"The broker did not confirm the requeued job ({failure}); the dead letter is "
                "kept. Retry shortly."
            )
            return {"error": error}, 503, []
        await store().remove([dead_letter_id])
        with bind(job_id=envelope.job_id):
            log.info("dead_letter.requeued dead_letter_id=%s", dead_letter_id)
        result = {"deadLetterId": dead_letter_id, "jobId": envelope.job_id}
        return {**result, "eventId": envelope.event_id}, 202, []

    @app.post("/dead-letters/<dead_letter_id>/requeue")
    @operation(
        "requeueDeadLetter",
        summary="Publish a dead-lettered job again, as it was or edited.",
        description=(
            "Takes the job out of a dead letter refused on `jobs.created` (the envelope's "
            "payload, or a bare job), or out of `body` when given (the operator's edited "
            "message text), validates it as `POST /jobs` does, publishes it, and removes the "
            "dead letter once the broker confirmed. A job without an id gets one derived "
            "from the dead letter, so a second requeue never runs it twice."
        ),
        tags=["dead letters"],
        request_body=json_body(
            {"type": "object", "required": ["body"], "properties": {"body": {"type": "string"}}},
            required=False,
        ),
        responses={
            202: json_response("Requeued.", _REQUEUED),
            400: error_response("The (edited) message is not a valid job; `details` say where."),
            404: error_response("No such dead letter."),
            409: error_response(
                "The dead letter did not come from `jobs.created`, or this gateway has no "
                "dead-letter store."
            ),
            413: error_response("The body is too large."),
            415: error_response("Content type is not application/json."),
            503: error_response("The broker or the dead-letter store is unavailable."),
        },
    )
    async def requeue_dead_letter(dead_letter_id: str) -> tuple[Response, int]:
        body: str | None = None
        if await request.get_data(cache=True):
            document = await read_json(max_body_bytes, "the edited message")
            if isinstance(document, tuple):
                return document
            if not isinstance(document, dict) or not isinstance(document.get("body"), str):
                return json_error(
                    400,
                    'Send {"body": "<the edited message text>"} or no body at all.',
                    [ValidationIssue("/body", "Expected a string.")],
                )
            body = document["body"]
        try:
            result, status, issues = await requeue_one(dead_letter_id, body)
        except RequeueRefused as exc:
            return json_error(409, str(exc))
        if status >= 400:
            return json_error(status, str(result["error"]), issues)
        return jsonify(result), status

    @app.post("/dead-letters/requeue")
    @operation(
        "requeueDeadLetters",
        summary="Requeue several dead letters: by ids, by a filter, or all of them.",
        description=(
            "With `ids`, those dead letters; otherwise those matching the filter (every "
            "field given must hold: `queue` exact, `reason` a case-insensitive substring, "
            "`occurredAfter` inclusive and `occurredBefore` exclusive, RFC 3339) among the "
            f"newest {MAX_REQUEUE_ALL} kept (`more`: older ones were not looked at); no "
            "body: all of the newest. `matched`, `actedOn` (requeued) and `skipped` "
            "(refused) count them. Unknown fields are refused (400) naming them. "
            "`dryRun: true` requeues nothing: `matched` says how many would be tried."
        ),
        tags=["dead letters"],
        request_body=json_body(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "ids": {"type": "array", "items": {"type": "string"}},
                    "queue": {"type": "string"},
                    "reason": {"type": "string", "minLength": 1},
                    "occurredAfter": {"type": "string", "format": "date-time"},
                    "occurredBefore": {"type": "string", "format": "date-time"},
                    "dryRun": {"type": "boolean", "default": False},
                },
            },
            required=False,
        ),
        responses={
            200: json_response(
                "One result per dead letter: `status` 202 requeued, else why not.",
                {
                    "type": "object",
                    "required": ["requeued", "refused", "results", "matched", "actedOn"],
                    "properties": {
                        "requeued": {"type": "integer"},
                        "refused": {"type": "integer"},
                        "matched": {"type": "integer"},
                        "actedOn": {"type": "integer"},
                        "skipped": {"type": "integer"},
                        "more": {"type": "boolean"},
                        "filter": {"type": "object"},
                        "dryRun": {"type": "boolean"},
                        "results": {"type": "array", "items": {"type": "object"}},
                        "auditEventId": {
                            "type": ["string", "null"],
                            "description": "The `jobs.bulk-action` event recording this "
                            "requeue in the audit trail; null when the broker did not "
                            "confirm it.",
                        },
                    },
                },
            ),
            400: error_response("The body is not `{ids: [...]}` nor a valid filter."),
            409: error_response("This gateway has no dead-letter store."),
            413: error_response("Too many ids."),
            415: error_response("Content type is not application/json."),
            503: error_response("The dead-letter store is unavailable."),
        },
    )
    async def requeue_dead_letters() -> tuple[Response, int]:
        ids: list[str] | None = None
        chosen = DeadLetterFilter()
        dry_run = False
        if await request.get_data(cache=True):
            document = await read_json(max_body_bytes, "the dead-letter ids")
            if isinstance(document, tuple):
                return document
            if isinstance(document, dict) and "dryRun" in document:
                document = dict(document)
                dry_run = document.pop("dryRun")
                if not isinstance(dry_run, bool):
                    issue = ValidationIssue("/dryRun", "Expected true or false.")
                    return json_error(400, "'dryRun' is true or false.", [issue])
            parsed = DeadLetterFilter.parse(document)
            if isinstance(parsed, list):
                unknown = [i.path[1:] for i in parsed if i.message.startswith("Unknown filter")]
                message = (
                    f"Unknown filter field{'s' * (len(unknown) > 1)} "
                    + ", ".join(repr(name) for name in unknown)
                    + "."
                    if unknown
                    else 'Send {"ids": [...]}, a filter (queue, reason, occurredAfter, '
                    "occurredBefore), or no body (all of them)."
                )
                return json_error(400, message, parsed)
            chosen, ids = parsed
            if ids is not None and len(ids) > MAX_REQUEUE_ALL:
                return json_error(413, f"At most {MAX_REQUEUE_ALL} ids per request.")
        more = False
        by_ids = ids is not None
        try:
            if ids is None:
                newest = await store().recent(limit=MAX_REQUEUE_ALL)
                matching = [r for r in newest if chosen.matches(r)]
                ids = [r.dead_letter_id for r in matching]
                more = len(newest) == MAX_REQUEUE_ALL and await store().count() > len(newest)
            if dry_run:
                counts = {"matched": len(ids), "actedOn": 0, "skipped": 0}
                return jsonify(
                    {"requeued": 0, "refused": 0, "results": [], **counts, "more": more}
                    | {"filter": chosen.to_json(), "dryRun": True}
                ), 200
            results: list[dict[str, object]] = []
            for dead_letter_id in ids:
                result, status, issues = await requeue_one(dead_letter_id, None)
                if issues:
                    result["details"] = [issue.to_json() for issue in issues]
                results.append({"deadLetterId": dead_letter_id, "status": status, **result})
        except RequeueRefused as exc:
            return json_error(409, str(exc))
        requeued = sum(1 for r in results if r["status"] == 202)
        body = {"requeued": requeued, "refused": len(results) - requeued, "results": results}
        counts = {"matched": len(results), "actedOn": requeued, "skipped": len(results) - requeued}
        log.info(
            "dead_letters.bulk_requeue matched=%d acted_on=%d more=%s filter=%s",
            *(len(results), requeued, more, chosen.to_json()),
        )
        event_id = await audit.record(
            "requeue-dead-letters",
            by=requester(),
            filter_={**chosen.to_json(), **({"ids": ids} if by_ids else {})},
            matched=len(results),
            acted_on=requeued,
            more=more,
        )
        return jsonify(
            {**body, **counts, "more": more, "filter": chosen.to_json(), "auditEventId": event_id}
        ), 200

    @app.delete("/dead-letters/<dead_letter_id>")
    @operation(
        "discardDeadLetter",
        summary="Discard a dead letter for good.",
        tags=["dead letters"],
        responses={
            200: json_response(
                "Discarded.",
                {
                    "type": "object",
                    "required": ["deadLetterId", "discarded"],
                    "properties": {
                        "deadLetterId": {"type": "string"},
                        "discarded": {"type": "boolean"},
                    },
                },
            ),
            404: error_response("No such dead letter."),
            409: error_response("This gateway has no dead-letter store."),
            503: error_response("The dead-letter store is unavailable."),
        },
    )
    async def discard_dead_letter(dead_letter_id: str) -> tuple[Response, int]:
        try:
            removed = await store().remove([dead_letter_id])
        except RequeueRefused as exc:
            return json_error(409, str(exc))
        if not removed:
            return json_error(404, f"No dead letter with id {dead_letter_id!r} is known.")
        log.info("dead_letter.discarded dead_letter_id=%s", dead_letter_id)
        return jsonify({"deadLetterId": dead_letter_id, "discarded": True}), 200

    @app.post("/probes/dead-letter")
    @operation(
        "deadLetterProbe",
        summary="Publish one deliberately malformed message to `jobs.created`.",
        description=(
            "Proves the dead-letter path end to end: the processor refuses the message and a "
            "dead letter with `messageId` appears in the read model's `GET /dead-letters`; "
            "discard it after. Not counted as a job."
        ),
        tags=["dead letters"],
        responses={
            202: json_response(
                "Published.",
                {
                    "type": "object",
                    "required": ["messageId", "queue"],
                    "properties": {
                        "messageId": {"type": "string", "format": "uuid"},
                        "queue": {"type": "string"},
                    },
                },
            ),
            503: error_response("The broker did not confirm."),
        },
    )
    async def dead_letter_probe() -> tuple[Response, int]:
        probe_id = str(uuid.uuid4())
        body = json.dumps({"kind": PROBE_KIND, "probeId": probe_id, "sentAt": utc_now()})
        message = OutgoingMessage(body=body.encode(), message_id=probe_id)
        failure = await publish([message], jobs=False)
        if failure is not None:
            return json_error(503, f"The broker did not confirm the probe ({failure}).")
        log.info("dead_letter.probe_sent message_id=%s", probe_id)
        return jsonify({"messageId": probe_id, "queue": JOBS_CREATED}), 202
