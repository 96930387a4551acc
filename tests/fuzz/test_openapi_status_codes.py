"""Issue 9 (part 4): every status code the OpenAPI documents promise is reachable.

``REACHABLE`` holds, for every documented (method, path, status), a crafted request that
gets that status from an app in a given state (``Variant``). A code added to a document
without an entry here fails ``test_every_documented_status_code_has_a_crafted_request``;
each entry is then sent over HTTP to the app (served on a free loopback port, as in
production) and must come back with its status, and with a JSON error body that matches
the documented schema where the document says ``application/json``.
"""

from __future__ import annotations

import enum
import gc
import json
import socket
import uuid
import warnings
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import utc_now, wall_clock
from actors.domain.dead_letters import DeadLetter
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.schedules import apply_changes
from actors.domain.submissions import (
    Fingerprint,
    IdempotencyAnswer,
    IdempotencyClaim,
    Submission,
    later,
    request_fingerprint,
)
from actors.errors import StoreUnavailable, ValidationIssue
from actors.stores.memory import MemoryCounters
from actors.stores.sqlite import (
    open_sqlite_dead_letter_store,
    open_sqlite_event_store,
    open_sqlite_job_store,
)
from contracts import SchemaName, get_contracts
from quart_app.gateway.proxy import ProxyConfig
from quart_app.gateway.service import GatewayService
from quart_app.read_model.queues import MemoryQueueInspector
from quart_app.read_model.service import ReadModelService
from tests.fuzz.openapi_documents import gateway_document, read_model_document

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping
    from pathlib import Path

    from anyio.abc import SocketStream

    from actors.stores import DeadLetterStore, JobStore
    from actors.stores.workers import WorkerSighting

_TIMEOUT = pytest.mark.timeout(60)

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


PENDING_JOB = "0b6f5c56-41a4-4d8b-9bd2-0d1c7e6b4a10"
DONE_JOB = "1c7f6d67-52b5-4e9c-8ce3-1e2d8f7c5b21"
FAILED_JOB = "2d807e78-63c6-4fad-9df4-2f3e908d6c32"
REQUEUEABLE = "dl-requeueable"
FROM_COMPLETED = "dl-from-jobs-completed"
DISCARDABLE = "dl-discardable"
UNKNOWN = "does-not-exist"
SUBMITTED_JOB = "3e918f89-74d7-4fbe-8e05-3f4fa19e7d43"
"""Claimed in the ledger by an ``echo`` job with no payload (issue 16)."""
BUSY_KEY = "busy-key"
"""An ``Idempotency-Key`` whose request is still being answered."""
USED_KEY = "used-key"
"""An ``Idempotency-Key`` answered for another body."""
SCHEDULE = "5fa2a09b-85e8-4a0c-9f16-4a5b2c3d4e54"
"""A recurring schedule of ``echo`` jobs every hour (issue 18)."""


class Variant(enum.Enum):
    """The state an app is in when a request is sent."""

    GATEWAY = "gateway"
    """Publisher running, SQLite job and dead-letter stores, seeded."""
    GATEWAY_NO_BROKER = "gateway without a running publisher (seeded stores)"
    GATEWAY_NO_STORES = "gateway built without job and dead-letter stores"
    GATEWAY_STORES_DOWN = "gateway whose stores raise StoreUnavailable"
    READ_MODEL = "read model, feed running, one job seeded"
    READ_MODEL_NOT_READY = "read model whose live feed does not run"
    READ_MODEL_STREAM_FULL = "read model whose live stream takes no client"
    GATEWAY_TOKENS = "gateway requiring API tokens"
    READ_MODEL_TOKENS = "read model requiring API tokens"
    GATEWAY_RATE_LIMITED = "gateway whose rate limit one job used up"
    GATEWAY_UPSTREAM_SILENT = "gateway whose Alertmanager and Prometheus never answer"
    GATEWAY_UPSTREAM_AWAY = "gateway whose read model and Prometheus cannot be reached"


VIEWER = "viewer-token-0123456789abcdef"
SUBMITTER = "submitter-token-0123456789abcdef"
ALERTMANAGER = "alertmanager-token-0123456789abcdef"
TOKENS = {VIEWER: "viewer", SUBMITTER: "submitter", ALERTMANAGER: "alertmanager"}


