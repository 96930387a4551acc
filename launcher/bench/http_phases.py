"""``observatory bench``: how fast the observatory moves jobs, phase by phase.

=============  ==============================================================  ==========
phase          what it measures                                                where
=============  ==============================================================  ==========
``single``     N jobs, one ``POST /jobs`` each, C in flight: submit rate, and  system
               end to end until ``/stats`` counted them all
``batch``      N jobs via ``POST /jobs/batch`` in batches of B, 4 in flight    system
``latency``    paced single submissions at 80 % of the lower measured end-to-  system
               end rate for ~10 s; submit→COMPLETED latency per job
               (``finishedAt - createdAt``, both server timestamps)
``processor``  the processor alone on N pre-published ``job.created``          this process
``relay``      raw aio-pika queue → queue relay: the ceiling one Python        this process
               process reaches on this RabbitMQ
=============  ==============================================================  ==========

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
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib.util
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import uuid
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.config.urls import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_RABBITMQ_URL,
    DEFAULT_REDIS_URL,
    redact,
    url_from_env,
)
from actors.domain.clock import parse_timestamp, utc_now
from actors.errors import ConfigError, ObservatoryError
from launcher._token import auth_headers
from launcher.observatory_process import (
    drop_postgres_schema,
    start_local_observatory,
    start_observatory,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

    from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream

    from actors.broker import Broker, OutgoingMessage
    from actors.stores import JobStore
    from launcher.soak import SoakReport, SoakSample

__all__ = [
    "FIGURES",
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

log = logging.getLogger(__name__)

MAX_BATCH_SIZE = 1000
"""Most jobs the gateway takes in one ``POST /jobs/batch`` (its default limit)."""
_BATCHES_IN_FLIGHT = 4
_CONNECTIONS_PER_CLIENT = 8
"""Connections per ``httpx.AsyncClient`` of the load generator (see :class:`_HttpBench`)."""
_JOB_READ_TIMEOUT_S = 60.0
_DEADLINE_MARGIN_S = 2.0
"""Work that keeps partial results stops this long before its phase's deadline."""
_LATENCY_SHARE = 0.8
"""The latency phase submits at this share of the measured end-to-end rate."""
_LATENCY_WINDOW_S = 10.0
_STATS_PERIOD_S = 0.2
_PROGRESS_PERIOD_S = 3.0
_PROCESSOR_POLL_S = 0.02
_PUBLISH_CHUNK = 1000
"""Pre-published envelopes per ``publish_batch`` in the processor phase."""
_RELAY_WINDOW = 250
"""Messages relayed per gathered window of confirmed publishes (then one multiple-ack)."""
_RELAY_WINDOWS_IN_FLIGHT = 4
_RELAY_PREFETCH = 1000
_RELAY_BODY_BYTES = 300
_TEARDOWN_S = 15.0


class Phase(enum.StrEnum):
    """The bench's phases, in the order they run."""

    SINGLE = "single"
    """One job per ``POST /jobs``."""
    BATCH = "batch"
    """Jobs via ``POST /jobs/batch``."""
    LATENCY = "latency"
    """Paced submissions and their submit→COMPLETED latency."""
    PROCESSOR = "processor"
    """The processor alone, in this process."""
    RELAY = "relay"
    """A raw aio-pika relay, in this process: the broker-side ceiling."""


class BenchMode(enum.StrEnum):
    """What the HTTP phases run against."""

    EMBEDDED = "embedded"
    """``observatory up`` started by the bench in a temporary directory."""
    LOCAL = "local"
    """``observatory up --infra local`` started by the bench on its own namespace."""
    EXTERNAL = "external"
    """A running system named by ``--gateway-url`` and ``--read-model-url``."""


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
    Figure("processor_alone_rate", Phase.PROCESSOR, "jobs/s"),
    Figure("relay_ceiling_rate", Phase.RELAY, "msgs/s"),
    Figure("processor_vs_relay", None, "ratio"),
)
"""Every figure, in report order."""

