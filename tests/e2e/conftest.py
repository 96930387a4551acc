"""Starting ``observatory up`` as a real subprocess on free ports, for tests over HTTP only."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from actors.config.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

_URL_LINE = re.compile(r"^\s+(Gateway|Read model)\s+(http://\S+)")


@dataclass
class RunningObservatory:
    """A running ``observatory up`` process and where it answers."""

    process: subprocess.Popen[str]
    gateway: str
    read_model: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    stderr_log: Path | None = None
    mode: str = "embedded"

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM it and wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def logs(self) -> str:
        """What it logged on stderr so far."""
        return "" if self.stderr_log is None else self.stderr_log.read_text()


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def start_observatory(
    data_dir: Path,
    *extra: str,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
    log_level: str = "INFO",
) -> RunningObservatory:
    """Start ``observatory up`` on free ports and wait until it prints its URLs."""
    command = [
        sys.executable,
        "-m",
        "launcher.cli",
        "--log-format",
        "json",
        "--log-level",
        log_level,
        "up",
        "--host",
        "127.0.0.1",
        "--gateway-port",
        "0",
        "--read-model-port",
        "0",
        "--data-dir",
        str(data_dir),
        # Failing jobs get their 3 attempts within a fraction of a second.
        "--retry-backoff",
        "0.05",
        *extra,
    ]
    log_path = data_dir.parent / f"{data_dir.name}-stderr.log"
    with log_path.open("a") as stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    urls: dict[str, str] = {}
    output: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(urls) < 2:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(0.0, remaining))
        except queue.Empty:
            process.kill()
            raise AssertionError(
                f"observatory up printed no URLs within {timeout_s} s; stdout: {output}; "
                f"stderr in {log_path}"
            ) from None
        if line is None:
            raise AssertionError(
                f"observatory up exited with {process.wait()} before it was up; stdout: {output}; "
                f"stderr: {log_path.read_text()[-3000:]}"
            )
        output.append(line)
        if match := _URL_LINE.match(line):
            urls[match[1]] = match[2]
    running = RunningObservatory(
        process, urls["Gateway"], urls["Read model"], data_dir, output, log_path
    )

    def keep_reading() -> None:
        while (line := lines.get()) is not None:
            running.output.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return running


LOCAL_ARGS = (
    "--infra",
    "local",
    "--processor-port",
    "0",
    "--metrics-engine-port",
    "0",
)


@pytest.fixture
def embedded_factory(tmp_path: Path) -> Iterator[Callable[..., RunningObservatory]]:
    """Start embedded observatories; each is stopped (killed if it hangs) at teardown."""
    with _factory(tmp_path, extra=(), env=None) as create:
        yield create


@pytest.fixture(params=["embedded", pytest.param("local", marks=pytest.mark.integration)])
def observatory_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., RunningObservatory]]:
    """Start observatories: embedded, and (integration) one process per service against
    the real servers, isolated in a namespace of their own that is removed afterwards."""
    if request.param == "embedded":
        with _factory(tmp_path, extra=(), env=None) as create:
            yield create
        return
    namespace = f"e2e-{uuid.uuid4().hex[:10]}"
    env = {
        "RABBITMQ_URL": request.getfixturevalue("rabbitmq_url"),
        "POSTGRES_URL": request.getfixturevalue("postgres_url"),
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "MONGO_URL": request.getfixturevalue("mongo_url"),
        "OBSERVATORY_NAMESPACE": namespace,
    }
    try:
        with _factory(tmp_path, extra=LOCAL_ARGS, env=env) as create:
            yield create
    finally:
        anyio.run(_remove_namespace, env)


@contextlib.contextmanager
def observatory_running(data_dir: Path, *extra: str) -> Iterator[RunningObservatory]:
    """``observatory up`` (see :func:`start_observatory`) for a ``with`` block: stopped at
    its end, its output closed (the module-scoped fixtures of the client tests)."""
    running = start_observatory(data_dir, *extra)
    try:
        yield running
    finally:
        running.stop()
        if running.process.stdout is not None:
            running.process.stdout.close()


@pytest.fixture
def servers_env(
    rabbitmq_url: str, postgres_url: str, redis_url: str, mongo_url: str
) -> Iterator[dict[str, str]]:
    """The environment of services run on the real servers, in a namespace of their own
    (removed afterwards), with no apps from the caller's ``OBSERVATORY_APP``."""
    values = {
        "RABBITMQ_URL": rabbitmq_url,
        "POSTGRES_URL": postgres_url,
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "OBSERVATORY_NAMESPACE": f"e2e-{uuid.uuid4().hex[:10]}",
        "OBSERVATORY_APP": "",
    }
    yield values
    anyio.run(_remove_namespace, values)


async def _remove_namespace(env: dict[str, str]) -> None:
    """Delete what an observatory created under its namespace on the real servers."""
    import asyncpg
    import coredis

    from actors.broker.amqp import open_amqp_broker
    from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue

    settings = Settings.from_env(namespace=env["OBSERVATORY_NAMESPACE"])
    with anyio.fail_after(30):
        async with open_amqp_broker(
            env["RABBITMQ_URL"], namespace=settings.queue_namespace
        ) as broker:
            for queue in (*(retry_queue(d) for d in RETRY_DELAYS_S), *ALL_QUEUES):
                await broker.delete_queue(queue)
        connection = await asyncpg.connect(env["POSTGRES_URL"])
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}" CASCADE')
        finally:
            await connection.close()
        async with coredis.Redis.from_url(env["REDIS_URL"]) as redis:
            keys = [key async for key in redis.scan_iter(match=f"{settings.redis_prefix}*")]
            if keys:
                await redis.delete(keys)


@contextlib.contextmanager
def _factory(
    tmp_path: Path, *, extra: tuple[str, ...], env: dict[str, str] | None
) -> Iterator[Callable[..., RunningObservatory]]:
    started: list[RunningObservatory] = []

    def create(
        *more: str, data_dir: Path | None = None, log_level: str = "INFO"
    ) -> RunningObservatory:
        running = start_observatory(
            data_dir or tmp_path / "data", *extra, *more, env=env, log_level=log_level
        )
        running.mode = "local" if extra else "embedded"
        started.append(running)
        return running

    try:
        yield create
    finally:
        for running in reversed(started):
            if running.process.poll() is None:
                try:
                    running.stop(timeout_s=60)
                except subprocess.TimeoutExpired:
                    running.process.kill()
                    running.process.wait()
            if running.process.stdout is not None:
                running.process.stdout.close()


def _wait_until(
    predicate: Callable[[], bool], *, timeout_s: float, message: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s: {message()}")
        time.sleep(0.1)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """Poll an outside system (over HTTP there is no event to wait on) until a predicate holds."""
    return _wait_until


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client."""
    with httpx.Client(timeout=30.0) as client:
        yield client
