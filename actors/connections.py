"""Connecting to a server with retries, as a supervised child.

A :class:`Connection` enters an adapter (a broker or a store that connects when entered),
retrying with exponential backoff and one clear log line per attempt while the server is
away, and holds it open until asked to stop. A service tree places its connections
before the actors that use them, so those actors start only once their servers answer,
while the service's HTTP face (started first) already answers ``/healthz`` with 503.

After the first connect, riding out outages is the adapter's job (aio-pika's robust
connection, the asyncpg pool, the Redis and MongoDB clients reconnect by themselves);
``available()`` reports what the adapter says about itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import anyio

from actors.errors import DependencyUnavailable
from actors.kernel import ActorHealth, ActorState
from actors.urls import redact

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.abc import TaskStatus

__all__ = ["Connectable", "Connection"]

log = logging.getLogger(__name__)


class Connectable(Protocol):
    """An adapter that connects when entered and disconnects when left."""

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...

    def is_available(self) -> bool:
        """Whether it can be used right now."""
        ...


class Connection:
    """Keeps ``resource`` connected: retries entering it, then holds it until stopped."""

    def __init__(
        self,
        name: str,
        resource: Connectable,
        url: str,
        *,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
    ) -> None:
        self.name = name
        self._resource = resource
        self._url = redact(url)
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._state = ActorState.STOPPED
        self._stop = anyio.Event()
        self._connected = False
        self.attempts = 0
        """Connection attempts so far (all runs)."""
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self._url} connected={self._connected}>"

    def available(self) -> bool:
        """Connected, and the adapter says it can be used."""
        return self._connected and self._resource.is_available()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect (retrying), report ready, hold the connection until asked to stop.

        Error handling: DependencyUnavailable while connecting is retried forever with
        backoff; anything else propagates (a bug or bad configuration).
        """
        self._stop = anyio.Event()
        self._state = ActorState.STARTING
        delay_s = self._retry_initial_s
        try:
            while not self._stop.is_set():
                self.attempts += 1
                try:
                    async with self._resource:
                        self._connected = True
                        self.last_error = None
                        self._state = ActorState.RUNNING
                        log.info("dependency.connected name=%s url=%s", self.name, self._url)
                        task_status.started()
                        await self._stop.wait()
                        self._state = ActorState.STOPPING
                    return
                except DependencyUnavailable as exc:
                    self.last_error = str(exc)
                    log.warning(
                        "dependency.unavailable name=%s url=%s attempt=%d retry_in_s=%.1f error=%s",
                        self.name,
                        self._url,
                        self.attempts,
                        delay_s,
                        exc,
                    )
                finally:
                    self._connected = False
                with anyio.move_on_after(delay_s):
                    await self._stop.wait()
                delay_s = min(delay_s * 2, self._retry_max_s)
        finally:
            self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Disconnect and return."""
        self._stop.set()

    def health(self) -> list[ActorHealth]:
        """One entry; ``lastError`` says why it is not connected."""
        state = self._state
        if state is ActorState.RUNNING and not self.available():
            state = ActorState.RESTARTING
        return [ActorHealth(path=self.name, state=state, restarts=0, last_error=self.last_error)]