_HTTP_PHASES = (Phase.SINGLE, Phase.BATCH, Phase.LATENCY)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to measure and against what; see ``observatory bench --help``."""

    mode: BenchMode = BenchMode.EMBEDDED
    gateway_url: str | None = None
    """With ``read_model_url``: the running system of :attr:`BenchMode.EXTERNAL`."""
    read_model_url: str | None = None
    jobs: int = 20_000
    concurrency: int = 64
    batch_size: int = MAX_BATCH_SIZE
    skip: frozenset[Phase] = frozenset()
    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    """RabbitMQ of the in-process phases (and of ``--mode local``)."""
    postgres_url: str = DEFAULT_POSTGRES_URL
    """PostgreSQL of the processor phase (and of ``--mode local``)."""
    redis_url: str = DEFAULT_REDIS_URL
    """Redis of ``--mode local``."""
    mongo_url: str | None = None
    """MongoDB of ``--mode local``; ``None`` starts the nx-27017 stand-in."""
    work_dir: Path | None = None
    """Where the embedded system and the in-process stores live; ``None``: a temp dir."""

    @property
    def phase_deadline_s(self) -> float:
        """How long any one phase may take: ``max(60, jobs / 100)`` seconds."""
        return max(60.0, self.jobs / 100)


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
    python: str = field(default_factory=platform.python_version)
    uvloop: bool = False
    gateway_url: str | None = None
    read_model_url: str | None = None
    processor_adapters: str = ""
    rabbitmq_url: str = ""
    outcomes: dict[Phase, PhaseOutcome] = field(default_factory=dict)
    remarks: list[str] = field(default_factory=list)
    """Things about the run itself that bear on the figures."""

    @property
    def ok(self) -> bool:
        """Whether no phase failed (skipped phases are fine)."""
        return all(o.status is not PhaseStatus.FAILED for o in self.outcomes.values())

    def figures(self) -> dict[str, float | None]:
        """Every figure of :data:`FIGURES`, ``None`` where it was not measured."""
        values: dict[str, float | None] = {figure.key: None for figure in FIGURES}
        for outcome in self.outcomes.values():
            values.update(outcome.values)
        processor, relay = values["processor_alone_rate"], values["relay_ceiling_rate"]
        if processor is not None and relay:
            values["processor_vs_relay"] = processor / relay
        return values

    def reasons(self) -> dict[str, str]:
        """Why each figure that is ``None`` has no value."""
        reasons: dict[str, str] = {}
        for key, value in self.figures().items():
            if value is not None:
                continue
            figure = next(f for f in FIGURES if f.key == key)
            if figure.phase is None:
                reasons[key] = "needs both processor_alone_rate and relay_ceiling_rate"
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
                }
                for phase, outcome in self.outcomes.items()
            },
            "reasons": self.reasons(),
            "remarks": self.remarks,
            "ok": self.ok,
        }

    def describe_run(self) -> str:
        """One line saying what ran where."""
        if self.gateway_url and self.read_model_url:
            system = f"gateway {redact(self.gateway_url)}, read model {redact(self.read_model_url)}"
        else:
            system = "no system started"
        parts = [f"mode {self.mode.value} ({system})"]
        if self._ran(Phase.PROCESSOR):
            parts.append(f"processor in this process on {self.processor_adapters}")
        if self._ran(Phase.RELAY):
            parts.append(f"relay in this process on RabbitMQ {redact(self.rabbitmq_url)}")
        parts += [
            f"jobs {self.jobs}, concurrency {self.concurrency}, batch size {self.batch_size}",
            f"Python {self.python}, uvloop {'on' if self.uvloop else 'off'}",
            f"started {self.started_at}",
        ]
        return "\n".join(["Ran " + "; ".join(parts) + ".", *self.remarks])

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


def job_submission(index: int) -> dict[str, object]:
    """The zero-work job every phase submits."""
    return {"type": "echo", "payload": {"n": index}}


class _PhaseFailed(Exception):
    """Ends a phase as failed, with a message for the operator."""


class _PhaseSkipped(Exception):
    """Ends a phase as skipped, with the reason."""


def _say(text: str) -> None:
    """A progress line for the operator (stderr; stdout carries the report)."""
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside ``error``, nested groups flattened."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _messages(group: BaseExceptionGroup[BaseException]) -> str:
    """Every distinct message in ``group``, for the operator."""
    return "; ".join(dict.fromkeys(str(error) or repr(error) for error in _leaves(group)))


# -- the HTTP phases ----------------------------------------------------------------------


class _StatsPoller:
    """Watches ``completedJobs + failedJobs`` of the read model's ``/stats``.

    It polls every 0.2 s: the system is another process and offers nothing to wait on.
    """

    def __init__(self, client: httpx.AsyncClient, read_model: str) -> None:
        self._client = client
        self._url = f"{read_model}/stats"
        self.counted: int | None = None
        self.last_error: str | None = None
        self._target: int | None = None
        self._reached = anyio.Event()
        self._reached_at = 0.0

    async def fetch(self) -> int:
        """Terminal jobs counted now.

        Raises:
            _PhaseFailed: the read model answered something else than its stats.
            httpx.HTTPError: it could not be reached.
        """
        response = await self._client.get(self._url)
        if response.status_code != 200:
            raise _PhaseFailed(
                f"GET {self._url} answered {response.status_code}: {response.text[:200]}"
            )
        stats = response.json()
        return int(stats["completedJobs"]) + int(stats["failedJobs"])

    async def run(self) -> None:
        """Poll until cancelled; errors are kept in :attr:`last_error`, not raised."""
        while True:
            try:
                counted = await self.fetch()
            except (httpx.HTTPError, _PhaseFailed, KeyError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            else:
                self.counted = counted
                if self._target is not None and counted >= self._target:
                    self._reached_at = anyio.current_time()
                    self._reached.set()
            await anyio.sleep(_STATS_PERIOD_S)

    async def wait_counted(self, target: int) -> float:
        """Wait until at least ``target`` terminal jobs are counted; returns when (clock time)."""
        self._reached = anyio.Event()  # a fresh one: the last wait set the previous one
        self._target = target
        try:
            if self.counted is not None and self.counted >= target:
                return anyio.current_time()
            await self._reached.wait()
            return self._reached_at
        finally:
            self._target = None


@dataclass(slots=True)
class _Tally:
    """Submissions of one phase."""

    accepted: int = 0
    refused: int = 0
    first_refusal: str = ""
    job_ids: list[str] = field(default_factory=list)

    def refuse(self, count: int, why: str) -> None:
        self.refused += count
        self.first_refusal = self.first_refusal or why

    def check(self, total: int) -> None:
        """Raise when anything was refused (after the figures are recorded)."""
        if self.refused:
            raise _PhaseFailed(
                f"{self.refused} of {total} jobs were not accepted; the first refusal: "
                f"{self.first_refusal}"
            )


class _HttpBench:
    """The phases that talk to the system under test over HTTP.

    The C connections are spread over several ``httpx.AsyncClient`` of
    :data:`_CONNECTIONS_PER_CLIENT` each, and each worker keeps to one client: httpcore's
    pool checks every one of its connections on every request (a ``poll()`` each), so a
    single client of 64 connections spends most of the load generator's CPU on that
    scan and caps the measured rate well below what the system can take.
    """

    def __init__(
        self, options: BenchOptions, report: BenchReport, gateway: str, read_model: str
    ) -> None:
        self.options = options
        self.report = report
        self.gateway = gateway.rstrip("/")
        self.read_model = read_model.rstrip("/")
        concurrency = options.concurrency
        shards = math.ceil(concurrency / _CONNECTIONS_PER_CLIENT)
        # Worker w uses client w % shards: client j serves len(range(j, C, shards)) workers.
        self.clients = [
            httpx.AsyncClient(
                headers=auth_headers(),
                http1=True,
                timeout=httpx.Timeout(30.0),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            for size in (len(range(j, concurrency, shards)) for j in range(shards))
        ]
        # Its own connection, so polling never waits behind the submissions.
        self._stats_client = httpx.AsyncClient(
            headers=auth_headers(),
            timeout=httpx.Timeout(10.0),
            limits=httpx.Limits(max_connections=2),
        )
        self.stats = _StatsPoller(self._stats_client, self.read_model)
        self.expected = 0
        """Terminal jobs /stats should count once everything accepted so far is done."""

    def client_for(self, worker: int) -> httpx.AsyncClient:
        """The client worker number ``worker`` (0 to C-1) uses."""
        return self.clients[worker % len(self.clients)]

    async def aclose(self) -> None:
        """Close every client."""
        for client in (*self.clients, self._stats_client):
            await client.aclose()

    async def check_reachable(self) -> None:
        """Read the baseline count; fail clearly when the system does not answer."""
        try:
            self.expected = await self.stats.fetch()
            await self.clients[0].get(f"{self.gateway}/healthz")
        except httpx.HTTPError as exc:
            raise _PhaseFailed(
                f"The system under test is not reachable (gateway {redact(self.gateway)}, "
                f"read model {redact(self.read_model)}): {type(exc).__name__}: {exc}"
            ) from exc

    @asynccontextmanager
    async def _watching(
        self, outcome: PhaseOutcome, describe: Callable[[], str]
    ) -> AsyncIterator[None]:
        """Poll /stats and print progress while the block runs."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.stats.run)
            tg.start_soon(_progress_lines, outcome, describe)
            try:
                yield
            finally:
                outcome.progress = describe()
                tg.cancel_scope.cancel()

    def _describe(self, tally: _Tally, total: int) -> Callable[[], str]:
        """Progress of a phase: what was submitted, and how much of it /stats counted."""
        base = self.expected

        def describe() -> str:
            counted = self.stats.counted
            shown = "?" if counted is None else str(max(0, counted - base))
            text = (
                f"submitted {tally.accepted + tally.refused}/{total}, "
                f"counted {shown} of {tally.accepted} accepted"
            )
            if self.stats.last_error:
                text += f" (last /stats error: {self.stats.last_error})"
            return text

        return describe

    async def _post(self, client: httpx.AsyncClient, path: str, body: object) -> httpx.Response:
        url = f"{self.gateway}{path}"
        try:
            return await client.post(url, json=body)
        except httpx.TransportError as exc:
            raise _PhaseFailed(
                f"POST {redact(url)} failed: {type(exc).__name__}: {exc or 'no detail'}"
            ) from exc

    async def _submit_one(self, client: httpx.AsyncClient, index: int, tally: _Tally) -> None:
        response = await self._post(client, "/jobs", job_submission(index))
        if response.status_code == 202:
            tally.accepted += 1
            tally.job_ids.append(str(response.json()["jobId"]))
        else:
            tally.refuse(1, f"{response.status_code} {response.text[:200]}")

    async def _wait_counted(self, tally: _Tally, started: float) -> float:
        if not tally.accepted:
            raise _PhaseFailed(f"No job was accepted; the first refusal: {tally.first_refusal}")
        self.expected += tally.accepted
        return await self.stats.wait_counted(self.expected) - started

    async def single(self, outcome: PhaseOutcome) -> None:
        """N jobs, one ``POST /jobs`` each, C in flight."""
        n = self.options.jobs
        tally = _Tally()
        indices = iter(range(n))

        async def submit(client: httpx.AsyncClient) -> None:
            for index in indices:
                await self._submit_one(client, index, tally)

        async with self._watching(outcome, self._describe(tally, n)):
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for worker in range(self.options.concurrency):
                    tg.start_soon(submit, self.client_for(worker))
            _record(outcome, "submit_rate_single", tally.accepted, anyio.current_time() - started)
            e2e_s = await self._wait_counted(tally, started)
        _record(outcome, "e2e_rate_single", tally.accepted, e2e_s)
        tally.check(n)

    async def batch(self, outcome: PhaseOutcome) -> None:
        """N jobs via ``POST /jobs/batch`` in batches of B, a few batches in flight."""
        n, size = self.options.jobs, self.options.batch_size
        tally = _Tally()
        starts = iter(range(0, n, size))

        async def submit(client: httpx.AsyncClient) -> None:
            for start in starts:
                jobs = [job_submission(i) for i in range(start, min(n, start + size))]
                response = await self._post(client, "/jobs/batch", jobs)
                answer = response.json() if response.status_code in (202, 400) else None
                if not isinstance(answer, dict) or "accepted" not in answer:
                    tally.refuse(len(jobs), f"{response.status_code} {response.text[:200]}")
                    continue
                tally.accepted += int(answer["accepted"])
                if answer["rejected"]:
                    tally.refuse(int(answer["rejected"]), f"a batch answered {answer}"[:300])

        async with self._watching(outcome, self._describe(tally, n)):
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for worker in range(min(_BATCHES_IN_FLIGHT, self.options.concurrency)):
                    tg.start_soon(submit, self.client_for(worker))
            _record(outcome, "submit_rate_batch", tally.accepted, anyio.current_time() - started)
            e2e_s = await self._wait_counted(tally, started)
        _record(outcome, "e2e_rate_batch", tally.accepted, e2e_s)
        tally.check(n)

    async def latency(self, outcome: PhaseOutcome) -> None:
        """Paced single submissions for ~10 s, then each job's submit→COMPLETED latency."""
        figures = self.report.figures()
        # The phase submits one job per request, so it paces at 80 % of the lower of the
        # two sustained rates: above what single submissions carry it would measure a
        # growing queue, not the latency of a system at 80 % load.
        rates = [r for r in (figures["e2e_rate_single"], figures["e2e_rate_batch"]) if r]
        if not rates:
            raise _PhaseSkipped(
                "it paces at 80 % of the lower of e2e_rate_single and e2e_rate_batch, and "
                "neither was measured; run the single or batch phase too"
            )
        measured = min(rates)
        rate = _LATENCY_SHARE * measured
        count = max(1, min(self.options.jobs, round(rate * _LATENCY_WINDOW_S)))
        outcome.add_note(f"Paced {count} jobs at {rate:,.0f} jobs/s.")
        tally = _Tally()

        async def submit(
            client: httpx.AsyncClient, scheduled: MemoryObjectReceiveStream[int]
        ) -> None:
            async with scheduled:
                async for index in scheduled:
                    await self._submit_one(client, index, tally)

        async with self._watching(outcome, self._describe(tally, count)):
            schedule, scheduled = anyio.create_memory_object_stream[int](0)
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for worker in range(self.options.concurrency):
                    tg.start_soon(submit, self.client_for(worker), scheduled.clone())
                scheduled.close()
                async with schedule:
                    for index in range(count):
                        # Open loop on a schedule. With all C workers busy the send waits,
                        # so an overloaded system slows the pace instead of piling up
                        # requests; the window still ends the phase on time.
                        await anyio.sleep_until(started + index / rate)
                        if anyio.current_time() - started >= _LATENCY_WINDOW_S:
                            break
                        await schedule.send(index)
            _record(outcome, "latency_rate", tally.accepted, anyio.current_time() - started)
            achieved = outcome.values["latency_rate"]
            if achieved < 0.9 * rate:
                outcome.add_note(
                    f"Submissions fell behind the pace ({achieved:,.0f} of {rate:,.0f} jobs/s "
                    f"with {self.options.concurrency} in flight; {tally.accepted + tally.refused}"
                    f" of {count} sent in the {_LATENCY_WINDOW_S:g} s window): one POST /jobs "
                    "per job cannot carry that rate, so these latencies are at its saturation."
                )
            await self._wait_counted(tally, started)
        latencies, unread = await self._latencies(tally.job_ids, outcome)
        if not latencies:
            raise _PhaseFailed(
                f"No submitted job could be read as COMPLETED with both timestamps. {unread}"
            )
        span = outcome.durations_s["latency_rate"]
        for key, percent in (("latency_p50_s", 50), ("latency_p95_s", 95), ("latency_p99_s", 99)):
            outcome.values[key] = nearest_rank(latencies, percent)
            outcome.durations_s[key] = span
        outcome.values["latency_max_s"] = max(latencies)
        outcome.durations_s["latency_max_s"] = span
        if unread:
            raise _PhaseFailed(f"The latencies cover only {len(latencies)} jobs: {unread}")
        tally.check(count)

    async def _latencies(
        self, job_ids: list[str], outcome: PhaseOutcome
    ) -> tuple[list[float], str]:
        """updatedAt - createdAt of every COMPLETED job, and why any could not be read.

        Pages through ``/jobs/recent?status=COMPLETED`` (newest first, where the phase's
        jobs are) rather than reading each ``/jobs/{id}`` with its events: a few requests
        instead of one per job. A COMPLETED job's ``updatedAt`` is its terminal
        transition, i.e. its ``finishedAt``.
        """
        wanted = set(job_ids)
        latencies: list[float] = []
        started = anyio.current_time()
        pages = 0
        failure = ""
        async with httpx.AsyncClient(timeout=_JOB_READ_TIMEOUT_S, headers=auth_headers()) as client:
            with anyio.move_on_at(outcome.deadline_at - _DEADLINE_MARGIN_S) as scope:
                offset = 0
                while wanted:
                    url = f"{self.read_model}/jobs/recent"
                    params = {"status": "COMPLETED", "limit": "500", "offset": str(offset)}
                    try:
                        response = await client.get(url, params=params)
                        response.raise_for_status()
                    except httpx.HTTPError as exc:
                        failure = f"GET {redact(url)} failed: {type(exc).__name__} {exc}."
                        break
                    page = response.json()
                    pages += 1
                    if not page:
                        break
                    for job in page:
                        if job["id"] in wanted:
                            wanted.discard(job["id"])
                            finished = parse_timestamp(str(job["updatedAt"]))
                            created = parse_timestamp(str(job["createdAt"]))
                            latencies.append((finished - created).total_seconds())
                    offset += len(page)
        elapsed_s = anyio.current_time() - started
        outcome.add_note(
            f"Read {len(latencies)} COMPLETED jobs in {pages} pages of /jobs/recent in "
            f"{elapsed_s:.1f} s."
        )
        unread: list[str] = []
        if failure:
            unread.append(failure)
        if wanted:
            when = " when the phase deadline came" if scope.cancelled_caught else ""
            unread.append(f"{len(wanted)} jobs were not found as COMPLETED{when}.")
        return latencies, " ".join(unread)


