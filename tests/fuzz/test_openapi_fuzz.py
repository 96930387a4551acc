"""Issue 9 (part 4): schemathesis against the gateway's and the read model's OpenAPI documents.

Each app runs in this process, served by Hypercorn on a free loopback port from a
blocking portal (its own event loop in a thread), with the actors its routes need: the
gateway's publisher over the in-memory broker with SQLite job and dead-letter stores,
the read model's live feed over SQLite stores and ``MemoryCounters``. Schemathesis'
ASGI transport is not used: it runs the app in an event loop of its own per call, apart
from the loop where the actors and the aiosqlite connections live.

Every operation gets a bounded number of generated requests (valid and invalid); each
response must not be a 5xx, must carry a documented status code and content type, and
its body must match the documented schema.
"""

from __future__ import annotations

import gc
import warnings
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from actors.broker.memory import MemoryBroker
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from quart_app.gateway.proxy import ProxyConfig
from quart_app.gateway.service import GatewayService
from quart_app.read_model.queues import MemoryQueueInspector
from quart_app.read_model.service import ReadModelService
from tests.fuzz.openapi_documents import gateway_document, read_model_document

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from schemathesis import Case

_TIMEOUT = pytest.mark.timeout(120)

# Quart (0.22, with aiofiles) now and then leaves the file behind a static page (/,
# /launcher.html) to the garbage collector when the connection closes right after the
# response: a ResourceWarning, which filterwarnings=error turns into a failure of
# whichever test runs when it is collected. Not ours to fix here (issue 9 report):
# ignored for those files only, and collected before this module's servers go away.
pytestmark = [
    _TIMEOUT,
    pytest.mark.filterwarnings(
        "ignore:unclosed file <_io.BufferedReader name='[^']*quart_app/web/:ResourceWarning"
    ),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <_io.FileIO name='[^']*quart_app/web/"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(autouse=True, scope="module")
def _collect_leftover_static_files() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


MAX_EXAMPLES = 25
# Typed loosely: schemathesis' check types differ between its 4.x releases.
CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@asynccontextmanager
async def serve_gateway(tmp_path: Path) -> AsyncIterator[str]:
    """The gateway with its publisher and stores, served on a free port; yields its URL."""
    async with AsyncExitStack() as stack:
        broker = MemoryBroker()
        await broker.declare_topology()
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "gj.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "gd.sqlite3")
        )
        # The compatibility routes (/proxy/*) ask a real read model.
        read_model = await stack.enter_async_context(serve_read_model(tmp_path))
        service = GatewayService(
            broker,
            Settings(gateway_port=0, publish_timeout_s=2.0),
            handlers=DEFAULT_REGISTRY,
            dead_letters=dead,
            jobs=jobs,
            proxy=ProxyConfig(lambda: read_model),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            yield f"http://127.0.0.1:{service.http.port}"
            service.request_stop()


@asynccontextmanager
async def serve_read_model(tmp_path: Path) -> AsyncIterator[str]:
    """The read model with its live feed over SQLite stores, on a free port; yields its URL."""
    async with AsyncExitStack() as stack:
        jobs = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "rj.sqlite3"))
        events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "re.sqlite3"))
        dead = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "rd.sqlite3")
        )
        broker = MemoryBroker()
        await broker.declare_topology()
        service = ReadModelService(
            jobs,
            events,
            dead,
            MemoryCounters(),
            Settings(read_model_port=0, shutdown_s=2.0),
            handlers=DEFAULT_REGISTRY,
            queues=MemoryQueueInspector(broker),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            yield f"http://127.0.0.1:{service.http.port}"
            service.request_stop()


def _schema(url: str) -> schemathesis.BaseSchema:
    document = httpx.get(f"{url}/openapi.json", timeout=10).json()
    document["servers"] = [{"url": url}]
    # /stream is an endless Server-Sent Events stream: a fuzzed call would never end.
    # It is driven on its own (200 and 503) in test_openapi_status_codes.py.
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=url)
    return schema


@pytest.fixture(scope="module")
def gateway_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    tmp_path = tmp_path_factory.mktemp("gateway")
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve_gateway(tmp_path)) as url,
    ):
        yield _schema(url)


@pytest.fixture(scope="module")
def read_model_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[schemathesis.BaseSchema]:
    tmp_path = tmp_path_factory.mktemp("read-model")
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve_read_model(tmp_path)) as url,
    ):
        yield _schema(url)


def _operations(document: dict[str, object]) -> list[tuple[str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path != "/stream"
        for method in operations
    ]


# The documents the apps serve, built the same way (the fixtures load the served ones).
GATEWAY_OPERATIONS = _operations(gateway_document(Settings()))
READ_MODEL_OPERATIONS = _operations(read_model_document(Settings()))


def _fuzz(schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    operation = schema[path][method]
    # Valid requests, and requests that break the document (wrong types, missing or
    # extra fields, out-of-range queries): both must be answered as documented.
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    # schemathesis' pytest plugin (``from_fixture``) does not run on this pytest, so each
    # operation gets its own hypothesis test here.
    @settings(max_examples=MAX_EXAMPLES)
    @given(case=cases)
    def check(case: Case[Any]) -> None:  # schemathesis types a case by its spec
        case.call_and_validate(checks=CHECKS, timeout=10)

    check()


@pytest.mark.parametrize(("method", "path"), GATEWAY_OPERATIONS)
def test_gateway_answers_every_request_as_documented(
    gateway_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    _fuzz(gateway_schema, method, path)


@pytest.mark.parametrize(("method", "path"), READ_MODEL_OPERATIONS)
def test_read_model_answers_every_request_as_documented(
    read_model_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    _fuzz(read_model_schema, method, path)