@dataclass(frozen=True)
class Crafted:
    variant: Variant
    body: object = None
    """JSON to send (``None``: no JSON body)."""
    content: bytes | None = None
    content_type: str | None = None
    query: str = ""
    path_value: str = UNKNOWN
    """The value of the path's one parameter, if it has one."""
    token: str | None = None
    """Sent as a bearer token."""
    headers: tuple[tuple[str, str], ...] = ()
    """More request headers."""


def _webhook() -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "read-model",
        "groupKey": "{}:{alertname}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "X", "severity": "warning", "service": "processor"},
                "annotations": {"summary": "X summary"},
                "startsAt": "2026-11-27T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "f1",
            }
        ],
    }


_G, _R = Variant.GATEWAY, Variant.READ_MODEL
_BIG = b'{"type": "echo", "payload": {"x": "' + b"y" * 70_000 + b'"}}'
# Nested past what jsonschema-rs can check: a 500 before issue 9's fuzzing.
_DEEP = b'{"type": "echo", "payload": {"x": ' + b"[" * 300 + b"]" * 300 + b"}}"
_TEXT = {"content": b"{}", "content_type": "text/plain"}

GATEWAY: dict[tuple[str, str, int], Crafted] = {
    ("POST", "/jobs", 202): Crafted(_G, body={"type": "echo"}),
    ("POST", "/jobs", 400): Crafted(_G, content=_DEEP, content_type="application/json"),
    ("POST", "/jobs", 413): Crafted(_G, content=_BIG, content_type="application/json"),
    ("POST", "/jobs", 415): Crafted(_G, **_TEXT),  # type: ignore[arg-type]
    ("POST", "/jobs", 503): Crafted(Variant.GATEWAY_NO_BROKER, body={"type": "echo"}),
    ("POST", "/jobs/batch", 202): Crafted(_G, body=[{"type": "echo"}, {"type": "bad type"}]),
    ("POST", "/jobs/batch", 400): Crafted(_G, body=[{"type": "bad type"}]),
    ("POST", "/jobs/batch", 413): Crafted(_G, body=[{"type": "echo"}] * 1001),
    ("POST", "/jobs/batch", 415): Crafted(_G, **_TEXT),  # type: ignore[arg-type]
    ("POST", "/jobs/batch", 503): Crafted(Variant.GATEWAY_NO_BROKER, body=[{"type": "echo"}]),
    ("DELETE", "/dead-letters/{deadLetterId}", 200): Crafted(_G, path_value=DISCARDABLE),
    ("DELETE", "/dead-letters/{deadLetterId}", 404): Crafted(_G),
    ("DELETE", "/dead-letters/{deadLetterId}", 409): Crafted(Variant.GATEWAY_NO_STORES),
    ("DELETE", "/dead-letters/{deadLetterId}", 503): Crafted(Variant.GATEWAY_STORES_DOWN),
    ("POST", "/probes/dead-letter", 202): Crafted(_G),
    ("POST", "/probes/dead-letter", 503): Crafted(Variant.GATEWAY_NO_BROKER),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 202): Crafted(_G, path_value=REQUEUEABLE),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 400): Crafted(
        _G, path_value=REQUEUEABLE, body={"body": "not json"}
    ),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 404): Crafted(_G),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 409): Crafted(_G, path_value=FROM_COMPLETED),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 413): Crafted(
        _G, path_value=REQUEUEABLE, content=_BIG, content_type="application/json"
    ),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 415): Crafted(
        _G,
        path_value=REQUEUEABLE,
        **_TEXT,  # type: ignore[arg-type]
    ),
    ("POST", "/dead-letters/{deadLetterId}/requeue", 503): Crafted(
        Variant.GATEWAY_NO_BROKER, path_value=REQUEUEABLE
    ),
    ("POST", "/dead-letters/requeue", 200): Crafted(_G, body={"ids": [REQUEUEABLE, UNKNOWN]}),
    ("POST", "/dead-letters/requeue", 400): Crafted(_G, body={"ids": "all"}),
    ("POST", "/dead-letters/requeue", 409): Crafted(Variant.GATEWAY_NO_STORES),
    ("POST", "/dead-letters/requeue", 413): Crafted(_G, body={"ids": ["x"] * 1001}),
    ("POST", "/dead-letters/requeue", 415): Crafted(_G, **_TEXT),  # type: ignore[arg-type]
    ("POST", "/dead-letters/requeue", 503): Crafted(Variant.GATEWAY_STORES_DOWN),
    ("DELETE", "/jobs/{jobId}", 202): Crafted(_G, path_value=PENDING_JOB),
    ("DELETE", "/jobs/{jobId}", 404): Crafted(_G),
    ("DELETE", "/jobs/{jobId}", 409): Crafted(_G, path_value=DONE_JOB),
    ("DELETE", "/jobs/{jobId}", 503): Crafted(Variant.GATEWAY_STORES_DOWN, path_value=PENDING_JOB),
    ("GET", "/healthz", 200): Crafted(_G),
    ("GET", "/healthz", 503): Crafted(Variant.GATEWAY_NO_BROKER),
    ("GET", "/readyz", 200): Crafted(_G),
    ("GET", "/metrics", 200): Crafted(_G),
    ("GET", "/openapi.json", 200): Crafted(_G),
    ("GET", "/docs", 200): Crafted(_G),
}

