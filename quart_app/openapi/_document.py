"""An app's OpenAPI 3.1 document, built from its routes and the contracts.

Each route carries its operation (:func:`~quart_app.openapi.operation`); the document
lists every route of the app (Quart's static files aside) under its OpenAPI path, with
its path parameters, and fails with :class:`UndocumentedRoute` on a route that carries
none. Schemas come from ``contracts/`` (the single source of truth): each contract
becomes a component, and ``$ref``s to another contract's ``$id`` are rewritten to
component refs. The bearer-token scheme and the 401/403 answers are added to every
route that needs a token when tokens are configured, the 429 to every rate-limited one.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from contracts import get_contracts
from quart_app.openapi._operation import COMPONENT_NAMES, error_response, operation_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart import Quart

__all__ = ["UndocumentedRoute", "build_document"]

_SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
"""Answered by Quart for every route; not operations of their own."""
_PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
_PARAMETER_TYPES = {None: "string", "string": "string", "int": "integer"}
_OPERATIONS_TAG = "operations"
"""Health, metrics and the documents: listed after the API's own routes."""


class UndocumentedRoute(Exception):
    """A route of the app carries no :func:`~quart_app.openapi.operation` metadata."""


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


def _contract_schemas() -> dict[str, object]:
    contracts = get_contracts()
    ids = {}
    for name, component in COMPONENT_NAMES.items():
        schema_id = contracts.schema(name).get("$id")
        if isinstance(schema_id, str):
            ids[schema_id] = component
    return {
        component: _rewrite_refs(contracts.schema(name), ids, component)
        for name, component in COMPONENT_NAMES.items()
    }


def _camel(name: str) -> str:
    return re.sub(r"_(\w)", lambda match: match[1].upper(), name)


def _openapi_path(rule: str) -> tuple[str, list[dict[str, object]]]:
    """Quart's ``/jobs/<job_id>`` as OpenAPI's ``/jobs/{jobId}``, with its parameters."""
    parameters: list[dict[str, object]] = []

    def parameter(match: re.Match[str]) -> str:
        converter, name = match[1], _camel(match[2])
        if converter not in _PARAMETER_TYPES:
            raise ValueError(f"Route {rule!r}: no OpenAPI type for converter {converter!r}.")
        schema = {"type": _PARAMETER_TYPES[converter]}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _PATH_PARAMETER.sub(parameter, rule), parameters


def _secure(path: str, operation: dict[str, object]) -> None:
    # quart_app.auth imports quart_app._common, whose routes import this package for
    # their metadata: read the open paths when a document is built, not at import.
    from quart_app.auth import OPEN_PATHS, OPEN_PREFIXES

    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return
    operation["security"] = [{"bearerAuth": []}]
    responses = operation["responses"]
    assert isinstance(responses, dict)
    responses["401"] = error_response(
        "No token, or not a valid one (only when API tokens are configured)."
    )
    responses["403"] = error_response("The token's role may not do this.")


def _rate_limited(operation: dict[str, object]) -> None:
    responses = operation["responses"]
    assert isinstance(responses, dict)
    limited = error_response(
        "Too many jobs from this client; `Retry-After` says when to send more."
    )
    limited["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    }
    responses["429"] = limited


def _paths(app: Quart, *, secured: bool) -> dict[str, object]:
    operations: list[tuple[bool, str, str, dict[str, object]]] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue  # Quart's static files: the dashboard's assets, not API operations
        metadata = operation_of(app.view_functions[rule.endpoint])
        if metadata is None:
            raise UndocumentedRoute(
                f"Route {rule.rule} (endpoint {rule.endpoint!r}) has no OpenAPI operation; "
                "decorate its view with quart_app.openapi.operation."
            )
        path, path_parameters = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - _SKIPPED_METHODS):
            document = copy.deepcopy(metadata.to_json())
            if path_parameters:
                declared = document.get("parameters", [])
                assert isinstance(declared, list)
                document["parameters"] = copy.deepcopy(path_parameters) + declared
            if secured:
                _secure(path, document)
            if metadata.rate_limited:
                _rate_limited(document)
            operational = _OPERATIONS_TAG in metadata.tags
            operations.append((operational, path, method.lower(), document))
    paths: dict[str, dict[str, object]] = {}
    # The API's own routes first, in the order the app added them; the operational last.
    for _, path, method, document in sorted(operations, key=lambda entry: entry[0]):
        paths.setdefault(path, {})[method] = document
    return dict(paths)


def build_document(
    app: Quart,
    *,
    title: str,
    version: str,
    description: str,
    servers: Sequence[str] = (),
    secured: bool,
    contract_schemas: bool,
) -> dict[str, object]:
    """The OpenAPI 3.1 document of every route ``app`` has now.

    Args:
        app: The app, with all its routes added.
        title: The document's title.
        version: The API's version (the observatory's).
        description: What the API is for.
        servers: The URLs the API is served at, when known.
        secured: The app checks bearer tokens (:func:`quart_app.auth.secure`).
        contract_schemas: Include every contract as a component.

    Raises:
        UndocumentedRoute: a route carries no operation metadata.
    """
    document: dict[str, object] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
    }
    if servers:
        document["servers"] = [{"url": url} for url in servers]
    document["paths"] = _paths(app, secured=secured)
    components: dict[str, object] = {"schemas": _contract_schemas() if contract_schemas else {}}
    if secured:
        components["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "An API token (OBSERVATORY_API_TOKENS): viewer, submitter or alertmanager."
                ),
            }
        }
    document["components"] = components
    return document
