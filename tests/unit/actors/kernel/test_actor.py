"""Tests for ``actors.kernel.Actor``: mailbox, batching, backpressure, lifecycle hooks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.kernel import Actor, ActorHealth, ActorState

if TYPE_CHECKING:
    from anyio.abc import TaskStatus


class Journal:
    """Records what happened, in order; tests wait for entries instead of sleeping."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._changed = anyio.Event()

    def record(self, entry: str) -> None:
        self.entries.append(entry)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, entry: str, count: int = 1) -> None:
        while self.entries.count(entry) < count:
            await self._changed.wait()


class Recorder(Actor[str]):
    """Records its hooks and messages; waits on ``gate`` before each batch if given."""

    def __init__(
        self,
        journal: Journal,
        *,
        name: str = "recorder",
        mailbox_size: int = 16,
        max_batch: int = 1,
        gate: anyio.Event | None = None,
    ) -> None:
        super().__init__(name, mailbox_size=mailbox_size, max_batch=max_batch)
        self.journal = journal
        self.gate = gate
        self.batches: list[list[str]] = []
        self.depths: list[int] = []

    async def on_start(self) -> None:
        self.journal.record("start")

    async def handle_batch(self, messages: list[str]) -> None:
        self.depths.append(self.mailbox_depth())
        self.journal.record(f"entered:{','.join(messages)}")
        if self.gate is not None:
            await self.gate.wait()
        if "boom" in messages:
            raise RuntimeError("boom was handled")
        self.batches.append(messages)
        for message in messages:
            self.journal.record(f"handled:{message}")

    async def on_stop(self) -> None:
        self.journal.record("on_stop")

    async def on_close(self) -> None:
        self.journal.record("on_close")