def _record(outcome: PhaseOutcome, key: str, count: int, span_s: float) -> None:
    outcome.values[key] = count / span_s if span_s > 0 else math.inf
    outcome.durations_s[key] = span_s


# -- the in-process phases ----------------------------------------------------------------


def _created_messages(start: int, stop: int, instance: str) -> list[OutgoingMessage]:
    """``job.created`` envelopes as the gateway publishes them, for jobs ``start..stop``."""
    from actors.domain.events import Envelope, EventType, Producer
    from quart_app.gateway.app import build_job

    producer = Producer("gateway", instance, "bench")
    now = utc_now()
    messages: list[OutgoingMessage] = []
    for index in range(start, stop):
        job = build_job(job_submission(index), now)
        correlation_id = str(uuid.uuid4())
        envelope = Envelope(
            event_type=EventType.CREATED,
            event_id=str(uuid.uuid4()),
            occurred_at=now,
            producer=producer,
            correlation_id=correlation_id,
            idempotency_key=str(job["id"]),
            payload=job,
        )
        messages.append(envelope.to_message())
    return messages


@asynccontextmanager
async def _processor_adapters(
    options: BenchOptions, work_dir: Path, namespace: str
) -> AsyncIterator[tuple[Broker, JobStore]]:
    """The processor phase's broker and job store; everything made is removed afterwards."""
    from actors.broker import open_amqp_broker, open_memory_broker
    from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
    from actors.stores import open_postgres_job_store, open_sqlite_job_store

    if options.mode is BenchMode.EMBEDDED:
        await anyio.Path(work_dir).mkdir(parents=True, exist_ok=True)
        async with (
            open_memory_broker() as memory,
            open_sqlite_job_store(work_dir / "processor-jobs.sqlite3") as sqlite,
        ):
            yield memory, sqlite
        return
    schema = namespace.replace("-", "_")
    try:
        async with (
            open_amqp_broker(
                options.rabbitmq_url, namespace=f"{namespace}.", connection_name="observatory-bench"
            ) as amqp,
            open_postgres_job_store(options.postgres_url, schema=schema, max_size=8) as postgres,
        ):
            try:
                yield amqp, postgres
            finally:
                with anyio.move_on_after(_TEARDOWN_S, shield=True):
                    for queue in (*ALL_QUEUES, *map(retry_queue, RETRY_DELAYS_S)):
                        await amqp.delete_queue(queue)
    finally:
        await drop_postgres_schema(options.postgres_url, schema)


