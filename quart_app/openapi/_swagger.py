"""The ``/docs`` page: Swagger UI, served from the files of the ``swagger-ui-bundle`` package.

Nothing comes from the internet: the page, its script and its stylesheet are served by
the app itself (``/docs/swagger-ui/<name>``), the document is embedded in the page, and
Swagger UI's online validator is turned off. "Try it out" calls the same origin the page
came from, with the token given under *Authorize* (``bearerAuth``).

The Swagger UI that ``swagger-ui-bundle`` ships (4.15) reads OpenAPI 3.0 only, while the
apps' documents are OpenAPI 3.1 (``/openapi.json``, unchanged). The page therefore gets a
3.0 rendering of the document (:func:`openapi_30`): JSON Schema's ``type`` lists become
``nullable`` or ``anyOf``, ``const`` becomes a one-value ``enum``, a numeric
``exclusiveMinimum`` / ``exclusiveMaximum`` becomes the 3.0 boolean form, a list of
``examples`` becomes one ``example``; ``servers`` is left out, so that requests go to
the origin that served the page.
"""

from __future__ import annotations

import copy
import functools
import html
import json
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

__all__ = [
    "SWAGGER_UI_FILES",
    "openapi_30",
    "render_swagger_page",
    "swagger_ui_dir",
    "swagger_ui_file",
]

SWAGGER_UI_FILES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The files of the bundle the page uses (the only ones served), with their media types."""

_NAME_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "definitions",
        "$defs",
        "schemas",
        "paths",
        "responses",
        "headers",
        "content",
        "securitySchemes",
        "parameters",
        "requestBodies",
        "callbacks",
        "links",
        "encoding",
        "variables",
    }
)
"""Keys whose value maps names to objects: its keys are names, never JSON Schema keywords."""


def swagger_ui_dir() -> Path:
    """The folder of the installed Swagger UI files."""
    return Path(str(swagger_ui_path))


@functools.cache
def swagger_ui_file(name: str) -> bytes:
    """The bytes of one of :data:`SWAGGER_UI_FILES`, read once and kept.

    Served from memory, the page's two files (about 1.5 MB) leave no file handle open
    when a client drops the connection mid-body.
    """
    if name not in SWAGGER_UI_FILES:
        raise KeyError(name)
    return (swagger_ui_dir() / name).read_bytes()


def _schema_keywords(node: dict[str, object]) -> None:
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        if "null" in kind:
            node["nullable"] = True
        if len(types) == 1:
            node["type"] = types[0]
        else:
            del node["type"]
            if types:
                node["anyOf"] = [{"type": t} for t in types]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[bound] = value
            node[exclusive] = True
    examples = node.get("examples")
    if isinstance(examples, list):
        del node["examples"]
        if examples:
            node.setdefault("example", examples[0])


def _convert(node: object, *, names: bool = False) -> object:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    if not names:
        _schema_keywords(node)
    for key, value in node.items():
        node[key] = _convert(value, names=not names and key in _NAME_MAPS)
    return node


def openapi_30(document: dict[str, object]) -> dict[str, object]:
    """An OpenAPI 3.0 rendering of the 3.1 ``document``, for Swagger UI 4 (a copy)."""
    converted = copy.deepcopy(document)
    converted.pop("servers", None)
    converted.pop("jsonSchemaDialect", None)
    converted.pop("webhooks", None)
    out = _convert(converted)
    assert isinstance(out, dict)
    out["openapi"] = "3.0.3"
    return out


def render_swagger_page(document: dict[str, object], *, assets: str) -> str:
    """The ``/docs`` page of ``document``, loading Swagger UI's files from ``assets``."""
    info = document.get("info", {})
    title = html.escape(str(info.get("title", "API")) if isinstance(info, dict) else "API")
    # Embedded in a <script> element: "</" must not close it early.
    spec = json.dumps(openapi_30(document)).replace("</", "<\\/")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='stylesheet' href='{assets}/swagger-ui.css'>"
        f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>"
        "</head><body>"
        "<p style='font:14px system-ui,sans-serif;margin:1rem 2rem'>Machine-readable "
        "(OpenAPI 3.1): <a href='/openapi.json'>/openapi.json</a>. Routes marked with a lock "
        "need a token: <b>Authorize</b>, then <b>Try it out</b>.</p>"
        "<div id='swagger-ui'></div>"
        f"<script id='openapi-document' type='application/json'>{spec}</script>"
        f"<script src='{assets}/swagger-ui-bundle.js'></script>"
        "<script>window.ui = SwaggerUIBundle({"
        "spec: JSON.parse(document.getElementById('openapi-document').textContent),"
        "dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null,"
        "displayRequestDuration: true,"
        "presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout'});</script>"
        "</body></html>"
    )
