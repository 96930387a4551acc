"""The cancel watcher: finds the cancel requests of the jobs running here and has the
executor cancel their handlers.

``DELETE /jobs/{id}`` is answered by the gateway, which in the four-process mode (and in
a cluster) runs in another process than the processor running the job, so the request
has to travel through the store or the broker. It goes through the **store**:

* the gateway already keeps every request there durably (as the job's marker, or apart
  for a job still queued, which needs it when a processor takes it; see
  :meth:`~actors.stores.JobStore.request_cancel`), so nothing else has to be published,
  confirmed or declared;
* it cannot be lost: a broadcast would need a fanout exchange and a queue per processor,
  and a processor restarting (or a consumer reconnecting) while the message passes would
  miss it, where a row is found at the next look;
* the cost is one small indexed read every :data:`INTERVAL_S` per processor, and only
  while it runs jobs: ``cancel_requests(ids)`` for the ids of its running handlers.

So a running job is cancelled within :data:`INTERVAL_S` (plus the store's round trip)
of the request, the latency the issue asks (under a second). Reading the requests
kept apart as well as the markers covers a request that raced with the job's first
write (PostgreSQL: the gateway found no job, the processor created it without seeing
the request not yet committed): the job runs, and is cancelled here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors.kernel.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from actors.processor.executor import Executor
    from actors.stores import JobStore

__all__ = ["INTERVAL_S", "CancelWatcher"]

log = logging.getLogger(__name__)

INTERVAL_S = 0.3
"""How often the watcher looks for cancel requests of the running jobs."""


class CancelWatcher(Periodic):
    """Every :data:`INTERVAL_S`, asks the store for cancel requests of the jobs the
    executor runs and cancels them there.

    A store away skips the tick (logged by :class:`Periodic`); the next one asks again.
    """

    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        *,
        interval_s: float = INTERVAL_S,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("cancel-watcher", interval_s=interval_s, wait_ready=wait_ready)
        self._store = store
        self._executor = executor
        self.cancelled = 0
        """Running jobs this watcher had cancelled."""

    async def tick(self) -> None:
        """Cancel the running jobs whose cancel was requested."""
        running = self._executor.running()
        if not running:
            return
        requests = await self._store.cancel_requests(running)
        for request in requests.values():
            if self._executor.cancel(request):
                self.cancelled += 1