async def processor_phase(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
    """Pre-publish N ``job.created``, then time a fresh ProcessorService until all are done."""
    from actors.broker.names import JOBS_CREATED
    from actors.config.settings import Settings
    from actors.processor.service import ProcessorService

    n = options.jobs
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    async with _processor_adapters(options, work_dir / "processor", namespace) as (broker, store):
        await broker.declare_topology()
        for start in range(0, n, _PUBLISH_CHUNK):
            batch = _created_messages(start, min(n, start + _PUBLISH_CHUNK), namespace)
            await broker.publish_batch(JOBS_CREATED, batch)
            outcome.progress = f"pre-published {min(n, start + _PUBLISH_CHUNK)}/{n}"
        settings = Settings(data_dir=work_dir / "processor", instance_id=namespace)
        processor = ProcessorService(broker, store, settings)
        persister = processor.persister

        def done() -> int:
            return persister.completed + persister.failed

        stopped = anyio.Event()

        async def run_processor(*, task_status: TaskStatus[None]) -> None:
            try:
                await processor.run(task_status=task_status)
            finally:
                stopped.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(_progress_lines, outcome, lambda: f"processed {done()}/{n}")
            started = anyio.current_time()
            await tg.start(run_processor)
            # The persister's counters are plain attributes, with no event to wait on.
            while done() < n:
                if stopped.is_set():
                    raise _PhaseFailed(f"The processor stopped after {done()} of {n} jobs.")
                await anyio.sleep(_PROCESSOR_POLL_S)
            _record(outcome, "processor_alone_rate", n, anyio.current_time() - started)
            processor.request_stop()
            with anyio.move_on_after(settings.shutdown_s + 5):
                await stopped.wait()
            if not stopped.is_set():
                outcome.add_note("The processor did not stop within its shutdown time.")
            tg.cancel_scope.cancel()
        if persister.failed:
            outcome.add_note(f"{persister.failed} jobs FAILED instead of COMPLETED.")


async def _progress_lines(outcome: PhaseOutcome, describe: Callable[[], str]) -> None:
    while True:
        await anyio.sleep(_PROGRESS_PERIOD_S)
        outcome.progress = describe()
        _say(f"{outcome.phase}: {outcome.progress}")


async def relay_phase(options: BenchOptions, outcome: PhaseOutcome) -> None:
    """The raw aio-pika relay ceiling: fill queue A with N, time relaying all of it to B.

    aio-pika is an asyncio library, so this phase is an adapter in its own right and
    uses ``asyncio.gather`` for the pipelined publishes, as the broker adapter does.
    """
    import aio_pika
    from aio_pika.exceptions import CONNECTION_EXCEPTIONS

    n = options.jobs
    url = options.rabbitmq_url
    try:
        with anyio.fail_after(10):
            connection = await aio_pika.connect(
                url, client_properties={"connection_name": "observatory-bench relay"}
            )
    except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
        raise _PhaseSkipped(
            f"RabbitMQ is not reachable at {redact(url)} ({type(exc).__name__}: {exc}); the "
            "relay ceiling needs it (set --rabbitmq-url or RABBITMQ_URL)"
        ) from exc
    prefix = f"bench-{uuid.uuid4().hex[:10]}."
    source, target = f"{prefix}relay-a", f"{prefix}relay-b"
    try:
        publisher = await connection.channel(publisher_confirms=True)
        for name in (source, target):
            await publisher.declare_queue(name, durable=True)
        exchange = publisher.default_exchange
        for start in range(0, n, 500):
            await _publish_window(
                exchange,
                source,
                [(_relay_body(i), f"{prefix}{i}") for i in range(start, min(n, start + 500))],
            )
            outcome.progress = f"filled {min(n, start + 500)}/{n}"
        consumer = await connection.channel(publisher_confirms=False)
        await consumer.set_qos(prefetch_count=_RELAY_PREFETCH)
        queue = await consumer.declare_queue(source, durable=True)
        relayed = [0]
        async with anyio.create_task_group() as tg:
            tg.start_soon(_progress_lines, outcome, lambda: f"relayed {relayed[0]}/{n}")
            started = anyio.current_time()
            await _relay_all(queue, exchange, target, n, relayed)
            _record(outcome, "relay_ceiling_rate", n, anyio.current_time() - started)
            tg.cancel_scope.cancel()
    finally:
        with anyio.move_on_after(_TEARDOWN_S, shield=True):
            try:
                cleanup = await connection.channel(publisher_confirms=False)
                for name in (source, target):
                    await cleanup.queue_delete(name)
            finally:
                await connection.close()


def _relay_body(index: int) -> bytes:
    body = json.dumps({"eventType": "bench.relay", "n": index, "padding": ""}).encode()
    return body[:-2] + b"." * max(0, _RELAY_BODY_BYTES - len(body)) + body[-2:]


async def _publish_window(
    exchange: AbstractExchange, routing_key: str, messages: list[tuple[bytes, str]]
) -> None:
    """Publish persistently with confirms, pipelined: all written, then all awaited."""
    import asyncio

    import aio_pika

    await asyncio.gather(
        *(
            exchange.publish(
                aio_pika.Message(
                    body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key,
                timeout=10,
            )
            for body, message_id in messages
        )
    )


async def _relay_all(
    queue: AbstractQueue, exchange: AbstractExchange, target: str, n: int, relayed: list[int]
) -> None:
    """Relay ``n`` messages of ``queue`` to ``target``, acknowledging each window once.

    Windows are published concurrently (up to a few in flight) but acknowledged in
    order, each with one ``ack(multiple=True)`` after its publishes are confirmed, so a
    message leaves the source only once its copy is stored.
    """
    slots = anyio.Semaphore(_RELAY_WINDOWS_IN_FLIGHT)

    async def flush(
        window: list[AbstractIncomingMessage], previous: anyio.Event, done: anyio.Event
    ) -> None:
        try:
            await _publish_window(exchange, target, [(m.body, m.message_id or "") for m in window])
            await previous.wait()
            await window[-1].ack(multiple=True)
            relayed[0] += len(window)
        finally:
            done.set()
            slots.release()

    previous = anyio.Event()
    previous.set()
    window: list[AbstractIncomingMessage] = []
    received = 0
    async with anyio.create_task_group() as tg:
        async with queue.iterator() as messages:
            async for message in messages:
                window.append(message)
                received += 1
                if len(window) >= _RELAY_WINDOW or received == n:
                    await slots.acquire()
                    done = anyio.Event()
                    tg.start_soon(flush, window, previous, done)
                    previous, window = done, []
                if received == n:
                    break


# -- the system under test ----------------------------------------------------------------


@asynccontextmanager
async def _system_under_test(
    options: BenchOptions, work_dir: Path
) -> AsyncIterator[tuple[str, str, int | None]]:
    """The gateway and read-model URLs and the root process id (``None``: not started
    here), starting (and afterwards stopping) the system."""
    if options.mode is BenchMode.EXTERNAL:
        assert options.gateway_url
        assert options.read_model_url
        yield options.gateway_url, options.read_model_url, None
        return
    if options.mode is BenchMode.EMBEDDED:
        async with start_observatory(data_dir=work_dir / "observatory") as running:
            yield running.gateway, running.read_model, running.process.pid
        return
    async with start_local_observatory(
        data_dir=work_dir / "observatory",
        namespace=f"bench-{uuid.uuid4().hex[:10]}",
        rabbitmq_url=options.rabbitmq_url,
        postgres_url=options.postgres_url,
        redis_url=options.redis_url,
        mongo_url=options.mongo_url,
    ) as running:
        _say(f"local system up on namespace {running.namespace!r}")
        yield running.gateway, running.read_model, running.process.pid


# -- the run ------------------------------------------------------------------------------


async def _run_phase(
    report: BenchReport,
    options: BenchOptions,
    phase: Phase,
    body: Callable[[PhaseOutcome], Awaitable[None]],
) -> PhaseOutcome:
    """Run one phase under its deadline; record how it ended."""
    outcome = report.outcomes[phase] = PhaseOutcome(phase)
    if phase in options.skip:
        outcome.status = PhaseStatus.SKIPPED
        outcome.note = f"skipped (--skip {phase})"
        return outcome
    deadline_s = options.phase_deadline_s
    _say(f"{phase}: started")
    started = anyio.current_time()
    outcome.deadline_at = started + deadline_s
    try:
        with anyio.move_on_at(outcome.deadline_at) as scope:
            await body(outcome)
        if scope.cancelled_caught:
            outcome.status = PhaseStatus.FAILED
            outcome.add_note(
                f"Did not finish within {deadline_s:g} s (the deadline is max(60, jobs/100) "
                f"s); it had {outcome.progress or 'not reported progress'}."
            )
    except* _PhaseSkipped as group:
        outcome.status = PhaseStatus.SKIPPED
        outcome.add_note(f"skipped: {_messages(group)}")
    except* (_PhaseFailed, ObservatoryError, httpx.HTTPError) as group:
        outcome.status = PhaseStatus.FAILED
        outcome.add_note(_messages(group))
    except* Exception as group:
        # Anything else (a broken connection deep in a client library, an answer of an
        # unexpected shape) still ends only this phase; the traceback goes to the log.
        log.error("bench.phase_crashed phase=%s", phase, exc_info=group)
        outcome.status = PhaseStatus.FAILED
        kinds = ", ".join(dict.fromkeys(type(e).__name__ for e in _leaves(group)))
        outcome.add_note(f"It crashed ({kinds}): {_messages(group)}")
    outcome.duration_s = anyio.current_time() - started
    log.info(
        "bench.phase phase=%s status=%s duration_s=%.2f", phase, outcome.status, outcome.duration_s
    )
    _say(f"{phase}: {outcome.status} in {outcome.duration_s:.1f} s")
    return outcome


async def run_bench(options: BenchOptions) -> BenchReport:
    """Run every phase not skipped, in order; never raises for a phase's failure.

    Resource handling: a system started here is stopped (and its namespace removed, in
    local mode) before the in-process phases run; everything made on the shared servers
    is removed at the end, also when cancelled. ``options.work_dir`` (a new temporary
    directory when ``None``) keeps the embedded stores and the logs; it is removed when
    it was made here and every phase succeeded.
    """
    import asyncio

    loop = type(asyncio.get_running_loop())
    made_dir = options.work_dir is None
    if options.work_dir is None:
        work_dir = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "observatory-bench-"))
    else:
        work_dir = options.work_dir
    report = BenchReport(
        mode=options.mode,
        jobs=options.jobs,
        concurrency=options.concurrency,
        batch_size=options.batch_size,
        started_at=utc_now(),
        uvloop=loop.__module__.split(".")[0] == "uvloop",
        rabbitmq_url=options.rabbitmq_url,
        processor_adapters=(
            "the in-process broker + SQLite"
            if options.mode is BenchMode.EMBEDDED
            else f"RabbitMQ {redact(options.rabbitmq_url)} + PostgreSQL {redact(options.postgres_url)}"
        ),
    )
    if any(phase not in options.skip for phase in _HTTP_PHASES):
        shards = math.ceil(options.concurrency / _CONNECTIONS_PER_CLIENT)
        report.remarks.append(
            f"HTTP load: {options.concurrency} connections over {shards} httpx clients."
        )
        if importlib.util.find_spec("sniffio") is None:
            report.remarks.append(
                "sniffio is not installed, so httpcore retries importing it on every request "
                "(encode/httpcore#1103): the load generator is slower than it could be."
            )
        await _http_phases(options, report, work_dir)
    else:
        for phase in _HTTP_PHASES:
            await _run_phase(report, options, phase, _never)
    await _run_phase(
        report, options, Phase.PROCESSOR, lambda o: processor_phase(options, work_dir, o)
    )
    await _run_phase(report, options, Phase.RELAY, lambda o: relay_phase(options, o))
    if made_dir and report.ok:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(work_dir, ignore_errors=True))
    elif made_dir:
        _say(f"a phase failed; kept {work_dir} (the system's logs) for a look")
    return report


