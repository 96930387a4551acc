"""What the fault-injection tests share: four services as processes, a load, the audit.

:class:`Services` runs ``observatory serve <service>`` for each service against the real
servers in a namespace of its own, and can kill, stop and start any of them.
:class:`Load` submits jobs in batches with ids chosen up front and resubmits a batch the
gateway did not accept (503 while the broker is away, a refused connection while the
gateway restarts): a resubmitted id never runs twice, so every id ends up accepted.
:func:`audit` then checks the promise: every accepted job in exactly one terminal state
in PostgreSQL, the Redis counters equal to PostgreSQL's counts, every lifecycle event in
the audit trail exactly once; then, once RabbitMQ holds nothing for the services, nothing
left on any queue after they stop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import anyio
import asyncpg
import httpx

from actors.broker.amqp import open_amqp_broker
from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
from actors.config.settings import Settings
from actors.domain.events import EventType
from actors.stores.mongo import open_mongo_event_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SERVICES = ("metrics-engine", "processor", "read-model", "gateway")
"""Start order: consumers first, the gateway last."""
LIFECYCLE = (EventType.CREATED, EventType.VALIDATED, EventType.EXECUTED)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Services:
    """The four services as processes in one namespace on the real servers."""

    def __init__(
        self, env: dict[str, str], logs: Path, *, args: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.args = args or {}
        """Extra arguments of ``serve <service>``, by service."""
        self.settings = Settings.from_env(
            rabbitmq_url=env["RABBITMQ_URL"],
            postgres_url=env["POSTGRES_URL"],
            redis_url=env["REDIS_URL"],
            mongo_url=env["MONGO_URL"],
            namespace=env["OBSERVATORY_NAMESPACE"],
        )
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.services = {name: Service(name, free_port()) for name in SERVICES}
        self.env["OBSERVATORY_GATEWAY_URL"] = self.services["gateway"].url

    def url(self, name: str) -> str:
        return self.services[name].url

    def start(self, name: str, *, timeout_s: float = 60.0) -> None:
        """Start ``name`` and wait until its ``/readyz`` answers."""
        service = self.services[name]
        service.starts += 1
        log = (self.logs / f"{name}.log").open("ab")
        service.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launcher.cli",
                "--log-format",
                "json",
                "serve",
                name,
                "--host",
                "127.0.0.1",
                "--port",
                str(service.port),
                *self.args.get(name, ()),
            ],
            stdout=log,
            stderr=log,
            env=self.env,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if service.process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {service.process.returncode}: {self.tail(name)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{service.url}/readyz", timeout=1.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not up within {timeout_s} s: {self.tail(name)}")
            time.sleep(0.1)

    def start_all(self) -> None:
        for name in SERVICES:
            self.start(name)
        self.wait_healthy()

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        """Every service's ``/healthz`` answers 200 (its servers usable)."""
        deadline = time.monotonic() + timeout_s
        for name, service in self.services.items():
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{service.url}/healthz", timeout=2.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not healthy within {timeout_s} s")
                time.sleep(0.2)

    def signal(self, name: str, sig: signal.Signals, *, wait_s: float = 30.0) -> int:
        """Send ``sig`` to ``name`` and wait for it to exit; its exit code."""
        process = self.services[name].process
        assert process is not None, f"{name} was never started"
        assert process.poll() is None, f"{name} is not running"
        process.send_signal(sig)
        return process.wait(timeout=wait_s)

    def pids(self) -> dict[str, int]:
        return {
            name: s.process.pid
            for name, s in self.services.items()
            if s.process is not None and s.process.poll() is None
        }

    def stop_all(self, *, wait_s: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every running service, gateway first; their exit codes."""
        codes: dict[str, int | None] = {}
        for name in reversed(SERVICES):
            process = self.services[name].process
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    codes[name] = process.wait(timeout=wait_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    codes[name] = None
            else:
                codes[name] = process.returncode
        return codes

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


@dataclass
class Load:
    """Submits ``total`` echo jobs in batches; a batch not accepted is resubmitted whole."""

    gateway: str
    total: int
    batch: int = 100
    pause_s: float = 0.02
    accepted: list[str] = field(default_factory=list)
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    _thread: threading.Thread | None = None
    _failure: BaseException | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=15.0) as client:
                while len(self.accepted) < self.total:
                    size = min(self.batch, self.total - len(self.accepted))
                    ids = [str(uuid.uuid4()) for _ in range(size)]
                    jobs = [{"id": i, "type": "echo", "payload": {"i": i}} for i in ids]
                    deadline = time.monotonic() + 120
                    while True:
                        try:
                            response = client.post(f"{self.gateway}/jobs/batch", json=jobs)
                            if response.status_code == 202:
                                assert response.json()["accepted"] == size
                                break
                            self.errors[str(response.status_code)] += 1
                        except httpx.HTTPError as exc:
                            self.errors[type(exc).__name__] += 1
                        if time.monotonic() > deadline:
                            raise AssertionError(f"a batch was refused for 120 s: {self.errors}")
                        self.retries += 1
                        time.sleep(0.2)
                    self.accepted.extend(ids)
                    time.sleep(self.pause_s)
        except BaseException as exc:  # surfaced by wait()
            self._failure = exc

    def wait_accepted(self, count: int, timeout_s: float = 120.0) -> None:
        """Block until at least ``count`` jobs were accepted."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted) < count:
            if self._failure is not None:
                raise self._failure
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(self.accepted)} of {count} accepted: {self.errors}"
                )
            time.sleep(0.05)

    def wait(self, timeout_s: float = 180.0) -> list[str]:
        assert self._thread is not None
        self._thread.join(timeout_s)
        if self._failure is not None:
            raise self._failure
        assert not self._thread.is_alive(), f"load still running: {len(self.accepted)} accepted"
        return list(self.accepted)


