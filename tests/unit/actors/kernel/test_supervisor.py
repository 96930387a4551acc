"""Tests for ``actors.kernel.Supervisor``: OTP strategies, restart types, intensity, stop."""

from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypedDict

import anyio
import pytest

from actors.errors import ConfigError, SupervisorGaveUp
from actors.kernel import (
    Actor,
    ActorHealth,
    ActorState,
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from anyio.abc import TaskStatus


class Backoff(TypedDict):
    backoff_initial_s: float
    backoff_max_s: float


FAST = Backoff(backoff_initial_s=0.001, backoff_max_s=0.004)
"""Tiny backoffs: restarts in tests should not wait for real time."""


class Journal:
    """Records what happened, in order; tests wait for entries instead of sleeping."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._changed = anyio.Event()

    def record(self, entry: str) -> None:
        self.entries.append(entry)
        self._changed.set()
        self._changed = anyio.Event()

    def count(self, entry: str) -> int:
        return self.entries.count(entry)

    def matching(self, suffix: str) -> list[str]:
        return [entry for entry in self.entries if entry.endswith(suffix)]

    async def wait_for(self, entry: str, count: int = 1) -> None:
        while self.entries.count(entry) < count:
            await self._changed.wait()


class Worker(Actor[str]):
    """Records its lifecycle into the journal; the message "crash" makes it raise."""

    def __init__(self, name: str, journal: Journal, *, gate: anyio.Event | None = None) -> None:
        super().__init__(name, mailbox_size=16)
        self.journal = journal
        self.gate = gate
        self.handled: list[str] = []

    async def on_start(self) -> None:
        self.journal.record(f"{self.name}:start")

    async def handle(self, message: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if message == "crash":
            raise RuntimeError(f"{self.name} was told to crash")
        self.handled.append(message)
        self.journal.record(f"{self.name}:handled:{message}")

    async def on_stop(self) -> None:
        self.journal.record(f"{self.name}:stop")


class Scripted:
    """A plain task child whose n-th run follows the n-th outcome (the last one repeats).

    Outcomes: ``"fail_start"`` raises before ``started()``, ``"raise"`` raises right
    after it, ``"return"`` returns after it, ``"block"`` runs until cancelled.
    """

    def __init__(self, name: str, journal: Journal, outcomes: Sequence[str]) -> None:
        self.name = name
        self.journal = journal
        self.outcomes = list(outcomes)
        self.runs = 0

    def spec(
        self,
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown_s: float = 5.0,
        stop: Callable[[], object] | None = None,
    ) -> ChildSpec:
        return ChildSpec(self.name, self.run, restart=restart, shutdown_s=shutdown_s, stop=stop)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        outcome = self.outcomes[min(self.runs, len(self.outcomes)) - 1]
        if outcome == "fail_start":
            self.journal.record(f"{self.name}:fail_start")
            raise RuntimeError(f"{self.name} failed to start (run {self.runs})")
        task_status.started()
        self.journal.record(f"{self.name}:start")
        if outcome == "raise":
            raise RuntimeError(f"{self.name} crashed (run {self.runs})")
        if outcome == "return":
            self.journal.record(f"{self.name}:return")
            return
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.journal.record(f"{self.name}:cancelled")
            raise


class FakeClock:
    """A clock the test moves by hand, for the intensity window."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@asynccontextmanager
async def supervising(supervisor: Supervisor) -> AsyncIterator[None]:
    """Run ``supervisor`` for the body, then stop it gracefully and wait for it."""
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        try:
            yield
        finally:
            supervisor.request_stop()


def health_by_path(supervisor: Supervisor) -> dict[str, ActorHealth]:
    return {entry.path: entry for entry in supervisor.health()}


async def test_crashing_child_is_restarted_while_siblings_keep_running() -> None:
    journal = Journal()
    first, worker, last = (Worker(name, journal) for name in ("first", "worker", "last"))
    supervisor = Supervisor("svc", [ChildSpec.of(a) for a in (first, worker, last)], **FAST)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await first.send("before")
            await worker.send("crash")
            await journal.wait_for("worker:start", 2)
            await worker.send("after")
            await first.send("again")
            await journal.wait_for("worker:handled:after")
            await journal.wait_for("first:handled:again")
            assert supervisor.statistics().state is ActorState.RUNNING
    assert journal.count("first:start") == 1
    assert journal.count("last:start") == 1
    assert first.handled == ["before", "again"]
    assert worker.handled == ["after"]
    stats = supervisor.statistics()
    assert (stats.total_restarts, stats.children) == (1, ("first", "worker", "last"))
    assert stats.state is ActorState.STOPPED


async def test_supervisor_gives_up_after_intensity_exceeded() -> None:
    journal = Journal()
    steady = Worker("steady", journal)
    crasher = Scripted("crasher", journal, ["raise"])
    supervisor = Supervisor(
        "svc", [ChildSpec.of(steady), crasher.spec()], intensity=2, period_s=60, **FAST
    )
    with (
        anyio.fail_after(5),
        pytest.raises(
            SupervisorGaveUp,
            match=(
                r"^Child 'crasher' crashed 3 times within 60 s; "
                r"the supervisor gave up and stopped its children\.$"
            ),
        ) as caught,
    ):
        await supervisor.run()
    assert (caught.value.child_id, caught.value.restarts, caught.value.period_s) == (
        "crasher",
        3,
        60,
    )
    cause = caught.value.__cause__
    assert isinstance(cause, RuntimeError)
    assert str(cause) == "crasher crashed (run 3)"
    assert crasher.runs == 3
    assert journal.entries[-1] == "steady:stop"
    assert steady.statistics().state is ActorState.STOPPED
    stats = supervisor.statistics()
    assert (stats.state, stats.total_restarts) == (ActorState.FAILED, 2)
    assert health_by_path(supervisor)["svc/crasher"].state is ActorState.FAILED


async def test_outer_supervisor_restarts_an_inner_one_that_gave_up() -> None:
    journal = Journal()
    worker = Worker("worker", journal)
    other = Worker("other", journal)
    inner = Supervisor("inner", [ChildSpec.of(worker)], intensity=1, period_s=60, **FAST)
    root = Supervisor(
        "root", [ChildSpec.of(inner), ChildSpec.of(other)], intensity=3, period_s=60, **FAST
    )
    with anyio.fail_after(5):
        async with supervising(root):
            await worker.send("crash")
            await journal.wait_for("worker:start", 2)  # the inner supervisor restarted it
            await worker.send("crash")
            await journal.wait_for("worker:start", 3)  # the inner gave up; root restarted it
            await worker.send("ping")
            await journal.wait_for("worker:handled:ping")
            await anyio.wait_all_tasks_blocked()

            health = health_by_path(root)
            assert list(health) == ["root", "root/inner", "root/inner/worker", "root/other"]
            assert all(entry.state is ActorState.RUNNING for entry in health.values())
            assert health["root/inner"].restarts == 1
            last_error = health["root/inner"].last_error
            assert last_error is not None
            assert last_error.startswith("SupervisorGaveUp(\"Child 'worker' crashed 2 times")
            assert health["root/inner/worker"].restarts == 1
            assert health["root/other"].restarts == 0
    assert journal.count("other:start") == 1
    assert root.statistics().total_restarts == 1
    assert inner.statistics().state is ActorState.STOPPED


async def test_cancelling_the_supervisor_is_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    journal = Journal()
    task = Scripted("task", journal, ["block"])
    worker = Worker("worker", journal)
    supervisor = Supervisor("svc", [task.spec(), ChildSpec.of(worker)], intensity=0, **FAST)
    with anyio.fail_after(5):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                await tg.start(supervisor.run)
                await worker.send("hello")
                await journal.wait_for("worker:handled:hello")
                scope.cancel()
        await anyio.wait_all_tasks_blocked()
    assert scope.cancelled_caught
    assert task.runs == 1
    assert journal.count("worker:start") == 1
    assert "task:cancelled" in journal.entries
    assert "worker:stop" not in journal.entries  # cancelled, not stopped gracefully
    stats = supervisor.statistics()
    assert (stats.state, stats.total_restarts) == (ActorState.STOPPED, 0)
    assert worker.statistics().state is ActorState.STOPPED
    assert caplog.records == []


async def test_graceful_stop_drains_mailboxes_and_stops_children_in_reverse_order() -> None:
    journal = Journal()
    gate = anyio.Event()
    first = Worker("first", journal)
    slow = Worker("slow", journal, gate=gate)
    last = Worker("last", journal)
    supervisor = Supervisor("svc", [ChildSpec.of(a) for a in (first, slow, last)])
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            for index in range(10):
                await slow.send(f"m{index}")
            supervisor.request_stop()
            await anyio.wait_all_tasks_blocked()  # "last" stopped; waiting for "slow"
            assert supervisor.statistics().state is ActorState.STOPPING
            with pytest.raises(anyio.ClosedResourceError):
                await slow.send("late")
            gate.set()
    assert journal.matching(":start") == ["first:start", "slow:start", "last:start"]
    assert journal.matching(":stop") == ["last:stop", "slow:stop", "first:stop"]
    slow_entries = [entry for entry in journal.entries if entry.startswith("slow:")]
    assert slow_entries == [
        "slow:start",
        *(f"slow:handled:m{index}" for index in range(10)),
        "slow:stop",
    ]
    assert supervisor.statistics().state is ActorState.STOPPED


async def test_child_that_ignores_stop_is_cancelled_after_shutdown_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="actors.kernel._supervisor")
    journal = Journal()
    stubborn = Scripted("stubborn", journal, ["block"])
    supervisor = Supervisor(
        "svc",
        [stubborn.spec(stop=lambda: journal.record("stubborn:asked"), shutdown_s=0.05)],
    )
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            asked_at = anyio.current_time()
            supervisor.request_stop()
        elapsed_s = anyio.current_time() - asked_at
    assert journal.entries == ["stubborn:start", "stubborn:asked", "stubborn:cancelled"]
    assert elapsed_s >= 0.05
    # A planned stop: the cancel is part of it, told at INFO, never as actor.killed.
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "INFO",
            "actor.stop_cancelled child=stubborn supervisor=svc shutdown_s=0.05: "
            "planned stop; what it held goes back unacknowledged",
        )
    ]