async def _never(outcome: PhaseOutcome) -> None:
    raise AssertionError(f"phase {outcome.phase} should have been skipped")


async def _http_phases(options: BenchOptions, report: BenchReport, work_dir: Path) -> None:
    stack = AsyncExitStack()
    failure: str | None = None
    try:
        if options.mode is not BenchMode.EXTERNAL:
            _say(f"starting the system under test ({options.mode})")
        gateway, read_model, _ = await stack.enter_async_context(
            _system_under_test(options, work_dir)
        )
    except* (ObservatoryError, OSError) as group:
        failure = f"The system under test did not start: {_messages(group)}"
    if failure is not None:
        await stack.aclose()
        for phase in _HTTP_PHASES:
            await _run_phase(report, options, phase, _fail_with(failure))
        return
    async with stack:
        report.gateway_url, report.read_model_url = gateway, read_model
        bench = _HttpBench(options, report, gateway, read_model)
        try:
            try:
                await bench.check_reachable()
            except _PhaseFailed as exc:
                for phase in _HTTP_PHASES:
                    await _run_phase(report, options, phase, _fail_with(str(exc)))
                return
            await _run_phase(report, options, Phase.SINGLE, bench.single)
            await _run_phase(report, options, Phase.BATCH, bench.batch)
            await _run_phase(report, options, Phase.LATENCY, bench.latency)
        finally:
            with anyio.move_on_after(_TEARDOWN_S, shield=True):
                await bench.aclose()
            if options.mode is not BenchMode.EXTERNAL:
                _say("stopping the system under test")