READ_MODEL: dict[tuple[str, str, int], Crafted] = {
    ("GET", "/health", 200): Crafted(_R),
    ("GET", "/config", 200): Crafted(_R),
    ("GET", "/types", 200): Crafted(_R),
    ("GET", "/stats", 200): Crafted(_R),
    ("GET", "/jobs/recent", 200): Crafted(_R, query="?status=completed&limit=5"),
    ("GET", "/jobs/recent", 400): Crafted(_R, query="?limit=0"),
    ("GET", "/jobs", 200): Crafted(_R, query="?status=COMPLETED&type=echo&limit=5"),
    ("GET", "/jobs", 400): Crafted(_R, query="?staus=COMPLETED"),
    ("GET", "/jobs/{jobId}", 200): Crafted(_R, path_value=DONE_JOB),
    ("GET", "/jobs/{jobId}", 400): Crafted(_R, query="?wait=61"),
    ("GET", "/jobs/{jobId}", 404): Crafted(_R),
    ("GET", "/events", 200): Crafted(_R, query=f"?jobId={DONE_JOB}"),
    ("GET", "/events", 400): Crafted(_R, query="?limit=x"),
    ("GET", "/alerts", 200): Crafted(_R),
    ("POST", "/webhooks/alertmanager", 200): Crafted(_R, body=_webhook()),
    ("POST", "/webhooks/alertmanager", 400): Crafted(
        _R, content=_DEEP, content_type="application/json"
    ),
    ("POST", "/webhooks/alertmanager", 413): Crafted(
        _R, content=b" " * (1024 * 1024 + 1), content_type="application/json"
    ),
    ("GET", "/dead-letters", 200): Crafted(_R),
    ("GET", "/dead-letters", 400): Crafted(_R, query="?limit=501"),
    ("GET", "/", 200): Crafted(_R),
    ("GET", "/launcher.html", 200): Crafted(_R),
    ("GET", "/stream", 200): Crafted(_R),
    ("GET", "/stream", 503): Crafted(Variant.READ_MODEL_STREAM_FULL),
    ("GET", "/stats/throughput", 200): Crafted(_R),
    ("GET", "/healthz", 200): Crafted(_R),
    ("GET", "/healthz", 503): Crafted(Variant.READ_MODEL_NOT_READY),
    ("GET", "/readyz", 200): Crafted(_R),
    ("GET", "/metrics", 200): Crafted(_R),
    ("GET", "/openapi.json", 200): Crafted(_R),
    ("GET", "/docs", 200): Crafted(_R),
}

DOCUMENTS = {"gateway": gateway_document(Settings()), "read-model": read_model_document(Settings())}
TABLES = {"gateway": GATEWAY, "read-model": READ_MODEL}

# Issue 14: retry a FAILED job, one or in bulk (quart_app/gateway/retry.py).
GATEWAY[("POST", "/jobs/{jobId}/retry", 202)] = Crafted(_G, path_value=FAILED_JOB)
GATEWAY[("POST", "/jobs/{jobId}/retry", 404)] = Crafted(_G)
GATEWAY[("POST", "/jobs/{jobId}/retry", 409)] = Crafted(_G, path_value=DONE_JOB)
GATEWAY[("POST", "/jobs/{jobId}/retry", 503)] = Crafted(
    Variant.GATEWAY_NO_BROKER, path_value=FAILED_JOB
)
GATEWAY[("POST", "/jobs/retry", 200)] = Crafted(_G, body={"status": "FAILED"})
GATEWAY[("POST", "/jobs/retry", 400)] = Crafted(_G, body={"status": "COMPLETED"})
GATEWAY[("POST", "/jobs/retry", 413)] = Crafted(_G, content=_BIG, content_type="application/json")
GATEWAY[("POST", "/jobs/retry", 415)] = Crafted(_G, **_TEXT)  # type: ignore[arg-type]
GATEWAY[("POST", "/jobs/retry", 503)] = Crafted(Variant.GATEWAY_STORES_DOWN, body={})

