"""OpenAPI 3.1 documents of the HTTP apps, built from their routes, and ``/docs``.

Each route carries its own operation, written beside it with :func:`operation` and the
helpers here (contract refs, JSON and error responses, parameters). :func:`install_docs`,
called once every route is added, builds the app's document from its routes and the
contracts (``contracts/schemas``) and serves it at ``/openapi.json`` and ``/docs``;
a route without an operation fails it (:class:`UndocumentedRoute`).
"""

from __future__ import annotations

from quart_app.openapi._docs import install_docs, openapi_document
from quart_app.openapi._document import UndocumentedRoute, build_document
from quart_app.openapi._operation import (
    COMPONENT_NAMES,
    Operation,
    error_response,
    header_param,
    json_body,
    json_response,
    limit_param,
    operation,
    operation_of,
    query_param,
    schema_ref,
    text_response,
)

__all__ = [
    "COMPONENT_NAMES",
    "Operation",
    "UndocumentedRoute",
    "build_document",
    "error_response",
    "header_param",
    "install_docs",
    "json_body",
    "json_response",
    "limit_param",
    "openapi_document",
    "operation",
    "operation_of",
    "query_param",
    "schema_ref",
    "text_response",
]