def _fail_with(reason: str) -> Callable[[PhaseOutcome], Awaitable[None]]:
    async def fail(_: PhaseOutcome) -> None:
        raise _PhaseFailed(reason)

    return fail


# -- the command line ---------------------------------------------------------------------

BENCH_EPILOG = """\
examples:
  observatory bench                                   embedded system, 20,000 jobs per phase
  observatory bench --jobs 2000 --skip relay --json bench.json
  observatory bench --mode local                      one process per service, real servers
  observatory bench --gateway-url http://127.0.0.1:3000 --read-model-url http://127.0.0.1:8080

figures (jobs/s unless noted): submit_rate_single, e2e_rate_single, submit_rate_batch,
e2e_rate_batch, latency_rate, latency_p50_s/p95_s/p99_s/max_s (seconds, nearest rank),
processor_alone_rate, relay_ceiling_rate (msgs/s), processor_vs_relay (ratio).
A phase fails after max(60, jobs/100) s; the exit code is 1 when any phase failed.
"""


def _count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (must be {bound})")
        return value

    return parse


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``observatory bench``'s options to ``parser``."""
    parser.add_argument(
        "--mode",
        choices=[BenchMode.EMBEDDED.value, BenchMode.LOCAL.value],
        default=None,
        help="start the system under test here: embedded (observatory up in a temp dir; "
        "the default without URLs) or local (observatory up --infra local on its own "
        "namespace of RABBITMQ_URL, POSTGRES_URL, REDIS_URL, MONGO_URL; nx-27017 when "
        "MONGO_URL is unset)",
    )
    parser.add_argument(
        "--gateway-url", type=_http_url, metavar="URL", help="gateway of a running system"
    )
    parser.add_argument(
        "--read-model-url",
        type=_http_url,
        metavar="URL",
        help="read model of the same running system (needed with --gateway-url)",
    )
    parser.add_argument(
        "--jobs",
        type=_count(1),
        default=20_000,
        metavar="N",
        help="jobs per phase (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=_count(1, 10_000),
        default=64,
        metavar="C",
        help="HTTP requests in flight (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=_count(1, MAX_BATCH_SIZE),
        default=MAX_BATCH_SIZE,
        metavar="B",
        help=f"jobs per POST /jobs/batch, at most {MAX_BATCH_SIZE} (default: %(default)s)",
    )
    parser.add_argument(
        "--json", dest="json_path", type=Path, metavar="PATH", help="also write the report as JSON"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[phase.value for phase in Phase],
        metavar="PHASE",
        help="leave a phase out (repeatable): " + ", ".join(phase.value for phase in Phase),
    )
    parser.add_argument(
        "--rabbitmq-url",
        default=None,
        metavar="URL",
        help="RabbitMQ of the in-process phases and --mode local (default: $RABBITMQ_URL "
        f"or {redact(DEFAULT_RABBITMQ_URL)})",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        metavar="URL",
        help="PostgreSQL of the processor phase and --mode local (default: $POSTGRES_URL "
        f"or {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="instead of the phases: a steady load for MINUTES, memory (RSS per service) and "
        "latency sampled every --soak-sample-s; says whether memory stayed flat",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        default=100.0,
        metavar="JOBS_PER_S",
        help="jobs a second during --soak (default: %(default)s)",
    )
    parser.add_argument(
        "--soak-sample-s",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between --soak samples (default: %(default)s)",
    )
    parser.add_argument(
        "--soak-pid",
        type=int,
        default=None,
        metavar="PID",
        help="with --gateway-url: the process (and its children) whose memory --soak samples",
    )
    parser.set_defaults(bench_parser=parser)


