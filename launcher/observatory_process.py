"""``observatory up`` as a child process: start it, learn its URLs, stop it.

:func:`start_observatory` is what ``observatory bench`` uses to put a system under test;
:func:`start_local_observatory` runs ``--infra local`` on a namespace of its own of the
servers (and the MongoDB stand-in when there is no MongoDB) and removes it afterwards.
Tests can use them the same way::

    async with start_observatory(data_dir=tmp / "obs") as running:
        response = await client.post(f"{running.gateway}/jobs", json=job)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
from anyio.streams.text import TextReceiveStream

from actors.errors import ConfigError, ObservatoryError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from anyio.abc import Process

__all__ = [
    "STDERR_FILE",
    "ObservatoryStartError",
    "RunningObservatory",
    "drop_namespace",
    "drop_postgres_schema",
    "open_mongo_stand_in",
    "start_local_observatory",
    "start_observatory",
]

log = logging.getLogger(__name__)

_URL_LINE = re.compile(r"^\s+(Gateway|Read model)\s+(http://\S+)")
"""The lines ``observatory up`` prints once it answers, e.g. ``  Gateway     http://...``."""

_KILL_WAIT_S = 5.0
"""How long to wait for the process to go away after SIGKILL."""
_CLEANUP_TIMEOUT_S = 15.0
"""Bound of each clean-up step on a server."""

STDERR_FILE = "observatory-stderr.log"
"""Name of the file, in ``data_dir``, that receives the child's stderr (its logs)."""


class ObservatoryStartError(ObservatoryError):
    """``observatory up`` exited, or printed no URLs in time; the message quotes its stderr."""


@dataclass(eq=False)
class RunningObservatory:
    """A running ``observatory up`` child process and where it answers."""

    gateway: str
    """Base URL of the gateway (``POST /jobs``)."""
    read_model: str
    """Base URL of the read model (``GET /stats``)."""
    process: Process
    """The child process; :func:`start_observatory` stops it."""
    stderr_path: Path
    """Where its stderr (its log lines) is kept."""
    output: list[str] = field(default_factory=list)
    """Its stdout lines so far (kept for as long as it runs)."""
    namespace: str = ""
    """``OBSERVATORY_NAMESPACE`` of an ``--infra local`` system; ``""`` when embedded."""

    def __repr__(self) -> str:
        return (
            f"<RunningObservatory pid={self.process.pid} returncode={self.process.returncode} "
            f"gateway={self.gateway} read_model={self.read_model}>"
        )

    def stderr_tail(self, max_lines: int = 20) -> str:
        """The last ``max_lines`` lines of its stderr (blocking read of a small file tail)."""
        return _tail(self.stderr_path, max_lines)


def _tail(path: Path, max_lines: int) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-max_lines:])


def _open_for_append(path: Path) -> BinaryIO:
    return path.open("ab")


class _StdoutReader:
    """Reads the child's stdout line by line until EOF, noting the URLs it prints."""

    def __init__(self, output: list[str]) -> None:
        self.output = output
        self.urls: dict[str, str] = {}
        self.settled = anyio.Event()
        """Set once both URLs were seen, or stdout ended (the process exited)."""

    async def run(self, process: Process) -> None:
        assert process.stdout is not None
        pending = ""
        try:
            async for chunk in TextReceiveStream(process.stdout, errors="replace"):
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._take(line)
            if pending:
                self._take(pending)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the pipe went away with the process: same as EOF
        finally:
            self.settled.set()

    def _take(self, line: str) -> None:
        self.output.append(line)
        if match := _URL_LINE.match(line):
            self.urls[match[1]] = match[2]
            if len(self.urls) == 2:
                self.settled.set()


