"""Actors that do one thing every few seconds until they are stopped."""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING

import anyio

from actors.errors import DependencyUnavailable
from actors.kernel import ActorHealth, ActorState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskStatus

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic(abc.ABC):
    """Base: calls :meth:`tick` every ``interval_s`` until stopped.

    A tick that finds a server away (:class:`DependencyUnavailable`) is skipped with a
    log line; the next one tries again. Subclasses implement :meth:`tick`.
    """

    def __init__(
        self,
        name: str,
        *,
        interval_s: float,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._interval_s = interval_s
        self._wait_ready = wait_ready
        self._stop = anyio.Event()
        self._nudged = anyio.Event()
        self._state = ActorState.STOPPED

    @abc.abstractmethod
    async def tick(self) -> None:
        """One round of work."""

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Tick until asked to stop (ready at once; waits for its servers first if told to)."""
        self._stop = anyio.Event()
        self._nudged = anyio.Event()
        self._state = ActorState.RUNNING
        task_status.started()
        try:
            if self._wait_ready is not None:
                await self._wait_ready()
            while not self._stop.is_set():
                try:
                    await self.tick()
                except DependencyUnavailable as exc:
                    log.warning("periodic.tick_skipped name=%s error=%s", self.name, exc)
                with anyio.move_on_after(self._interval_s):
                    await self._nudged.wait()
                if self._nudged.is_set():
                    self._nudged = anyio.Event()
        finally:
            self._state = ActorState.STOPPED

    def nudge(self) -> None:
        """Tick now rather than at the end of the current interval."""
        self._nudged.set()

    def request_stop(self) -> None:
        """Stop after the current tick."""
        self._stop.set()
        self._nudged.set()

    def health(self) -> list[ActorHealth]:
        """One entry for this actor."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]
