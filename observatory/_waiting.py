"""Waiting for a job to end: the rounds of ``GET /jobs/{id}?wait=`` and the pauses between.

Shared by both clients: :class:`WaitRounds` decides, each client sleeps its own way.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from observatory._errors import WaitTimedOut

if TYPE_CHECKING:
    from observatory._errors import NotFound
    from observatory._results import Job

__all__ = ["MAX_WAIT_PER_REQUEST_S", "WaitRounds", "check_timeout", "wait_params"]

MAX_WAIT_PER_REQUEST_S = 60.0
"""The longest ``?wait=`` the read model allows; longer waits take several requests."""
_MIN_ROUND_S = 0.25
"""A wait round that came back sooner than this (a server without ``?wait=``) is paced."""
_FIRST_UNKNOWN_PAUSE_S = 0.05
_MAX_UNKNOWN_PAUSE_S = 1.0
"""Pauses before asking again for a job the read model does not know yet."""


def wait_params(remaining_s: float) -> tuple[float, dict[str, str]]:
    """How long one request may wait (60 s at most), and its ``?wait=`` parameter."""
    wait_s = min(MAX_WAIT_PER_REQUEST_S, max(0.0, remaining_s))
    return wait_s, {"wait": f"{math.floor(wait_s * 1000) / 1000:g}"}


def _timed_out(job_id: str, timeout_s: float, job: Job | None) -> WaitTimedOut:
    state = "unknown to the read model" if job is None else job.status.value
    return WaitTimedOut(f"Job {job_id} did not end within {timeout_s:g} s; it is {state}.", job=job)


def check_timeout(timeout_s: float) -> None:
    """Raises ValueError unless ``timeout_s`` is a finite number of seconds >= 0."""
    if not timeout_s >= 0 or math.isinf(timeout_s):
        raise ValueError(f"timeout_s must be a finite number of seconds >= 0, got {timeout_s!r}.")


class WaitRounds:
    """The rounds of one :meth:`Client.wait`: what each asks, and the pause after it.

    A round asks the read model to wait for the rest of the time (60 s at most). A job
    it does not know yet (accepted, not yet taken by a processor) is asked for again
    after 50 ms, then twice as long each time up to 1 s; a round that came back early
    without the job ending (a read model without ``?wait=``) is followed by 0.25 s.
    """

    def __init__(self, job_id: str, timeout_s: float, job_round: int | None = None) -> None:
        check_timeout(timeout_s)
        self.job_id = job_id
        self.job_round = job_round
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.asked = self.deadline
        self.last: Job | None = None
        self._unknown_pause_s = _FIRST_UNKNOWN_PAUSE_S

    def ask(self) -> float:
        """Start a round: how long the read model may wait in it."""
        self.asked = time.monotonic()
        return max(0.0, self.deadline - self.asked)

    def pause_after_job(self, job: Job) -> float | None:
        """After an answer: ``None`` when the job has ended, else the pause before the next.

        Raises:
            WaitTimedOut: the time is up.
        """
        self.last = job
        if job.is_terminal and (self.job_round is None or job.round >= self.job_round):
            return None
        if job.is_terminal:  # the retry is queued but not yet taken: the old round's end
            return self._pause(self._next_unknown_pause_s())
        return self._pause(_MIN_ROUND_S if time.monotonic() - self.asked < _MIN_ROUND_S else 0.0)

    def pause_after_not_found(self, error: NotFound) -> float:
        """After a 404: the pause before asking again.

        Raises:
            NotFound: ``error``, when the time is up.
        """
        if time.monotonic() >= self.deadline:
            raise error
        return self._pause(self._next_unknown_pause_s())

    def _next_unknown_pause_s(self) -> float:
        pause_s = self._unknown_pause_s
        self._unknown_pause_s = min(2 * pause_s, _MAX_UNKNOWN_PAUSE_S)
        return pause_s

    def _pause(self, pause_s: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(self.job_id, self.timeout_s, self.last)
        return min(pause_s, left)
