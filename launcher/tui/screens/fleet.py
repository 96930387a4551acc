"""The Workers (``W``) and Queues (``U``) screens: ``GET /workers`` and ``GET /queues``,
asked again every poll interval while the screen is shown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from launcher.tui.client import ApiUnavailable
from launcher.tui.models import MalformedDocument
from launcher.tui.table_cursor import remember, restore

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient

__all__ = ["UNKNOWN", "LiveTableScreen", "QueuesScreen", "Rows", "WorkersScreen"]

UNKNOWN = "—"
"""Shown for a figure the broker does not give (null in ``GET /queues``)."""
_FOOTER = " Esc  back   R  refresh now   ↑↓  choose"
Rows = tuple[list[tuple[str, list[str | Text]]], Text]
"""The rows of a table (each its key and cells) and the status line under it."""
_Reader = Callable[["ObservatoryClient"], Awaitable[Rows]]

_STATUS_STYLES = {"alive": "green", "stopped": "dim", "gone": "red"}


class LiveTableScreen(Screen[None]):
    """A table refreshed every ``interval_s`` seconds (and on R), a status line under it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back"),
        Binding("r", "reload", "Refresh"),
    ]
    TABLE_ID = ""
    TITLE = ""
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, client: ObservatoryClient, read: _Reader, *, interval_s: float) -> None:
        super().__init__()
        self.client = client
        self._read = read
        self.interval_s = interval_s

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(
            id=self.TABLE_ID, cursor_type="row", zebra_stripes=True
        )
        table.border_title = self.TITLE
        yield table
        yield Static(id="fleet-status")
        yield Static(_FOOTER, id="footer")

    def on_mount(self) -> None:
        table = self.query_one(f"#{self.TABLE_ID}", DataTable)
        table.add_columns(*self.COLUMNS)
        table.focus()
        self.load()
        self.set_interval(self.interval_s, self.load)

    def action_reload(self) -> None:
        """R: ask now."""
        self.load()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        """Ask the read model and redraw; keep the last rows and say why when it fails."""
        status = self.query_one("#fleet-status", Static)
        try:
            rows, summary = await self._read(self.client)
        except (ApiUnavailable, MalformedDocument) as error:
            status.update(Text(f"{error} (retrying every {self.interval_s:g} s)", style="red"))
            return
        table = self.query_one(f"#{self.TABLE_ID}", DataTable)
        highlighted = remember(table)
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        restore(table, highlighted)
        status.update(summary)


def _seen(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


class WorkersScreen(LiveTableScreen):
    """Every processor and metrics engine seen in the last hour: alive first, then the
    stopped and gone ones, with their job types, in-flight jobs and done/failed counts.

    Args:
        client: reads ``GET /workers``.
        interval_s: seconds between refreshes.
    """

    TABLE_ID = "workers"
    TITLE = "Workers (alive, then recently gone)"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        *("Status", "Service", "Worker", "Host:pid", "Seen", "In flight", "Done", "Failed"),
        "Types",
    )

    def __init__(self, client: ObservatoryClient, *, interval_s: float) -> None:
        super().__init__(client, _read_workers, interval_s=interval_s)


async def _read_workers(client: ObservatoryClient) -> Rows:
    listed = await client.workers()
    rows: list[tuple[str, list[str | Text]]] = []
    for worker in listed.workers:
        jobs = ", ".join(job.job_id[:8] for job in worker.in_flight[:3])
        more = f" +{worker.in_flight_count - 3}" if worker.in_flight_count > 3 else ""
        in_flight = f"{worker.in_flight_count}" + (f" ({jobs}{more})" if jobs else "")
        rows.append(
            (
                worker.id,
                [
                    Text(worker.status, style=_STATUS_STYLES.get(worker.status, "")),
                    worker.service,
                    worker.id,
                    f"{worker.host}:{worker.pid}",
                    _seen(worker.seconds_since_seen),
                    in_flight,
                    str(worker.done),
                    str(worker.failed),
                    ", ".join(worker.handler_types) or UNKNOWN,
                ],
            )
        )
    summary = Text(f"{listed.alive} alive, {listed.gone} gone or stopped")
    if not listed.workers:
        summary = Text("No worker has been seen in the last hour.", style="yellow")
    return rows, summary


class QueuesScreen(LiveTableScreen):
    """Every queue of the broker's topology: depth, ready, unacked, consumers and rates
    per second ("—" where the broker does not say, and on the first sample).

    Args:
        client: reads ``GET /queues``.
        interval_s: seconds between refreshes.
    """

    TABLE_ID = "queues"
    TITLE = "Queues"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        *("Queue", "Depth", "Ready", "Unacked", "Delayed", "Consumers", "Publish/s"),
        *("Deliver/s", "Δ depth/s"),
    )

    def __init__(self, client: ObservatoryClient, *, interval_s: float) -> None:
        super().__init__(client, _read_queues, interval_s=interval_s)


def _figure(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:g}"


async def _read_queues(client: ObservatoryClient) -> Rows:
    queues = await client.queues()
    rows: list[tuple[str, list[str | Text]]] = [
        (
            queue.name,
            [
                queue.name,
                str(queue.depth),
                str(queue.ready),
                _figure(queue.unacked),
                _figure(queue.delayed),
                Text(str(queue.consumers), style="red" if queue.consumers == 0 else ""),
                _figure(queue.publish_per_s),
                _figure(queue.deliver_per_s),
                _figure(queue.depth_change_per_s),
            ],
        )
        for queue in queues
    ]
    summary = Text(
        f"{len(queues)} queues, {sum(q.depth for q in queues)} messages; "
        f"{_rates_origin({queue.source for queue in queues})} (— : not known)"
    )
    return rows, summary


def _rates_origin(sources: set[str | None]) -> str:
    """Where the rates of the queues come from, by the read model's ``source`` of each."""
    if sources == {"management"}:
        return "rates are RabbitMQ's own (its management API)"
    if "management" in sources:
        return (
            "rates are RabbitMQ's own where its management API knows the queue, else "
            "compared with the previous refresh"
        )
    return "rates compare with the previous refresh"