async def run_recording_errors(
    actor: Actor[str],
    errors: list[Exception],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``actor``, keeping a crash in ``errors`` instead of failing the task group."""
    try:
        await actor.run(task_status=task_status)
    except Exception as exc:
        errors.append(exc)


async def test_actor_handles_messages_one_at_a_time_in_order() -> None:
    journal = Journal()
    actor = Recorder(journal)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            for message in ("a", "b", "c"):
                await actor.send(message)
            await journal.wait_for("handled:c")
            actor.request_stop()
    assert actor.batches == [["a"], ["b"], ["c"]]
    assert journal.entries[0] == "start"
    assert journal.entries[-2:] == ["on_stop", "on_close"]
    stats = actor.statistics()
    assert (stats.state, stats.messages_handled, stats.batches_handled) == (
        ActorState.STOPPED,
        3,
        3,
    )


async def test_actor_hands_batches_of_at_most_max_batch() -> None:
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, max_batch=3, gate=gate)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            await actor.send("m0")
            await journal.wait_for("entered:m0")
            for index in range(1, 8):
                await actor.send(f"m{index}")
            gate.set()
            await journal.wait_for("handled:m7")
            actor.request_stop()
    assert actor.batches == [["m0"], ["m1", "m2", "m3"], ["m4", "m5", "m6"], ["m7"]]
    assert actor.statistics().batches_handled == 4
    assert actor.statistics().messages_handled == 8


async def test_full_mailbox_blocks_the_sender_until_the_handler_makes_room() -> None:
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, mailbox_size=2, gate=gate)
    sent: list[str] = []

    async def send_blocking(message: str) -> None:
        await actor.send(message)
        sent.append(message)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            await actor.send("m1")
            await journal.wait_for("entered:m1")  # the handler holds m1 and waits
            await actor.send("m2")
            await actor.send("m3")
            assert actor.mailbox_depth() == 2
            with pytest.raises(anyio.WouldBlock):
                actor.send_nowait("refused")

            tg.start_soon(send_blocking, "m4")
            tg.start_soon(send_blocking, "m5")
            await anyio.wait_all_tasks_blocked()
            assert sent == []  # both senders wait for room
            assert actor.mailbox_depth() == 2

            gate.set()
            await journal.wait_for("handled:m5")
            actor.request_stop()
    assert sorted(sent) == ["m4", "m5"]
    assert [batch[0] for batch in actor.batches] == ["m1", "m2", "m3", "m4", "m5"]
    assert max(actor.depths) <= 2


async def test_request_stop_drains_queued_messages_then_runs_on_stop() -> None:
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, gate=gate)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            for index in range(5):
                await actor.send(f"m{index}")
            await journal.wait_for("entered:m0")
            actor.request_stop()
            assert actor.statistics().state is ActorState.STOPPING
            gate.set()
    handled = [entry for entry in journal.entries if entry.startswith("handled:")]
    assert handled == [f"handled:m{index}" for index in range(5)]
    assert journal.entries[-2:] == ["on_stop", "on_close"]
    assert actor.statistics().state is ActorState.STOPPED


async def test_send_after_request_stop_raises_closed_resource_error() -> None:
    journal = Journal()
    actor = Recorder(journal, name="closing")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            actor.request_stop()
            message = r"^Actor 'closing' is stopping or stopped; it accepts no new messages\.$"
            with pytest.raises(anyio.ClosedResourceError, match=message):
                await actor.send("late")
            with pytest.raises(anyio.ClosedResourceError, match=message):
                actor.send_nowait("late")
    with pytest.raises(anyio.ClosedResourceError):
        await actor.send("after")
    assert "handled:late" not in journal.entries


async def test_senders_waiting_for_room_are_refused_when_the_actor_stops() -> None:
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, mailbox_size=1, gate=gate)
    refused: list[str] = []

    async def send_refused(message: str) -> None:
        try:
            await actor.send(message)
        except anyio.ClosedResourceError:
            refused.append(message)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            await actor.send("m1")
            await journal.wait_for("entered:m1")
            await actor.send("m2")
            tg.start_soon(send_refused, "m3")
            await anyio.wait_all_tasks_blocked()
            actor.request_stop()
            gate.set()
    assert refused == ["m3"]
    assert [batch[0] for batch in actor.batches] == ["m1", "m2"]


async def test_crash_drops_queued_messages_and_the_next_run_starts_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.kernel._actor")
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, name="crashy", gate=gate)
    errors: list[Exception] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(run_recording_errors, actor, errors)
            await actor.send("boom")
            await journal.wait_for("entered:boom")
            await actor.send("queued-1")
            await actor.send("queued-2")
            gate.set()
            await journal.wait_for("on_close")
        assert [str(error) for error in errors] == ["boom was handled"]
        assert actor.statistics().state is ActorState.FAILED
        assert actor.mailbox_depth() == 0
        assert "on_stop" not in journal.entries
        [health] = actor.health()
        assert health.last_error == "RuntimeError('boom was handled')"

        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            await actor.send("fresh")
            await journal.wait_for("handled:fresh")
            actor.request_stop()
    handled = [entry for entry in journal.entries if entry.startswith("handled:")]
    assert handled == ["handled:fresh"]
    dropped = [r.getMessage() for r in caplog.records if "mailbox_dropped" in r.getMessage()]
    assert dropped == ["actor.mailbox_dropped actor=crashy dropped=2 state=failed"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_send_between_runs_waits_for_the_next_run() -> None:
    journal = Journal()
    actor = Recorder(journal, name="gap")
    errors: list[Exception] = []
    delivered = anyio.Event()

    async def send_hello() -> None:
        await actor.send("hello")
        delivered.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(run_recording_errors, actor, errors)
            await actor.send("boom")
            await journal.wait_for("on_close")

            tg.start_soon(send_hello)
            await anyio.wait_all_tasks_blocked()
            assert not delivered.is_set()
            with pytest.raises(anyio.WouldBlock):
                actor.send_nowait("nowait")

            await tg.start(actor.run)
            await delivered.wait()
            await journal.wait_for("handled:hello")
            actor.request_stop()
    assert [str(error) for error in errors] == ["boom was handled"]


async def test_cancellation_skips_on_stop_but_runs_on_close() -> None:
    journal = Journal()
    actor = Recorder(journal, name="cancelled")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            await actor.send("a")
            await journal.wait_for("handled:a")
            tg.cancel_scope.cancel()
    assert journal.entries == ["start", "entered:a", "handled:a", "on_close"]
    assert actor.statistics().state is ActorState.STOPPED
    with pytest.raises(anyio.ClosedResourceError):
        await actor.send("after")


async def test_an_actor_without_handle_crashes_with_not_implemented_error() -> None:
    actor: Actor[int] = Actor("bare", mailbox_size=1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor.send, 1)
            with pytest.raises(
                NotImplementedError, match=r"^Actor must override handle\(\) or handle_batch\(\)\.$"
            ):
                await actor.run()


async def test_running_an_actor_twice_at_once_is_refused() -> None:
    actor = Recorder(Journal(), name="once")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            with pytest.raises(RuntimeError, match=r"^Actor 'once' is already running"):
                await actor.run()
            actor.request_stop()


@pytest.mark.parametrize(
    ("mailbox_size", "max_batch", "message"),
    [
        (-1, 1, r"^Actor 'bad' needs mailbox_size >= 0, got -1\.$"),
        (1, 0, r"^Actor 'bad' needs max_batch >= 1, got 0\.$"),
    ],
)
def test_actor_rejects_invalid_sizes(mailbox_size: int, max_batch: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Actor[str]("bad", mailbox_size=mailbox_size, max_batch=max_batch)


async def test_statistics_health_and_repr_describe_the_actor() -> None:
    journal = Journal()
    gate = anyio.Event()
    actor = Recorder(journal, name="persister", mailbox_size=16, gate=gate)
    assert actor.statistics().state is ActorState.STARTING
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(actor.run)
            for message in ("a", "b", "c", "d"):
                await actor.send(message)
            await journal.wait_for("entered:a")
            assert actor.health() == [
                ActorHealth(
                    path="persister",
                    state=ActorState.RUNNING,
                    restarts=0,
                    mailbox_depth=3,
                    mailbox_size=16,
                )
            ]
            assert repr(actor) == "<Recorder persister state=running depth=3/16 handled=0>"
            gate.set()
            await journal.wait_for("handled:d")
            assert repr(actor) == "<Recorder persister state=running depth=0/16 handled=4>"
            actor.request_stop()
    stats = actor.statistics()
    assert (stats.name, stats.mailbox_depth, stats.mailbox_size) == ("persister", 0, 16)


def test_actor_health_to_json_uses_camel_case_and_lower_case_state() -> None:
    health = ActorHealth(
        path="processor/persister",
        state=ActorState.RESTARTING,
        restarts=2,
        mailbox_depth=1,
        mailbox_size=8,
        last_error="RuntimeError('x')",
    )
    assert health.to_json() == {
        "path": "processor/persister",
        "state": "restarting",
        "restarts": 2,
        "mailboxDepth": 1,
        "mailboxSize": 8,
        "lastError": "RuntimeError('x')",
    }


def test_last_error_is_one_line_of_at_most_200_characters() -> None:
    from actors.kernel._health import describe_error

    text = describe_error(ValueError("line one\nline two " + "x" * 300))
    assert "\n" not in text
    assert len(text) == 200
    assert text.startswith("ValueError('line one\\nline two xxx")
