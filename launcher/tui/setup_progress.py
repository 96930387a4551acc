"""What the launcher shows while ``cluster up`` runs: one state per step, and a tail of output.

:class:`SetupProgress` is fed the :class:`~launcher.cluster.StepEvent` stream of
:func:`~launcher.cluster.cluster_up` (the same steps ``observatory cluster up`` runs) and
the lines the running command prints; the setup screen renders it.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.errors import ObservatoryError
from launcher.cluster import STEPS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from launcher.cluster import StepEvent

__all__ = ["SetupProgress", "StepProgress", "StepState", "StepTransitionError"]

OUTPUT_TAIL_LINES = 6
"""How many lines of the running command's output are kept on screen."""


class StepState(enum.Enum):
    """Where one step of the launch is."""

    PENDING = "pending"
    """Not started yet."""
    RUNNING = "running"
    """Started, not finished."""
    DONE = "done"
    """Finished successfully (possibly with a warning)."""
    FAILED = "failed"
    """Finished with an error; the launch stopped here."""
    SKIPPED = "skipped"
    """Had nothing to do (e.g. the cluster already exists)."""


class StepTransitionError(ObservatoryError):
    """A step event that does not follow from the step's state (a launcher bug)."""


# (state now, event status) -> state next
_TRANSITIONS: dict[tuple[StepState, str], StepState] = {
    (StepState.PENDING, "starting"): StepState.RUNNING,
    (StepState.RUNNING, "complete"): StepState.DONE,
    (StepState.RUNNING, "warning"): StepState.DONE,
    (StepState.RUNNING, "skipped"): StepState.SKIPPED,
    (StepState.RUNNING, "error"): StepState.FAILED,
}


@dataclass(slots=True)
class StepProgress:
    """One step: its state, its last message and when it ran."""

    name: str
    state: StepState = StepState.PENDING
    message: str = ""
    """What the step last said (its result, why it was skipped, or its error)."""
    warning: bool = False
    """Finished, but with a warning (``verify`` when the services do not answer yet)."""
    started_at: float | None = None
    finished_at: float | None = None

    def elapsed_s(self, now: float) -> float | None:
        """Seconds it ran (so far, while running); ``None`` before it started."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)


class SetupProgress:
    """The state machine of a launch: every step pending, then running, then an outcome.

    Args:
        steps: the step names, in order (``cluster up``'s nine by default).
        clock: monotonic seconds; tests pass their own.
    """

    def __init__(
        self, steps: Iterable[str] = STEPS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.steps = [StepProgress(name) for name in steps]
        self._by_name = {step.name: step for step in self.steps}
        self._clock = clock
        self._output: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        self.hint: str | None = None
        """What to do about the failure, once a step failed."""

    def now(self) -> float:
        """The clock's current reading."""
        return self._clock()

    def step(self, name: str) -> StepProgress:
        """The step called ``name``."""
        return self._by_name[name]

    def apply(self, event: StepEvent) -> StepProgress:
        """Move the event's step to its next state; the step.

        Raises:
            StepTransitionError: the step is unknown, or the event does not follow from
                its state (e.g. ``complete`` for a step that never started).
        """
        step = self._by_name.get(event.step)
        if step is None:
            raise StepTransitionError(
                f"Unknown launch step {event.step!r}; expected one of {list(self._by_name)}."
            )
        following = _TRANSITIONS.get((step.state, event.status))
        if following is None:
            raise StepTransitionError(
                f"Step {step.name!r} is {step.state.value}; a {event.status!r} event cannot follow."
            )
        now = self._clock()
        if following is StepState.RUNNING:
            step.started_at = now
            self._output.clear()  # the tail belongs to the running step
        else:
            step.finished_at = now
        step.state = following
        step.message = event.message
        step.warning = event.status == "warning"
        return step

    def fail_running(self, message: str, hint: str | None = None) -> None:
        """Mark the running step failed (an error the steps did not report themselves)."""
        running = self.running
        if running is None:
            raise StepTransitionError(f"No step is running to fail with {message!r}.")
        running.state = StepState.FAILED
        running.finished_at = self._clock()
        running.message = message
        self.hint = hint

    def add_output(self, line: str) -> None:
        """Keep ``line`` of the running command's output (the last few are kept)."""
        self._output.append(line.rstrip())

    @property
    def output_tail(self) -> list[str]:
        """The last lines of output of the running (or failed) step."""
        return list(self._output)

    @property
    def running(self) -> StepProgress | None:
        """The step that runs now, if any."""
        return next((s for s in self.steps if s.state is StepState.RUNNING), None)

    @property
    def failed(self) -> StepProgress | None:
        """The step that failed, if any."""
        return next((s for s in self.steps if s.state is StepState.FAILED), None)

    @property
    def finished(self) -> bool:
        """Every step done or skipped."""
        return all(s.state in (StepState.DONE, StepState.SKIPPED) for s in self.steps)
