"""The OpenAPI document built from an app's routes (quart_app/openapi/)."""

from __future__ import annotations

import json
import re

import pytest
from quart import Quart, Response

from actors.observability.prometheus import create_registry
from contracts import SchemaName
from quart_app.openapi import (
    UndocumentedRoute,
    error_response,
    install_docs,
    json_response,
    limit_param,
    openapi_document,
    operation,
    operation_of,
    schema_ref,
)
from quart_app.openapi._swagger import openapi_30
from quart_app.ops import create_ops_app

pytestmark = pytest.mark.timeout(20)

_OK = {200: json_response("Fine.", {"type": "object"})}
_NONE = error_response("No such thing.")


def _app() -> Quart:
    """An app with a documented route of each kind the builder treats differently."""
    app = Quart("openapi-test")

    @app.get("/things/<thing_id>")
    @operation(
        "getThing",
        summary="One thing.",
        tags=["things"],
        parameters=[limit_param(5, 50)],
        responses={200: json_response("The thing.", schema_ref(SchemaName.JOB)), 404: _NONE},
    )
    async def get_thing(thing_id: str) -> Response:
        return Response(thing_id)

    @app.post("/things")
    @operation("addThing", summary="Add one.", tags=["things"], responses=_OK, rate_limited=True)
    async def add_thing() -> Response:
        return Response("")

    @app.get("/health")  # open: no token needed (quart_app.auth.OPEN_PATHS)
    @operation("health", summary="Up.", tags=["operations"], responses=_OK)
    async def health() -> Response:
        return Response("")

    return app


def _install(app: Quart, *, secured: bool = True) -> dict[str, object]:
    install_docs(
        app,
        title="Things",
        version="1.0",
        description="Things to test.",
        servers=["http://things.example"],
        secured=secured,
        contract_schemas=secured,
    )
    return openapi_document(app)


def test_a_route_without_an_operation_fails_the_document() -> None:
    app = _app()

    @app.delete("/things/<thing_id>")
    async def drop_thing(thing_id: str) -> Response:
        return Response(thing_id)

    with pytest.raises(
        UndocumentedRoute,
        match=r"^Route /things/<thing_id> \(endpoint 'drop_thing'\) has no OpenAPI operation; "
        r"decorate its view with quart_app\.openapi\.operation\.$",
    ):
        _install(app)


def test_every_route_is_listed_under_its_openapi_path_with_its_path_parameters() -> None:
    document = _install(_app())
    paths = document["paths"]
    assert isinstance(paths, dict)
    # The API's routes in the order they were added, the operational ones after them.
    assert list(paths) == [
        "/things/{thingId}",
        "/things",
        "/health",
        "/openapi.json",
        "/docs",
        "/docs/swagger-ui/{name}",
    ]
    assert {path: list(ops) for path, ops in paths.items()} == {
        "/things/{thingId}": ["get"],  # no HEAD or OPTIONS
        "/things": ["post"],
        "/health": ["get"],
        "/openapi.json": ["get"],
        "/docs": ["get"],
        "/docs/swagger-ui/{name}": ["get"],
    }
    get_thing = paths["/things/{thingId}"]["get"]
    assert get_thing["operationId"] == "getThing"
    assert get_thing["parameters"] == [
        {"name": "thingId", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
        },
    ]
    assert get_thing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Job"
    }
    assert document["servers"] == [{"url": "http://things.example"}]


