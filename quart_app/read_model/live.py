"""The read model's live-update fan-out: what changed, pushed to every stream client.

One :class:`LiveFeed` actor reads the stores once a tick, whatever the number of
clients, and hands each client's :class:`Subscription` only what changed since the
last tick: stats, throughput, the newest jobs, alerts, new audit events and the
dead-letter count; and, every :data:`PANELS_EVERY_S` seconds while anyone listens, the
workers (as ``GET /workers``) and the queues (as ``GET /queues``, with rates over that
period from a rate tracker of the feed's own). A client that cannot keep up (its queue is full) is dropped, so a
slow or stuck client never holds the feed or the server; it reconnects and starts over
from a fresh snapshot.

:class:`ThroughputHistory` keeps the finished-job counters sampled each tick and turns
them into per-bucket counts for the last 15 minutes (since the read model started, when
that is shorter) and a jobs-per-second rate over the last minute.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from actors.errors import DependencyUnavailable
from actors.kernel.periodic import Periodic
from quart_app.read_model.queues import RateTracker
from quart_app.read_model.workers import workers_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from actors.stores import Counters, DeadLetterStore, EventStore, JobStore
    from actors.stores.workers import WorkerRegistry
    from quart_app.read_model.alerts import AlertBook
    from quart_app.read_model.queues import QueueInspector

__all__ = [
    "FEED_JOBS",
    "PANELS_EVERY_S",
    "LiveFeed",
    "Subscription",
    "ThroughputHistory",
    "TooManyClients",
    "sse_message",
]

log = logging.getLogger(__name__)

FEED_JOBS = 20
"""How many of the newest jobs a ``jobs`` message carries."""
_FEED_EVENTS = 50
_SEEN_EVENTS = 1_000
_CLIENT_QUEUE = 256
"""Messages a client may fall behind by before it is dropped."""
HEARTBEAT_S = 15.0
PANELS_EVERY_S = 3.0
"""How often the ``workers`` and ``queues`` messages are read and sent (while listened)."""
_READ_WHILE_LISTENED = ("jobs", "dead-letters", "workers", "queues")
"""Snapshot kinds read only while someone listens (the rest are kept fresh always)."""


def sse_message(event: str, data: object) -> bytes:
    """One Server-Sent Events message: ``event:`` name and its JSON ``data:`` line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ThroughputHistory:
    """Finished jobs per bucket over a window, from cumulative counter samples."""

    def __init__(self, *, bucket_s: int = 30, window_s: int = 900) -> None:
        if bucket_s <= 0 or window_s < bucket_s:
            raise ValueError("bucket_s must be positive and window_s at least one bucket.")
        self.bucket_s = bucket_s
        self.window_s = window_s
        self._samples: list[tuple[float, int, int]] = []
        """Oldest first; sampled once a tick, so ``bisect`` finds a time in it."""

    def observe(self, completed: int, failed: int, at: float) -> None:
        """Record the cumulative completed and failed counts read at ``at`` (seconds)."""
        self._samples.append((at, completed, failed))
        horizon = at - self.window_s - self.bucket_s - 60
        # Keep one sample before the horizon: it is the baseline of the oldest bucket.
        stale = bisect.bisect_left(self._samples, horizon, key=lambda sample: sample[0]) - 1
        if stale > 0 and len(self._samples) - stale >= 2:
            del self._samples[:stale]

    def _at_or_before(self, at: float) -> tuple[float, int, int] | None:
        index = bisect.bisect_right(self._samples, at, key=lambda sample: sample[0])
        return self._samples[index - 1] if index else None

    def _finished_between(self, start: float, end: float) -> tuple[int, int]:
        """Jobs completed and failed in ``(start, end]``; counters that went back count 0."""
        before = self._at_or_before(start) or self._samples[0]
        after = self._at_or_before(end)
        if after is None or after[0] <= before[0]:
            return 0, 0
        return max(0, after[1] - before[1]), max(0, after[2] - before[2])

    def per_second(self, now: float) -> float:
        """Finished jobs per second over the last minute (or since the first sample)."""
        if len(self._samples) < 2:
            return 0.0
        first = self._samples[0][0]
        start = max(now - 60.0, first)
        if now - start <= 0:
            return 0.0
        completed, failed = self._finished_between(start, now)
        return round((completed + failed) / (now - start), 3)

    def to_json(self, now: float | None = None) -> dict[str, object]:
        """The ``GET /stats/throughput`` document: buckets oldest first, and the rate."""
        now = time.time() if now is None else now
        buckets: list[dict[str, object]] = []
        if self._samples:
            first = self._samples[0][0]
            current = now - now % self.bucket_s
            start = max(current - self.window_s + self.bucket_s, first - first % self.bucket_s)
            while start <= current:
                completed, failed = self._finished_between(start, start + self.bucket_s)
                buckets.append({"start": _iso(start), "completed": completed, "failed": failed})
                start += self.bucket_s
        return {
            "bucketSeconds": self.bucket_s,
            "windowSeconds": self.window_s,
            "buckets": buckets,
            "perSecond": self.per_second(now),
        }


