"""The hooks every service's app shares (quart_app/_common.py)."""

from __future__ import annotations

from quart import Quart, Response, jsonify

from tests.unit.quart_app.read_model.bare_app import bare_read_model_app


async def test_a_small_answer_is_sent_without_a_timeout_task_and_a_large_one_keeps_it() -> None:
    app = Quart("test")
    sent_with: dict[str, object] = {}

    # Registered first, so it runs after the common hooks (Quart runs them in reverse).
    @app.after_request
    async def record(response: Response) -> Response:
        sent_with[str(response.content_length)] = response.timeout
        return response

    bare_read_model_app(app)

    @app.get("/small")
    async def small() -> Response:
        return jsonify({"ok": True})

    @app.get("/large")
    async def large() -> Response:
        return jsonify({"data": "x" * 20_000})

    client = app.test_client()
    small_length = (await client.get("/small")).content_length
    large_length = (await client.get("/large")).content_length

    # None: Quart awaits the sending directly; Ellipsis: under its RESPONSE_TIMEOUT, in an
    # asyncio.wait_for task.
    assert sent_with == {str(small_length): None, str(large_length): Ellipsis}
