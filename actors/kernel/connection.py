"""Connecting to a server with retries, as a supervised child.

A :class:`Connection` opens an adapter (a broker or a store, through the async context
manager that connects it), retrying with exponential backoff and one clear log line per
attempt while the server is away, and holds it open until asked to stop; ``current`` is
the open adapter meanwhile. A service tree places its connections
before the actors that use them, so those actors start only once their servers answer,
while the service's HTTP face (started first) already answers ``/healthz`` with 503.

After the first connect, riding out outages is the adapter's job (aio-pika's robust
connection, the asyncpg pool, the Redis and MongoDB clients reconnect by themselves);
``available()`` reports what the adapter says about itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio

from actors.config.urls import redact
from actors.errors import DependencyUnavailable
from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from anyio.abc import TaskStatus

__all__ = ["Connection", "SelfReporting"]

log = logging.getLogger(__name__)


class SelfReporting(Protocol):
    """An adapter that knows whether it can be used right now."""

    def is_available(self) -> bool:
        """Whether it can be used right now."""
        ...


T = TypeVar("T", bound=SelfReporting)

_SAME_REASON_CHARS = 120
"""Reasons alike this far are the same (MongoDB's end with a topology id new each time)."""
_MAX_REASON_CHARS = 300


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


class Connection(Generic[T]):
    """Keeps an adapter connected: retries opening it, then holds it until stopped."""

    def __init__(
        self,
        name: str,
        open_adapter: Callable[[], AbstractAsyncContextManager[T]],
        url: str,
        *,
        prepare: Callable[[T], Awaitable[None]] | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        """How the server is called in log lines, e.g. ``"RabbitMQ"``."""
        self._open = open_adapter
        self.current: T | None = None
        """The open adapter while connected, else ``None``."""
        self._url = redact(url)
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._state = ActorState.STOPPED
        self._stop = anyio.Event()
        self._connected = anyio.Event()
        self._prepare = prepare
        self.attempts = 0
        """Connection attempts so far (all runs)."""
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self._url} connected={self.current is not None}>"

    def get(self) -> T:
        """The open adapter.

        Raises:
            DependencyUnavailable: not connected (yet, or any more).
        """
        if self.current is None:
            raise DependencyUnavailable(
                f"{self.name} at {self._url} is not connected"
                + (f" ({self.last_error})." if self.last_error else " yet.")
            )
        return self.current

    def available(self) -> bool:
        """Connected, and the adapter says it can be used."""
        return self.current is not None and self.current.is_available()

    async def wait_available(self) -> None:
        """Wait until connected and the adapter says it can be used."""
        while not self.available():
            if self.current is None:
                await self._connected.wait()
            else:
                wait = getattr(self.current, "wait_available", None)
                if wait is None:
                    return
                await wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Report ready at once, then connect (retrying) and hold the connection until stopped.

        Ready means "trying": the actors that need the server wait for it with
        :meth:`wait_available`, so the service's HTTP face can answer meanwhile.

        Error handling: DependencyUnavailable while connecting is retried forever with
        backoff; anything else propagates (a bug or bad configuration).
        """
        self._stop = anyio.Event()
        self._state = ActorState.STARTING
        task_status.started()
        delay_s = self._retry_initial_s
        try:
            while not self._stop.is_set():
                self.attempts += 1
                try:
                    async with self._open() as adapter:
                        if self._prepare is not None:
                            await self._prepare(adapter)
                        self.current = adapter
                        self.last_error = None
                        self._state = ActorState.RUNNING
                        self._connected.set()
                        log.info("dependency.connected name=%s url=%s", self.name, self._url)
                        await self._stop.wait()
                        self._state = ActorState.STOPPING
                    return
                except DependencyUnavailable as exc:
                    # One line per attempt; the (long) reason only when it is new, so a
                    # server that stays away costs one short line per retry.
                    text = str(exc)
                    same = self.last_error is not None and (
                        text[:_SAME_REASON_CHARS] == self.last_error[:_SAME_REASON_CHARS]
                    )
                    reason = None if same else _shorten(text)
                    self.last_error = text
                    log.warning(
                        "waiting for %s at %s (attempt %d, next in %s s)%s",
                        self.label,
                        self._url,
                        self.attempts,
                        f"{delay_s:g}",
                        "" if reason is None else f": {reason}",
                        extra={
                            "event": "dependency.unavailable",
                            "dependency": self.name,
                            "attempt": self.attempts,
                            "retry_in_s": delay_s,
                        },
                    )
                finally:
                    self.current = None
                    self._connected = anyio.Event()
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
