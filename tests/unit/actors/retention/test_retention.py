"""Retention's pieces without servers (issue 17, item 4): durations, the in-process lock,
one pass over the embedded stores in batches, and the pruner actor with its metric."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import anyio
import pytest
from prometheus_client import CollectorRegistry

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.dead_letters import DeadLetter
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.errors import ConfigError
from actors.observability.prometheus import MetricsEngineMetrics
from actors.retention import (
    InProcessPruneLock,
    PrunedStore,
    Pruner,
    PruneReport,
    parse_duration,
    prune_once,
)
from actors.stores.memory import MemoryJobStore
from actors.stores.sqlite import open_sqlite_dead_letter_store, open_sqlite_event_store

if TYPE_CHECKING:
    import pathlib


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("0s", timedelta(0)),
        ("1.5d", timedelta(hours=36)),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "-1d", "7w", "7 days", ""])
def test_a_bad_duration_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{text!r} is not a duration: write a number"):
        parse_duration(text)


def test_retention_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_RETAIN_DAYS", "0")
    monkeypatch.setenv("OBSERVATORY_PRUNE_INTERVAL_S", "2.5")
    settings = Settings.from_env()
    assert (settings.retain_days, settings.prune_interval_s) == (0.0, 2.5)
    assert Settings().retain_days == 30.0
    monkeypatch.setenv("OBSERVATORY_RETAIN_DAYS", "-1")
    with pytest.raises(ConfigError, match=r"^OBSERVATORY_RETAIN_DAYS must not be negative"):
        Settings.from_env()


async def test_the_in_process_lock_lets_one_pass_in_at_a_time() -> None:
    lock = InProcessPruneLock()
    async with lock.hold() as first:
        async with lock.hold() as second:
            assert (first, second) == (True, False)
    async with lock.hold() as again:
        assert again


def _finished(count: int) -> list[JobTransition]:
    moves: list[JobTransition] = []
    for n in range(count):
        spec = JobSpec(id=f"job-{n:03}", type="echo", created_at=utc_now(), correlation_id="c")
        moves += [
            JobTransition(job=spec, status=JobStatus.EXECUTING, at=utc_now()),
            JobTransition(job=spec, status=JobStatus.COMPLETED, at=utc_now()),
        ]
    return moves


def _dead_letter(n: int) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=f"dl-{n}",
        queue="jobs.created",
        reason="broken",
        errors=[],
        body=b"{}",
        occurred_at=utc_now(),
        service="processor",
        version="0",
    )


async def test_a_pass_loops_over_batches_and_a_dry_run_deletes_nothing(
    tmp_path: pathlib.Path,
) -> None:
    jobs = MemoryJobStore()
    async with (
        open_sqlite_event_store(tmp_path / "events.sqlite3") as events,
        open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3") as dead_letters,
    ):
        await jobs.apply_transitions(_finished(7))
        waiting = JobSpec(id="waiting", type="echo", created_at=utc_now(), correlation_id="c")
        await jobs.apply_transitions(
            [JobTransition(job=waiting, status=JobStatus.PENDING, at=utc_now())]
        )
        await dead_letters.add([_dead_letter(n) for n in range(5)])
        cutoff = utc_now()
        seen: list[dict[PrunedStore, int]] = []

        def progress(report: PruneReport) -> None:
            seen.append(dict(report.rows))

        dry = await prune_once(
            jobs, events, dead_letters, cutoff=cutoff, dry_run=True, batch_size=3
        )
        assert dry.rows == {
            PrunedStore.JOBS: 7,
            PrunedStore.EVENTS: 0,
            PrunedStore.DEAD_LETTERS: 5,
        }
        assert len(await jobs.recent_jobs(limit=100)) == 8
        assert await dead_letters.count() == 5

        done = await prune_once(
            jobs, events, dead_letters, cutoff=cutoff, batch_size=3, on_batch=progress
        )

        assert done.rows == dry.rows
        assert [rows[PrunedStore.JOBS] for rows in seen] == [3, 6, 7, 7, 7]
        assert [rows[PrunedStore.DEAD_LETTERS] for rows in seen] == [0, 0, 0, 3, 5]
        assert [job.spec.id for job in await jobs.recent_jobs(limit=100)] == ["waiting"]
        assert await dead_letters.count() == 0
        with pytest.raises(ValueError, match=r"^batch_size must be at least 1, not 0\.$"):
            await prune_once(jobs, events, dead_letters, cutoff=cutoff, batch_size=0)


async def test_the_pruner_counts_pruned_rows_and_skips_a_pass_when_the_lock_is_held(
    tmp_path: pathlib.Path,
) -> None:
    metrics = MetricsEngineMetrics(CollectorRegistry())
    jobs = MemoryJobStore()
    lock = InProcessPruneLock()
    async with (
        open_sqlite_event_store(tmp_path / "events.sqlite3") as events,
        open_sqlite_dead_letter_store(tmp_path / "dl.sqlite3") as dead_letters,
    ):
        await jobs.apply_transitions(_finished(4))
        pruner = Pruner(
            jobs,
            events,
            dead_letters,
            retain=timedelta(0),
            interval_s=3600,
            lock=lock.hold,
            pruned_rows=metrics.pruned_rows,
        )
        async with lock.hold():
            await pruner.tick()  # another pass holds the lock: nothing done
        assert pruner.passes == 0
        assert len(await jobs.recent_jobs(limit=10)) == 4

        with anyio.fail_after(10):
            await pruner.tick()

        assert pruner.passes == 1
        assert await jobs.recent_jobs(limit=10) == []
        sample = metrics.registry.get_sample_value(
            "metrics_engine_pruned_rows_total", {"store": "jobs"}
        )
        assert sample == 4.0