async def test_sibling_that_ignores_stop_in_a_restart_is_logged_killed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.kernel._supervisor")
    journal = Journal()
    stubborn = Scripted("stubborn", journal, ["block"])
    crasher = Scripted("crasher", journal, ["raise"])
    supervisor = Supervisor(
        "svc",
        [stubborn.spec(stop=lambda: None, shutdown_s=0.05), crasher.spec()],
        strategy=Strategy.ONE_FOR_ALL,
        intensity=0,
    )
    # Not a planned stop: the supervisor gives up and stops its children itself.
    with anyio.fail_after(5), pytest.raises(SupervisorGaveUp):
        await supervisor.run()
    killed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("actor.killed")]
    assert killed == ["actor.killed child=stubborn supervisor=svc shutdown_s=0.05"]


async def test_nested_supervisor_stop_waits_for_its_subtree() -> None:
    journal = Journal()
    gate = anyio.Event()
    slow = Worker("slow", journal, gate=gate)
    inner = Supervisor("inner", [ChildSpec.of(slow)])
    after = Worker("after", journal)
    root = Supervisor("root", [ChildSpec.of(inner), ChildSpec.of(after)])
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(root.run)
            await slow.send("m0")
            await slow.send("m1")
            root.request_stop()
            await anyio.wait_all_tasks_blocked()
            assert journal.matching(":stop") == ["after:stop"]
            gate.set()
    assert journal.matching(":stop") == ["after:stop", "slow:stop"]
    assert slow.handled == ["m0", "m1"]