@dataclass
class Audit:
    """What the audit found: counts to report and the checks' verdicts."""

    accepted: int
    terminal: Counter[str]
    lost: int
    double_counted: int
    events_missing: int
    events_duplicated: int
    counters: dict[str, int]
    queues: dict[str, int]
    busy: dict[str, int] = field(default_factory=dict)
    """Messages still on queues when the services were stopped (the system never went quiet)."""

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{self.lost} accepted jobs not in a terminal state")
        if self.double_counted:
            found.append(f"counters off by {self.double_counted} against PostgreSQL")
        if self.events_missing:
            found.append(f"{self.events_missing} lifecycle events missing from the trail")
        if self.events_duplicated:
            found.append(f"{self.events_duplicated} events stored more than once")
        if self.busy:
            found.append(f"queues never went quiet while the services ran: {self.busy}")
        leftover = {q: n for q, n in self.queues.items() if n}
        if leftover:
            found.append(f"messages left on queues: {leftover}")
        return found


async def _postgres_statuses(settings: Settings, ids: list[str]) -> dict[str, str]:
    connection = await asyncpg.connect(settings.postgres_url)
    try:
        rows = await connection.fetch(
            f'SELECT id::text AS id, status FROM "{settings.postgres_schema}".jobs'
        )
    finally:
        await connection.close()
    return {row["id"]: row["status"] for row in rows}


async def _events(settings: Settings) -> list[tuple[str, str, str]]:
    async with open_mongo_event_store(
        settings.mongo_url, database=settings.mongo_database
    ) as store:
        return [
            (event.job_id, event.event_type.value, event.event_id)
            async for event in store.iter_events(frozenset(EventType))
        ]


async def _queue_depths(settings: Settings) -> dict[str, int]:
    async with open_amqp_broker(
        settings.rabbitmq_url, namespace=settings.queue_namespace
    ) as broker:
        names = [*ALL_QUEUES, *(retry_queue(d) for d in RETRY_DELAYS_S)]
        return {name: await broker.queue_depth(name) for name in names}


def wait_terminal(services: Services, ids: list[str], timeout_s: float = 180.0) -> None:
    """Until every id is COMPLETED or FAILED in PostgreSQL."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = anyio.run(_postgres_statuses, services.settings, ids)
        pending = [i for i in wanted if statuses.get(i) not in ("COMPLETED", "FAILED")]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(pending)} of {len(wanted)} jobs not terminal after {timeout_s} s; "
                f"e.g. {pending[:3]} → {[statuses.get(i) for i in pending[:3]]}"
            )
        time.sleep(0.5)


def wait_counted(
    services: Services, expected: dict[str, int], timeout_s: float = 60.0
) -> dict[str, int]:
    """Until the read model's /stats (Redis) shows ``expected``; what it last showed."""
    deadline = time.monotonic() + timeout_s
    shown: dict[str, int] = {}
    while True:
        with contextlib.suppress(httpx.HTTPError):
            stats = httpx.get(f"{services.url('read-model')}/stats", timeout=5.0).json()
            shown = {k: stats[k] for k in ("totalJobs", "completedJobs", "failedJobs")}
            if shown == expected:
                return shown
        if time.monotonic() > deadline:
            return shown
        time.sleep(0.5)


