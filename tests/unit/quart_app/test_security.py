"""Tokens and roles on every route, CORS, limits and the rate limit of both HTTP faces."""

from __future__ import annotations

import logging
import math
import re
import socket
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.config.tokens import Role, is_loopback, load_tokens, parse_tokens
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.errors import ConfigError
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from launcher.cli import check_exposure
from quart_app._server import HttpServer
from quart_app.auth import (
    OPEN_PATHS,
    OPEN_PREFIXES,
    TokenBook,
    TokenBucket,
    allowed,
    origin_allowed,
)
from quart_app.gateway.service import GatewayService
from quart_app.read_model.service import ReadModelService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quart import Quart

pytestmark = pytest.mark.timeout(60)

VIEWER = "viewer-token-0123456789abcdef"
SUBMITTER = "submitter-token-0123456789abcdef"
ALERTS = "alertmanager-token-0123456789abcdef"
TOKENS = {VIEWER: "viewer", SUBMITTER: "submitter", ALERTS: "alertmanager"}


class Apps:
    def __init__(self, gateway: GatewayService, read_model: ReadModelService, broker: MemoryBroker):
        self.gateway = gateway
        self.read_model = read_model
        self.broker = broker


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    settings = Settings(
        gateway_port=0,
        read_model_port=0,
        api_tokens=TOKENS,
        max_body_bytes=2048,
        rate_limit_per_s=1000.0,
        rate_limit_burst=1000.0,
    )
    broker = MemoryBroker()
    await broker.declare_topology()
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3")
        )
        gateway = GatewayService(
            broker, settings, handlers=DEFAULT_REGISTRY, dead_letters=dead, jobs=jobs
        )
        read_model = ReadModelService(
            jobs, events, dead, MemoryCounters(), settings, handlers=DEFAULT_REGISTRY
        )
        read_model.feed.max_clients = 0  # /stream answers at once (503) once let through
        async with anyio.create_task_group() as tg:
            await tg.start(gateway.publisher.run)
            await tg.start(gateway.ledger.run)
            await tg.start(gateway.confirmer.run)
            yield Apps(gateway, read_model, broker)
            gateway.publisher.request_stop()
            gateway.ledger.request_stop()
            gateway.confirmer.request_stop()


def routes(app: Quart) -> list[tuple[str, str, str]]:
    """(method, route, concrete path) of every route but the static files."""
    found: list[tuple[str, str, str]] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<\w+>", str(uuid.uuid4()), rule.rule)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        found.extend((method, rule.rule, path) for method in methods)
    return found