def test_routes_needing_a_token_say_so_and_rate_limited_ones_answer_429() -> None:
    document = _install(_app())
    paths = document["paths"]
    assert isinstance(paths, dict)
    get_thing, add_thing = paths["/things/{thingId}"]["get"], paths["/things"]["post"]
    assert get_thing["security"] == [{"bearerAuth": []}]
    assert sorted(get_thing["responses"]) == ["200", "401", "403", "404"]
    assert sorted(add_thing["responses"]) == ["200", "401", "403", "429"]
    assert add_thing["responses"]["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    for open_path in ("/health", "/openapi.json", "/docs"):
        assert "security" not in paths[open_path]["get"]
        assert sorted(paths[open_path]["get"]["responses"]) == ["200"]
    components = document["components"]
    assert isinstance(components, dict)
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # Every contract is a component, its own $id and $schema dropped, its refs rewritten.
    assert set(components["schemas"]) >= {"Job", "JobSubmission", "Error", "EventEnvelope"}
    text = json.dumps(components["schemas"])
    assert '"$id"' not in text
    assert '"$schema"' not in text
    assert all(
        ref.startswith("#/components/schemas/") for ref in re.findall(r'"\$ref": "([^"]*)"', text)
    )


def test_an_unsecured_document_has_no_security_and_no_contracts() -> None:
    document = _install(_app(), secured=False)
    paths = document["paths"]
    assert isinstance(paths, dict)
    assert all("security" not in op for ops in paths.values() for op in ops.values())
    assert "401" not in paths["/things/{thingId}"]["get"]["responses"]
    assert "429" in paths["/things"]["post"]["responses"]  # the rate limit needs no token
    assert document["components"] == {"schemas": {}}


async def test_the_app_serves_its_document_and_renders_it() -> None:
    app = _app()
    document = _install(app)
    client = app.test_client()
    assert await (await client.get("/openapi.json")).get_json() == document
    page = await (await client.get("/docs")).get_data(as_text=True)
    assert "<title>Things</title>" in page
    # Swagger UI from the app's own files, never from elsewhere.
    assert re.findall(r"(?:src|href)='([^']*)'", page) == [
        "/docs/swagger-ui/swagger-ui.css",
        "/docs/swagger-ui/favicon-32x32.png",
        "/openapi.json",
        "/docs/swagger-ui/swagger-ui-bundle.js",
    ]
    assert "validatorUrl: null" in page
    embedded = re.search(
        r"<script id='openapi-document' type='application/json'>(.*?)</script>", page
    )
    assert embedded is not None
    spec = json.loads(embedded[1])
    assert spec["openapi"] == "3.0.3"
    assert "servers" not in spec  # "try it out" calls the page's own origin
    assert spec["paths"]["/things/{thingId}"]["get"]["summary"] == "One thing."
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"):
        asset = await client.get(f"/docs/swagger-ui/{name}")
        assert asset.status_code == 200, name
        assert len(await asset.get_data()) > 0
    for name in ("index.html", "swagger-ui.js.map", "..%2Fswagger-ui.css"):
        assert (await client.get(f"/docs/swagger-ui/{name}")).status_code == 404, name


def test_swagger_ui_gets_an_openapi_30_rendering_of_the_31_document() -> None:
    document: dict[str, object] = {
        "openapi": "3.1.0",
        "servers": [{"url": "http://elsewhere.example"}],
        "paths": {},
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "properties": {
                        # property names that are keywords stay names
                        "type": {"type": ["string", "null"]},
                        "const": {"const": "x"},
                        "size": {"type": ["integer", "string"], "exclusiveMinimum": 0},
                        "when": {"type": "string", "examples": ["2026-01-01T00:00:00Z"]},
                    },
                }
            }
        },
    }
    converted = openapi_30(document)
    assert converted["openapi"] == "3.0.3"
    assert "servers" not in converted
    assert converted["components"]["schemas"]["Thing"]["properties"] == {  # type: ignore[index]
        "type": {"type": "string", "nullable": True},
        "const": {"enum": ["x"]},
        "size": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 0,
            "exclusiveMinimum": True,
        },
        "when": {"type": "string", "example": "2026-01-01T00:00:00Z"},
    }
    assert document["openapi"] == "3.1.0"  # the original is left alone


def test_the_view_keeps_its_operation_and_the_document_is_a_copy() -> None:
    app = _app()
    metadata = operation_of(app.view_functions["get_thing"])
    assert metadata is not None
    assert metadata.operation_id == "getThing"
    assert operation_of(lambda: None) is None
    document = _install(app)
    document["paths"] = {}
    assert openapi_document(app)["paths"] != {}


def test_an_app_without_docs_has_no_document() -> None:
    with pytest.raises(LookupError, match=r"^App 'openapi-test' serves no OpenAPI document\.$"):
        openapi_document(_app())


def test_a_path_converter_without_an_openapi_type_is_refused() -> None:
    app = Quart("openapi-test")

    @app.get("/files/<path:name>")
    @operation("file", summary="A file.", tags=["files"], responses=_OK)
    async def file(name: str) -> Response:
        return Response(name)

    with pytest.raises(ValueError, match=r"^Route '/files/<path:name>': no OpenAPI type"):
        _install(app)


def test_the_ops_app_documents_its_operational_routes_only() -> None:
    app = create_ops_app(
        "processor", "1.2.3", registry=create_registry(), health=list, ready=lambda: True
    )
    document = openapi_document(app)
    assert document["info"] == {
        "title": "Task Observatory processor",
        "version": "1.2.3",
        "description": "Health and metrics of the processor.",
    }
    paths = document["paths"]
    assert isinstance(paths, dict)
    assert list(paths) == [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/swagger-ui/{name}",
    ]
    assert document["components"] == {"schemas": {}}
    assert "servers" not in document