async def test_one_for_all_restarts_every_child() -> None:
    journal = Journal()
    children = [Worker(name, journal) for name in ("a", "b", "c")]
    b = children[1]
    supervisor = Supervisor(
        "svc", [ChildSpec.of(w) for w in children], strategy=Strategy.ONE_FOR_ALL, **FAST
    )
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await b.send("crash")
            await journal.wait_for("c:start", 2)
            await anyio.wait_all_tasks_blocked()
            assert journal.entries == [
                *("a:start", "b:start", "c:start"),
                *("c:stop", "a:stop"),
                *("a:start", "b:start", "c:start"),
            ]
            health = health_by_path(supervisor)
            assert [health[f"svc/{name}"].restarts for name in "abc"] == [1, 1, 1]
            assert supervisor.statistics().total_restarts == 1


async def test_rest_for_one_restarts_the_failed_child_and_later_ones_only() -> None:
    journal = Journal()
    children = [Worker(name, journal) for name in ("a", "b", "c")]
    a, b = children[:2]
    supervisor = Supervisor(
        "svc", [ChildSpec.of(w) for w in children], strategy=Strategy.REST_FOR_ONE, **FAST
    )
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await a.send("kept")
            await journal.wait_for("a:handled:kept")
            await b.send("crash")
            await journal.wait_for("c:start", 2)
            await anyio.wait_all_tasks_blocked()
            assert journal.entries == [
                *("a:start", "b:start", "c:start"),
                "a:handled:kept",
                "c:stop",
                *("b:start", "c:start"),
            ]
            health = health_by_path(supervisor)
            assert [health[f"svc/{name}"].restarts for name in "abc"] == [0, 1, 1]
            assert a.statistics().messages_handled == 1


