"""One job: its fields, payload, result or error, and its event timeline."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from actors.domain.jobs import DEFAULT_PRIORITY
from launcher.tui.client import ApiUnavailable, RetryRefused
from launcher.tui.models import MalformedDocument
from launcher.tui.styles import STATUS_STYLES, priority_style

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient

__all__ = ["JobDetailScreen", "format_duration_ms", "job_detail_text"]

READ_ONLY = "Read-only: jobs cannot be retried (start the TUI with --allow-writes)."


def format_duration_ms(value: object) -> str:
    """The read model's ``durationMs`` (every attempt counted) as the web page writes it:
    ``850 ms``, ``6.10 s``, ``12.3 s``, ``2 min 5 s``; ``-`` until the job finished."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return "-"
    if value < 1000:
        return f"{round(value)} ms"
    if value < 60_000:
        return f"{value / 1000:.{2 if value < 10_000 else 1}f} s"
    return f"{int(value // 60_000)} min {round((value % 60_000) / 1000)} s"


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def job_detail_text(job: dict[str, object], *, trace_url: str | None = None) -> Table:
    """The job document of ``GET /jobs/{id}`` laid out for reading.

    Args:
        job: the document.
        trace_url: a trace viewer's URL with ``{traceId}`` (``OBSERVATORY_TRACE_URL``):
            the job's trace, if it has one, is shown as a link there.
    """
    status = str(job.get("status", "?"))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("Job", str(job.get("id", "?")))
    table.add_row("Type", str(job.get("type", "?")))
    table.add_row("Status", Text(status, style=STATUS_STYLES.get(status, "")))
    table.add_row("Attempts", str(job.get("attempts", 0)))
    table.add_row("Round", str(job.get("round", 1)))
    priority = job.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        shown = Text(str(priority), style=priority_style(priority))
        if priority == DEFAULT_PRIORITY:
            shown.append(" (default)", style="dim")
        table.add_row("Priority", shown)
    else:  # a read model that predates priorities: every job there ran at the default
        table.add_row("Priority", Text(f"{DEFAULT_PRIORITY} (default)"))
    for label, key in (
        ("Created", "createdAt"),
        ("Started", "startedAt"),
        ("Finished", "finishedAt"),
    ):
        table.add_row(label, str(job.get(key) or "-"))
    table.add_row("Duration", format_duration_ms(job.get("durationMs")))
    # Text, not markup: a client's correlation id may hold brackets ("[/]" would break).
    table.add_row("Correlation", Text(str(job.get("correlationId") or "-")))
    if isinstance(trace_id := job.get("traceId"), str):
        if trace_url:
            url = trace_url.replace("{traceId}", trace_id)
            table.add_row("Trace", Text(f"{trace_id}  {url}", style=f"link {url}"))
        else:
            table.add_row("Trace", Text(trace_id))
    table.add_row("Payload", _pretty(job.get("payload", {})))
    if job.get("error"):
        table.add_row("Error", Text(str(job["error"]), style="red"))
    else:
        table.add_row("Result", _pretty(job.get("result")))
    events = job.get("events")
    timeline = Table(box=None, padding=(0, 2), show_edge=False)
    for column in ("Occurred", "Event", "Producer", "Status"):
        timeline.add_column(column, style="dim" if column == "Occurred" else "")
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        producer = event.get("producer")
        payload = event.get("payload")
        service = producer.get("service", "") if isinstance(producer, dict) else ""
        state = payload.get("status", "") if isinstance(payload, dict) else ""
        timeline.add_row(
            str(event.get("occurredAt", "")),
            _event_label(event),
            str(service),
            Text(str(state), style=STATUS_STYLES.get(str(state), "")),
        )
    table.add_row("Timeline", timeline if timeline.row_count else "no events yet")
    return table


def _event_label(event: dict[object, object]) -> str:
    """The event's type; a later round's ``job.created`` is the retry request: who asked;
    an attempt a graceful stop interrupted says so."""
    label = str(event.get("eventType", ""))
    payload = event.get("payload")
    if isinstance(payload, dict) and payload.get("interrupted") is True:
        return f"{label} (interrupted by a stop: attempt {payload.get('attempt', '?')} not counted)"
    retry = payload.get("retry") if isinstance(payload, dict) else None
    if not isinstance(retry, dict):
        return label
    by = retry.get("requestedBy")
    who = by.get("role", "?") if isinstance(by, dict) else "?"
    return f"{label} (retry requested: round {retry.get('round', '?')}, by {who})"


class JobDetailScreen(Screen[None]):
    """Loads ``GET /jobs/{id}`` and shows it; R reloads, T retries a FAILED job (a new
    round, ``POST /jobs/{id}/retry`` through the injected client), Esc goes back.

    Args:
        client: the read model's client, which the job is fetched with.
        job_id: the job to show.
        read_only: refuse T (``--read-only``); the footer does not offer it then.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("t", "retry", "Retry"),
        Binding("q", "app.pop_screen", "Back"),
    ]

    def __init__(self, client: ObservatoryClient, job_id: str, *, read_only: bool = False) -> None:
        super().__init__()
        self.client = client
        self.job_id = job_id
        self.read_only = read_only
        self.job: dict[str, object] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static("", id="retry-status")
            yield Static(f"Loading job {self.job_id}...", id="job")
        keys = "   read-only" if self.read_only else "   T  retry (a FAILED job)"
        yield Static(" Esc  back   R  reload" + keys, id="footer")

    def on_mount(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self.load()

    def action_retry(self) -> None:
        if self.read_only:
            self.query_one("#retry-status", Static).update(Text(READ_ONLY, style="yellow"))
            return
        self.retry()

    @work(exclusive=True, group="retry")
    async def retry(self) -> None:
        """Ask the gateway to run the job again (only a FAILED job is), say what it
        answered, and show the job again."""
        status = self.query_one("#retry-status", Static)
        try:
            round_ = await self.client.retry(self.job_id)
        except (ApiUnavailable, RetryRefused) as error:
            status.update(Text(f"Retry refused: {error}", style="red"))
            return
        status.update(Text(f"Retry requested: round {round_} runs shortly.", style="green"))
        self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        """Fetch the job and show it (or why it could not be read)."""
        shown = self.query_one("#job", Static)
        try:
            self.job = await self.client.job(self.job_id)
        except (ApiUnavailable, MalformedDocument) as error:
            shown.update(Text(f"Could not read job {self.job_id}: {error}", style="red"))
            return
        trace_url = os.environ.get("OBSERVATORY_TRACE_URL", "").strip() or None
        shown.update(job_detail_text(self.job, trace_url=trace_url))