@asynccontextmanager
async def start_observatory(
    *args: str,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    stop_timeout_s: float = 60.0,
) -> AsyncIterator[RunningObservatory]:
    """Run ``observatory up`` on free ports until the block exits.

    The command is ``python -m launcher.cli --log-format json up --gateway-port 0
    --read-model-port 0 --data-dir DATA_DIR [*args]``, with this interpreter.

    Args:
        *args: more arguments of ``up``, e.g. ``"--infra", "local"``.
        data_dir: the embedded stores' directory (created if missing); the child's
            stderr is appended to :data:`STDERR_FILE` in it.
        env: variables set for the child on top of this process's environment.
        ready_timeout_s: how long it may take to print both URLs.
        stop_timeout_s: how long it may drain after SIGTERM before it is killed.

    Resource handling:
        stdout is read continuously by a task, so the child never blocks on a full pipe;
        stderr goes straight to the file (no pipe at all). On exit, normal or not, the
        child gets SIGTERM and is waited for (in a bounded shield), then killed if it
        has not exited within ``stop_timeout_s``.

    Raises:
        ObservatoryStartError: it exited, or printed no URLs within ``ready_timeout_s``;
            the message carries the end of its stderr. (An exception of the ``async
            with`` block comes out in an ``ExceptionGroup``: the block runs inside the
            task group that reads stdout.)
    """
    await anyio.Path(data_dir).mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / STDERR_FILE
    command = [
        sys.executable,
        "-m",
        "launcher.cli",
        "--log-format",
        "json",
        "up",
        "--gateway-port",
        "0",
        "--read-model-port",
        "0",
        "--data-dir",
        str(data_dir),
        *args,
    ]
    stderr_file = await anyio.to_thread.run_sync(_open_for_append, stderr_path)
    try:
        process = await anyio.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    finally:
        stderr_file.close()  # the child holds its own descriptor
    log.info("observatory.starting pid=%d data_dir=%s", process.pid, data_dir)
    reader = _StdoutReader([])
    error: ObservatoryStartError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader.run, process)
        try:
            with anyio.move_on_after(ready_timeout_s):
                await reader.settled.wait()
            if len(reader.urls) == 2:
                log.info("observatory.up pid=%d urls=%s", process.pid, reader.urls)
                yield RunningObservatory(
                    gateway=reader.urls["Gateway"],
                    read_model=reader.urls["Read model"],
                    process=process,
                    stderr_path=stderr_path,
                    output=reader.output,
                )
            else:
                if reader.settled.is_set():
                    # stdout ended: it is exiting. Let asyncio reap it before any signal:
                    # Popen.send_signal() polls first and would reap it behind asyncio's
                    # back (whose watcher then reports exit code 255).
                    with anyio.move_on_after(_KILL_WAIT_S):
                        await process.wait()
                await _stop(process, stop_timeout_s)
                why = (
                    f"exited with code {process.returncode}"
                    if reader.settled.is_set()
                    else f"printed no URLs within {ready_timeout_s:g} s"
                )
                tail = await anyio.to_thread.run_sync(_tail, stderr_path, 15)
                error = ObservatoryStartError(
                    f"observatory up {why} before it was up (stdout: {reader.output!r}); "
                    f"the end of its stderr ({stderr_path}):\n{tail}"
                )
        finally:
            await _stop(process, stop_timeout_s)
            # Its own children (``--infra local``) may still hold the pipe open: stop
            # reading rather than wait for an EOF that may never come.
            tg.cancel_scope.cancel()
            with anyio.move_on_after(_KILL_WAIT_S, shield=True):
                await process.aclose()
    if error is not None:
        # Raised here, outside the task group, so callers get it as it is.
        raise error


