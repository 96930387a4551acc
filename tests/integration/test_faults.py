"""Nothing lost, nothing counted twice, whatever fails: faults injected under load.

All four services run as processes against the real RabbitMQ, PostgreSQL, Redis and a
MongoDB stand-in, in a namespace of their own. Each test submits thousands of jobs while
one fault happens, then audits (see ``fault_harness``): every accepted job in exactly one
terminal state in PostgreSQL, Redis's counters equal to PostgreSQL's counts, every event
in the trail exactly once, no message left on a queue once the consumers are gone, and no
service but the one the test broke restarted. Each test writes its figures to
``test-output/faults/<test>.json``. ``FAULT_JOBS`` sets the jobs per test.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import asyncpg
import httpx
import pytest

from actors.broker import OutgoingMessage
from actors.broker.amqp import open_amqp_broker
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from tests.conftest import _wait_for_listening
from tests.e2e.conftest import _remove_namespace
from tests.integration.fault_harness import (
    Audit,
    Load,
    Services,
    audit,
    free_port,
    queues_after_stop,
    wait_quiet,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

JOBS = int(os.environ.get("FAULT_JOBS", "2000"))
RESULTS = Path(__file__).resolve().parents[2] / "test-output" / "faults"


@pytest.fixture
def env(
    rabbitmq_url: str, postgres_url: str, redis_url: str, mongo_url: str
) -> Iterator[dict[str, str]]:
    namespace = f"fault-{uuid.uuid4().hex[:10]}"
    values = {
        "RABBITMQ_URL": rabbitmq_url,
        "POSTGRES_URL": postgres_url,
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "OBSERVATORY_NAMESPACE": namespace,
    }
    yield values
    anyio.run(_remove_namespace, values)


@pytest.fixture
def services(env: dict[str, str], tmp_path: Path) -> Iterator[Services]:
    running = Services(env, tmp_path / "logs")
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def finish(
    request: pytest.FixtureRequest,
    services: Services,
    load: Load,
    *,
    restarted: set[str],
    pids_before: dict[str, int],
    fault: str,
) -> Audit:
    """Audit after the load; stop everything; record and return the figures."""
    ids = load.wait()
    result = audit(services, ids)
    result.busy = wait_quiet(services)
    pids_after = services.pids()
    unexpected = {
        name
        for name, pid in pids_before.items()
        if name not in restarted and pids_after.get(name) != pid
    }
    codes = services.stop_all()
    result.queues = queues_after_stop(services)
    figures = {
        "fault": fault,
        "submitted": result.accepted,
        "terminal": dict(result.terminal),
        "lost": result.lost,
        "doubleCounted": result.double_counted,
        "eventsMissing": result.events_missing,
        "eventsDuplicated": result.events_duplicated,
        "counters": result.counters,
        "queuesBusyAtStop": result.busy,
        "queuesLeft": {q: n for q, n in result.queues.items() if n},
        "clientRetries": load.retries,
        "clientErrors": dict(load.errors),
        "exitCodes": codes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{request.node.name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    assert result.problems() == [], figures
    assert unexpected == set(), f"restarted without being told: {unexpected}"
    assert {name: code for name, code in codes.items() if code != 0} == {}, figures
    return result


def test_kill_9_the_processor_mid_batch(services: Services, request: pytest.FixtureRequest) -> None:
    pids = services.pids()
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 3)
    assert services.signal("processor", signal.SIGKILL) == -signal.SIGKILL
    services.start("processor")
    finish(
        request,
        services,
        load,
        restarted={"processor"},
        pids_before=pids,
        fault="kill -9 processor",
    )


def test_kill_9_the_metrics_engine_mid_batch(
    services: Services, request: pytest.FixtureRequest
) -> None:
    pids = services.pids()
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 3)
    assert services.signal("metrics-engine", signal.SIGKILL) == -signal.SIGKILL
    time.sleep(1.0)  # events pile up on jobs.completed meanwhile
    services.start("metrics-engine")
    finish(
        request,
        services,
        load,
        restarted={"metrics-engine"},
        pids_before=pids,
        fault="kill -9 metrics engine",
    )


async def _terminate_backends(postgres_url: str, schema: str) -> int:
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            f"observatory-jobs/{schema}"[:63],
        )
    finally:
        await connection.close()
    return len(rows)


def test_postgres_connections_terminated_while_the_processor_writes(
    services: Services, request: pytest.FixtureRequest
) -> None:
    pids = services.pids()
    load = Load(services.url("gateway"), JOBS).start()
    terminated = 0
    for share in (4, 2):  # twice: early and mid-way
        load.wait_accepted(JOBS // share)
        terminated += anyio.run(
            _terminate_backends, services.settings.postgres_url, services.settings.postgres_schema
        )
    assert terminated >= 2
    finish(request, services, load, restarted=set(), pids_before=pids, fault="pg_terminate_backend")


def test_sigterm_every_service_under_load_drains_and_restarts(
    services: Services, request: pytest.FixtureRequest
) -> None:
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 3)
    codes = services.stop_all()
    assert codes == dict.fromkeys(codes, 0), codes
    time.sleep(1.0)
    services.start_all()
    pids = services.pids()
    finish(request, services, load, restarted=set(), pids_before=pids, fault="SIGTERM all")


# -- the MongoDB stand-in goes away -----------------------------------------------------


class OwnMongo:
    """An nx-27017 of this test's own, on disk and on a fixed port, so it can stop."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        log_file = self.folder / f"server-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("nx-27017")),
                "--data-dir",
                str(self.folder / "data"),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--log-file",
                str(log_file),
                "--pid-file",
                str(self.folder / "server.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert _wait_for_listening(self.process, log_file) == self.port

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def own_mongo(tmp_path: Path, mongo_url: str) -> Iterator[OwnMongo]:
    (tmp_path / "mongo" / "data").mkdir(parents=True)
    server = OwnMongo(tmp_path / "mongo")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_mongo_stand_in_stops_for_a_few_seconds(
    own_mongo: OwnMongo,
    rabbitmq_url: str,
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    env = {
        "RABBITMQ_URL": rabbitmq_url,
        "POSTGRES_URL": postgres_url,
        "REDIS_URL": redis_url,
        "MONGO_URL": own_mongo.url,
        "OBSERVATORY_NAMESPACE": f"fault-{uuid.uuid4().hex[:10]}",
    }
    services = Services(env, tmp_path / "logs")
    try:
        services.start_all()
        pids = services.pids()
        load = Load(services.url("gateway"), JOBS).start()
        load.wait_accepted(JOBS // 3)
        own_mongo.stop()
        try:
            time.sleep(4.0)
        finally:
            own_mongo.start()
        finish(
            request,
            services,
            load,
            restarted=set(),
            pids_before=pids,
            fault="MongoDB stand-in stopped 4 s",
        )
    finally:
        services.stop_all()
        anyio.run(_remove_namespace, env)


# -- servers restarting under load ---------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, *, up: bool, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _port_open(port) != up:
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} not {'open' if up else 'closed'} in {timeout_s} s")
        time.sleep(0.2)


def _local(url: str, port: int, what: str) -> None:
    parts = urlsplit(url)
    if (parts.hostname, parts.port or port) not in (("127.0.0.1", port), ("localhost", port)):
        pytest.skip(f"{what} at {url} is not this machine's; the test restarts it")


REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def test_redis_restarts_while_events_are_counted(
    services: Services, redis_url: str, request: pytest.FixtureRequest
) -> None:
    """Redis keeps nothing on disk here: the counters are lost and must be rebuilt."""
    _local(redis_url, 6379, "Redis")
    pids = services.pids()
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 3)
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, timeout=30)
    try:
        _wait_port(6379, up=False)
        time.sleep(2.0)
    finally:
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        subprocess.run(REDIS_START, check=True, timeout=30)
        _wait_port(6379, up=True)
    finish(request, services, load, restarted=set(), pids_before=pids, fault="Redis restarted")


