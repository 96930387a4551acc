"""What the dashboard shows, fed by polling the read model or by its live stream."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from launcher.tui.client import ApiUnavailable
from launcher.tui.models import (
    Alerts,
    JobSummary,
    MalformedDocument,
    Stats,
    Throughput,
    as_object,
)

if TYPE_CHECKING:
    from launcher.tui.client import ObservatoryClient, StreamEvent

__all__ = ["DEAD_LETTERS_COUNTED", "RECENT_JOBS", "DashboardModel", "UpdateMode"]

RECENT_JOBS = 20
"""Rows of the Recent Jobs table (the stream's ``jobs`` event carries this many)."""
DEAD_LETTERS_COUNTED = 500
"""Polling counts at most this many dead letters (the read model's page limit)."""


class UpdateMode(enum.Enum):
    """How the dashboard learns of changes."""

    POLLING = "polling"
    """Asking the read model every few seconds (no stream, or it broke)."""
    LIVE = "live"
    """Following ``GET /stream``."""


@dataclass
class DashboardModel:
    """The latest of everything the dashboard shows.

    ``alerts`` is ``None`` while the alerts cannot be read; ``error`` says why the last
    refresh failed (the rest keeps its last good values).
    """

    stats: Stats | None = None
    per_second: float | None = None
    jobs: list[JobSummary] = field(default_factory=list)
    alerts: Alerts | None = None
    dead_letters: int | None = None
    error: str | None = None
    mode: UpdateMode = UpdateMode.POLLING
    _last_sample: tuple[float, int] | None = None
    _rate_from_server: bool = False

    async def load(self, client: ObservatoryClient, *, now: float) -> None:
        """Ask the read model for everything once (what R does, and each poll).

        Raises nothing: a failure is kept in :attr:`error` (or as ``alerts = None``).
        """
        try:
            stats = await client.stats()
            self.jobs = await client.recent_jobs(RECENT_JOBS)
            throughput = await client.throughput()
            self.dead_letters = len(await client.dead_letters(limit=DEAD_LETTERS_COUNTED))
        except (ApiUnavailable, MalformedDocument) as error:
            self.error = str(error)
            return
        self.error = None
        self._take_stats(stats, now)
        if throughput is not None:
            self._take_throughput(throughput)
        try:
            self.alerts = await client.alerts()
        except (ApiUnavailable, MalformedDocument):
            self.alerts = None

    def apply(self, event: StreamEvent, *, now: float) -> bool:
        """Take one ``/stream`` event; whether it changed something shown.

        Raises:
            MalformedDocument: the event's data does not have the documented shape.
        """
        if event.kind == "stats":
            self._take_stats(Stats.from_json(event.data), now)
        elif event.kind == "throughput":
            self._take_throughput(Throughput.from_json(event.data))
        elif event.kind == "jobs":
            self.jobs = JobSummary.list_from_json(event.data)[:RECENT_JOBS]
        elif event.kind == "alerts":
            self.alerts = Alerts.from_json(event.data)
        elif event.kind == "dead-letters":
            count = as_object(event.data, "dead-letters").get("count")
            if not isinstance(count, int):
                raise MalformedDocument(
                    f"Expected dead-letters.count to be an integer, got {count!r}."
                )
            self.dead_letters = count
        else:
            return False  # ``events`` and anything newer: nothing on this screen shows them
        self.error = None
        return True

    def _take_stats(self, stats: Stats, now: float) -> None:
        self.stats = stats
        # Without /stats/throughput, estimate from successive counters.
        if not self._rate_from_server:
            if self._last_sample is not None and now > self._last_sample[0]:
                then, finished = self._last_sample
                self.per_second = max(0, stats.finished - finished) / (now - then)
            self._last_sample = (now, stats.finished)

    def _take_throughput(self, throughput: Throughput) -> None:
        self._rate_from_server = True
        self.per_second = throughput.per_second