async def call(app: Quart, method: str, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = app.test_client()
    if method == "GET":
        response = await client.get(path, headers=headers)
    elif method == "DELETE":
        response = await client.delete(path, headers=headers)
    else:
        response = await client.post(path, json={}, headers=headers)
    return response.status_code


@pytest.mark.parametrize(
    "token", [None, VIEWER, SUBMITTER, ALERTS, "not-a-configured-token-at-all"]
)
async def test_each_role_can_do_exactly_what_it_may_on_every_route(
    apps: Apps, token: str | None
) -> None:
    role = Role(TOKENS[token]) if token in TOKENS else None
    checked = 0
    for app in (apps.gateway.http.app, apps.read_model.http.app):
        for method, route, path in routes(app):
            status = await call(app, method, path, token)
            where = f"{method} {route} as {role or token}"
            if route in OPEN_PATHS or route.startswith(OPEN_PREFIXES):
                assert status not in (401, 403), where
            elif role is None:
                assert status == 401, where
            elif allowed(role, method, route):
                assert status not in (401, 403), where
            else:
                assert status == 403, where
            checked += 1
    assert checked > 25
    # The live stream has no side door: the same rules hold.
    stream = await call(apps.read_model.http.app, "GET", "/stream", token)
    assert stream == (401 if role is None else 403 if role is Role.ALERTMANAGER else 503)


async def test_the_answers_say_what_is_missing_and_never_echo_the_token(
    apps: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = apps.gateway.http.app.test_client()
    missing = await client.post("/jobs", json={"type": "echo"})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="observatory"'
    assert "Authorization: Bearer" in (await missing.get_json())["error"]
    wrong = await client.post(
        "/jobs", json={"type": "echo"}, headers={"Authorization": "Bearer guessed-token-123456"}
    )
    assert wrong.status_code == 401
    assert "guessed-token" not in await wrong.get_data(as_text=True)
    viewer = await client.post(
        "/jobs", json={"type": "echo"}, headers={"Authorization": f"Bearer {VIEWER}"}
    )
    assert viewer.status_code == 403
    assert (await viewer.get_json())["error"] == "A viewer token may not POST /jobs."
    ok = await client.post(
        "/jobs", json={"type": "echo"}, headers={"Authorization": f"Bearer {SUBMITTER}"}
    )
    assert ok.status_code == 202
    assert all(secret not in record.getMessage() for record in caplog.records for secret in TOKENS)


def test_tokens_are_parsed_with_clear_errors_that_never_show_the_token(tmp_path: Path) -> None:
    assert parse_tokens(f"viewer:{VIEWER}, submitter:{SUBMITTER}\n# comment\n", source="x") == {
        VIEWER: Role.VIEWER,
        SUBMITTER: Role.SUBMITTER,
    }
    with pytest.raises(ConfigError, match="entry 1 is not 'role:token'"):
        parse_tokens("justatoken0123456789", source="x")
    with pytest.raises(ConfigError, match="unknown role 'admin'"):
        parse_tokens(f"admin:{VIEWER}", source="x")
    with pytest.raises(ConfigError, match="shorter than 16") as short:
        parse_tokens("viewer:tiny", source="x")
    assert "tiny" not in str(short.value)
    secret_file = tmp_path / "tokens"
    secret_file.write_text(f"submitter:{SUBMITTER}\n")
    env = {
        "OBSERVATORY_API_TOKENS": f"viewer:{VIEWER}",
        "OBSERVATORY_API_TOKENS_FILE": str(secret_file),
    }
    assert load_tokens(env) == {VIEWER: Role.VIEWER, SUBMITTER: Role.SUBMITTER}
    with pytest.raises(ConfigError, match="cannot read it"):
        load_tokens({"OBSERVATORY_API_TOKENS_FILE": str(tmp_path / "absent")})
    book = TokenBook.of({VIEWER: "viewer"})
    assert book.role_of(VIEWER) is Role.VIEWER
    assert book.role_of(VIEWER[:-1]) is None
    assert book.role_of("") is None


def test_a_non_loopback_address_without_tokens_is_refused_unless_insecure() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")
    with pytest.raises(ConfigError, match=r"Refusing to serve on 0\.0\.0\.0 without API tokens"):
        check_exposure(Settings(host="0.0.0.0"))
    assert "--insecure" in check_exposure(Settings(host="0.0.0.0", insecure=True))
    assert "API tokens off" in check_exposure(Settings(host="127.0.0.1"))
    assert "1 submitter, 1 viewer" in check_exposure(
        Settings(host="0.0.0.0", api_tokens={VIEWER: "viewer", SUBMITTER: "submitter"})
    )


async def test_cors_preflights_from_unknown_origins_are_refused(apps: Apps) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    gateway = apps.gateway.http.app.test_client()
    read_model = apps.read_model.http.app.test_client()
    for origin in ("http://127.0.0.1:8080", "http://localhost:5173", "http://[::1]:8080"):
        ok = await gateway.options("/jobs", headers={"Origin": origin, **preflight})
        assert ok.status_code == 200, origin
        assert ok.headers["Access-Control-Allow-Origin"] == origin
        assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
        assert "Access-Control-Allow-Credentials" not in ok.headers
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example", "null"):
        refused = await gateway.options("/jobs", headers={"Origin": origin, **preflight})
        assert refused.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in refused.headers
    # The launcher page, opened from disk, has the origin "null": the read model allows it.
    launcher = await read_model.options(
        "/health", headers={"Origin": "null", "Access-Control-Request-Method": "GET"}
    )
    assert launcher.status_code == 200
    assert launcher.headers["Access-Control-Allow-Origin"] == "null"
    assert origin_allowed("https://dash.example", ["https://dash.example"], allow_null=False)
    assert not origin_allowed("http://127.0.0.1:8080", ["https://dash.example"], allow_null=False)


async def test_cors_preflight_allows_patch_for_pausing_schedules(apps: Apps) -> None:
    # The dashboard pauses and resumes a schedule with PATCH /schedules/{id}, cross-origin.
    gateway = apps.gateway.http.app.test_client()
    preflight = {
        "Origin": "http://127.0.0.1:8080",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    answer = await gateway.options("/schedules/some-id", headers=preflight)
    assert answer.status_code == 200
    assert "PATCH" in answer.headers["Access-Control-Allow-Methods"]


async def test_star_with_tokens_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"=\* cannot go with API tokens"):
        GatewayService(
            MemoryBroker(),
            Settings(api_tokens=TOKENS, cors_origins=("*",)),
            handlers=DEFAULT_REGISTRY,
        )


@pytest.mark.parametrize(
    ("body", "content_type", "status", "path"),
    [
        (b"x" * 3000, "application/json", 413, None),
        (
            b'{"type": "echo", "payload": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
            "application/json",
            400,
            "/payload" + "/a" * 32,
        ),
        (b'{"type": "echo", "payload": {', "application/json", 400, ""),
        (b'{"type": "no spaces!"}', "application/json", 400, "/type"),
        (b'{"type": "' + b"t" * 51 + b'"}', "application/json", 400, "/type"),
        (b"type=echo", "application/x-www-form-urlencoded", 415, None),
    ],
)
async def test_oversize_deep_and_malformed_bodies_are_refused_and_nothing_published(
    apps: Apps, body: bytes, content_type: str, status: int, path: str | None
) -> None:
    client = apps.gateway.http.app.test_client()
    response = await client.post(
        "/jobs",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {SUBMITTER}"},
    )
    assert response.status_code == status
    document = await response.get_json()
    if path is not None:
        assert path in [d["path"] for d in document["details"]]
    assert await apps.broker.queue_depth(JOBS_CREATED) == 0


async def test_a_batch_job_over_the_per_job_size_is_refused_alone(apps: Apps) -> None:
    client = apps.gateway.http.app.test_client()
    response = await client.post(
        "/jobs/batch",
        json=[{"type": "echo", "payload": {"big": "x" * 3000}}, {"type": "echo"}],
        headers={"Authorization": f"Bearer {SUBMITTER}"},
    )
    assert response.status_code == 202
    body = await response.get_json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert "at most 2048 are accepted per job" in body["results"][0]["details"][0]["message"]
    assert await apps.broker.queue_depth(JOBS_CREATED) == 1


async def test_the_rate_limiter_answers_429_with_retry_after(tmp_path: Path) -> None:
    broker = MemoryBroker()
    await broker.declare_topology()
    gateway = GatewayService(
        broker,
        Settings(gateway_port=0, rate_limit_per_s=2.0, rate_limit_burst=3.0),
        handlers=DEFAULT_REGISTRY,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(gateway.publisher.run)
        await tg.start(gateway.ledger.run)
        await tg.start(gateway.confirmer.run)
        client = gateway.http.app.test_client()
        statuses = [
            (await client.post("/jobs", json={"type": "echo"})).status_code for _ in range(4)
        ]
        assert statuses == [202, 202, 202, 429]
        limited = await client.post("/jobs", json={"type": "echo"})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "at most 2 a second" in (await limited.get_json())["error"]
        # A batch larger than the burst can never pass at once: refused, and says why.
        batch = await client.post("/jobs/batch", json=[{"type": "echo"}] * 5)
        assert batch.status_code == 429
        assert await broker.queue_depth(JOBS_CREATED) == 3
        gateway.publisher.request_stop()
        gateway.ledger.request_stop()
        gateway.confirmer.request_stop()


def test_token_buckets_refill_at_their_rate_and_are_kept_per_client() -> None:
    now = [0.0]
    bucket = TokenBucket(10.0, 5.0, clock=lambda: now[0], max_clients=2)
    assert [bucket.take("a") for _ in range(5)] == [0.0] * 5
    assert bucket.take("a") == pytest.approx(0.1)
    assert bucket.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.3
    assert bucket.take("a", 3) == 0.0
    assert bucket.take("a", 1) > 0
    assert bucket.take("c", 50) == math.inf  # over the burst: it can never be paid at once
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)


async def test_a_stuck_client_is_dropped_and_never_holds_the_server() -> None:
    from quart import Quart, request

    app = Quart("slow")

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    @app.post("/echo")
    async def echo() -> str:
        return str(await request.get_data(as_text=True))

    server = HttpServer(app, "127.0.0.1", 0, read_timeout_s=1)
    async with anyio.create_task_group() as tg:
        await tg.start(server.run)
        stuck = socket.create_connection(("127.0.0.1", server.port))
        try:
            stuck.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            async with httpx.AsyncClient() as client:
                for _ in range(5):  # others are served meanwhile
                    assert (await client.get(f"http://127.0.0.1:{server.port}/ping")).text == "pong"
            stuck.settimeout(5.0)
            # The server gives up on it after its read timeout: the connection is closed.
            with anyio.fail_after(5):
                received = await anyio.to_thread.run_sync(stuck.recv, 4096)
            assert received == b"" or b"408" in received or b"400" in received
        finally:
            stuck.close()
            server.request_stop()
