"""The report of a bench run: its phases and figures, how each phase ended, and the report
printed as a table or written as JSON.

:data:`FIGURES` lists every figure in report order, each with the :class:`Phase` that
measures it; a phase body fills its :class:`PhaseOutcome`, and :class:`BenchReport`
gathers the outcomes and derives the rest.
"""

from __future__ import annotations

import enum
import math
import os
import platform
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from actors.config.urls import redact
from launcher.bench.cpu import describe_shares

if TYPE_CHECKING:
    from collections.abc import Sequence

    from launcher.bench.options import BenchMode

__all__ = [
    "FIGURES",
    "RATIOS",
    "BenchReport",
    "Figure",
    "Phase",
    "PhaseOutcome",
    "PhaseStatus",
    "nearest_rank",
]


class Phase(enum.StrEnum):
    """The bench's phases, in the order they run."""

    SINGLE = "single"
    """One job per ``POST /jobs``."""
    BATCH = "batch"
    """Jobs via ``POST /jobs/batch``."""
    LATENCY = "latency"
    """Paced submissions and their submit→COMPLETED latency."""
    HTTP_CEILING = "http_ceiling"
    """A bare Quart app on Hypercorn in a child process: the ceiling of ``single``."""
    PROCESSOR = "processor"
    """The processor alone, in this process."""
    RELAY = "relay"
    """A raw aio-pika relay, in this process: the broker-side ceiling."""
    EVENT_STORE = "event_store"
    """The event store alone storing each job's lifecycle events: the audit trail's ceiling."""
    PEER_CELERY = "peer_celery"
    """Celery doing the processor's work per job: the peer (needs the ``bench`` extra)."""


class PhaseStatus(enum.StrEnum):
    """How a phase ended."""

    OK = "ok"
    """It measured its figures."""
    SKIPPED = "skipped"
    """It did not run (``--skip``, or what it needs is missing); not an error."""
    FAILED = "failed"
    """It ran and failed (unreachable, refused jobs, deadline passed): exit code 1."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number of the report (a key of the JSON report)."""

    key: str
    phase: Phase | None
    """The phase that measures it; ``None`` for a figure derived from others."""
    unit: str


FIGURES = (
    Figure("submit_rate_single", Phase.SINGLE, "jobs/s"),
    Figure("e2e_rate_single", Phase.SINGLE, "jobs/s"),
    Figure("submit_rate_batch", Phase.BATCH, "jobs/s"),
    Figure("e2e_rate_batch", Phase.BATCH, "jobs/s"),
    Figure("latency_rate", Phase.LATENCY, "jobs/s"),
    Figure("latency_p50_s", Phase.LATENCY, "s"),
    Figure("latency_p95_s", Phase.LATENCY, "s"),
    Figure("latency_p99_s", Phase.LATENCY, "s"),
    Figure("latency_max_s", Phase.LATENCY, "s"),
    Figure("http_ceiling_rate", Phase.HTTP_CEILING, "jobs/s"),
    Figure("processor_single_rate", Phase.PROCESSOR, "jobs/s"),
    Figure("processor_alone_rate", Phase.PROCESSOR, "jobs/s"),
    Figure("relay_ceiling_rate", Phase.RELAY, "msgs/s"),
    Figure("event_store_rate", Phase.EVENT_STORE, "jobs/s"),
    Figure("peer_celery_rate", Phase.PEER_CELERY, "jobs/s"),
    Figure("processor_vs_relay", None, "ratio"),
    Figure("processor_single_vs_relay", None, "ratio"),
    Figure("processor_vs_celery", None, "ratio"),
    Figure("e2e_batch_vs_relay", None, "ratio"),
    Figure("submit_single_vs_http_ceiling", None, "ratio"),
    Figure("e2e_batch_vs_event_store", None, "ratio"),
)
"""Every figure, in report order."""

RATIOS = {
    "processor_vs_relay": ("processor_alone_rate", "relay_ceiling_rate"),
    "processor_single_vs_relay": ("processor_single_rate", "relay_ceiling_rate"),
    "processor_vs_celery": ("processor_alone_rate", "peer_celery_rate"),
    "e2e_batch_vs_relay": ("e2e_rate_batch", "relay_ceiling_rate"),
    "submit_single_vs_http_ceiling": ("submit_rate_single", "http_ceiling_rate"),
    "e2e_batch_vs_event_store": ("e2e_rate_batch", "event_store_rate"),
}
"""Each derived figure: a measured figure over its ceiling or peer, same run."""