def bench_options(args: argparse.Namespace) -> BenchOptions:
    """The options of a parsed ``observatory bench`` command line.

    Raises:
        ConfigError: the flags contradict each other.
    """
    urls = (args.gateway_url, args.read_model_url)
    if any(urls) and not all(urls):
        raise ConfigError(
            "--gateway-url and --read-model-url name a running system together; give both."
        )
    if all(urls) and args.mode is not None:
        raise ConfigError(
            f"--mode {args.mode} starts a system of its own; leave it out to bench the running "
            "system at --gateway-url and --read-model-url."
        )
    mode = BenchMode.EXTERNAL if all(urls) else BenchMode(args.mode or BenchMode.EMBEDDED)
    return BenchOptions(
        mode=mode,
        gateway_url=args.gateway_url,
        read_model_url=args.read_model_url,
        jobs=args.jobs,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        skip=frozenset(Phase(name) for name in args.skip),
        rabbitmq_url=args.rabbitmq_url or url_from_env("RABBITMQ_URL", DEFAULT_RABBITMQ_URL),
        postgres_url=args.postgres_url or url_from_env("POSTGRES_URL", DEFAULT_POSTGRES_URL),
        redis_url=url_from_env("REDIS_URL", DEFAULT_REDIS_URL),
        mongo_url=os.environ.get("MONGO_URL") or None,
    )


