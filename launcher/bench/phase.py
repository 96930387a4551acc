"""What a phase body uses: how it ends without its figures, its progress, its rates.

A phase body is an async function that measures into its
:class:`~launcher.bench.report.PhaseOutcome`. It ends the phase as failed by raising
:class:`PhaseFailed`, as skipped by raising :class:`PhaseSkipped`, and as failed too when
its deadline passes (:func:`launcher.bench.run.run_phase` turns each into the outcome's
status and note).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

    from launcher.bench.report import PhaseOutcome

__all__ = [
    "TEARDOWN_S",
    "PhaseFailed",
    "PhaseSkipped",
    "job_submission",
    "progress_lines",
    "record_rate",
    "say",
]

_PROGRESS_PERIOD_S = 3.0
TEARDOWN_S = 15.0
"""Longest a phase's shielded cleanup (clients, queues, schemas) may take."""


def job_submission(index: int) -> dict[str, object]:
    """The zero-work job every phase submits."""
    return {"type": "echo", "payload": {"n": index}}


class PhaseFailed(Exception):
    """Ends a phase as failed, with a message for the operator."""


class PhaseSkipped(Exception):
    """Ends a phase as skipped, with the reason."""


def say(text: str) -> None:
    """A progress line for the operator (stderr; stdout carries the report)."""
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


async def progress_lines(outcome: PhaseOutcome, describe: Callable[[], str]) -> None:
    """Every 3 s until cancelled: note ``describe()`` as the phase's progress, and say it."""
    while True:
        await anyio.sleep(_PROGRESS_PERIOD_S)
        outcome.progress = describe()
        say(f"{outcome.phase}: {outcome.progress}")


def record_rate(outcome: PhaseOutcome, key: str, count: int, span_s: float) -> None:
    """Record figure ``key`` as ``count`` per second over ``span_s``, and that span."""
    outcome.values[key] = count / span_s if span_s > 0 else math.inf
    outcome.durations_s[key] = span_s