class TooManyClients(Exception):
    """The stream already serves its maximum number of clients."""


class Subscription:
    """One stream client's queue of encoded messages."""

    def __init__(self, feed: LiveFeed) -> None:
        self._feed = feed
        send: MemoryObjectSendStream[bytes]
        receive: MemoryObjectReceiveStream[bytes]
        send, receive = anyio.create_memory_object_stream[bytes](_CLIENT_QUEUE)
        self._send = send
        self._receive = receive
        self.dropped = False

    def offer(self, message: bytes) -> bool:
        """Queue ``message``; ``False`` (and the stream is ended) when it fell behind."""
        try:
            self._send.send_nowait(message)
        except anyio.WouldBlock:
            self.dropped = True
            self.end()
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def end(self) -> None:
        """End the stream from the feed's side: the client reads what is queued, then stops."""
        self._send.close()

    def close(self) -> None:
        """Done with it (the client's side): release both ends and leave the feed."""
        self._send.close()
        self._receive.close()
        self._feed.unsubscribe(self)

    async def messages(self, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[bytes]:
        """Queued messages as they come, a comment line when nothing came for a while."""
        while True:
            with anyio.move_on_after(heartbeat_s):
                try:
                    yield await self._receive.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                continue
            yield b": keep-alive\n\n"


class LiveFeed(Periodic):
    """Reads what changed once a tick and pushes it to every subscription."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        events: EventStore,
        dead_letters: DeadLetterStore,
        counters: Counters,
        alerts: AlertBook,
        interval_s: float = 1.0,
        max_clients: int = 100,
        history: ThroughputHistory | None = None,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
        workers: WorkerRegistry | None = None,
        workers_keep_s: float = 3600.0,
        queues: QueueInspector | None = None,
        panels_every_s: float = PANELS_EVERY_S,
    ) -> None:
        """``workers`` and ``queues``: what the ``workers`` and ``queues`` messages read
        (each message is left out without its source); ``workers_keep_s``: how long a gone
        worker stays listed, as ``GET /workers``; ``panels_every_s``: how often both are
        read while anyone listens (each message differs from the last, since it carries
        ages and rates, so it is sent each time)."""
        super().__init__("live-feed", interval_s=interval_s, wait_ready=wait_ready)
        self._jobs = jobs
        self._events = events
        self._dead_letters = dead_letters
        self._counters = counters
        self._alerts = alerts
        self._clock = clock
        self.max_clients = max_clients
        self.history = history if history is not None else ThroughputHistory()
        self._subscribers: set[Subscription] = set()
        self._latest: dict[str, bytes] = {}
        self._skipping: set[str] = set()
        """Parts whose server is away: said once when it goes, once when it is back."""
        """The last message of each snapshot kind, for new clients."""
        self._fresh: set[Subscription] = set()
        """Clients that get the whole snapshot at the end of the next tick."""
        self._seen_events: deque[str] = deque(maxlen=_SEEN_EVENTS)
        self._events_baseline = False
        self._workers = workers
        self._workers_keep_s = workers_keep_s
        self._queues = queues
        self._queue_rates = RateTracker(clock=clock)
        """The feed's own: ``GET /queues`` callers do not shorten its rate windows."""
        self._panels_every_s = panels_every_s
        self._panels_due = 0.0
        """When (``clock``) the workers and queues are next read; 0: at the next tick."""

    @property
    def clients(self) -> int:
        """How many clients are subscribed."""
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """A new client's subscription; the feed ticks at once to send it a fresh snapshot.

        Raises:
            TooManyClients: ``max_clients`` are already subscribed.
        """
        if len(self._subscribers) >= self.max_clients:
            raise TooManyClients(f"The live stream already serves {self.max_clients} clients.")
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        self._fresh.add(subscription)
        self.nudge()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription`` (idempotent)."""
        self._subscribers.discard(subscription)
        self._fresh.discard(subscription)

    def _offer(self, subscription: Subscription, message: bytes) -> None:
        if not subscription.offer(message):
            self.unsubscribe(subscription)
            if subscription.dropped:
                log.warning("stream.client_dropped reason=too_slow")

    def _publish(self, kind: str, data: object, *, snapshot: bool = True) -> None:
        message = sse_message(kind, data)
        if snapshot:
            if self._latest.get(kind) == message:
                return
            self._latest[kind] = message
        # News (events) goes to every client: each drops what its first fetch already had.
        targets = self._subscribers - self._fresh if snapshot else set(self._subscribers)
        for subscription in list(targets):
            self._offer(subscription, message)

    async def tick(self) -> None:
        """Sample the counters; when anyone listens, push what changed."""
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [("stats", self._stats)]
        if not self._subscribers:
            # Nobody listens: what is not read meanwhile goes stale, and events meanwhile
            # are history (GET /events), not news.
            self._events_baseline = False
            self._panels_due = 0.0
            for kind in _READ_WHILE_LISTENED:
                self._latest.pop(kind, None)
        else:
            parts += [
                ("jobs", self._recent_jobs),
                ("events", self._new_events),
                ("dead-letters", self._dead_letter_count),
            ]
            now = self._clock()
            if now >= self._panels_due:
                self._panels_due = now + self._panels_every_s
                if self._workers is not None:
                    parts.append(("workers", self._worker_list))
                if self._queues is not None:
                    parts.append(("queues", self._queue_list))
        for name, part in parts:
            try:
                await part()
            except DependencyUnavailable as exc:
                # Once per outage, not once per tick: the connection logs its retries.
                if name not in self._skipping:
                    self._skipping.add(name)
                    log.warning("stream.part_skipped part=%s error=%s", name, exc)
            else:
                if name in self._skipping:
                    self._skipping.discard(name)
                    log.info("stream.part_resumed part=%s", name)
        self._publish("alerts", self._alerts.to_json())
        # New clients: everything as read in this very tick (never older than what they
        # fetched before subscribing, so their counters never step back).
        fresh, self._fresh = self._fresh, set()
        for subscription in fresh:
            for message in self._latest.values():
                self._offer(subscription, message)

    async def _stats(self) -> None:
        snapshot = await self._counters.snapshot()
        now = self._clock()
        self.history.observe(snapshot.completed_jobs, snapshot.failed_jobs, now)
        self._publish("stats", snapshot.to_json())
        self._publish("throughput", self.history.to_json(now))

    async def _recent_jobs(self) -> None:
        records = await self._jobs.recent_jobs(limit=FEED_JOBS)
        self._publish("jobs", [record.to_summary() for record in records])

    async def _new_events(self) -> None:
        recent = await self._events.recent_events(limit=_FEED_EVENTS)
        seen = set(self._seen_events)
        fresh = [event for event in reversed(recent) if event.event_id not in seen]
        self._seen_events.extend(event.event_id for event in fresh)
        if not self._events_baseline:
            # What was there before anyone listened is history (GET /events), not news.
            self._events_baseline = True
            return
        if fresh:
            self._publish("events", [event.to_json() for event in fresh], snapshot=False)

    async def _dead_letter_count(self) -> None:
        self._publish("dead-letters", {"count": await self._dead_letters.count()})

    async def _worker_list(self) -> None:
        assert self._workers is not None
        now = self._clock()
        sightings = await self._workers.sightings(since=now - self._workers_keep_s)
        self._publish("workers", workers_json(sightings, now))

    async def _queue_list(self) -> None:
        assert self._queues is not None
        self._publish("queues", self._queue_rates.to_json(await self._queues.sample()))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Tick until stopped, then end every client's stream."""
        try:
            await super().run(task_status=task_status)
        finally:
            for subscription in list(self._subscribers):
                subscription.end()
            self._subscribers.clear()
            self._fresh.clear()