def test_rabbitmq_restarts_while_jobs_flow(
    services: Services, rabbitmq_url: str, request: pytest.FixtureRequest
) -> None:
    _local(rabbitmq_url, 5672, "RabbitMQ")
    pids = services.pids()
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 3)
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        time.sleep(3.0)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=180)
        _wait_port(5672, up=True)
    finish(request, services, load, restarted=set(), pids_before=pids, fault="RabbitMQ restarted")


# -- poison --------------------------------------------------------------------------------


def _poison() -> list[tuple[str, bytes]]:
    """(queue, body) of messages no consumer may process."""
    rng = random.Random(7)
    wrong_type = {
        "contractVersion": "1.0.0",
        "eventType": "job.completed",
        "eventId": str(uuid.uuid4()),
        "occurredAt": "2026-11-27T10:00:00Z",
        "producer": {"service": "x", "instanceId": "x-1", "version": "0"},
        "correlationId": str(uuid.uuid4()),
        "payload": {"id": str(uuid.uuid4()), "type": "echo", "status": "COMPLETED"},
    }
    created_on_completed = {**wrong_type, "eventType": "job.created", "eventId": str(uuid.uuid4())}
    poison: list[tuple[str, bytes]] = []
    for queue in (JOBS_CREATED, JOBS_COMPLETED):
        poison += [
            (queue, bytes(rng.randrange(256) for _ in range(512))),
            (queue, b'{"payload": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
            (queue, json.dumps({"hello": "world", "n": [1, 2, 3]}).encode()),
            (queue, b"[]"),
            (queue, b""),
        ]
    poison.append((JOBS_CREATED, json.dumps(wrong_type).encode()))
    poison.append((JOBS_COMPLETED, json.dumps(created_on_completed).encode()))
    return poison


async def _publish_poison(services: Services, poison: list[tuple[str, bytes]]) -> None:
    settings = services.settings
    async with open_amqp_broker(
        settings.rabbitmq_url, namespace=settings.queue_namespace
    ) as broker:
        for queue, body in poison:
            await broker.publish_batch(queue, [OutgoingMessage(body, str(uuid.uuid4()))])


def _restarts(services: Services) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in ("gateway", "processor", "metrics-engine", "read-model"):
        body = httpx.get(f"{services.url(name)}/healthz", timeout=5.0).json()
        counts.update(
            {f"{name}:{a['path']}": a["restarts"] for a in body["actors"] if a["restarts"]}
        )
    return counts


def test_poison_messages_are_dead_lettered_and_the_good_jobs_around_them_unaffected(
    services: Services, request: pytest.FixtureRequest
) -> None:
    pids = services.pids()
    poison = _poison()
    load = Load(services.url("gateway"), JOBS).start()
    load.wait_accepted(JOBS // 4)
    anyio.run(_publish_poison, services, poison)
    load.wait_accepted(JOBS // 2)
    anyio.run(_publish_poison, services, poison[:3])
    deadline = time.monotonic() + 60
    expected = len(poison) + 3
    while True:
        letters = httpx.get(f"{services.url('read-model')}/dead-letters?limit=500").json()
        if len(letters) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(letters) == expected, [(d["queue"], d["reason"]) for d in letters]
    assert {d["queue"] for d in letters} == {JOBS_CREATED, JOBS_COMPLETED}
    assert _restarts(services) == {}, "a poison message crashed an actor"
    finish(request, services, load, restarted=set(), pids_before=pids, fault="poison messages")
