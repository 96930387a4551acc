"""OpenAPI 3.1 documents of both HTTP apps, and the ``/docs`` page that renders them.

Schemas come from ``contracts/`` (the single source of truth): each contract becomes a
component, and ``$ref``s to another contract's ``$id`` are rewritten to component refs.
``/docs`` is plain server-rendered HTML (no CDN, works offline).
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from quart import Response

from contracts import SchemaName, get_contracts
from quart_app.auth import OPEN_PATHS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from quart import Quart

    from actors.config.settings import Settings

__all__ = ["gateway_openapi", "install_docs", "ops_openapi", "read_model_openapi"]

_COMPONENT_NAMES = {
    SchemaName.JOB: "Job",
    SchemaName.EVENT_ENVELOPE: "EventEnvelope",
    SchemaName.JOB_ACCEPTED: "JobAccepted",
    SchemaName.JOB_SUBMISSION: "JobSubmission",
    SchemaName.DEAD_LETTER: "DeadLetter",
    SchemaName.STATS: "Stats",
    SchemaName.ERROR: "Error",
    SchemaName.ALERTMANAGER_WEBHOOK: "AlertmanagerWebhook",
    SchemaName.ALERTS: "Alerts",
}


def _rewrite_refs(node: object, ids: dict[str, str], own: str) -> object:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            if key in ("$schema", "$id", "$version"):
                continue
            if key == "$ref" and isinstance(value, str):
                if value in ids:
                    value = f"#/components/schemas/{ids[value]}"
                elif value.startswith("#/definitions/"):
                    value = f"#/components/schemas/{own}/definitions/{value.rsplit('/', 1)[1]}"
            out[key] = _rewrite_refs(value, ids, own)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, ids, own) for item in node]
    return node


def _components() -> dict[str, object]:
    contracts = get_contracts()
    ids = {}
    for name, component in _COMPONENT_NAMES.items():
        schema_id = contracts.schema(name).get("$id")
        if isinstance(schema_id, str):
            ids[schema_id] = component
    schemas: dict[str, object] = {
        component: _rewrite_refs(contracts.schema(name), ids, component)
        for name, component in _COMPONENT_NAMES.items()
    }
    return {"schemas": schemas}


_SUBMISSIONS = {("/jobs", "post"), ("/jobs/batch", "post")}
"""The operations under the per-client rate limit."""


def _secured(document: dict[str, object]) -> dict[str, object]:
    """``document`` with the bearer-token scheme, and 401/403 (and 429) on every
    operation that needs a token when tokens are configured."""
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if path in OPEN_PATHS:
            continue
        for method, operation in operations.items():
            operation["security"] = [{"bearerAuth": []}]
            responses = operation["responses"]
            responses["401"] = _error(
                "No token, or not a valid one (only when API tokens are configured)."
            )
            responses["403"] = _error("The token's role may not do this.")
            if (path, method) in _SUBMISSIONS:
                limited = _error(
                    "Too many jobs from this client; `Retry-After` says when to send more."
                )
                limited["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait.",
                        "schema": {"type": "integer"},
                    }
                }
                responses["429"] = limited
    components = document["components"]
    assert isinstance(components, dict)
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (OBSERVATORY_API_TOKENS): viewer, submitter or alertmanager.",
        }
    }
    return document


def _ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def _json_response(description: str, schema: Mapping[str, object]) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, object]:
    return _json_response(description, _ref("Error"))


_HEALTH_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["status", "service", "version", "actors"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "service": {"type": "string"},
        "version": {"type": "string"},
        "unhealthy": {"type": "array", "items": {"type": "string"}},
        "actors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "state", "restarts"],
                "properties": {
                    "path": {"type": "string"},
                    "state": {"type": "string"},
                    "restarts": {"type": "integer"},
                    "mailboxDepth": {"type": ["integer", "null"]},
                    "mailboxSize": {"type": ["integer", "null"]},
                    "lastError": {"type": ["string", "null"]},
                },
            },
        },
    },
}


def _operational_paths() -> dict[str, object]:
    return {
        "/healthz": {
            "get": {
                "summary": "Dependency health (readiness): 503 while a dependency is unusable.",
                "operationId": "healthz",
                "tags": ["operations"],
                "responses": {
                    "200": _json_response("Ready.", _HEALTH_SCHEMA),
                    "503": _json_response(
                        "Not ready; `unhealthy` names the actors.", _HEALTH_SCHEMA
                    ),
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Process health (liveness): the process serves requests.",
                "operationId": "readyz",
                "tags": ["operations"],
                "responses": {
                    "200": _json_response(
                        "Alive.",
                        {
                            "type": "object",
                            "required": ["status", "service", "version"],
                            "properties": {
                                "status": {"const": "ok"},
                                "service": {"type": "string"},
                                "version": {"type": "string"},
                            },
                        },
                    )
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics in the text exposition format.",
                "operationId": "metrics",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "operationId": "openapi",
                "tags": ["operations"],
                "responses": {"200": _json_response("OpenAPI 3.1 document.", {"type": "object"})},
            }
        },
        "/docs": {
            "get": {
                "summary": "This document, rendered as HTML.",
                "operationId": "docs",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


_BATCH_RESULT: dict[str, object] = {
    "type": "object",
    "required": ["accepted", "rejected", "results"],
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "results": {
            "type": "array",
            "items": {"oneOf": [_ref("JobAccepted"), _ref("Error")]},
        },
    },
}


_CANCEL_JOB: dict[str, object] = {
    "summary": "Cancel a job that waits for its first attempt or for a retry.",
    "description": (
        "Marks the job for cancelling; the processor then ends it `FAILED` with error "
        "`cancelled` (one `job.failed` event, whose payload has `reason: cancelled`) instead "
        "of validating or running it: at once for a job waiting in the queue, after its "
        "backoff for one waiting for a retry. Asking again answers the same 202. A job "
        "whose attempt is running (`EXECUTING`) or that has ended cannot be cancelled."
    ),
    "operationId": "cancelJob",
    "tags": ["jobs"],
    "parameters": [{"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {
        "202": _json_response(
            "The cancel is accepted; the job ends FAILED (cancelled) shortly.",
            {
                "type": "object",
                "required": ["jobId", "status", "cancelRequestedAt"],
                "properties": {
                    "jobId": {"type": "string"},
                    "status": {"type": "string", "enum": ["PENDING", "VALIDATED"]},
                    "cancelRequestedAt": {"type": "string", "format": "date-time"},
                },
            },
        ),
        "404": _error("There is no such job (a job just accepted may take a moment to appear)."),
        "409": _json_response(
            "The job is EXECUTING, COMPLETED or FAILED; `status` says which.",
            {
                "allOf": [
                    _ref("Error"),
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {
                            "status": {
                                "type": "string",
                                "enum": ["EXECUTING", "COMPLETED", "FAILED"],
                            }
                        },
                    },
                ]
            },
        ),
        "503": _error("The job store cannot be reached; nothing was marked."),
    },
}


def gateway_openapi(settings: Settings) -> dict[str, object]:
    """The gateway's OpenAPI 3.1 document."""
    paths: dict[str, object] = {
        "/jobs": {
            "post": {
                "summary": "Submit a job.",
                "description": (
                    "Validates the submission (a full job, or the short form "
                    "`{type, payload?, id?, metadata?}`), fills a missing id, status `PENDING` "
                    "and `createdAt`, publishes a `job.created` envelope to `jobs.created`, "
                    "and answers 202 once the broker confirmed it. A resubmitted id is never "
                    "run twice. Send `X-Correlation-Id` to correlate; it is echoed back."
                ),
                "operationId": "submitJob",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "X-Correlation-Id",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("JobSubmission")}},
                },
                "responses": {
                    "202": _json_response("Accepted and queued.", _ref("JobAccepted")),
                    "400": _error(
                        "Not JSON, or not a valid submission; `details` lists every problem."
                    ),
                    "413": _error(f"Body larger than {settings.max_body_bytes} bytes."),
                    "415": _error("Content type is not application/json."),
                    "503": _error("The broker did not confirm in time; nothing was accepted."),
                },
            }
        },
        "/jobs/batch": {
            "post": {
                "summary": "Submit up to a batch limit of jobs in one request.",
                "description": (
                    "Each element is validated as `POST /jobs` validates a job; the valid ones "
                    "are published together with pipelined confirms. One bad job does not "
                    "reject the others: `results` has one entry per job, in order, either "
                    "`{jobId, eventId}` or `{error, details}`. 202 when at least one job was "
                    "accepted, 400 when none was."
                ),
                "operationId": "submitJobBatch",
                "tags": ["jobs"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": settings.max_batch_jobs,
                                "items": _ref("JobSubmission"),
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json_response("At least one job was accepted.", _BATCH_RESULT),
                    "400": {
                        "description": "Not a non-empty JSON array, or no job in it was valid.",
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [_BATCH_RESULT, _ref("Error")]}
                            }
                        },
                    },
                    "413": _error(
                        f"More than {settings.max_batch_jobs} jobs, or a body over "
                        f"{settings.max_batch_body_bytes} bytes."
                    ),
                    "415": _error("Content type is not application/json."),
                    "503": _error("The broker did not confirm in time; nothing was accepted."),
                },
            }
        },
        **_dead_letter_paths(),
        "/jobs/{jobId}": {"delete": _CANCEL_JOB},
        **_operational_paths(),
    }
    return _secured(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Task Observatory gateway",
                "version": settings.version,
                "description": "Submit jobs to the observatory.",
            },
            "servers": [{"url": settings.gateway_url}],
            "paths": paths,
            "components": _components(),
        }
    )