@dataclass(slots=True)
class PhaseOutcome:
    """How one phase went, and what it measured."""

    phase: Phase
    status: PhaseStatus = PhaseStatus.OK
    note: str = ""
    """Why it was skipped or failed, or a remark on what it measured."""
    duration_s: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    """Figure key → value."""
    durations_s: dict[str, float] = field(default_factory=dict)
    """Figure key → the time span its value was measured over."""
    progress: str = ""
    """Where it stood last (quoted when it times out)."""
    deadline_at: float = math.inf
    """Clock time (``anyio.current_time()``) at which the phase is cancelled."""
    cpu: dict[str, float] = field(default_factory=dict)
    """Process → CPU seconds used during the phase over its wall time (1.0: one core
    busy), busiest first, and ``machine``: the share of all cores that were busy
    (:mod:`launcher.bench.cpu`); empty when not measured."""

    def add_note(self, note: str) -> None:
        """Append a sentence to :attr:`note`."""
        self.note = f"{self.note} {note}".strip()


@dataclass(slots=True)
class BenchReport:
    """Everything a bench run found: its figures, per phase, and where it ran."""

    mode: BenchMode
    jobs: int
    concurrency: int
    batch_size: int
    started_at: str
    processors: int = 1
    """Processor processes of the system the bench started (``--processors``)."""
    python: str = field(default_factory=platform.python_version)
    uvloop: bool = False
    gateway_url: str | None = None
    read_model_url: str | None = None
    processor_adapters: str = ""
    rabbitmq_url: str = ""
    outcomes: dict[Phase, PhaseOutcome] = field(default_factory=dict)
    remarks: list[str] = field(default_factory=list)
    """Things about the run itself that bear on the figures."""
    rate_limit_waits: int = 0
    """How many 429 answers the HTTP phases waited out (their ``Retry-After``)."""
    rate_limit_wait_s: float = 0.0
    """The seconds those waits asked for, summed over every connection."""
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Cores of the machine the bench ran on."""

    @property
    def ok(self) -> bool:
        """Whether no phase failed (skipped phases are fine)."""
        return all(o.status is not PhaseStatus.FAILED for o in self.outcomes.values())

    def figures(self) -> dict[str, float | None]:
        """Every figure of :data:`FIGURES`, ``None`` where it was not measured."""
        values: dict[str, float | None] = {figure.key: None for figure in FIGURES}
        for outcome in self.outcomes.values():
            values.update(outcome.values)
        for ratio, (numerator, denominator) in RATIOS.items():
            above, below = values[numerator], values[denominator]
            if above is not None and below:
                values[ratio] = above / below
        return values

    def reasons(self) -> dict[str, str]:
        """Why each figure that is ``None`` has no value."""
        reasons: dict[str, str] = {}
        for key, value in self.figures().items():
            if value is not None:
                continue
            figure = next(f for f in FIGURES if f.key == key)
            if figure.phase is None:
                numerator, denominator = RATIOS[key]
                reasons[key] = f"needs both {numerator} and {denominator}"
                continue
            outcome = self.outcomes.get(figure.phase)
            if outcome is None:
                reasons[key] = f"phase {figure.phase} did not run"
            else:
                reasons[key] = f"phase {figure.phase} {outcome.status}: {outcome.note}".rstrip(": ")
        return reasons

    def to_json(self) -> dict[str, object]:
        """The JSON report: one key per figure (``null`` when missing, see ``reasons``)."""
        return {
            **self.figures(),
            "jobs": self.jobs,
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "mode": self.mode.value,
            "processors": self.processors,
            "python": self.python,
            "uvloop": self.uvloop,
            "started_at": self.started_at,
            "gateway_url": None if self.gateway_url is None else redact(self.gateway_url),
            "read_model_url": None if self.read_model_url is None else redact(self.read_model_url),
            "processor_adapters": self.processor_adapters,
            "durations_s": {
                key: round(value, 4)
                for outcome in self.outcomes.values()
                for key, value in outcome.durations_s.items()
            },
            "phases": {
                phase.value: {
                    "status": outcome.status.value,
                    "duration_s": round(outcome.duration_s, 4),
                    "note": outcome.note,
                    "cpu": {name: round(share, 3) for name, share in outcome.cpu.items()},
                }
                for phase, outcome in self.outcomes.items()
            },
            "reasons": self.reasons(),
            "remarks": self.remarks,
            "rate_limit_waits": self.rate_limit_waits,
            "rate_limit_wait_s": round(self.rate_limit_wait_s, 4),
            "ok": self.ok,
        }

    def describe_run(self) -> str:
        """One line saying what ran where."""
        if self.gateway_url and self.read_model_url:
            system = f"gateway {redact(self.gateway_url)}, read model {redact(self.read_model_url)}"
        else:
            system = "no system started"
        parts = [f"mode {self.mode.value} ({system})"]
        if self.processors > 1:
            parts.append(f"{self.processors} processor processes")
        if self._ran(Phase.PROCESSOR):
            parts.append(f"processor in this process on {self.processor_adapters}")
        if self._ran(Phase.RELAY):
            parts.append(f"relay in this process on RabbitMQ {redact(self.rabbitmq_url)}")
        parts += [
            f"jobs {self.jobs}, concurrency {self.concurrency}, batch size {self.batch_size}",
            f"Python {self.python}, uvloop {'on' if self.uvloop else 'off'}",
            f"started {self.started_at}",
        ]
        waits = (
            f"429 answers waited out: {self.rate_limit_waits} "
            f"({self.rate_limit_wait_s:.1f} s of Retry-After, summed over the connections)."
        )
        return "\n".join(["Ran " + "; ".join(parts) + ".", *self.remarks, waits])

    def _ran(self, phase: Phase) -> bool:
        outcome = self.outcomes.get(phase)
        return outcome is not None and outcome.status is not PhaseStatus.SKIPPED

    def render_table(self) -> str:
        """The figures as a text table, then the notes of phases that have any."""
        figures = self.figures()
        rows = [("phase", "figure", "value", "duration")]
        for figure in FIGURES:
            phase = figure.phase.value if figure.phase else "-"
            outcome = self.outcomes.get(figure.phase) if figure.phase else None
            value = figures[figure.key]
            if value is not None:
                digits = 4 if figure.unit in ("s", "ratio") else 0
                shown = f"{value:,.{digits}f} {figure.unit}"
            elif outcome is not None and outcome.status is not PhaseStatus.OK:
                shown = outcome.status.value
            else:
                shown = "-"
            span = outcome.durations_s.get(figure.key) if outcome else None
            rows.append((phase, figure.key, shown, "-" if span is None else f"{span:.2f} s"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                cell.rjust(width) if i >= 2 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        notes = [
            f"  {outcome.phase.value} ({outcome.status.value}, {outcome.duration_s:.1f} s): "
            f"{outcome.note}"
            for outcome in self.outcomes.values()
            if outcome.note
        ]
        if notes:
            lines += ["", "Notes:", *notes]
        cpu = [
            f"  {outcome.phase.value}: {describe_shares(outcome.cpu, self.cores)}"
            for outcome in self.outcomes.values()
            if outcome.cpu and outcome.status is not PhaseStatus.SKIPPED
        ]
        if cpu:
            lines += ["", "CPU per phase, in cores (1.00: one core kept busy):", *cpu]
        return "\n".join(lines)


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of ``values``.

    Method: sort the n values ascending; the result is the value at 1-based rank
    ``ceil(percent / 100 * n)`` (rank 1 for ``percent`` near 0), i.e. the smallest value
    such that at least ``percent`` % of all values are less than or equal to it. No
    interpolation: the result is always one of ``values``. The rank is computed in
    decimal arithmetic, so ``percent=7`` of 100 values is rank 7, never 8.

    Raises:
        ValueError: ``values`` is empty or ``percent`` is outside (0, 100].
    """
    if not values or not 0 < percent <= 100:
        raise ValueError(f"Need values and 0 < percent <= 100; got {len(values)} values, {percent}")
    ordered = sorted(values)
    rank = math.ceil(Decimal(str(percent)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]