async def _stop(process: Process, stop_timeout_s: float) -> None:
    """SIGTERM, wait up to ``stop_timeout_s``, then SIGKILL; survives cancellation."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it exited just now
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(stop_timeout_s, shield=True):
            await process.wait()
    if process.returncode is None:
        log.warning(
            "observatory.kill pid=%d reason=no exit within %g s of SIGTERM",
            process.pid,
            stop_timeout_s,
        )
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with anyio.move_on_after(_KILL_WAIT_S, shield=True):
            await process.wait()
    log.info("observatory.stopped pid=%d returncode=%s", process.pid, process.returncode)


# -- --infra local: its own namespace of the servers, and the clean-up ----------------------


@asynccontextmanager
async def start_local_observatory(
    *,
    data_dir: Path,
    namespace: str,
    rabbitmq_url: str,
    postgres_url: str,
    redis_url: str,
    mongo_url: str | None = None,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 120.0,
    stop_timeout_s: float = 60.0,
    processors: int = 1,
) -> AsyncIterator[RunningObservatory]:
    """Run ``observatory up --infra local`` on ``namespace`` of the servers, then remove it.

    Args:
        data_dir: where the child's stderr (and nx-27017's log) are kept.
        namespace: ``OBSERVATORY_NAMESPACE`` of the services: their queues, schema, keys
            and database; everything in it is removed afterwards, so make it unique.
        rabbitmq_url: RabbitMQ of the services (likewise the other URLs).
        postgres_url: PostgreSQL of the services.
        redis_url: Redis of the services.
        mongo_url: MongoDB of the services; ``None`` starts the nx-27017 stand-in (in
            memory, stopped afterwards).
        env: more variables for the services (e.g. ``OBSERVATORY_RATE_LIMIT``).
        ready_timeout_s: how long the four services may take to be ready.
        processors: how many processor processes (``up --processors``).
        stop_timeout_s: how long they may drain after SIGTERM.

    Resource handling:
        On exit the services are stopped first, then the namespace is removed from
        RabbitMQ, PostgreSQL, Redis and MongoDB (each in a bounded shield; a failure is
        logged, not raised), then the stand-in is stopped.

    Raises:
        ObservatoryStartError: the services did not come up.
        ConfigError: ``mongo_url`` is ``None`` and nx-27017 is not installed or did not start.
    """
    async with AsyncExitStack() as stack:
        own_mongo = mongo_url is None
        if mongo_url is None:
            mongo_url = await stack.enter_async_context(open_mongo_stand_in(data_dir / "nx-27017"))
        child_env = {
            **(env or {}),
            "RABBITMQ_URL": rabbitmq_url,
            "POSTGRES_URL": postgres_url,
            "REDIS_URL": redis_url,
            "MONGO_URL": mongo_url,
            "OBSERVATORY_NAMESPACE": namespace,
        }
        # Pushed before the services start, so it runs after they have stopped.
        stack.push_async_callback(
            drop_namespace,
            namespace,
            rabbitmq_url=rabbitmq_url,
            postgres_url=postgres_url,
            redis_url=redis_url,
            mongo_url=None if own_mongo else mongo_url,
        )
        running = await stack.enter_async_context(
            start_observatory(
                "--infra",
                "local",
                "--processors",
                str(processors),
                data_dir=data_dir,
                env=child_env,
                ready_timeout_s=ready_timeout_s,
                stop_timeout_s=stop_timeout_s,
            )
        )
        running.namespace = namespace
        yield running


_LISTENING = re.compile(r"Listening on [\d.]+:(\d+)")
_STAND_IN_READY_S = 20.0


@asynccontextmanager
async def open_mongo_stand_in(folder: Path) -> AsyncIterator[str]:
    """Run nx-27017 (a MongoDB wire-protocol server, in memory) on a free port; yield its URL.

    Raises:
        ConfigError: it is not installed next to this interpreter, or did not start.
    """
    executable = Path(sys.executable).with_name("nx-27017")
    if not await anyio.Path(executable).exists():
        raise ConfigError(
            f"MONGO_URL is not set and the MongoDB stand-in {executable} is not installed; "
            "set MONGO_URL or install nx-27017."
        )
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    log_file = anyio.Path(folder / "server.log")
    command = [str(executable), "--data-dir", "memory", "--host", "127.0.0.1", "-p", "0"]
    command += ["--log-file", str(log_file), "--pid-file", str(folder / "server.pid")]
    process = await anyio.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    match: re.Match[str] | None = None
    try:
        with anyio.move_on_after(_STAND_IN_READY_S):
            # It reports its port only in its log file: nothing to wait on but that.
            while process.returncode is None:
                text = await log_file.read_text() if await log_file.exists() else ""
                if match := _LISTENING.search(text):
                    break
                await anyio.sleep(0.05)
        if not match:
            raise ConfigError(
                f"The MongoDB stand-in {executable} did not listen within "
                f"{_STAND_IN_READY_S:g} s (exit code {process.returncode}); see {log_file}."
            )
        yield f"mongodb://127.0.0.1:{match[1]}/"
    finally:
        await _stop(process, 10.0)
        with anyio.move_on_after(_KILL_WAIT_S, shield=True):
            await process.aclose()


async def drop_postgres_schema(postgres_url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (bounded, shielded; a failure is logged)."""
    import asyncpg

    with anyio.move_on_after(_CLEANUP_TIMEOUT_S, shield=True):
        try:
            conn = await asyncpg.connect(postgres_url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cleanup.failed schema=%s error=%r", schema, exc)


async def drop_namespace(
    namespace: str,
    *,
    rabbitmq_url: str,
    postgres_url: str,
    redis_url: str,
    mongo_url: str | None,
) -> None:
    """Remove ``namespace`` from the servers: its queues, schema, Redis keys and database.

    Each step is bounded and shielded; a failure is logged and the next step still runs.
    ``mongo_url`` ``None`` leaves MongoDB alone (a stand-in that goes away by itself).
    """
    import coredis
    import pymongo

    from actors.broker import open_amqp_broker
    from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
    from actors.config.settings import Settings

    settings = Settings(namespace=namespace)
    with anyio.move_on_after(_CLEANUP_TIMEOUT_S, shield=True):
        try:
            async with open_amqp_broker(rabbitmq_url, namespace=settings.queue_namespace) as broker:
                for queue in (*ALL_QUEUES, *map(retry_queue, RETRY_DELAYS_S)):
                    await broker.delete_queue(queue)
        except ObservatoryError as exc:
            log.warning("cleanup.failed namespace=%s queues error=%s", namespace, exc)
    await drop_postgres_schema(postgres_url, settings.postgres_schema)
    with anyio.move_on_after(_CLEANUP_TIMEOUT_S, shield=True):
        try:
            async with coredis.Redis.from_url(redis_url, decode_responses=True) as redis:
                keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*")]
                if keys:
                    await redis.delete(keys)
        except (OSError, coredis.exceptions.RedisError) as exc:
            log.warning("cleanup.failed namespace=%s redis error=%r", namespace, exc)
    if mongo_url is None:
        return
    with anyio.move_on_after(_CLEANUP_TIMEOUT_S, shield=True):
        client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(
            mongo_url, serverSelectionTimeoutMS=5000
        )
        try:
            await client.drop_database(settings.mongo_database)
        except pymongo.errors.PyMongoError as exc:
            log.warning("cleanup.failed namespace=%s mongo error=%r", namespace, exc)
        finally:
            await client.close()
