"""The dashboard: stats, alerts and recent jobs, live from the stream or polled.

``/`` opens the filter line over the jobs table (:mod:`launcher.tui.job_filter` has the
syntax): with a filter applied the table lists ``GET /jobs``'s matches instead of the
recent jobs, asked again at every poll interval and every live ``jobs`` event; Esc
clears it. The highlighted row stays on its job while rows arrive above it
(:mod:`launcher.tui.table_cursor`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import anyio
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from launcher.tui.client import ApiUnavailable, FilterRefused, StreamMissing
from launcher.tui.dashboard_model import DEAD_LETTERS_COUNTED, UpdateMode
from launcher.tui.job_filter import FILTER_HELP, FilterSyntaxError, JobFilter, parse_filter
from launcher.tui.logo import LOGO
from launcher.tui.models import MalformedDocument
from launcher.tui.screens.dead_letters import DeadLettersScreen
from launcher.tui.screens.fleet import QueuesScreen, WorkersScreen
from launcher.tui.screens.help import HelpScreen
from launcher.tui.screens.job_detail import JobDetailScreen
from launcher.tui.screens.new_task import NewTaskScreen
from launcher.tui.screens.schedules import SchedulesScreen
from launcher.tui.styles import priority_text, status_text
from launcher.tui.table_cursor import remember, restore

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType
    from textual.timer import Timer

    from launcher.tui.client import ObservatoryClient, StreamEvent
    from launcher.tui.dashboard_model import DashboardModel
    from launcher.tui.models import JobSummary
    from launcher.tui.options import TuiOptions

__all__ = ["FILTERED_JOBS", "STREAM_RETRY_S", "DashboardScreen"]

STREAM_RETRY_S = 3.0
"""Wait before reconnecting to a stream that broke (the stream's own ``retry: 3000``)."""

FILTERED_JOBS = 50
"""Rows of the jobs table while a filter is applied (the newest matches)."""
_RECENT_TITLE = "Recent jobs (Enter: details, /: filter)"

_SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow"}


def _short_time(iso: str | None) -> str:
    if not iso:
        return "-"
    return iso.replace("T", " ")[:19]


class DashboardScreen(Screen[None]):
    """Logo and stats, the alerts panel, the Recent Jobs table and the key footer.

    Args:
        client: the observatory's client; the screens opened from here get it too.
        model: what the dashboard shows, loaded and kept up to date here.
        options: the poll interval, the clock and whether writes are refused.
        version: the read model's version, shown in the footer.
        job_types: the registered job types, offered by the New Task form.
    """

    AUTO_FOCUS = "#jobs"
    """The table, not the hidden filter line (which would swallow the first keys)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("n", "new_task", "New task"),
        Binding("d", "dead_letters", "Dead letters"),
        Binding("slash", "open_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("w", "workers", "Workers"),
        Binding("u", "queues", "Queues"),
        Binding("s", "schedules", "Schedules"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        client: ObservatoryClient,
        model: DashboardModel,
        options: TuiOptions,
        *,
        version: str,
        job_types: list[str],
    ) -> None:
        super().__init__()
        self.client = client
        self.model = model
        self.options = options
        self.version = version
        self.job_types = job_types
        self._poll_timer: Timer | None = None
        self.job_filter: JobFilter | None = None
        """The filter applied to the jobs table (``None``: the recent jobs)."""
        self.filtered: list[JobSummary] | None = None
        """The filter's matches as last read (``None`` until the first answer)."""
        self.filter_error: str | None = None
        """Why the last search failed (the read model refused, or did not answer)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield Static(LOGO, id="logo")
            yield Static(id="stats")
        alerts = Static(id="alerts")
        alerts.border_title = "Alerts"
        yield alerts
        line = Input(placeholder=FILTER_HELP, id="filter")
        line.border_title = "Filter (Enter: apply, Esc: clear)"
        line.display = False
        yield line
        problem = Static(id="filter-error")
        problem.display = False
        yield problem
        table: DataTable[str | Text] = DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        table.border_title = _RECENT_TITLE
        yield table
        yield Static(id="status-line")
        yield Static(id="footer")

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        # Priority last: the columns before it keep their places (scripts and tests read them).
        table.add_columns("Status", "Type", "Job id", "Updated", "Prio")
        self._poll_timer = self.set_interval(
            self.options.poll_interval_s, self.action_refresh, pause=True
        )
        self.set_interval(self.options.poll_interval_s, self._refresh_filtered)
        self.show_model()
        table.focus()
        self.follow_stream()

    # -- updates -------------------------------------------------------------------------

    @work(exclusive=True, group="stream")
    async def follow_stream(self) -> None:
        """Follow ``/stream``; poll while it is missing or broken, reconnect after a pause."""
        client = self.client
        while True:
            try:
                await client.follow_stream(self._on_stream_event, on_open=self._stream_opened)
            except StreamMissing:
                self._poll()
                return  # this read model has no stream: poll for good
            except (ApiUnavailable, MalformedDocument):
                pass
            self._poll()
            await anyio.sleep(STREAM_RETRY_S)

    def _stream_opened(self) -> None:
        self.model.mode = UpdateMode.LIVE
        if self._poll_timer is not None:
            self._poll_timer.pause()
        self.show_model()

    def _poll(self) -> None:
        self.model.mode = UpdateMode.POLLING
        if self._poll_timer is not None:
            self._poll_timer.resume()
        self.show_model()

    def _on_stream_event(self, event: StreamEvent) -> None:
        if self.model.apply(event, now=self.options.clock()):
            self.show_model()
        if event.kind == "jobs":
            self._refresh_filtered()

    def action_refresh(self) -> None:
        """R: ask the read model for everything now."""
        self.refresh_now()

    @work(exclusive=True, group="refresh")
    async def refresh_now(self) -> None:
        """Load everything once and redraw."""
        await self.model.load(self.client, now=self.options.clock())
        self.show_model()
        self._refresh_filtered()

    def _refresh_filtered(self) -> None:
        if self.job_filter is not None:
            self.search_now()

    @work(exclusive=True, group="search")
    async def search_now(self) -> None:
        """Ask ``GET /jobs`` for the filter's matches and redraw the table."""
        job_filter = self.job_filter
        if job_filter is None:
            return
        try:
            found = await self.client.search_jobs(job_filter.params(), FILTERED_JOBS)
        except (ApiUnavailable, FilterRefused, MalformedDocument) as error:
            self.filter_error = str(error)
        else:
            if job_filter is self.job_filter:  # not replaced or cleared meanwhile
                self.filtered, self.filter_error = found, None
        self.show_model()

    # -- the filter line -----------------------------------------------------------------

    def action_open_filter(self) -> None:
        """/: show the filter line (with the filter applied, to change it) and type."""
        line = self.query_one("#filter", Input)
        line.display = True
        line.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Say what is wrong with the line as it is typed (it applies on Enter)."""
        if event.input.id == "filter":
            try:
                parse_filter(event.value)
            except FilterSyntaxError as error:
                self._show_filter_problem(str(error))
            else:
                self._show_filter_problem(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: apply the filter (a blank line clears it)."""
        if event.input.id != "filter":
            return
        try:
            job_filter = parse_filter(event.value)
        except FilterSyntaxError as error:
            self._show_filter_problem(str(error))
            return
        if job_filter is None:
            self.action_clear_filter()
            return
        self._show_filter_problem(None)
        self.job_filter, self.filtered, self.filter_error = job_filter, None, None
        self.query_one("#jobs", DataTable).focus()
        self.show_model()
        self.search_now()

    def action_clear_filter(self) -> None:
        """Esc: clear the filter and its line; the table shows the recent jobs again."""
        line = self.query_one("#filter", Input)
        if self.job_filter is None and not line.display:
            return
        line.value = ""
        line.display = False
        self._show_filter_problem(None)
        self.job_filter, self.filtered, self.filter_error = None, None, None
        self.query_one("#jobs", DataTable).focus()
        self.show_model()

    def _show_filter_problem(self, problem: str | None) -> None:
        shown = self.query_one("#filter-error", Static)
        shown.display = problem is not None
        shown.update(Text(problem or "", style="red"))

    # -- drawing -------------------------------------------------------------------------

    def show_model(self) -> None:
        """Redraw every panel from the model.

        The stream's worker may deliver before the screen is composed or after it is
        dismantled (the app quitting); there is nothing to draw then.
        """
        if not self.is_attached or not self.query("#stats"):
            return
        model = self.model
        self.query_one("#stats", Static).update(self._stats_table())
        self.query_one("#alerts", Static).update(self._alerts_text())
        self._fill_jobs()
        status = self.query_one("#status-line", Static)
        error = model.error or self.filter_error
        status.display = error is not None
        if error:
            interval = self.options.poll_interval_s
            status.update(Text(f"{error} (retrying every {interval:g} s)", style="red"))
        self.query_one("#footer", Static).update(self._footer_text())

    def _fill_jobs(self) -> None:
        """Refill the jobs table, the cursor staying on its job (see the module docstring)."""
        table = self.query_one("#jobs", DataTable)
        if self.job_filter is None:
            jobs = self.model.jobs
            table.border_title = _RECENT_TITLE
        else:
            jobs = self.filtered or []
            found = "…" if self.filtered is None else f"{len(jobs)}"
            more = "+" if len(jobs) >= FILTERED_JOBS else ""
            table.border_title = f"Jobs matching {self.job_filter.text} ({found}{more}; Esc: clear)"
        highlight = remember(table)
        table.clear()
        for job in jobs:
            table.add_row(
                status_text(job.status),
                job.type,
                job.id,
                _short_time(job.updated_at),
                priority_text(job.priority),
                key=job.id,
            )
        restore(table, highlight)

    def _stats_table(self) -> Table:
        stats = self.model.stats
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(justify="right")

        def number(value: int | None, style: str = "") -> Text:
            return Text("-" if value is None else f"{value:,}", style=style)

        rate = self.model.per_second
        letters = self.model.dead_letters
        table.add_row("Total", number(stats.total if stats else None))
        table.add_row("Completed", number(stats.completed if stats else None, "green"))
        table.add_row("Failed", number(stats.failed if stats else None, "red"))
        table.add_row("In flight", number(stats.in_flight if stats else None, "yellow"))
        table.add_row("Last event", _short_time(stats.last_event_time if stats else None))
        table.add_row("Throughput", "-" if rate is None else f"{rate:.1f} jobs/s")
        shown = (
            "-" if letters is None else f"{letters}{'+' if letters >= DEAD_LETTERS_COUNTED else ''}"
        )
        table.add_row("Dead letters", shown)
        return table

    def _alerts_text(self) -> Text:
        alerts = self.model.alerts
        if alerts is None:
            return Text("Alerts unavailable (retrying)", style="yellow")
        if not alerts.active:
            return Text("No active alerts", style="green")
        text = Text()
        for number, alert in enumerate(alerts.active):
            if number:
                text.append("\n")
            style = _SEVERITY_STYLES.get(alert.severity.lower(), "")
            text.append(f"● {alert.severity.upper():<8} {alert.name}", style=style)
            if alert.summary:
                text.append(f"  {alert.summary}")
            if alert.starts_at:
                text.append(f"  since {_short_time(alert.starts_at)}", style="dim")
        return text

    def _footer_text(self) -> Text:
        options = self.options
        text = Text()
        keys = [("Q", "quit"), ("R", "refresh")]
        if not options.read_only:  # N is refused then: don't offer it
            keys.append(("N", "new task"))
        # "/" (filter) is in the jobs table's title: the row fits 110 columns without it.
        keys += [("W", "workers"), ("U", "queues"), ("S", "schedules")]
        keys += [("D", "dead letters"), ("?", "help")]
        for key, what in keys:
            text.append(f" {key} ", style="bold reverse")
            text.append(f"{what} ")
        mode = self.model.mode.value
        if options.read_only:
            mode += ", read-only"
        text.append(f"  {mode}  ", style="dim")
        text.append(f"v{self.version}", style="bold")
        return text

    # -- keys ----------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(
                JobDetailScreen(self.client, event.row_key.value, read_only=self.options.read_only)
            )

    def action_new_task(self) -> None:
        """N: the New Task form (refused when read-only)."""
        if self.options.read_only:
            self.notify(
                "Read-only: start the TUI with --allow-writes to submit jobs.", severity="warning"
            )
            return
        self.app.push_screen(NewTaskScreen(self.client, self.job_types), self._after_new_task)

    def _after_new_task(self, accepted: bool | None) -> None:
        if accepted:
            self.refresh_now()

    def action_dead_letters(self) -> None:
        """D: the dead letters."""
        self.app.push_screen(DeadLettersScreen(self.client, read_only=self.options.read_only))

    def action_workers(self) -> None:
        """W: the workers, alive and recently gone."""
        self.app.push_screen(WorkersScreen(self.client, interval_s=self.options.poll_interval_s))

    def action_queues(self) -> None:
        """U: the broker's queues."""
        self.app.push_screen(QueuesScreen(self.client, interval_s=self.options.poll_interval_s))

    def action_schedules(self) -> None:
        """S: the recurring schedules (P pauses or resumes, R runs now)."""
        options = self.options
        self.app.push_screen(
            SchedulesScreen(
                self.client,
                interval_s=options.poll_interval_s,
                now=options.now,
                read_only=options.read_only,
            )
        )

    def action_help(self) -> None:
        """?: the keys."""
        self.app.push_screen(HelpScreen(read_only=self.options.read_only))
