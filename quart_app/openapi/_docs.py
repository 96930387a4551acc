"""The ``/openapi.json`` and ``/docs`` routes of an app: its document, and that rendered.

``/docs`` is Swagger UI, served from the ``swagger-ui-bundle`` package's files by the app
itself (no CDN, works offline; :mod:`quart_app.openapi._swagger`).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

from quart import Response, request

from quart_app.openapi._document import build_document
from quart_app.openapi._operation import (
    error_response,
    json_response,
    operation,
    text_response,
)
from quart_app.openapi._swagger import SWAGGER_UI_FILES, render_swagger_page, swagger_ui_file

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart import Quart

__all__ = ["SWAGGER_UI_ASSETS", "install_docs", "openapi_document"]

SWAGGER_UI_ASSETS = "/docs/swagger-ui"
"""Where ``/docs`` loads Swagger UI's script and stylesheet from (open, like ``/docs``)."""

_EXTENSION = "openapi"
"""Where :func:`install_docs` keeps the document, in ``app.extensions``."""


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
        summary="This document in Swagger UI: read it, authorize, try the routes out.",
        tags=["operations"],
        responses={200: text_response("HTML.", "text/html")},
    )
    async def docs() -> Response:
        return Response(rendered, content_type="text/html; charset=utf-8")

    @app.get(SWAGGER_UI_ASSETS + "/<name>")
    @operation(
        "docsAsset",
        summary="A file of Swagger UI, for the /docs page.",
        tags=["operations"],
        responses={
            200: {
                "description": "The file.",
                "content": {
                    media.split(";")[0]: {"schema": {"type": "string"}}
                    for media in SWAGGER_UI_FILES.values()
                },
            },
            404: error_response("Not a file of the page."),
        },
    )
    async def docs_asset(name: str) -> Response | tuple[Response, int]:
        # quart_app._common imports this package for its routes' metadata: import late.
        from quart_app._common import json_error

        if name not in SWAGGER_UI_FILES:
            return json_error(404, f"{name!r} is not a file of the /docs page.")
        response = Response(swagger_ui_file(name), content_type=SWAGGER_UI_FILES[name])
        response.headers["Cache-Control"] = "public, max-age=86400"
        await response.add_etag()
        return await response.make_conditional(request)

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
    rendered = render_swagger_page(document, assets=SWAGGER_UI_ASSETS)
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
