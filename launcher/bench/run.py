"""A bench run: the system under test, then every registered phase in order, each under its
deadline, into one :class:`~launcher.bench.report.BenchReport`.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx

from actors.config.urls import redact
from actors.domain.clock import utc_now
from actors.errors import ObservatoryError
from launcher.bench.cpu import CpuWatch
from launcher.bench.http_phases import HttpBench, client_count
from launcher.bench.options import BenchMode
from launcher.bench.phase import TEARDOWN_S, PhaseFailed, PhaseSkipped, say
from launcher.bench.registry import IN_PROCESS_PHASES, SYSTEM_PHASES
from launcher.bench.report import BenchReport, PhaseOutcome, PhaseStatus
from launcher.observatory_process import start_local_observatory, start_observatory

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from launcher.bench.options import BenchOptions
    from launcher.bench.report import Phase

__all__ = ["run_bench", "run_phase", "system_under_test"]

# The name the bench's log lines have always carried (the package's, not this module's).
log = logging.getLogger("launcher.bench")

_NO_RATE_LIMIT_VAR = "OBSERVATORY_RATE_LIMIT"
"""Set to 0 for a system the bench starts: no per-client submission rate limit."""

_SYSTEM_PHASES = tuple(spec.phase for spec in SYSTEM_PHASES)


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside ``error``, nested groups flattened."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _messages(group: BaseExceptionGroup[BaseException]) -> str:
    """Every distinct message in ``group``, for the operator."""
    return "; ".join(dict.fromkeys(str(error) or repr(error) for error in _leaves(group)))


@asynccontextmanager
async def system_under_test(
    options: BenchOptions, work_dir: Path
) -> AsyncIterator[tuple[str, str, int | None]]:
    """The gateway and read-model URLs and the root process id (``None``: not started
    here), starting (and afterwards stopping) the system.

    A system started here has no submission rate limit (``OBSERVATORY_RATE_LIMIT=0``):
    its default would cap the bench's batch phase. A running system keeps its own, and
    the HTTP phases wait out its 429 answers.
    """
    if options.mode is BenchMode.EXTERNAL:
        assert options.gateway_url
        assert options.read_model_url
        yield options.gateway_url, options.read_model_url, None
        return
    say(
        "the system under test runs without a submission rate limit "
        f"({_NO_RATE_LIMIT_VAR}=0), so the bench measures the system, not the limit"
    )
    no_limit = {_NO_RATE_LIMIT_VAR: "0"}
    if options.mode is BenchMode.EMBEDDED:
        async with start_observatory(data_dir=work_dir / "observatory", env=no_limit) as running:
            yield running.gateway, running.read_model, running.process.pid
        return
    async with start_local_observatory(
        data_dir=work_dir / "observatory",
        namespace=f"bench-{uuid.uuid4().hex[:10]}",
        rabbitmq_url=options.rabbitmq_url,
        postgres_url=options.postgres_url,
        redis_url=options.redis_url,
        mongo_url=options.mongo_url,
        env=no_limit,
        processors=options.processors,
    ) as running:
        say(
            f"local system up on namespace {running.namespace!r} with "
            f"{options.processors} processor process{'es' if options.processors > 1 else ''}"
        )
        yield running.gateway, running.read_model, running.process.pid


async def run_phase(
    report: BenchReport,
    options: BenchOptions,
    phase: Phase,
    body: Callable[[PhaseOutcome], Awaitable[None]],
) -> PhaseOutcome:
    """Run one phase under its deadline; record how it ended.

    A phase in ``options.skip`` is recorded as skipped without running ``body``. Otherwise
    ``body`` runs until ``max(60, jobs/100)`` s have passed (then the phase failed). It
    ends the phase as skipped by raising :class:`~launcher.bench.phase.PhaseSkipped`, as
    failed by raising :class:`~launcher.bench.phase.PhaseFailed`, an
    :class:`~actors.errors.ObservatoryError` or an ``httpx.HTTPError``; any other
    exception fails the phase too (as a crash, its traceback logged). Nothing but
    cancellation leaves this function.
    """
    outcome = report.outcomes[phase] = PhaseOutcome(phase)
    if phase in options.skip:
        outcome.status = PhaseStatus.SKIPPED
        outcome.note = f"skipped (--skip {phase})"
        return outcome
    deadline_s = options.phase_deadline_s
    say(f"{phase}: started")
    cpu = CpuWatch.start()
    started = anyio.current_time()
    outcome.deadline_at = started + deadline_s
    async with anyio.create_task_group() as sampler:
        if cpu is not None:
            sampler.start_soon(cpu.follow)
        await _measure(outcome, phase, body, deadline_s)
        sampler.cancel_scope.cancel()
    outcome.duration_s = anyio.current_time() - started
    if cpu is not None:
        outcome.cpu = cpu.shares()
    log.info(
        "bench.phase phase=%s status=%s duration_s=%.2f", phase, outcome.status, outcome.duration_s
    )
    say(f"{phase}: {outcome.status} in {outcome.duration_s:.1f} s")
    return outcome


async def _measure(
    outcome: PhaseOutcome,
    phase: Phase,
    body: Callable[[PhaseOutcome], Awaitable[None]],
    deadline_s: float,
) -> None:
    """Run ``body`` until the outcome's deadline; turn how it ended into the outcome."""
    try:
        with anyio.move_on_at(outcome.deadline_at) as scope:
            await body(outcome)
        if scope.cancelled_caught:
            outcome.status = PhaseStatus.FAILED
            outcome.add_note(
                f"Did not finish within {deadline_s:g} s (the deadline is max(60, jobs/100) "
                f"s); it had {outcome.progress or 'not reported progress'}."
            )
    except* PhaseSkipped as group:
        outcome.status = PhaseStatus.SKIPPED
        outcome.add_note(f"skipped: {_messages(group)}")
    except* (PhaseFailed, ObservatoryError, httpx.HTTPError) as group:
        outcome.status = PhaseStatus.FAILED
        outcome.add_note(_messages(group))
    except* Exception as group:
        # Anything else (a broken connection deep in a client library, an answer of an
        # unexpected shape) still ends only this phase; the traceback goes to the log.
        log.error("bench.phase_crashed phase=%s", phase, exc_info=group)
        outcome.status = PhaseStatus.FAILED
        kinds = ", ".join(dict.fromkeys(type(e).__name__ for e in _leaves(group)))
        outcome.add_note(f"It crashed ({kinds}): {_messages(group)}")


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
        processors=options.processors,
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
    if any(phase not in options.skip for phase in _SYSTEM_PHASES):
        shards = client_count(options.concurrency)
        report.remarks.append(
            f"HTTP load: {options.concurrency} connections over {shards} httpx clients."
        )
        if importlib.util.find_spec("sniffio") is None:
            report.remarks.append(
                "sniffio is not installed, so httpcore retries importing it on every request "
                "(encode/httpcore#1103): the load generator is slower than it could be."
            )
        await _system_phases(options, report, work_dir)
    else:
        for phase in _SYSTEM_PHASES:
            await run_phase(report, options, phase, _never)
    for in_process in IN_PROCESS_PHASES:
        await run_phase(
            report, options, in_process.phase, partial(in_process.run, options, work_dir)
        )
    if made_dir and report.ok:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(work_dir, ignore_errors=True))
    elif made_dir:
        say(f"a phase failed; kept {work_dir} (the system's logs) for a look")
    return report


