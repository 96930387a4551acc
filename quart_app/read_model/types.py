"""``GET /types`` on the read model: the job types its handlers serve, with their options.

Clients build their New Task forms from it (the web dashboard and the TUI offer the
types and show each one's payload schema as a hint). One entry per registered type,
sorted by type::

    {"type": "fetch-page", "description": "Fetch a page on the event loop: ...",
     "mode": "async", "payloadSchema": {...} | null, "timeoutS": 15 | null,
     "maxAttempts": 3 | null, "retryBackoffS": 0.5 | null, "concurrency": 8 | null,
     "rateLimitPerS": 5 | null}

``null`` options mean "the processor's setting". The read model answers for the
handlers it was given: every app of ``observatory up --app``, or ``observatory serve
read-model --app`` (without ``--app``: the built-in types).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from quart import Response, jsonify

from actors.domain.handlers import HandlerMode
from quart_app.openapi import json_response, operation

if TYPE_CHECKING:
    from quart import Quart

    from actors.domain.handlers import HandlerRegistry, RegisteredHandler

__all__ = ["JOB_TYPES_SCHEMA", "install_types_route", "type_info"]

_OPTIONAL_NUMBER: dict[str, object] = {"type": ["number", "null"], "exclusiveMinimum": 0}
JOB_TYPES_SCHEMA: dict[str, object] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": [
            "type",
            "description",
            "mode",
            "payloadSchema",
            "timeoutS",
            "maxAttempts",
            "retryBackoffS",
            "concurrency",
            "rateLimitPerS",
        ],
        "properties": {
            "type": {"type": "string"},
            "description": {
                "description": "The first paragraph of the handler's docstring.",
                "type": ["string", "null"],
            },
            "mode": {
                "description": "Where it runs: on the loop, in a worker thread or process.",
                "type": "string",
                "enum": [mode.value for mode in HandlerMode],
            },
            "payloadSchema": {
                "description": "The JSON Schema every payload must match; null: any object.",
                "type": ["object", "null"],
            },
            "timeoutS": _OPTIONAL_NUMBER,
            "maxAttempts": {"type": ["integer", "null"], "minimum": 1},
            "retryBackoffS": {"type": ["number", "null"], "minimum": 0},
            "concurrency": {"type": ["integer", "null"], "minimum": 1},
            "rateLimitPerS": {
                "description": "At most this many jobs of the type start per second, across "
                "every processor (`rate_limit`); null: no limit.",
                **_OPTIONAL_NUMBER,
            },
        },
    },
}
"""The body of ``GET /types``."""


def type_info(registered: RegisteredHandler) -> dict[str, object]:
    """One entry of ``GET /types``."""
    doc = inspect.getdoc(registered.run)
    schema = registered.payload_schema
    return {
        "type": registered.job_type,
        "description": doc.split("\n\n", 1)[0].replace("\n", " ") if doc else None,
        "mode": registered.mode.value,
        "payloadSchema": None if schema is None else schema.schema,
        "timeoutS": registered.timeout_s,
        "maxAttempts": registered.max_attempts,
        "retryBackoffS": registered.retry_backoff_s,
        "concurrency": registered.concurrency,
        "rateLimitPerS": registered.rate_limit,
    }


def install_types_route(app: Quart, handlers: HandlerRegistry) -> None:
    """Add ``GET /types`` to the read model ``app``, answering for ``handlers``."""

    @app.get("/types")
    @operation(
        "jobTypes",
        summary="The registered job types, each with its payload schema and options.",
        description=(
            "One entry per type the handlers given to this read model serve (the built-in "
            "ones and every `--app`), sorted by type: where it runs (`async`, `thread`, "
            "`process`), its `payloadSchema` (a JSON Schema, or null), and its per-type "
            "options; a null option is the processor's setting."
        ),
        tags=["read"],
        responses={200: json_response("The job types.", JOB_TYPES_SCHEMA)},
    )
    async def job_types() -> Response:
        found = (handlers.find(job_type) for job_type in handlers.types())
        return jsonify([type_info(registered) for registered in found if registered])