# Issue 17: bulk cancel by the search filters (quart_app/gateway/bulk.py).
GATEWAY[("POST", "/jobs/cancel", 200)] = Crafted(_G, body={"status": ["PENDING"]})
GATEWAY[("POST", "/jobs/cancel", 400)] = Crafted(_G, body={"colour": "red"})
GATEWAY[("POST", "/jobs/cancel", 413)] = Crafted(_G, content=_BIG, content_type="application/json")
GATEWAY[("POST", "/jobs/cancel", 415)] = Crafted(_G, **_TEXT)  # type: ignore[arg-type]
GATEWAY[("POST", "/jobs/cancel", 503)] = Crafted(Variant.GATEWAY_STORES_DOWN, body={})

# Issue 16: a job id submitted before with another job; Idempotency-Key in use, or reused.
GATEWAY[("POST", "/jobs", 409)] = Crafted(_G, body={"id": SUBMITTED_JOB, "type": "sleep"})
GATEWAY[("POST", "/jobs", 422)] = Crafted(
    _G, body={"type": "echo"}, headers=(("Idempotency-Key", USED_KEY),)
)
GATEWAY[("POST", "/jobs/batch", 409)] = Crafted(
    _G, body=[{"type": "echo"}], headers=(("Idempotency-Key", BUSY_KEY),)
)
GATEWAY[("POST", "/jobs/batch", 422)] = Crafted(
    _G, body=[{"type": "echo"}], headers=(("Idempotency-Key", USED_KEY),)
)

# Issue 17, item 2: workers and queues (quart_app/read_model/workers.py, queues.py).
READ_MODEL[("GET", "/workers", 200)] = Crafted(_R)
READ_MODEL[("GET", "/workers", 503)] = Crafted(Variant.READ_MODEL_NOT_READY)
READ_MODEL[("GET", "/queues", 200)] = Crafted(_R)
READ_MODEL[("GET", "/queues", 503)] = Crafted(Variant.READ_MODEL_NOT_READY)


class _WorkersAway:
    """A worker registry whose store is away."""

    async def sightings(self, *, since: float) -> list[WorkerSighting]:
        raise StoreUnavailable("The worker registry's Redis is away.")

    async def beat(self, worker_id: str, beat: Mapping[str, object], *, seen_at: float) -> None:
        raise StoreUnavailable("The worker registry's Redis is away.")


# Issue 18: recurring schedules (quart_app/gateway/schedules.py, quart_app/schedules.py).
_SCHEDULE_BODY = {"name": "every minute", "interval": "1m", "job": {"type": "echo"}}
_ONE = "/schedules/{scheduleId}"
GATEWAY[("POST", "/schedules", 201)] = Crafted(_G, body=_SCHEDULE_BODY)
GATEWAY[("POST", "/schedules", 400)] = Crafted(_G, body={**_SCHEDULE_BODY, "cron": "* *"})
GATEWAY[("POST", "/schedules", 415)] = Crafted(_G, **_TEXT)  # type: ignore[arg-type]
GATEWAY[("POST", "/schedules", 503)] = Crafted(Variant.GATEWAY_STORES_DOWN, body=_SCHEDULE_BODY)
GATEWAY[("PATCH", _ONE, 200)] = Crafted(_G, path_value=SCHEDULE, body={"enabled": False})
GATEWAY[("PATCH", _ONE, 400)] = Crafted(_G, path_value=SCHEDULE, body={"timezone": "Nowhere"})
GATEWAY[("PATCH", _ONE, 404)] = Crafted(_G, body={"enabled": False})
GATEWAY[("PATCH", _ONE, 415)] = Crafted(_G, path_value=SCHEDULE, **_TEXT)  # type: ignore[arg-type]
GATEWAY[("PATCH", _ONE, 503)] = Crafted(
    Variant.GATEWAY_STORES_DOWN, path_value=SCHEDULE, body={"enabled": False}
)
GATEWAY[("DELETE", _ONE, 200)] = Crafted(_G, path_value=SCHEDULE)
GATEWAY[("DELETE", _ONE, 404)] = Crafted(_G)
GATEWAY[("DELETE", _ONE, 503)] = Crafted(Variant.GATEWAY_STORES_DOWN, path_value=SCHEDULE)
GATEWAY[("POST", _ONE + "/run", 202)] = Crafted(_G, path_value=SCHEDULE)
GATEWAY[("POST", _ONE + "/run", 404)] = Crafted(_G)
GATEWAY[("POST", _ONE + "/run", 503)] = Crafted(Variant.GATEWAY_NO_BROKER, path_value=SCHEDULE)
for _table, _variant in ((GATEWAY, _G), (READ_MODEL, _R)):
    _table[("GET", "/schedules", 200)] = Crafted(_variant)
    _table[("GET", _ONE, 200)] = Crafted(_variant, path_value=SCHEDULE)
    _table[("GET", _ONE, 404)] = Crafted(_variant)