def audit(services: Services, ids: list[str]) -> Audit:
    """Check every promise over the jobs ``ids`` (call once the load is done)."""
    wait_terminal(services, ids)
    statuses = anyio.run(_postgres_statuses, services.settings, ids)
    terminal = Counter(statuses[i] for i in ids if i in statuses)
    lost = sum(1 for i in ids if statuses.get(i) not in ("COMPLETED", "FAILED"))
    in_pg = {
        "totalJobs": len(statuses),
        "completedJobs": sum(1 for s in statuses.values() if s == "COMPLETED"),
        "failedJobs": sum(1 for s in statuses.values() if s == "FAILED"),
    }
    counters = wait_counted(services, in_pg)
    double_counted = sum(abs(counters.get(k, 0) - v) for k, v in in_pg.items())
    # The trail: each job's lifecycle events present, each event id stored once.
    deadline = time.monotonic() + 60
    while True:
        events = anyio.run(_events, services.settings)
        kinds = Counter((job, kind) for job, kind, _ in events)
        missing = 0
        for job_id in ids:
            final = "job.completed" if statuses.get(job_id) == "COMPLETED" else "job.failed"
            for kind in (*(k.value for k in LIFECYCLE), final):
                if kinds[(job_id, kind)] == 0:
                    missing += 1
        if missing == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    duplicated = sum(
        n - 1 for n in Counter(event_id for _, _, event_id in events).values() if n > 1
    )
    return Audit(
        accepted=len(ids),
        terminal=terminal,
        lost=lost,
        double_counted=double_counted,
        events_missing=missing,
        events_duplicated=duplicated,
        counters=counters,
        queues={},
    )


def wait_quiet(services: Services, timeout_s: float = 60.0) -> dict[str, int]:
    """Until no queue of the namespace holds a message, ready or unacknowledged, twice in a
    row; the messages each queue held when it last looked (empty once quiet).

    The audit is satisfied once every job's events are stored, but the system may still be
    busy then: a broker restart redelivers finished jobs, whose events the processor emits
    again, and the metrics engine skips them as duplicates a little later. Stopping the
    services in the middle of that would leave those duplicates on a queue, so the
    services stop once RabbitMQ holds nothing for them. The counts come from
    ``rabbitmqctl list_queues`` (read from the queues themselves; the management API's
    figures lag by seconds); without it, or for a RabbitMQ elsewhere, ready messages only.
    """
    deadline = time.monotonic() + timeout_s
    quiet_reads = 0
    while True:
        held = {name: n for name, n in _messages_held(services.settings).items() if n}
        quiet_reads = 0 if held else quiet_reads + 1
        if quiet_reads == 2 or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def _messages_held(settings: Settings) -> dict[str, int]:
    """Messages (ready + unacknowledged) in each of the namespace's queues."""
    parts = urlsplit(settings.rabbitmq_url)
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None or parts.hostname not in ("127.0.0.1", "localhost"):
        return anyio.run(_queue_depths, settings)
    vhost = unquote(parts.path[1:]) or "/"
    listed = subprocess.run(
        [rabbitmqctl, "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    prefix = settings.queue_namespace
    held: dict[str, int] = {}
    for line in listed.splitlines():
        name, _, count = line.rpartition("\t")
        if name.startswith(prefix):
            held[name[len(prefix) :]] = int(count)
    return held


def queues_after_stop(services: Services) -> dict[str, int]:
    """Depth of every queue once every consumer is gone (unacked messages come back)."""
    return anyio.run(_queue_depths, services.settings)


@contextlib.contextmanager
def restored(start: list[str], stop: list[str]) -> Iterator[None]:
    """Run ``stop`` now; always run ``start`` after (servers are restored even on failure)."""
    subprocess.run(stop, check=True, capture_output=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run(start, check=True, capture_output=True, timeout=180)
