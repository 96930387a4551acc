"""The ``/openapi.json`` and ``/docs`` routes of an app: its document, and that rendered.

``/docs`` is plain server-rendered HTML (no CDN, works offline).
"""

from __future__ import annotations

import copy
import html
import json
from typing import TYPE_CHECKING

from quart import Response

from quart_app.openapi._document import build_document
from quart_app.openapi._operation import json_response, operation, text_response

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart import Quart

__all__ = ["install_docs", "openapi_document"]

_EXTENSION = "openapi"
"""Where :func:`install_docs` keeps the document, in ``app.extensions``."""


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
        for method, op in operations.items():
            assert isinstance(op, dict)
            parts.append("<div class='op'>")
            parts.append(
                f"<h3><span class='m'>{html.escape(method)}</span><code>{html.escape(path)}</code></h3>"
            )
            parts.append(f"<p>{html.escape(str(op.get('summary', '')))}</p>")
            if op.get("description"):
                parts.append(f"<p>{html.escape(str(op['description']))}</p>")
            parts.extend(
                f"<div>Parameter <code>{html.escape(param['name'])}</code> in "
                f"{html.escape(param['in'])}: <code>{html.escape(json.dumps(param['schema']))}</code></div>"
                for param in op.get("parameters", [])
            )
            if "requestBody" in op:
                parts.append(
                    "<details><summary>Request body</summary><pre>"
                    f"{html.escape(json.dumps(op['requestBody'], indent=2))}</pre></details>"
                )
            responses = op.get("responses", {})
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


def install_docs(
    app: Quart,
    *,
    title: str,
    version: str,
    description: str,
    servers: Sequence[str] = (),
    secured: bool,
    contract_schemas: bool,
) -> None:
    """Serve ``app``'s document at ``/openapi.json``, and rendered at ``/docs``.

    Call it after every other route is added: the document is built here, once, from the
    routes ``app`` has (see :func:`~quart_app.openapi.build_document` for the arguments).

    Raises:
        UndocumentedRoute: a route carries no operation metadata.
    """

    @app.get("/openapi.json")
    @operation(
        "openapi",
        summary="This document.",
        tags=["operations"],
        responses={200: json_response("OpenAPI 3.1 document.", {"type": "object"})},
    )
    async def openapi_json() -> Response:
        return Response(body, content_type="application/json")

    @app.get("/docs")
    @operation(
        "docs",
        summary="This document, rendered as HTML.",
        tags=["operations"],
        responses={200: text_response("HTML.", "text/html")},
    )
    async def docs() -> Response:
        return Response(rendered, content_type="text/html; charset=utf-8")

    # Built once these two routes are added, so that it lists them too.
    document = build_document(
        app,
        title=title,
        version=version,
        description=description,
        servers=servers,
        secured=secured,
        contract_schemas=contract_schemas,
    )
    app.extensions[_EXTENSION] = document
    rendered = _render_docs(document)
    body = json.dumps(document, indent=2)


def openapi_document(app: Quart) -> dict[str, object]:
    """The document ``app`` serves at ``/openapi.json`` (a copy).

    Raises:
        LookupError: ``app`` has no documents (:func:`install_docs` was not called).
    """
    try:
        document = app.extensions[_EXTENSION]
    except KeyError:
        raise LookupError(f"App {app.name!r} serves no OpenAPI document.") from None
    assert isinstance(document, dict)
    return copy.deepcopy(document)
