"""The Schedules screen (``S``): ``GET /schedules``, asked again every poll interval, with
``P`` to pause or resume the highlighted schedule (``PATCH /schedules/{id}`` on the
gateway) and ``R`` to run it now (``POST /schedules/{id}/run``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import DataTable, Static

from launcher.tui.client import ApiUnavailable, ScheduleRefused
from launcher.tui.models import MalformedDocument
from launcher.tui.screens.fleet import UNKNOWN, LiveTableScreen, Rows

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient
    from observatory import Schedule

__all__ = ["SchedulesScreen", "relative"]

_FOOTER = " Esc  back   P  pause/resume   R  run now   ↑↓  choose"
_READ_ONLY_FOOTER = " Esc  back   ↑↓  choose   (read-only: P and R are refused)"


def _parse(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _when(schedule: Schedule) -> str:
    if schedule.cron:
        return f"{schedule.cron} ({schedule.timezone})"
    return f"every {schedule.interval}"


def relative(iso: str | None, now: datetime, *, absolute: bool = True) -> str:
    """``iso`` as "in 4s (10:16:02Z)" or "3m ago (10:12:00Z)" (without the time in
    parentheses unless ``absolute``); "—" when there is none."""
    if not iso:
        return UNKNOWN
    at = _parse(iso)
    if at is None:
        return iso
    seconds = (at - now).total_seconds()
    span = abs(seconds)
    if span < 90:
        amount = f"{span:.0f}s"
    elif span < 5400:
        amount = f"{span / 60:.0f}m"
    elif span < 172_800:
        amount = f"{span / 3600:.1f}h"
    else:
        amount = f"{span / 86400:.0f}d"
    told = f"in {amount}" if seconds >= 0 else f"{amount} ago"
    if not absolute:
        return told
    when = at.strftime("%H:%M:%SZ") if span < 86_400 else at.strftime("%Y-%m-%d %H:%MZ")
    return f"{told} ({when})"


class SchedulesScreen(LiveTableScreen):
    """Every recurring schedule: when it runs (cron or interval, timezone), its job type,
    whether it is paused, its next and last run, and how often it fired and missed.

    Args:
        client: reads ``GET /schedules``; pauses, resumes and runs through the gateway.
        interval_s: seconds between refreshes.
        now: the wall clock (UTC), for how far off the runs are.
        read_only: P and R are refused (``--read-only``).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back"),
        Binding("p", "pause_resume", "Pause/resume"),
        Binding("r", "run_now", "Run now"),
    ]
    TABLE_ID = "schedules"
    TITLE = "Schedules"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        *("Name", "When", "Job type", "State", "Next run", "Last run"),
        *("Fires", "Misses"),
    )

    def __init__(
        self,
        client: ObservatoryClient,
        *,
        interval_s: float,
        now: Callable[[], datetime],
        read_only: bool = False,
    ) -> None:
        super().__init__(client, self._read_schedules, interval_s=interval_s)
        self._now = now
        self.read_only = read_only
        self.schedules: dict[str, Schedule] = {}

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(
            id=self.TABLE_ID, cursor_type="row", zebra_stripes=True
        )
        table.border_title = self.TITLE
        yield table
        yield Static(id="fleet-status")
        yield Static(id="schedule-action")
        yield Static(_READ_ONLY_FOOTER if self.read_only else _FOOTER, id="footer")

    async def _read_schedules(self, client: ObservatoryClient) -> Rows:
        listed = await client.schedules()
        self.schedules = {schedule.id: schedule for schedule in listed}
        now = self._now()
        rows: list[tuple[str, list[str | Text]]] = [
            (
                schedule.id,
                [
                    schedule.name,
                    _when(schedule),
                    schedule.job_type,
                    Text("enabled", style="green")
                    if schedule.enabled
                    else Text("paused", style="yellow"),
                    relative(schedule.next_run_at, now) if schedule.enabled else "paused",
                    relative(schedule.last_run_at, now, absolute=False),
                    str(schedule.fires),
                    Text(str(schedule.misses), style="red" if schedule.misses else ""),
                ],
            )
            for schedule in listed
        ]
        paused = sum(not schedule.enabled for schedule in listed)
        summary = Text(f"{len(listed)} schedules, {paused} paused")
        if not listed:
            summary = Text(
                "No schedule yet: add one with `observatory schedule add` or POST /schedules.",
                style="yellow",
            )
        return rows, summary

    def _highlighted(self) -> Schedule | None:
        table = self.query_one(f"#{self.TABLE_ID}", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.schedules.get(str(key))

    def _say(self, text: str, style: str = "") -> None:
        self.query_one("#schedule-action", Static).update(Text(text, style=style))

    def action_pause_resume(self) -> None:
        """P: pause the highlighted schedule, or resume it when paused."""
        self._act("toggle")

    def action_run_now(self) -> None:
        """R: submit the highlighted schedule's job once, now."""
        self._act("run")

    def _act(self, what: str) -> None:
        if self.read_only:
            self._say("Read-only: schedules are not paused, resumed or run.", "yellow")
            return
        schedule = self._highlighted()
        if schedule is None:
            self._say("No schedule is highlighted.", "yellow")
            return
        self.act(what, schedule)

    @work(exclusive=True, group="act")
    async def act(self, what: str, schedule: Schedule) -> None:
        """Ask the gateway, say what it answered, and show the schedules as they are now."""
        try:
            if what == "run":
                job_id = await self.client.run_schedule(schedule.id)
                self._say(f"{schedule.name}: ran now, job {job_id}.", "green")
            else:
                changed = await self.client.set_schedule_enabled(
                    schedule.id, enabled=not schedule.enabled
                )
                state = "resumed" if changed.enabled else "paused"
                self._say(f"{schedule.name}: {state}.", "green")
        except (ScheduleRefused, ApiUnavailable, MalformedDocument) as error:
            self._say(f"{schedule.name}: {error}", "red")
            return
        self.load()