async def test_transient_child_is_restarted_after_a_crash_but_not_after_a_normal_return() -> None:
    journal = Journal()
    transient = Scripted("transient", journal, ["raise", "return"])
    supervisor = Supervisor("svc", [transient.spec(restart=Restart.TRANSIENT)], **FAST)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await journal.wait_for("transient:return")
            await anyio.wait_all_tasks_blocked()
            entry = health_by_path(supervisor)["svc/transient"]
            assert (entry.state, entry.restarts) == (ActorState.STOPPED, 1)
            assert entry.last_error == "RuntimeError('transient crashed (run 1)')"
    assert transient.runs == 2


async def test_temporary_child_is_never_restarted() -> None:
    journal = Journal()
    temporary = Scripted("temporary", journal, ["raise"])
    steady = Worker("steady", journal)
    supervisor = Supervisor(
        "svc", [temporary.spec(restart=Restart.TEMPORARY), ChildSpec.of(steady)], **FAST
    )
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await journal.wait_for("temporary:start")
            await anyio.wait_all_tasks_blocked()
            stats = supervisor.statistics()
            assert (stats.children, stats.total_restarts) == (("steady",), 0)
            assert "svc/temporary" not in health_by_path(supervisor)
    assert temporary.runs == 1


async def test_permanent_child_is_restarted_after_a_normal_return() -> None:
    journal = Journal()
    permanent = Scripted("permanent", journal, ["return", "block"])
    supervisor = Supervisor("svc", [permanent.spec()], **FAST)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await journal.wait_for("permanent:start", 2)
            await anyio.wait_all_tasks_blocked()
            entry = health_by_path(supervisor)["svc/permanent"]
            assert (entry.state, entry.restarts, entry.last_error) == (
                ActorState.RUNNING,
                1,
                None,
            )
    assert journal.entries == [
        "permanent:start",
        "permanent:return",
        "permanent:start",
        "permanent:cancelled",
    ]


async def test_startup_failure_is_retried_until_the_child_starts() -> None:
    journal = Journal()
    flaky = Scripted("flaky", journal, ["fail_start", "fail_start", "block"])
    after = Worker("after", journal)
    supervisor = Supervisor("svc", [flaky.spec(), ChildSpec.of(after)], intensity=3, **FAST)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            # started() only comes once every child is ready, in order
            assert journal.entries == [
                "flaky:fail_start",
                "flaky:fail_start",
                "flaky:start",
                "after:start",
            ]
            entry = health_by_path(supervisor)["svc/flaky"]
            assert (entry.state, entry.restarts) == (ActorState.RUNNING, 2)
            assert entry.last_error == "RuntimeError('flaky failed to start (run 2)')"