def _limit_param(default: int, maximum: int) -> dict[str, object]:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


_JOB_SUMMARY: dict[str, object] = {
    "type": "object",
    "required": ["id", "type", "status", "createdAt", "updatedAt"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "type": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["PENDING", "VALIDATED", "EXECUTING", "COMPLETED", "FAILED"],
        },
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "startedAt": {"type": ["string", "null"]},
        "finishedAt": {"type": ["string", "null"]},
    },
}

_THROUGHPUT: dict[str, object] = {
    "type": "object",
    "required": ["bucketSeconds", "windowSeconds", "buckets", "perSecond"],
    "properties": {
        "bucketSeconds": {"type": "integer"},
        "windowSeconds": {"type": "integer"},
        "buckets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "completed", "failed"],
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "completed": {"type": "integer", "minimum": 0},
                    "failed": {"type": "integer", "minimum": 0},
                },
            },
        },
        "perSecond": {"type": "number", "minimum": 0},
    },
}

_REQUEUED: dict[str, object] = {
    "type": "object",
    "required": ["deadLetterId", "jobId", "eventId"],
    "properties": {
        "deadLetterId": {"type": "string"},
        "jobId": {"type": "string", "format": "uuid"},
        "eventId": {"type": "string", "format": "uuid"},
    },
}


