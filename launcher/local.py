"""``observatory up --infra local``: each service as its own process, against real servers.

Each service runs as ``observatory serve <service>`` in a child process, supervised by
the same kernel as the actors: a process that exits on its own is restarted with
backoff; a graceful stop sends SIGTERM in reverse start order (gateway first, so nothing
new arrives while the processor and metrics engine drain) and kills what does not exit
within its shutdown time.

``--processors N`` runs N processor processes on the same queues (RabbitMQ shares the
deliveries out among their consumers): ``processor-1`` .. ``processor-N``, each with its
own health/metrics port and its own name in its log lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.errors import ConfigError, ObservatoryError
from actors.kernel import ActorHealth, ActorState, ChildSpec, Supervisor

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anyio.abc import Process, TaskStatus

__all__ = [
    "LOCAL_SERVICES",
    "ServiceProcess",
    "local_supervisor",
    "processor_names",
    "wait_all_healthy",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalService:
    """One service of the local topology and the port its HTTP face listens on."""

    name: str
    port: int


LOCAL_SERVICES = (
    LocalService("metrics-engine", 8002),
    LocalService("processor", 8001),
    LocalService("read-model", 8080),
    LocalService("gateway", 3000),
)
"""Start order: consumers first, the gateway last (it is stopped first)."""


class ServiceExited(ObservatoryError):
    """A service process exited on its own."""


class ServiceProcess:
    """Runs ``observatory serve <service>`` and reports ready once its ``/readyz`` answers."""

    def __init__(
        self,
        service: str,
        *,
        host: str,
        port: int,
        env: Mapping[str, str],
        extra_args: Sequence[str] = (),
        global_args: Sequence[str] = (),
        ready_timeout_s: float = 60.0,
        name: str | None = None,
    ) -> None:
        """``extra_args`` follow ``serve <service>``; ``global_args`` (``--log-format``,
        ``--log-level``) precede it. ``name`` tells apart processes of one service
        (``processor-2``): the supervisor's child id and the process's ``--log-name``;
        it defaults to the service."""
        self.service = service
        self.name = service if name is None else name
        self.host = host
        self.port = port
        self._env = dict(env)
        self._extra_args = list(extra_args)
        self._global_args = list(global_args)
        self._ready_timeout_s = ready_timeout_s
        self._process: Process | None = None
        self._state = ActorState.STOPPED
        self.starts = 0

    def __repr__(self) -> str:
        pid = None if self._process is None else self._process.pid
        return f"<ServiceProcess {self.name} pid={pid} state={self._state.name.lower()}>"

    @property
    def url(self) -> str:
        """Where the service's HTTP face answers."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The command line of the child process."""
        return [
            sys.executable,
            "-m",
            "launcher.cli",
            *self._global_args,
            *(["--log-name", self.name] if self.name != self.service else []),
            "serve",
            self.service,
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self._extra_args,
        ]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start the process, wait for ``/readyz``, then wait for it to exit.

        Raises:
            ServiceExited: the process exited without being asked to (the supervisor
                restarts it).
        """
        self._state = ActorState.STARTING
        self.starts += 1
        process = await anyio.open_process(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=None,
            env={**os.environ, **self._env},
        )
        self._process = process
        try:
            with anyio.fail_after(self._ready_timeout_s):
                await self._wait_ready(process)
            self._state = ActorState.RUNNING
            log.info("service.started service=%s pid=%d url=%s", self.name, process.pid, self.url)
            task_status.started()
            code = await process.wait()
            if self._state is not ActorState.STOPPING:
                raise ServiceExited(f"Service {self.name} exited with code {code}.")
        finally:
            self._state = ActorState.STOPPED
            if process.returncode is None:
                process.kill()
                with anyio.move_on_after(5, shield=True):
                    await process.wait()
            self._process = None

    async def _wait_ready(self, process: Process) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while process.returncode is None:
                try:
                    response = await client.get(f"{self.url}/readyz")
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 200:
                    return
                # Another process: nothing to wait on but its answer; poll gently.
                await anyio.sleep(0.2)
        raise ServiceExited(
            f"Service {self.name} exited with code {process.returncode} before it was ready."
        )

    def request_stop(self) -> None:
        """SIGTERM the process: it drains and exits."""
        self._state = ActorState.STOPPING
        if self._process is not None and self._process.returncode is None:
            # os.kill, not send_signal(): Popen.send_signal() polls first and may reap a
            # child that just exited behind asyncio's back (its exit code then reads 255).
            # Until asyncio reaps it, the pid stays the zombie's, so this cannot hit another.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGTERM)

    def health(self) -> list[ActorHealth]:
        """One entry for the process."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]