async def test_startup_failure_gives_up_after_intensity_exceeded() -> None:
    journal = Journal()
    first = Worker("first", journal)
    broken = Scripted("broken", journal, ["fail_start"])
    never = Worker("never", journal)
    supervisor = Supervisor(
        "svc", [ChildSpec.of(first), broken.spec(), ChildSpec.of(never)], intensity=2, **FAST
    )
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            with pytest.raises(
                SupervisorGaveUp, match=r"^Child 'broken' crashed 3 times"
            ) as caught:
                await tg.start(supervisor.run)  # the error comes out of start(), not the group
    assert str(caught.value.__cause__) == "broken failed to start (run 3)"
    assert journal.entries == ["first:start", *["broken:fail_start"] * 3, "first:stop"]


async def test_injected_clock_controls_the_intensity_window() -> None:
    journal = Journal()
    clock = FakeClock()
    worker = Worker("worker", journal)
    supervisor = Supervisor(
        "svc", [ChildSpec.of(worker)], intensity=1, period_s=10, now=clock, **FAST
    )
    with anyio.fail_after(5), pytest.RaisesGroup(SupervisorGaveUp):
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            for runs in range(2, 7):  # five crashes, each 11 s after the previous one
                clock.now_s += 11
                await worker.send("crash")
                await journal.wait_for("worker:start", runs)
            stats = supervisor.statistics()
            assert (stats.state, stats.total_restarts, stats.restarts_in_window) == (
                ActorState.RUNNING,
                5,
                1,
            )
            clock.now_s += 9  # the next crash is within period_s of the last one
            await worker.send("crash")
    assert supervisor.statistics().state is ActorState.FAILED


async def test_restart_is_logged_at_warning_with_child_id_and_restart_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.kernel._supervisor")
    journal = Journal()
    worker = Worker("worker", journal)
    supervisor = Supervisor("svc", [ChildSpec.of(worker)], **FAST)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await worker.send("crash")
            await journal.wait_for("worker:start", 2)
            await worker.send("crash")
            await journal.wait_for("worker:start", 3)
    restarts = [r for r in caplog.records if r.getMessage().startswith("actor.restarted")]
    assert [r.levelno for r in restarts] == [logging.WARNING, logging.WARNING]
    assert [r.getMessage() for r in restarts] == [
        "actor.restarted child=worker supervisor=svc strategy=one_for_one "
        f"restarts_in_window={count} error=RuntimeError('worker was told to crash')"
        for count in (1, 2)
    ]
    assert restarts[0].exc_info is not None


async def test_health_lists_every_path_with_state_and_restart_count() -> None:
    journal = Journal()
    worker = Worker("worker", journal)
    other = Worker("other", journal)
    plain = Scripted("plain", journal, ["block"])
    supervisor = Supervisor(
        "svc", [ChildSpec.of(worker), ChildSpec.of(other), plain.spec()], **FAST
    )
    assert [entry.path for entry in supervisor.health()] == [
        "svc",
        "svc/worker",
        "svc/other",
        "svc/plain",
    ]
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await worker.send("crash")
            await journal.wait_for("worker:start", 2)
            await worker.send("ping")
            await journal.wait_for("worker:handled:ping")
            await anyio.wait_all_tasks_blocked()
            assert supervisor.health() == [
                ActorHealth("svc", ActorState.RUNNING, 0),
                ActorHealth(
                    "svc/worker",
                    ActorState.RUNNING,
                    1,
                    mailbox_depth=0,
                    mailbox_size=16,
                    last_error="RuntimeError('worker was told to crash')",
                ),
                ActorHealth("svc/other", ActorState.RUNNING, 0, mailbox_depth=0, mailbox_size=16),
                ActorHealth("svc/plain", ActorState.RUNNING, 0),
            ]
            assert [entry.to_json()["state"] for entry in supervisor.health()] == ["running"] * 4
    assert {entry.state for entry in supervisor.health()} == {ActorState.STOPPED}