async def _never(outcome: PhaseOutcome) -> None:
    raise AssertionError(f"phase {outcome.phase} should have been skipped")


async def _system_phases(options: BenchOptions, report: BenchReport, work_dir: Path) -> None:
    """Start the system under test, run the phases that drive it, and stop it."""
    stack = AsyncExitStack()
    failure: str | None = None
    try:
        if options.mode is not BenchMode.EXTERNAL:
            say(f"starting the system under test ({options.mode})")
        gateway, read_model, _ = await stack.enter_async_context(
            system_under_test(options, work_dir)
        )
    except* (ObservatoryError, OSError) as group:
        failure = f"The system under test did not start: {_messages(group)}"
    if failure is not None:
        await stack.aclose()
        for phase in _SYSTEM_PHASES:
            await run_phase(report, options, phase, _fail_with(failure))
        return
    async with stack:
        report.gateway_url, report.read_model_url = gateway, read_model
        bench = HttpBench(options, report, gateway, read_model)
        try:
            try:
                await bench.check_reachable()
            except PhaseFailed as exc:
                for phase in _SYSTEM_PHASES:
                    await run_phase(report, options, phase, _fail_with(str(exc)))
                return
            for system_phase in SYSTEM_PHASES:
                await run_phase(
                    report, options, system_phase.phase, partial(system_phase.run, bench)
                )
        finally:
            with anyio.move_on_after(TEARDOWN_S, shield=True):
                await bench.aclose()
            if options.mode is not BenchMode.EXTERNAL:
                say("stopping the system under test")


def _fail_with(reason: str) -> Callable[[PhaseOutcome], Awaitable[None]]:
    async def fail(_: PhaseOutcome) -> None:
        raise PhaseFailed(reason)

    return fail