def processor_names(processors: int) -> list[str]:
    """The names of ``processors`` processor processes: ``processor`` alone, else
    ``processor-1`` .. ``processor-N``.

    Raises:
        ConfigError: ``processors`` is less than 1.
    """
    if processors < 1:
        raise ConfigError(
            f"--processors must be at least 1 (got {processors}): the processors are the "
            "only consumers of jobs.created."
        )
    if processors == 1:
        return ["processor"]
    return [f"processor-{index}" for index in range(1, processors + 1)]


def local_supervisor(
    *,
    host: str,
    env: Mapping[str, str],
    shutdown_s: float,
    ports: Mapping[str, int] | None = None,
    extra_args: Sequence[str] = (),
    global_args: Sequence[str] = (),
    processors: int = 1,
) -> tuple[Supervisor, dict[str, ServiceProcess]]:
    """A supervisor running every service as a process (ports default to the architecture's).

    ``global_args`` go before ``serve`` (``--log-format json``: one format for all).
    ``processors`` processor processes consume the same queues (see
    :func:`processor_names`); ``ports`` maps each process name to its port (a name
    without one gets its service's default port). The result maps the names to the
    processes, in start order.

    Raises:
        ConfigError: ``processors`` is less than 1, or two processes would share a port.
    """
    chosen = dict(ports or {})
    names = [
        (service, name)
        for service in LOCAL_SERVICES
        for name in (processor_names(processors) if service.name == "processor" else [service.name])
    ]
    processes = {
        name: ServiceProcess(
            service.name,
            name=name,
            host=host,
            port=chosen.get(name, service.port),
            env=env,
            extra_args=extra_args,
            global_args=global_args,
        )
        for service, name in names
    }
    by_port: dict[int, list[str]] = {}
    for process in processes.values():
        by_port.setdefault(process.port, []).append(process.name)
    shared = {port: names for port, names in by_port.items() if len(names) > 1}
    if shared:
        clashes = "; ".join(f"{' and '.join(n)} on {port}" for port, n in sorted(shared.items()))
        raise ConfigError(
            f"Two services would listen on one port ({clashes}): give each its own port, or 0 "
            "for a free one."
        )
    supervisor = Supervisor(
        "observatory",
        [ChildSpec.of(p, shutdown_s=shutdown_s + 5) for p in processes.values()],
        intensity=5,
        period_s=60.0,
        backoff_max_s=10.0,
    )
    return supervisor, processes


async def wait_all_healthy(processes: Sequence[ServiceProcess], *, timeout_s: float) -> list[str]:
    """Wait until every process's ``/healthz`` answers 200; the names still unready after
    ``timeout_s``."""
    pending = {p.name: p for p in processes}
    async with httpx.AsyncClient(timeout=2.0) as client:
        with anyio.move_on_after(timeout_s):
            while pending:
                for name, process in list(pending.items()):
                    try:
                        response = await client.get(f"{process.url}/healthz")
                    except httpx.HTTPError:
                        continue
                    if response.status_code == 200:
                        del pending[name]
                if pending:
                    # Other processes: their answer is the only thing to wait on.
                    await anyio.sleep(0.2)
    return sorted(pending)
