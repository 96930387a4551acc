"""Every phase of the bench, in the order it runs: the one place a phase is registered.

There are two kinds, run by :func:`launcher.bench.run.run_bench`:

* a :class:`SystemPhase` drives the system under test over HTTP while it runs, through
  the :class:`~launcher.bench.http_phases.HttpBench` they share;
* an :class:`InProcessPhase` needs no system under test: it runs after that system has
  stopped, so it has the machine to itself, in this process or in a child it starts
  (``http_ceiling`` serves its bare app from a child, ``peer_celery`` runs a Celery
  worker in one).

Each phase is a member of :class:`~launcher.bench.report.Phase` (whose order is the run
order: the system phases first), with its figures in
:data:`~launcher.bench.report.FIGURES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.bench.ceiling import http_ceiling_phase
from launcher.bench.event_store import event_store_phase
from launcher.bench.http_phases import HttpBench
from launcher.bench.peer_celery import peer_celery_phase
from launcher.bench.processor import processor_phase
from launcher.bench.relay import relay_phase
from launcher.bench.report import Phase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import PhaseOutcome

__all__ = ["IN_PROCESS_PHASES", "SYSTEM_PHASES", "InProcessPhase", "SystemPhase"]


@dataclass(frozen=True, slots=True)
class SystemPhase:
    """A phase that drives the system under test over HTTP."""

    phase: Phase
    run: Callable[[HttpBench, PhaseOutcome], Awaitable[None]]
    """Measures the phase's figures into the outcome (see :mod:`launcher.bench.phase`)."""


@dataclass(frozen=True, slots=True)
class InProcessPhase:
    """A phase that runs in this process, against brokers and stores of its own."""

    phase: Phase
    run: Callable[[BenchOptions, Path, PhaseOutcome], Awaitable[None]]
    """Measures the phase's figures into the outcome, given the options and the run's work
    directory (see :mod:`launcher.bench.phase`)."""


SYSTEM_PHASES = (
    SystemPhase(Phase.SINGLE, HttpBench.single),
    SystemPhase(Phase.BATCH, HttpBench.batch),
    SystemPhase(Phase.LATENCY, HttpBench.latency),
)
"""The phases that drive the system under test, in the order they run."""

IN_PROCESS_PHASES = (
    InProcessPhase(Phase.HTTP_CEILING, http_ceiling_phase),
    InProcessPhase(Phase.PROCESSOR, processor_phase),
    InProcessPhase(Phase.RELAY, relay_phase),
    InProcessPhase(Phase.EVENT_STORE, event_store_phase),
    InProcessPhase(Phase.PEER_CELERY, peer_celery_phase),
)
"""The phases that run in this process once the system under test has stopped, in order."""
