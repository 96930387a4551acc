"""``GET /jobs/{id}?wait=SECONDS``: answer once the job has ended, without a poll per request.

One :class:`JobWaiters` actor watches for every waiting request. It learns of changes
the way the live feed does, from the audit trail (the read model never reads the
broker): while anyone waits, it reads the newest events once a tick (every 50 ms) and
wakes the requests whose job has a new event; with nobody waiting it reads nothing.
A woken request reads its job again and answers if the job is terminal, else waits on.

What can delay a wake, and what bounds it:

* more events in one tick than the window holds (the window overflowed): every waiter
  is woken and reads its job once;
* an event stored with a time older than the window (a late append): the sweep, every
  second, wakes every waiter to read its job once.

So a request answers within a tick of its job's terminal event reaching the event
store, and at worst within a second; and when its time is up, with the job as it is.

A job the job store does not know is answered at once (404), as without ``wait``: the
read model cannot tell an id never submitted from a job still queued, and a request for
a made-up id must not hold a connection for a minute. Clients ask again meanwhile
(``observatory.Client.wait`` does, with backoff).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio

from actors.domain.events import EventType
from actors.errors import DependencyUnavailable, ValidationIssue
from actors.kernel import ActorHealth, ActorState
from quart_app._common import BadQuery

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anyio.abc import TaskStatus

    from actors.domain.events import Envelope
    from actors.domain.jobs import JobRecord
    from actors.stores import EventStore, JobStore

__all__ = ["MAX_WAIT_S", "TRAIL_CATCH_UP_S", "JobWaiters", "parse_wait", "wait_for_job"]

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
"""The longest ``?wait=`` a request may ask for."""


def parse_wait(raw: str | None) -> float:
    """The ``wait`` query parameter in seconds (0 when absent).

    Raises:
        BadQuery: it is not a number, or outside 0 to :data:`MAX_WAIT_S`.
    """
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadQuery(
            ValidationIssue(
                "/wait", f"Query parameter 'wait' must be a number of seconds, got {raw!r}."
            )
        )
    if not 0 <= value <= MAX_WAIT_S:
        raise BadQuery(
            ValidationIssue(
                "/wait",
                f"Query parameter 'wait' must be between 0 and {MAX_WAIT_S:g} seconds, got "
                f"{raw}; wait again for longer.",
            )
        )
    return value


class JobWaiters:
    """Wakes the requests waiting for jobs when their jobs have new events.

    Args:
        events: the audit trail it reads.
        interval_s: how often it reads the newest events while anyone waits.
        window: how many of the newest events one read takes.
        sweep_s: how often it wakes every waiter regardless (see the module's docstring).
    """

    def __init__(
        self,
        events: EventStore,
        *,
        interval_s: float = 0.05,
        window: int = 200,
        sweep_s: float = 1.0,
    ) -> None:
        self.name = "job-waiters"
        self._events = events
        self._interval_s = interval_s
        self._window = window
        self._sweep_s = sweep_s
        self._waiters: defaultdict[str, set[anyio.Event]] = defaultdict(set)
        self._wanted = anyio.Event()
        """Set when the first request starts waiting (or to stop)."""
        self._stop = anyio.Event()
        self._state = ActorState.STOPPED
        self._last_seen: set[str] = set()
        """Event ids of the previous read: the ones not in it are new."""

    @property
    def waiting(self) -> int:
        """How many requests wait right now."""
        return sum(len(events) for events in self._waiters.values())

    @property
    def stopping(self) -> bool:
        """Whether it was asked to stop: a request then answers with what it finds."""
        return self._stop.is_set()

    @contextmanager
    def watch(self, job_id: str) -> Iterator[anyio.Event]:
        """While inside, the yielded event is set when job ``job_id`` has a new event.

        Enter it *before* reading the job, so that no event between the read and the wait
        is missed.
        """
        moved = anyio.Event()
        if self.stopping:
            moved.set()
        self._waiters[job_id].add(moved)
        self._wanted.set()
        try:
            yield moved
        finally:
            waiting = self._waiters.get(job_id)
            if waiting is not None:
                waiting.discard(moved)
                if not waiting:
                    del self._waiters[job_id]

    def _wake(self, job_ids: set[str] | None) -> None:
        """Wake the waiters of ``job_ids`` (``None``: every waiter)."""
        targets = self._waiters.keys() if job_ids is None else job_ids & self._waiters.keys()
        for job_id in list(targets):
            for moved in self._waiters[job_id]:
                moved.set()

    async def _look(self) -> None:
        """Read the newest events once and wake the waiters of the jobs that moved."""
        recent = await self._events.recent_events(limit=self._window)
        ids = {event.event_id for event in recent}
        overflowed = (
            len(recent) >= self._window and bool(self._last_seen) and not ids & self._last_seen
        )
        if overflowed:
            self._wake(None)
        else:
            self._wake({event.job_id for event in recent if event.event_id not in self._last_seen})
        self._last_seen = ids

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Watch while anyone waits, sleep while nobody does, until asked to stop."""
        self._stop = anyio.Event()
        self._state = ActorState.RUNNING
        task_status.started()
        failing = False
        try:
            while not self._stop.is_set():
                if not self._waiters:
                    # Nobody waits: what happens meanwhile is no news to anyone.
                    self._last_seen = set()
                    await self._wanted.wait()
                    self._wanted = anyio.Event()
                    continue
                next_sweep = anyio.current_time() + self._sweep_s
                while self._waiters and not self._stop.is_set():
                    try:
                        await self._look()
                        failing = False
                    except DependencyUnavailable as exc:
                        if not failing:  # once per outage, not 20 lines a second
                            log.warning("job_waiters.read_failed error=%s", exc)
                        failing = True
                    if anyio.current_time() >= next_sweep:
                        self._wake(None)
                        next_sweep = anyio.current_time() + self._sweep_s
                    with anyio.move_on_after(self._interval_s):
                        await self._stop.wait()
        finally:
            self._wake(None)
            self._state = ActorState.STOPPED

    def request_stop(self) -> None:
        """Stop watching; the waiting requests are woken and answer with what they find."""
        self._stop.set()
        self._wanted.set()

    def health(self) -> list[ActorHealth]:
        """One entry for this actor."""
        return [ActorHealth(path=self.name, state=self._state, restarts=0)]


TRAIL_CATCH_UP_S = 2.0
"""How long a terminal job's answer waits for its terminal event to reach the trail."""


def _told(record: JobRecord, timeline: list[Envelope]) -> bool:
    """Whether the audit trail has caught up with the job's end (its last event says it)."""
    return bool(timeline) and timeline[-1].event_type is EventType.for_status(record.status)


async def wait_for_job(
    waiters: JobWaiters, jobs: JobStore, events: EventStore, job_id: str, wait_s: float
) -> tuple[JobRecord | None, list[Envelope]]:
    """Job ``job_id`` and its timeline once it is terminal, or as they are after ``wait_s``.

    A terminal job is answered once its terminal event is in the audit trail too (the job
    store learns of the end a moment before the trail), so the answer is whole; when the
    trail does not catch up within :data:`TRAIL_CATCH_UP_S` (the metrics engine down),
    the job is answered as the store has it.

    Returns:
        The job and its events in timeline order; ``(None, [])`` at once when the job
        store does not know the job.

    Cancellation:
        Nothing is left behind: the request stops waiting and leaves the watcher.
    """
    deadline = anyio.current_time() + wait_s
    while True:
        with waiters.watch(job_id) as moved:
            record = await jobs.get_job(job_id)
            if record is None:
                return None, []
            timeline = await events.events_for_job(job_id)
            if record.status.is_terminal:
                if _told(record, timeline):
                    return record, timeline
                # The trail is a moment behind the job store: wait for it, not for long.
                deadline = min(deadline, anyio.current_time() + TRAIL_CATCH_UP_S)
            remaining = deadline - anyio.current_time()
            if remaining <= 0 or waiters.stopping:
                return record, timeline
            with anyio.move_on_after(remaining):
                await moved.wait()