GATEWAY[("POST", "/jobs", 429)] = Crafted(Variant.GATEWAY_RATE_LIMITED, body={"type": "echo"})

# Issue 16: the Swagger UI page's files, and the compatibility routes (gateway/proxy.py).
for _table, _variant in ((GATEWAY, _G), (READ_MODEL, _R)):
    _table[("GET", "/docs/swagger-ui/{name}", 200)] = Crafted(_variant, path_value="swagger-ui.css")
    _table[("GET", "/docs/swagger-ui/{name}", 404)] = Crafted(_variant, path_value="index.html")
READ_MODEL[("GET", "/runbooks", 200)] = Crafted(_R)
for _route in ("/proxy/alerts", "/proxy/targets"):
    GATEWAY[("GET", _route, 200)] = Crafted(_G)
    GATEWAY[("GET", _route, 502)] = Crafted(Variant.GATEWAY_UPSTREAM_AWAY)
    GATEWAY[("GET", _route, 504)] = Crafted(Variant.GATEWAY_UPSTREAM_SILENT)
GATEWAY[("POST", "/jobs/batch", 429)] = Crafted(
    Variant.GATEWAY_RATE_LIMITED, body=[{"type": "echo"}] * 2
)


def _documented(document: dict[str, object]) -> dict[tuple[str, str, int], dict[str, object]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (method.upper(), path, int(status)): response
        for path, operations in paths.items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
    }


def _add_auth_entries() -> None:
    """With tokens configured, every route but the open ones answers 401 without a token
    and 403 to a role that may not: a viewer may only read, Alertmanager only deliver."""
    variants = {"gateway": Variant.GATEWAY_TOKENS, "read-model": Variant.READ_MODEL_TOKENS}
    for app, document in DOCUMENTS.items():
        for method, path, status in _documented(document):
            if status == 401:
                TABLES[app][(method, path, 401)] = Crafted(variants[app])
            elif status == 403:
                refused = ALERTMANAGER if method == "GET" else VIEWER
                TABLES[app][(method, path, 403)] = Crafted(variants[app], token=refused)


_add_auth_entries()


def test_every_documented_status_code_has_a_crafted_request() -> None:
    for app, document in DOCUMENTS.items():
        documented = set(_documented(document))
        crafted = set(TABLES[app])
        assert sorted(documented - crafted) == [], f"{app}: documented, no request reaches it"
        assert sorted(crafted - documented) == [], f"{app}: crafted, but not documented"


# ---------------------------------------------------------------------------------------
# The apps, in each variant


class _StoresDown:
    """A job store and dead-letter store whose database is away."""

    def __getattr__(self, name: str) -> object:
        async def unavailable(*args: object, **kwargs: object) -> object:
            raise StoreUnavailable(f"The test store is down ({name} was called).")

        return unavailable


def _dead_letter(dead_letter_id: str, queue: str, body: bytes) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        queue=queue,
        reason="Refused.",
        errors=[ValidationIssue("", "Refused.")],
        body=body,
        occurred_at=utc_now(),
        service="processor",
        version="0.0.1",
    )


