"""Launch progress: each step of ``cluster up`` with its state, time and command output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from launcher.cluster import LauncherError
from launcher.tui.setup_progress import SetupProgress, StepState
from launcher.tui.spinner import spinner_at

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual import events
    from textual.app import ComposeResult
    from textual.timer import Timer

    from launcher.cluster import StepEvent

__all__ = ["SetupScreen"]

_MARKS = {
    StepState.PENDING: ("·", "dim"),
    StepState.DONE: ("✓", "green"),
    StepState.FAILED: ("✗", "bold red"),
    StepState.SKIPPED: ("↷", "cyan"),
}
_GENERIC_HINT = "Read the error above; `observatory cluster up` in a terminal shows the same steps."


class SetupScreen(Screen[None]):
    """Runs ``launch`` (``cluster up`` with a tailing runner) and shows its progress.

    On success it posts :class:`SetupScreen.Launched` and the app goes on to the
    dashboard; on failure the error and a hint stay on screen and any key returns to the
    launcher.

    Args:
        launch: runs the steps, reporting each event and each line of command output.
        clock: monotonic seconds for the elapsed times.
        tick_s: how often the running step's time and spinner are redrawn.
    """

    class Launched(Message):
        """Every step succeeded: the observatory should now answer."""

    def __init__(
        self,
        launch: Callable[[Callable[[StepEvent], None], Callable[[str], None]], Awaitable[None]],
        *,
        clock: Callable[[], float],
        tick_s: float | None = 0.2,
    ) -> None:
        super().__init__()
        self.progress = SetupProgress(clock=clock)
        self.error: str | None = None
        self._launch = launch
        self._tick = 0
        self._tick_s = tick_s
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="setup"):
            yield Static("[b]Launching Task Observatory on kind[/b]", id="setup-title")
            yield Static(self._steps_table(), id="steps")
            yield Static("", id="output")
            yield Static("", id="failure")

    def on_mount(self) -> None:
        if self._tick_s is not None:
            self._timer = self.set_interval(self._tick_s, self._redraw)
        self.run_launch()

    @work(exclusive=True, group="launch")
    async def run_launch(self) -> None:
        """Run the steps; report the outcome to the app or show the failure."""
        try:
            await self._launch(self._observe, self._on_line)
        except LauncherError as error:
            if self.progress.running is not None:
                self.progress.fail_running(str(error), error.hint)
            self.progress.hint = error.hint
            self._failed()
        except Exception as error:  # a step raised something it did not report itself
            message = f"{type(error).__name__}: {error}"
            if self.progress.running is not None:
                self.progress.fail_running(message, _GENERIC_HINT)
            self.progress.hint = self.progress.hint or _GENERIC_HINT
            self._failed(message)
        else:
            self._stop_timer()
            self._redraw()
            self.post_message(self.Launched())

    def _observe(self, event: StepEvent) -> None:
        self.progress.apply(event)
        self._redraw()

    def _on_line(self, line: str) -> None:
        self.progress.add_output(line)
        self.query_one("#output", Static).update(
            Text("\n".join(self.progress.output_tail), style="dim")
        )

    def _failed(self, fallback: str | None = None) -> None:
        self._stop_timer()
        failed = self.progress.failed
        message = failed.message if failed is not None else (fallback or "The launch failed.")
        self.error = message.split(" Hint: ")[0]
        text = Text.assemble(
            ("Launch failed: ", "bold red"),
            (self.error, "red"),
            "\n",
            ("Hint: ", "bold yellow"),
            (self.progress.hint or _GENERIC_HINT, "yellow"),
            "\n\n",
            ("Press any key to return to the launcher.", "bold"),
        )
        self.query_one("#failure", Static).update(text)
        self._redraw()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _redraw(self) -> None:
        self._tick += 1
        self.query_one("#steps", Static).update(self._steps_table())

    def _steps_table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        now = self.progress.now()
        for number, step in enumerate(self.progress.steps, start=1):
            if step.state is StepState.RUNNING:
                mark, style = spinner_at(self._tick), "bold yellow"
            else:
                mark, style = _MARKS[step.state]
            if step.warning:
                style = "yellow"
            elapsed = step.elapsed_s(now)
            table.add_row(
                Text(mark, style=style),
                Text(f"{number}. {step.name}", style="bold"),
                Text(step.state.value, style=style),
                Text("" if elapsed is None else f"{elapsed:5.1f} s", style="dim"),
                Text(
                    step.message.split(" Hint: ")[0],
                    style="red" if step.state is StepState.FAILED else "",
                ),
            )
        return table

    def on_key(self, event: events.Key) -> None:
        if self.error is not None:
            event.stop()
            self.dismiss()
