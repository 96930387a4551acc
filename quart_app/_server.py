"""Serving a Quart app with Hypercorn as a supervised child.

The socket is bound *before* ``task_status.started()`` so that readiness means "accepting
connections" and a port of 0 reports the port the OS chose (tests run on free ports).
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import anyio
from hypercorn.asyncio import serve
from hypercorn.config import Config

from actors.errors import ConfigError
from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from quart import Quart

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Is another observatory "
            "running there? Stop it or choose another port."
        ) from exc
    sock.setblocking(False)
    return sock


class HttpServer:
    """A Quart app served by Hypercorn on ``host:port``; ``port=0`` picks a free one."""

    def __init__(
        self,
        app: Quart,
        host: str,
        port: int,
        *,
        name: str = "http",
        read_timeout_s: int = 30,
    ) -> None:
        self.name = name
        self.read_timeout_s = read_timeout_s
        self.app = app
        self.host = host
        self.port = port
        """The bound port once running (the chosen one when 0 was asked)."""
        self._requested_port = port
        self._stop = anyio.Event()
        self._state = ActorState.STOPPED

    def __repr__(self) -> str:
        return f"<HttpServer {self.name} {self.host}:{self.port} state={self._state.name.lower()}>"

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report ready, and serve until asked to stop.

        Resource handling: the listening socket is handed to Hypercorn, which closes it.
        """
        self._state = ActorState.STARTING
        self._stop = anyio.Event()
        sock = _listen(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.graceful_timeout = 5.0
        config.keep_alive_timeout = 75.0
        # A client that stops sending mid-request is dropped, never holding a worker.
        config.read_timeout = self.read_timeout_s
        self._state = ActorState.RUNNING
        task_status.started()
        log.info("http.listening name=%s url=http://%s:%d", self.name, self.host, self.port)
        try:
            await serve(self.app, config, shutdown_trigger=self._stop.wait)
        finally:
            self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Stop accepting connections; in-flight requests get Hypercorn's graceful timeout."""
        self._state = ActorState.STOPPING
        self._stop.set()

    def health(self) -> list[ActorHealth]:
        """One entry for the server."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]
