"""The OpenAPI metadata a route carries, written beside it with :func:`operation`.

A route says what it does, what it accepts and what it answers; its path, method and
path parameters come from the route itself when the document is built
(:mod:`quart_app.openapi._document`). The helpers below write the pieces that recur:
a reference to a contract's component, a JSON response, an error response, parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from contracts import SchemaName

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "COMPONENT_NAMES",
    "Operation",
    "error_response",
    "header_param",
    "json_body",
    "json_response",
    "limit_param",
    "operation",
    "operation_of",
    "query_param",
    "schema_ref",
    "text_response",
]

COMPONENT_NAMES = {
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
"""The contracts (``contracts/schemas``) in every API document, by component name."""

_ATTRIBUTE = "__openapi_operation__"
"""Where :func:`operation` keeps its :class:`Operation` on the view function."""

View = TypeVar("View", bound="Callable[..., object]")


@dataclass(frozen=True, slots=True)
class Operation:
    """What the document says about one route; its path and method are the route's."""

    operation_id: str
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[str, Mapping[str, object]]
    """By status code."""
    description: str | None = None
    parameters: tuple[Mapping[str, object], ...] = ()
    """Query and header parameters (path parameters come from the route)."""
    request_body: Mapping[str, object] | None = None
    rate_limited: bool = False
    """Under the per-client rate limit: the document adds its 429."""

    def to_json(self) -> dict[str, object]:
        """The OpenAPI operation object, without path parameters and security."""
        document: dict[str, object] = {"summary": self.summary}
        if self.description is not None:
            document["description"] = self.description
        document["operationId"] = self.operation_id
        document["tags"] = list(self.tags)
        if self.parameters:
            document["parameters"] = [dict(parameter) for parameter in self.parameters]
        if self.request_body is not None:
            document["requestBody"] = dict(self.request_body)
        document["responses"] = {status: dict(r) for status, r in self.responses.items()}
        return document


def operation(
    operation_id: str,
    *,
    summary: str,
    tags: Sequence[str],
    responses: Mapping[int, Mapping[str, object]],
    description: str | None = None,
    parameters: Sequence[Mapping[str, object]] = (),
    request_body: Mapping[str, object] | None = None,
    rate_limited: bool = False,
) -> Callable[[View], View]:
    """Document the route it decorates (put it under the route's own decorator).

    Args:
        operation_id: The operation's unique id in its document.
        summary: One line saying what the route does.
        tags: Where the route is grouped.
        responses: Every status the route answers, each with its description and body.
        description: More than the summary says, when there is more to say.
        parameters: Query and header parameters (path parameters come from the route).
        request_body: What the route reads, see :func:`json_body`.
        rate_limited: The route takes from the per-client rate limit.
    """
    metadata = Operation(
        operation_id=operation_id,
        summary=summary,
        tags=tuple(tags),
        responses={str(status): response for status, response in responses.items()},
        description=description,
        parameters=tuple(parameters),
        request_body=request_body,
        rate_limited=rate_limited,
    )

    def attach(view: View) -> View:
        setattr(view, _ATTRIBUTE, metadata)
        return view

    return attach


def operation_of(view: Callable[..., object]) -> Operation | None:
    """The metadata :func:`operation` put on ``view``, if any."""
    metadata = getattr(view, _ATTRIBUTE, None)
    return metadata if isinstance(metadata, Operation) else None


def schema_ref(name: SchemaName) -> dict[str, object]:
    """A reference to contract ``name``'s component."""
    return {"$ref": f"#/components/schemas/{COMPONENT_NAMES[name]}"}


def json_response(description: str, schema: Mapping[str, object]) -> dict[str, object]:
    """A response with a JSON body matching ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, object]:
    """A response with an ``error.json`` body."""
    return json_response(description, schema_ref(SchemaName.ERROR))


def text_response(description: str, media_type: str) -> dict[str, object]:
    """A response whose body is text of ``media_type`` (HTML, metrics, an event stream)."""
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def json_body(schema: Mapping[str, object], *, required: bool = True) -> dict[str, object]:
    """A JSON request body matching ``schema``."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def query_param(name: str, schema: Mapping[str, object]) -> dict[str, object]:
    """An optional query parameter ``name``."""
    return {"name": name, "in": "query", "required": False, "schema": schema}


def header_param(name: str, schema: Mapping[str, object]) -> dict[str, object]:
    """An optional request header ``name``."""
    return {"name": name, "in": "header", "required": False, "schema": schema}


def limit_param(default: int, maximum: int) -> dict[str, object]:
    """The ``limit`` query parameter: how many items, ``1`` to ``maximum``."""
    return query_param(
        "limit", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}
    )