async def test_health_shows_a_crashed_child_as_restarting_during_its_backoff() -> None:
    journal = Journal()
    worker = Worker("worker", journal)
    supervisor = Supervisor("svc", [ChildSpec.of(worker)], backoff_initial_s=60, backoff_max_s=60)
    with anyio.fail_after(5):
        async with supervising(supervisor):
            await worker.send("crash")
            await anyio.wait_all_tasks_blocked()
            entry = health_by_path(supervisor)["svc/worker"]
            assert (entry.state, entry.restarts) == (ActorState.RESTARTING, 1)
    # the stop interrupted the backoff: no restart happened
    assert journal.count("worker:start") == 1


def test_child_spec_of_takes_run_stop_and_health_from_actors_and_supervisors() -> None:
    journal = Journal()
    worker = Worker("worker", journal)
    spec = ChildSpec.of(worker)
    assert (spec.id, spec.restart, spec.shutdown_s) == ("worker", Restart.PERMANENT, 5.0)
    assert spec.run == worker.run
    assert spec.stop == worker.request_stop
    assert spec.health == worker.health

    inner = Supervisor("inner", [spec])
    nested = ChildSpec.of(inner, id="subtree", restart=Restart.TRANSIENT)
    assert (nested.id, nested.restart, nested.shutdown_s) == (
        "subtree",
        Restart.TRANSIENT,
        math.inf,
    )
    assert ChildSpec.of(inner, shutdown_s=2.0).shutdown_s == 2.0


def test_supervisor_rejects_duplicate_child_ids() -> None:
    journal = Journal()
    specs = [ChildSpec.of(Worker("twin", journal)), ChildSpec.of(Worker("twin", journal))]
    with pytest.raises(
        ValueError, match=r"^Supervisor 'svc' has duplicate child ids: \['twin'\]\.$"
    ):
        Supervisor("svc", specs)


def test_repr_is_a_one_line_status() -> None:
    supervisor = Supervisor("svc", [ChildSpec.of(Worker("worker", Journal()))])
    assert repr(supervisor) == (
        "<Supervisor svc state=starting strategy=one_for_one children=1 restarts=0>"
    )


async def test_a_config_error_gives_up_at_once_without_restart_loops() -> None:
    attempts: list[int] = []

    async def misconfigured(*, task_status: object = None) -> None:
        attempts.append(1)
        raise ConfigError("Cannot listen on 127.0.0.1:1: Permission denied.")

    inner = Supervisor("inner", [ChildSpec("http", misconfigured)], intensity=10, period_s=60)
    outer = Supervisor("outer", [ChildSpec.of(inner)], intensity=10, period_s=60)
    with anyio.fail_after(5), pytest.raises(SupervisorGaveUp) as caught:
        await outer.run()
    assert attempts == [1]
    assert isinstance(caught.value.__cause__, SupervisorGaveUp)
    assert isinstance(caught.value.__cause__.__cause__, ConfigError)


async def test_a_stop_requested_while_a_child_is_still_starting_abandons_it() -> None:
    order: list[str] = []
    waiting = anyio.Event()

    async def quick(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        order.append("quick started")
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            order.append("quick stopped")

    async def waits_for_a_server(
        *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        waiting.set()
        await anyio.sleep_forever()  # never ready
        task_status.started()

    async def never_reached(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        order.append("never reached started")
        task_status.started()

    supervisor = Supervisor(
        "svc",
        [
            ChildSpec("quick", quick, shutdown_s=1),
            ChildSpec("slow", waits_for_a_server, shutdown_s=1),
            ChildSpec("last", never_reached, shutdown_s=1),
        ],
    )
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(supervisor.run)
            await waiting.wait()
            supervisor.request_stop()
    assert order == ["quick started", "quick stopped"]
    assert supervisor.statistics().total_restarts == 0
