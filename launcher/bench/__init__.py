"""``observatory bench``: how fast the observatory moves jobs, phase by phase.

================  ==========================================================  ============
phase             what it measures                                            where
================  ==========================================================  ============
``single``        N jobs, one ``POST /jobs`` each, C in flight: submit rate,  system
                  and end to end until ``/stats`` counted them all
``batch``         N jobs via ``POST /jobs/batch`` in batches of B, 4 in       system
                  flight
``latency``       paced single submissions at 50 % of the lower measured end  system
                  to end rate for ~10 s; submit→COMPLETED latency per job
                  (``finishedAt - createdAt``, both server timestamps)
``http_ceiling``  a bare Quart app answering 202 to the same ``POST /jobs``:  a child
                  the ceiling of ``single``
``processor``     the processor alone on N pre-published ``job.created``      this process
``relay``         raw aio-pika queue → queue relay: the ceiling one Python    this process
                  process reaches on this RabbitMQ
``event_store``   the event store alone storing N jobs' four lifecycle        this process
                  events: the audit trail's ceiling, which ``batch`` end to
                  end cannot pass
``peer_celery``   Celery doing the processor's work per job (``bench``        a child
                  extra): the peer
================  ==========================================================  ============

The system under test is a running one (``--gateway-url`` and ``--read-model-url``),
or ``observatory up`` started here in a temporary directory (``--mode embedded``, the
default), or ``observatory up --infra local`` on its own namespace of the local servers
(``--mode local``). The in-process phases run after it has stopped, so they have the
machine to themselves; ``processor`` uses the real adapters (RabbitMQ + PostgreSQL, in
a namespace and schema of its own, dropped afterwards) unless the system is embedded,
then the in-process broker and SQLite. Every job is ``{"type": "echo", "payload":
{"n": i}}``: zero work, so the figures are the system's own overhead.

Each phase ends with a figure or a reason: a phase that cannot finish within
``max(60, jobs/100)`` s, or whose system is unreachable, fails with a message and the
command exits 1; nothing hangs.

The modules:

* :mod:`.command`: the flags, the options they make, and :func:`bench_main`, which the
  CLI calls (``--soak`` hands over to :mod:`launcher.soak`);
* :mod:`.options`: :class:`BenchOptions` and :class:`BenchMode`;
* :mod:`.report`: the phases, the figures, each phase's outcome, and the report as a
  table or JSON;
* :mod:`.run`: :func:`run_bench`: the system under test, then each phase under its
  deadline;
* :mod:`.registry`: every phase, in run order;
* :mod:`.phase`: what a phase body uses (how it fails or skips, progress, rates);
* the phases: :mod:`.http_phases` (``single``, ``batch``, ``latency``),
  :mod:`.ceiling`, :mod:`.processor`, :mod:`.relay`, :mod:`.event_store`,
  :mod:`.peer_celery`.

To add a phase: a member of :class:`Phase` (in run order) and its figures in
:data:`FIGURES`; a module with its body; one entry in :mod:`.registry`
(a :class:`~launcher.bench.registry.SystemPhase` when it drives the system under test,
else an :class:`~launcher.bench.registry.InProcessPhase`). ``--skip`` and its help
follow :class:`Phase`.
"""

from __future__ import annotations

from launcher.bench.command import BENCH_EPILOG, add_bench_arguments, bench_main, bench_options
from launcher.bench.options import BenchMode, BenchOptions
from launcher.bench.report import (
    FIGURES,
    RATIOS,
    BenchReport,
    Figure,
    Phase,
    PhaseOutcome,
    PhaseStatus,
    nearest_rank,
)
from launcher.bench.run import run_bench

__all__ = [
    "BENCH_EPILOG",
    "FIGURES",
    "RATIOS",
    "BenchMode",
    "BenchOptions",
    "BenchReport",
    "Figure",
    "Phase",
    "PhaseOutcome",
    "PhaseStatus",
    "add_bench_arguments",
    "bench_main",
    "bench_options",
    "nearest_rank",
    "run_bench",
]