@contextmanager
def _logs_to_file(path: Path) -> Iterator[None]:
    """Send this process's log lines to ``path`` (same format) instead of stderr.

    The in-process phases log per job, as the services do; on the terminal those lines
    would bury the progress and the report.
    """
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(path)
    if saved:
        handler.setFormatter(saved[0].formatter)
        for log_filter in saved[0].filters:
            handler.addFilter(log_filter)
    httpx_logger = logging.getLogger("httpx")
    httpx_level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)  # a line per request would tax the load generator
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        httpx_logger.setLevel(httpx_level)
        handler.close()


def bench_main(args: argparse.Namespace) -> int:
    """Run ``observatory bench``; returns the exit code (0, or 1 when a phase failed).

    Usage errors end the process through the bench parser (exit code 2).
    """
    try:
        options = bench_options(args)
    except ConfigError as exc:
        args.bench_parser.error(str(exc))
    work_dir = Path(tempfile.mkdtemp(prefix="observatory-bench-"))
    options = dataclasses.replace(options, work_dir=work_dir)
    if args.soak is not None:
        return _soak_main(args, options, work_dir)
    log_path = work_dir / "bench.log"
    _say(f"logs of this run go to {log_path} (kept only if a phase fails)")
    with _logs_to_file(log_path):
        report = anyio.run(run_bench, options, backend_options={"use_uvloop": True})
    sys.stdout.write(report.render_table() + "\n\n" + report.describe_run() + "\n")
    sys.stdout.flush()
    code = 0 if report.ok else 1
    if args.json_path is not None:
        try:
            args.json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        except OSError as exc:
            sys.stderr.write(f"observatory bench: cannot write {args.json_path}: {exc}\n")
            code = 1
    if report.ok:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        sys.stderr.write(f"observatory bench: a phase failed; logs kept in {work_dir}\n")
    return code


def _soak_main(args: argparse.Namespace, options: BenchOptions, work_dir: Path) -> int:
    """``observatory bench --soak``: 0 when memory stayed flat and nothing was refused."""
    from launcher.soak import run_soak

    if args.soak <= 0 or args.soak_rate <= 0 or args.soak_sample_s <= 0:
        args.bench_parser.error("--soak, --soak-rate and --soak-sample-s must be positive.")

    def progress(sample: SoakSample) -> None:
        memory = ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(sample.rss_mib.items()))
        e2e = "/".join(f"{v:.0f}" for v in sample.e2e_ms) or "-"
        _say(
            f"t={sample.at_s:.0f}s submitted {sample.submitted} refused {sample.refused} "
            f"e2e {e2e} ms; {memory or 'memory not measured'}"
        )

    async def soak() -> SoakReport:
        async with _system_under_test(options, work_dir) as (gateway, read_model, pid):
            return await run_soak(
                gateway,
                read_model,
                minutes=args.soak,
                rate=args.soak_rate,
                pid=pid if pid is not None else args.soak_pid,
                sample_s=args.soak_sample_s,
                on_sample=progress,
            )

    _say(
        f"soak: {args.soak:g} min at {args.soak_rate:g} jobs/s, a sample every {args.soak_sample_s:g} s"
    )
    with _logs_to_file(work_dir / "bench.log"):
        report = anyio.run(soak, backend_options={"use_uvloop": True})
    sys.stdout.write(report.render() + "\n")
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    refused = sum(s.refused for s in report.samples)
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if report.flat and refused == 0 else 1
