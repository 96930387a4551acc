"""A bench run: the phase registry, how a phase ends, and runs that need no system."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from launcher.bench import (
    FIGURES,
    BenchMode,
    BenchOptions,
    BenchReport,
    Phase,
    PhaseOutcome,
    PhaseStatus,
    run_bench,
)
from launcher.bench.phase import PhaseFailed, PhaseSkipped
from launcher.bench.registry import IN_PROCESS_PHASES, SYSTEM_PHASES, InProcessPhase
from launcher.bench.run import run_phase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

# -- runs that need no system ---------------------------------------------------------------


async def test_skipping_every_phase_starts_nothing(tmp_path: Path) -> None:
    report = await run_bench(BenchOptions(skip=frozenset(Phase), work_dir=tmp_path))
    assert [o.status for o in report.outcomes.values()] == [PhaseStatus.SKIPPED] * len(Phase)
    assert report.ok
    assert report.gateway_url is None


async def test_an_unreachable_system_fails_its_phases_with_a_clear_message(
    tmp_path: Path,
) -> None:
    options = BenchOptions(
        mode=BenchMode.EXTERNAL,
        gateway_url="http://127.0.0.1:1",
        read_model_url="http://127.0.0.1:1",
        jobs=10,
        skip=frozenset({Phase.PROCESSOR, Phase.RELAY}),
        work_dir=tmp_path,
    )
    report = await run_bench(options)
    assert not report.ok
    for phase in (Phase.SINGLE, Phase.BATCH, Phase.LATENCY):
        outcome = report.outcomes[phase]
        assert outcome.status is PhaseStatus.FAILED
        assert outcome.note.startswith(
            "The system under test is not reachable (gateway http://127.0.0.1:1, "
            "read model http://127.0.0.1:1): ConnectError"
        )


# -- the phase registry ---------------------------------------------------------------------


def test_every_phase_is_registered_once_in_run_order() -> None:
    registered = [spec.phase for spec in (*SYSTEM_PHASES, *IN_PROCESS_PHASES)]
    assert registered == list(Phase)
    assert {figure.phase for figure in FIGURES} - {None} <= set(registered)


async def test_a_registered_in_process_phase_runs_with_the_options_and_work_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[BenchOptions, Path]] = []

    async def measure(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
        calls.append((options, work_dir))
        outcome.values["processor_alone_rate"] = 1234.0

    async def cannot(options: BenchOptions, work_dir: Path, outcome: PhaseOutcome) -> None:
        raise PhaseSkipped("nothing to relay to")

    monkeypatch.setattr(
        "launcher.bench.run.IN_PROCESS_PHASES",
        (InProcessPhase(Phase.PROCESSOR, measure), InProcessPhase(Phase.RELAY, cannot)),
    )
    options = BenchOptions(
        skip=frozenset({Phase.SINGLE, Phase.BATCH, Phase.LATENCY}), work_dir=tmp_path
    )
    report = await run_bench(options)
    assert calls == [(options, tmp_path)]
    assert list(report.outcomes) == [
        Phase.SINGLE,
        Phase.BATCH,
        Phase.LATENCY,
        Phase.PROCESSOR,
        Phase.RELAY,
    ]
    assert report.figures()["processor_alone_rate"] == 1234.0
    relay = report.outcomes[Phase.RELAY]
    assert (relay.status, relay.note) == (PhaseStatus.SKIPPED, "skipped: nothing to relay to")
    assert report.ok


# -- how a phase ends -----------------------------------------------------------------------


def _empty_report() -> BenchReport:
    return BenchReport(
        mode=BenchMode.EMBEDDED,
        jobs=10,
        concurrency=1,
        batch_size=10,
        started_at="2026-11-27T10:00:00.000000Z",
    )


async def _two_failures(outcome: PhaseOutcome) -> None:
    async def fail(message: str) -> None:
        raise PhaseFailed(message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(fail, "first")
        tg.start_soon(fail, "second")


async def _skipped(outcome: PhaseOutcome) -> None:
    raise PhaseSkipped("RabbitMQ is not reachable")


async def _failed(outcome: PhaseOutcome) -> None:
    outcome.add_note("Measured half.")
    raise PhaseFailed("3 of 10 jobs were not accepted")


async def _measured(outcome: PhaseOutcome) -> None:
    outcome.values["processor_alone_rate"] = 5.0


@pytest.mark.parametrize(
    ("body", "status", "note"),
    [
        (_measured, PhaseStatus.OK, ""),
        (_skipped, PhaseStatus.SKIPPED, "skipped: RabbitMQ is not reachable"),
        (_failed, PhaseStatus.FAILED, "Measured half. 3 of 10 jobs were not accepted"),
        (_two_failures, PhaseStatus.FAILED, "first; second"),
    ],
)
async def test_a_phase_ends_as_its_body_says(
    body: Callable[[PhaseOutcome], Awaitable[None]],
    status: PhaseStatus,
    note: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _empty_report()
    outcome = await run_phase(report, BenchOptions(), Phase.PROCESSOR, body)
    assert report.outcomes[Phase.PROCESSOR] is outcome
    assert (outcome.status, outcome.note) == (status, note)
    assert report.ok is (status is not PhaseStatus.FAILED)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "bench: processor: started"
    assert err[-1].startswith(f"bench: processor: {status.value} in ")


async def test_a_crashing_phase_fails_alone_and_logs_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(outcome: PhaseOutcome) -> None:
        raise KeyError("completedJobs")

    outcome = await run_phase(_empty_report(), BenchOptions(), Phase.BATCH, crash)
    assert outcome.status is PhaseStatus.FAILED
    assert outcome.note == "It crashed (KeyError): 'completedJobs'"
    crashed = [r for r in caplog.records if r.getMessage() == "bench.phase_crashed phase=batch"]
    assert [(r.name, r.levelname, r.exc_info is not None) for r in crashed] == [
        ("launcher.bench", "ERROR", True)
    ]


async def test_a_skipped_phase_never_runs_its_body() -> None:
    async def must_not_run(outcome: PhaseOutcome) -> None:
        raise AssertionError("ran")

    options = BenchOptions(skip=frozenset({Phase.RELAY}))
    outcome = await run_phase(_empty_report(), options, Phase.RELAY, must_not_run)
    assert (outcome.status, outcome.note) == (PhaseStatus.SKIPPED, "skipped (--skip relay)")