async def _seed(jobs: JobStore, dead_letters: DeadLetterStore) -> None:
    await jobs.add_schedule(
        apply_changes(
            {"name": "hourly", "interval": "1h", "job": {"type": "echo"}},
            current=None,
            schedule_id=SCHEDULE,
            now=wall_clock(),
        )
    )
    for job_id, statuses in (
        (PENDING_JOB, [JobStatus.PENDING]),
        (DONE_JOB, [JobStatus.VALIDATED, JobStatus.COMPLETED]),
        (FAILED_JOB, [JobStatus.EXECUTING, JobStatus.FAILED]),
    ):
        spec = JobSpec(job_id, "echo", utc_now(), str(uuid.uuid4()))
        await jobs.apply_transitions([JobTransition(spec, s, utc_now()) for s in statuses])
    submitted = Submission(
        SUBMITTED_JOB, Fingerprint.of({"type": "echo"}).encode(), str(uuid.uuid4()), utc_now()
    )
    await jobs.claim_submissions([submitted])
    await jobs.settle_submissions([submitted], [])
    now = utc_now()
    # Keys as the gateway scopes them for a client without a token ("- <key>").
    await jobs.claim_idempotency_keys(
        [
            IdempotencyClaim(
                f"- {BUSY_KEY}",
                request_fingerprint("/jobs/batch", [{"type": "echo"}]),
                now,
                later(now, 3600),
            ),
            IdempotencyClaim(f"- {USED_KEY}", "another request", now, later(now, 3600)),
        ],
        now=now,
    )
    await jobs.settle_idempotency_keys(
        [IdempotencyAnswer(f"- {USED_KEY}", "another request", 202, "{}")]
    )
    job = json.dumps({"type": "echo", "payload": {"n": 1}}).encode()
    await dead_letters.add(
        [
            _dead_letter(REQUEUEABLE, JOBS_CREATED, job),
            _dead_letter(FROM_COMPLETED, JOBS_COMPLETED, job),
            _dead_letter(DISCARDABLE, JOBS_CREATED, b"nope"),
        ]
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _hold(stream: SocketStream) -> None:
    async with stream:
        await anyio.sleep_forever()


@asynccontextmanager
async def _proxy(
    variant: Variant, tmp_path: Path, jobs: JobStore, dead: DeadLetterStore
) -> AsyncIterator[ProxyConfig]:
    """Where the gateway's compatibility routes go in ``variant``."""
    if variant is Variant.GATEWAY_UPSTREAM_SILENT:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        silent = f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _hold)
            yield ProxyConfig(
                lambda: silent, alertmanager_url=silent, prometheus_url=silent, timeout_s=0.5
            )
            tg.cancel_scope.cancel()
        return
    if variant is not Variant.GATEWAY:
        away = f"http://127.0.0.1:{_closed_port()}"
        yield ProxyConfig(lambda: away, prometheus_url=away)
        return
    async with open_sqlite_event_store(tmp_path / "pe.db") as events:
        read_model = ReadModelService(
            jobs,
            events,
            dead,
            MemoryCounters(),
            Settings(read_model_port=0, shutdown_s=1.0),
            handlers=DEFAULT_REGISTRY,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(read_model.run)
            url = f"http://127.0.0.1:{read_model.http.port}"
            yield ProxyConfig(lambda: url)
            read_model.request_stop()


@asynccontextmanager
async def serve(variant: Variant, tmp_path: Path) -> AsyncIterator[str]:
    """Serve the app in ``variant`` on a free loopback port; yields its URL."""
    async with AsyncExitStack() as stack:
        jobs: JobStore = await stack.enter_async_context(open_sqlite_job_store(tmp_path / "j.db"))
        dead: DeadLetterStore = await stack.enter_async_context(
            open_sqlite_dead_letter_store(tmp_path / "d.db")
        )
        await _seed(jobs, dead)
        tg = await stack.enter_async_context(anyio.create_task_group())
        if variant in (
            Variant.READ_MODEL,
            Variant.READ_MODEL_NOT_READY,
            Variant.READ_MODEL_STREAM_FULL,
            Variant.READ_MODEL_TOKENS,
        ):
            events = await stack.enter_async_context(open_sqlite_event_store(tmp_path / "e.db"))
            settings = Settings(
                read_model_port=0,
                shutdown_s=1.0,
                max_stream_clients=0 if variant is Variant.READ_MODEL_STREAM_FULL else 100,
                api_tokens=TOKENS if variant is Variant.READ_MODEL_TOKENS else {},
            )
            broker = MemoryBroker()
            await broker.declare_topology()
            not_ready = variant is Variant.READ_MODEL_NOT_READY
            read_model = ReadModelService(
                jobs,
                events,
                dead,
                MemoryCounters(),
                settings,
                handlers=DEFAULT_REGISTRY,
                # Not ready: no broker to ask and a worker registry away (both 503).
                workers=_WorkersAway() if not_ready else None,
                queues=None if not_ready else MemoryQueueInspector(broker),
            )
            if variant is Variant.READ_MODEL_NOT_READY:
                await tg.start(read_model.http.run)
                stop = read_model.http.request_stop
            else:
                await tg.start(read_model.run)
                stop = read_model.request_stop
            try:
                yield f"http://127.0.0.1:{read_model.http.port}"
            finally:
                stop()
            return
        if variant is Variant.GATEWAY_NO_STORES:
            gateway = GatewayService(
                MemoryBroker(), Settings(gateway_port=0), handlers=DEFAULT_REGISTRY
            )
        else:
            down = _StoresDown()
            proxy = await stack.enter_async_context(_proxy(variant, tmp_path, jobs, dead))
            broker = MemoryBroker()
            await broker.declare_topology()
            stores_down = variant is Variant.GATEWAY_STORES_DOWN
            limited = variant is Variant.GATEWAY_RATE_LIMITED
            gateway = GatewayService(
                broker,
                Settings(
                    gateway_port=0,
                    publish_timeout_s=0.5,
                    api_tokens=TOKENS if variant is Variant.GATEWAY_TOKENS else {},
                    rate_limit_per_s=0.001 if limited else 2000.0,
                    rate_limit_burst=1.0 if limited else 4000.0,
                ),
                handlers=DEFAULT_REGISTRY,
                dead_letters=cast("DeadLetterStore", down) if stores_down else dead,
                jobs=cast("JobStore", down) if stores_down else jobs,
                proxy=proxy,
            )
        if variant in (Variant.GATEWAY, Variant.GATEWAY_TOKENS, Variant.GATEWAY_RATE_LIMITED):
            await tg.start(gateway.run)
            stop = gateway.request_stop
        else:
            await tg.start(gateway.http.run)
            stop = gateway.http.request_stop
        url = f"http://127.0.0.1:{gateway.http.port}"
        if variant is Variant.GATEWAY_RATE_LIMITED:
            async with httpx.AsyncClient() as client:  # the one job the limit allows
                assert (await client.post(f"{url}/jobs", json={"type": "echo"})).status_code == 202
        try:
            yield url
        finally:
            stop()


def _cases() -> list[object]:
    return [
        pytest.param(app, key, crafted, id=f"{app} {key[0]} {key[1]} {key[2]}")
        for app, table in TABLES.items()
        for key, crafted in table.items()
    ]


@pytest.mark.parametrize(("app", "key", "crafted"), _cases())
async def test_a_documented_status_code_is_reached_by_its_crafted_request(
    app: str, key: tuple[str, str, int], crafted: Crafted, tmp_path: Path
) -> None:
    method, path, status = key
    url_path = (
        path.replace("{deadLetterId}", crafted.path_value)
        .replace("{jobId}", crafted.path_value)
        .replace("{name}", crafted.path_value)
        .replace("{scheduleId}", crafted.path_value)
    )
    headers = {} if crafted.content_type is None else {"Content-Type": crafted.content_type}
    if crafted.token is not None:
        headers["Authorization"] = f"Bearer {crafted.token}"
    headers.update(crafted.headers)
    async with serve(crafted.variant, tmp_path) as base, httpx.AsyncClient(base_url=base) as client:
        request = client.build_request(
            method,
            url_path + crafted.query,
            json=crafted.body,
            content=crafted.content,
            headers=headers,
        )
        with anyio.fail_after(20):
            # Streamed: /stream never ends; its status and headers are all it needs.
            response = await client.send(request, stream=True)
            try:
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    await response.aread()
            finally:
                await response.aclose()
    assert response.status_code == status, response.content[:500]
    documented = _documented(DOCUMENTS[app])[key]
    content = documented.get("content")
    assert isinstance(content, dict)
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{media} is not documented for {status}"
    if (
        media == "application/json"
        and status >= 400
        and content[media]["schema"] == {"$ref": "#/components/schemas/Error"}
    ):
        assert get_contracts().issues(SchemaName.ERROR, response.json()) == []