def _dead_letter_paths() -> dict[str, object]:
    """The gateway's dead-letter routes: requeue, discard, probe."""
    dead_letter_id = {
        "name": "deadLetterId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    return {
        "/dead-letters/{deadLetterId}": {
            "delete": {
                "summary": "Discard a dead letter for good.",
                "operationId": "discardDeadLetter",
                "tags": ["dead letters"],
                "parameters": [dead_letter_id],
                "responses": {
                    "200": _json_response(
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
                    "404": _error("No such dead letter."),
                    "409": _error("This gateway has no dead-letter store."),
                    "503": _error("The dead-letter store is unavailable."),
                },
            }
        },
        "/probes/dead-letter": {
            "post": {
                "summary": "Publish one deliberately malformed message to `jobs.created`.",
                "description": (
                    "Proves the dead-letter path end to end: the processor refuses the "
                    "message and a dead letter with `messageId` appears in the read model's "
                    "`GET /dead-letters`; discard it after. Not counted as a job."
                ),
                "operationId": "deadLetterProbe",
                "tags": ["dead letters"],
                "responses": {
                    "202": _json_response(
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
                    "503": _error("The broker did not confirm."),
                },
            }
        },
        "/dead-letters/{deadLetterId}/requeue": {
            "post": {
                "summary": "Publish a dead-lettered job again, as it was or edited.",
                "description": (
                    "Takes the job out of a dead letter refused on `jobs.created` (the "
                    "envelope's payload, or a bare job), or out of `body` when given (the "
                    "operator's edited message text), validates it as `POST /jobs` does, "
                    "publishes it, and removes the dead letter once the broker confirmed. "
                    "A job without an id gets one derived from the dead letter, so a second "
                    "requeue never runs it twice."
                ),
                "operationId": "requeueDeadLetter",
                "tags": ["dead letters"],
                "parameters": [dead_letter_id],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["body"],
                                "properties": {"body": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json_response("Requeued.", _REQUEUED),
                    "400": _error("The (edited) message is not a valid job; `details` say where."),
                    "404": _error("No such dead letter."),
                    "409": _error(
                        "The dead letter did not come from `jobs.created`, or this gateway has "
                        "no dead-letter store."
                    ),
                    "413": _error("The body is too large."),
                    "415": _error("Content type is not application/json."),
                    "503": _error("The broker or the dead-letter store is unavailable."),
                },
            }
        },
        "/dead-letters/requeue": {
            "post": {
                "summary": "Requeue several dead letters (all of them without a body).",
                "operationId": "requeueDeadLetters",
                "tags": ["dead letters"],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["ids"],
                                "properties": {
                                    "ids": {"type": "array", "items": {"type": "string"}}
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json_response(
                        "One result per dead letter: `status` 202 requeued, else why not.",
                        {
                            "type": "object",
                            "required": ["requeued", "refused", "results"],
                            "properties": {
                                "requeued": {"type": "integer"},
                                "refused": {"type": "integer"},
                                "results": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ),
                    "400": _error("The body is not `{ids: [...]}`."),
                    "409": _error("This gateway has no dead-letter store."),
                    "413": _error("Too many ids."),
                    "415": _error("Content type is not application/json."),
                    "503": _error("The dead-letter store is unavailable."),
                },
            }
        },
    }


def _live_paths() -> dict[str, object]:
    """The read model's dashboard, live stream and throughput routes."""
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/": {
            "get": {
                "summary": "The web dashboard.",
                "operationId": "dashboard",
                "tags": ["dashboard"],
                "responses": {"200": {"description": "The page.", "content": html}},
            }
        },
        "/launcher.html": {
            "get": {
                "summary": "The launcher page (open it from disk: it waits for the API).",
                "operationId": "launcherPage",
                "tags": ["dashboard"],
                "responses": {"200": {"description": "The page.", "content": html}},
            }
        },
        "/stream": {
            "get": {
                "summary": "Live updates as Server-Sent Events.",
                "description": (
                    "Events `stats`, `throughput`, `jobs` (the 20 newest job summaries), "
                    "`alerts`, `dead-letters` (`{count}`), each with the same JSON as its GET "
                    "endpoint, sent at once on connect and then when they change; `events` "
                    "carries new audit-trail events, oldest first. A `: keep-alive` comment "
                    "every 15 s. 503 with `Retry-After` when the stream serves its maximum "
                    "number of clients."
                ),
                "operationId": "stream",
                "tags": ["read"],
                "responses": {
                    "200": {
                        "description": "The stream.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "503": _error("Too many stream clients; poll meanwhile."),
                },
            }
        },
        "/stats/throughput": {
            "get": {
                "summary": "Finished jobs per 30 s over the last 15 minutes, and jobs/s.",
                "operationId": "throughput",
                "tags": ["read"],
                "responses": {"200": _json_response("Throughput.", _THROUGHPUT)},
            }
        },
    }


def read_model_openapi(settings: Settings) -> dict[str, object]:
    """The read model's OpenAPI 3.1 document."""
    job_detail = {
        "allOf": [
            _ref("Job"),
            {
                "type": "object",
                "required": ["attempts", "events"],
                "properties": {
                    "attempts": {"type": "integer", "minimum": 0},
                    "correlationId": {"type": "string"},
                    "startedAt": {"type": ["string", "null"]},
                    "finishedAt": {"type": ["string", "null"]},
                    "result": {},
                    "error": {"type": ["string", "null"]},
                    "errors": {
                        "description": "Every failed attempt, oldest first.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["attempt", "error", "at"],
                            "properties": {
                                "attempt": {"type": "integer", "minimum": 1},
                                "error": {"type": "string"},
                                "at": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                    "nextAttemptAt": {
                        "description": "While PENDING between attempts: when the next is due.",
                        "type": ["string", "null"],
                    },
                    "cancelRequestedAt": {"type": ["string", "null"]},
                    "events": {"type": "array", "items": _ref("EventEnvelope")},
                },
            },
        ]
    }
    paths: dict[str, object] = {
        "/health": {
            "get": {
                "summary": "Whether the read model answers, and its version.",
                "operationId": "health",
                "tags": ["operations"],
                "responses": {
                    "200": _json_response(
                        "Up.",
                        {
                            "type": "object",
                            "required": ["status", "version"],
                            "properties": {
                                "status": {"type": "string"},
                                "version": {"type": "string"},
                            },
                        },
                    )
                },
            }
        },
        "/config": {
            "get": {
                "summary": "Where the gateway is and which job types are registered.",
                "operationId": "config",
                "tags": ["operations"],
                "responses": {
                    "200": _json_response(
                        "Client configuration.",
                        {
                            "type": "object",
                            "required": ["gatewayUrl", "version", "jobTypes"],
                            "properties": {
                                "gatewayUrl": {"type": "string"},
                                "version": {"type": "string"},
                                "jobTypes": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    )
                },
            }
        },
        "/stats": {
            "get": {
                "summary": "Live counters: totals, per type, last event time.",
                "operationId": "stats",
                "tags": ["read"],
                "responses": {"200": _json_response("Counters.", _ref("Stats"))},
            }
        },
        "/jobs/recent": {
            "get": {
                "summary": "Jobs, newest first.",
                "operationId": "recentJobs",
                "tags": ["read"],
                "parameters": [
                    _limit_param(10, 500),
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": ["PENDING", "VALIDATED", "EXECUTING", "COMPLETED", "FAILED"],
                        },
                    },
                    {
                        "name": "type",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json_response("Jobs.", {"type": "array", "items": _JOB_SUMMARY}),
                    "400": _error("A query parameter is out of bounds."),
                },
            }
        },
        "/jobs/{jobId}": {
            "get": {
                "summary": "One job with its result or error and its whole event history in order.",
                "operationId": "getJob",
                "tags": ["read"],
                "parameters": [
                    {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json_response("The job.", job_detail),
                    "404": _error("No job with that id."),
                },
            }
        },
        "/events": {
            "get": {
                "summary": "The audit trail, newest first.",
                "operationId": "recentEvents",
                "tags": ["read"],
                "parameters": [
                    _limit_param(50, 500),
                    {
                        "name": "jobId",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json_response(
                        "Events.", {"type": "array", "items": _ref("EventEnvelope")}
                    ),
                    "400": _error("A query parameter is out of bounds."),
                },
            }
        },
        "/alerts": {
            "get": {
                "summary": "Active alerts (critical first) and the most recently resolved ones.",
                "operationId": "alerts",
                "tags": ["read"],
                "responses": {"200": _json_response("Alerts.", _ref("Alerts"))},
            }
        },
        "/webhooks/alertmanager": {
            "post": {
                "summary": "Alertmanager's webhook receiver: records firing and resolved alerts.",
                "operationId": "alertmanagerWebhook",
                "tags": ["alerts"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AlertmanagerWebhook")}},
                },
                "responses": {
                    "200": _json_response(
                        "Recorded.",
                        {
                            "type": "object",
                            "required": ["received"],
                            "properties": {"received": {"type": "integer", "minimum": 0}},
                        },
                    ),
                    "400": _error("Not JSON, or not an Alertmanager webhook payload."),
                    "413": _error("Payload over 1 MiB."),
                },
            }
        },
        "/dead-letters": {
            "get": {
                "summary": "Messages no consumer may process, with every reason, newest first.",
                "operationId": "deadLetters",
                "tags": ["read"],
                "parameters": [_limit_param(50, 500)],
                "responses": {
                    "200": _json_response(
                        "Dead letters.", {"type": "array", "items": _ref("DeadLetter")}
                    ),
                    "400": _error("A query parameter is out of bounds."),
                },
            }
        },
        **_live_paths(),
        **_operational_paths(),
    }
    return _secured(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Task Observatory read model",
                "version": settings.version,
                "description": "Read the state, counters and audit trail of the observatory.",
            },
            "paths": paths,
            "components": _components(),
        }
    )


def ops_openapi(service: str, version: str) -> dict[str, object]:
    """The OpenAPI 3.1 document of a service's operational endpoints."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Task Observatory {service}",
            "version": version,
            "description": f"Health and metrics of the {service}.",
        },
        "paths": _operational_paths(),
        "components": {"schemas": {}},
    }


def _render_docs(document: dict[str, object]) -> str:
    info = document.get("info", {})
    assert isinstance(info, dict)
    title = html.escape(str(info.get("title", "API")))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{title}</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#1d2433}h2{margin-top:2rem}.op{border:1px solid #d5dbe7;"
        "border-radius:10px;margin:1rem 0;padding:.5rem 1rem}.m{font-weight:700;"
        "text-transform:uppercase;margin-right:.5rem}code,pre{background:#f3f5f9;"
        "border-radius:6px;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}"
        "summary{cursor:pointer}</style></head><body>",
        f"<h1>{title} <small>{html.escape(str(info.get('version', '')))}</small></h1>",
        f"<p>{html.escape(str(info.get('description', '')))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    paths = document.get("paths", {})
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        assert isinstance(operations, dict)
        for method, operation in operations.items():
            assert isinstance(operation, dict)
            parts.append("<div class='op'>")
            parts.append(
                f"<h3><span class='m'>{html.escape(method)}</span><code>{html.escape(path)}</code></h3>"
            )
            parts.append(f"<p>{html.escape(str(operation.get('summary', '')))}</p>")
            if operation.get("description"):
                parts.append(f"<p>{html.escape(str(operation['description']))}</p>")
            parts.extend(
                f"<div>Parameter <code>{html.escape(param['name'])}</code> in "
                f"{html.escape(param['in'])}: <code>{html.escape(json.dumps(param['schema']))}</code></div>"
                for param in operation.get("parameters", [])
            )
            if "requestBody" in operation:
                parts.append(
                    "<details><summary>Request body</summary><pre>"
                    f"{html.escape(json.dumps(operation['requestBody'], indent=2))}</pre></details>"
                )
            responses = operation.get("responses", {})
            for status, response in responses.items():
                parts.append(
                    f"<details><summary>{html.escape(status)}: "
                    f"{html.escape(str(response.get('description', '')))}</summary><pre>"
                    f"{html.escape(json.dumps(response.get('content', {}), indent=2))}</pre></details>"
                )
            parts.append("</div>")
    parts.append("<h2>Schemas</h2>")
    components = document.get("components", {})
    assert isinstance(components, dict)
    for name, schema in components.get("schemas", {}).items():
        parts.append(
            f"<details><summary>{html.escape(name)}</summary><pre>"
            f"{html.escape(json.dumps(schema, indent=2))}</pre></details>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def install_docs(app: Quart, build: Callable[[], dict[str, object]]) -> None:
    """Serve ``build()`` at ``/openapi.json`` and rendered at ``/docs`` (built once)."""
    document = build()
    rendered = _render_docs(document)
    body = json.dumps(document, indent=2)

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(body, content_type="application/json")

    @app.get("/docs")
    async def docs() -> Response:
        return Response(rendered, content_type="text/html; charset=utf-8")
