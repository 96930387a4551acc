"""The alert rules as the read model evaluates them without Prometheus."""

from __future__ import annotations

import uuid

import pytest

from actors.domain.clock import utc_now
from actors.domain.events import Envelope, EventType, Producer, lifecycle_event_id
from actors.kernel import ActorHealth, ActorState
from actors.stores.memory import MemoryCounters
from contracts import SchemaName, get_contracts
from quart_app.read_model.alert_rules import AlertEvaluator, RuleWindows
from quart_app.read_model.alerts import AlertBook


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class DeadLetterCount:
    """Only what the evaluator reads of a dead-letter store."""

    def __init__(self) -> None:
        self.value = 0

    async def count(self) -> int:
        return self.value


def _terminal(job_type: str, failed: bool) -> list[Envelope]:
    job_id = str(uuid.uuid4())
    producer = Producer("test", "t", "0")
    payload = {"id": job_id, "type": job_type, "status": "x", "createdAt": utc_now()}
    final = EventType.FAILED if failed else EventType.COMPLETED
    return [
        Envelope(
            event_type,
            lifecycle_event_id(job_id, event_type),
            utc_now(),
            producer,
            job_id,
            job_id,
            payload,
        )
        for event_type in (EventType.VALIDATED, final)
    ]


async def _apply(counters: MemoryCounters, job_type: str, completed: int, failed: int) -> None:
    for index in range(completed + failed):
        await counters.apply(_terminal(job_type, failed=index < failed))


def _evaluator(
    counters: MemoryCounters, dead: DeadLetterCount, health: list[ActorHealth], clock: FakeClock
) -> tuple[AlertEvaluator, AlertBook]:
    book = AlertBook()
    evaluator = AlertEvaluator(
        book,
        counters,
        dead,  # type: ignore[arg-type]
        lambda: health,
        windows=RuleWindows(failure_window_s=300, failure_for_s=300),
        now=clock,
    )
    return evaluator, book


async def test_a_failure_ratio_above_5_percent_fires_after_its_for_time_and_resolves() -> None:
    counters, dead, clock = MemoryCounters(), DeadLetterCount(), FakeClock()
    evaluator, book = _evaluator(counters, dead, [], clock)
    await evaluator.evaluate()
    for minute in range(1, 8):
        clock.now = minute * 60.0
        await _apply(counters, "flaky", completed=90, failed=10)
        await _apply(counters, "steady", completed=98, failed=2)
        await evaluator.evaluate()
        if minute < 5:
            assert book.active() == [], f"pending for 5 minutes, fired at minute {minute}"
    [alert] = book.active()
    assert (alert.name, alert.labels["type"], alert.source) == (
        "JobFailureRateHigh",
        "flaky",
        "read-model",
    )
    assert alert.annotations["description"] == "10% of flaky jobs failed over the last 5 minutes."
    assert get_contracts().issues(SchemaName.ALERTS, book.to_json()) == []

    for minute in range(8, 15):
        clock.now = minute * 60.0
        await _apply(counters, "flaky", completed=100, failed=0)
        await evaluator.evaluate()
    assert book.active() == []
    assert [a.name for a in book.resolved()] == ["JobFailureRateHigh"]


async def test_no_traffic_is_no_ratio_and_does_not_fire() -> None:
    counters, dead, clock = MemoryCounters(), DeadLetterCount(), FakeClock()
    await _apply(counters, "old", completed=0, failed=50)
    evaluator, book = _evaluator(counters, dead, [], clock)
    for minute in range(12):
        clock.now = minute * 60.0
        await evaluator.evaluate()
    assert book.active() == []


async def test_new_dead_letters_and_restart_loops_fire() -> None:
    counters, dead, clock = MemoryCounters(), DeadLetterCount(), FakeClock()
    health = [ActorHealth("processor/executor", ActorState.RUNNING, 0)]
    evaluator, book = _evaluator(counters, dead, health, clock)
    await evaluator.evaluate()
    clock.now = 60.0
    dead.value = 2
    health[0] = ActorHealth("processor/executor", ActorState.RUNNING, 5)
    await evaluator.evaluate()
    names = sorted(a.name for a in book.active())
    assert names == ["ActorRestartLoop", "DeadLettersAppearing"]
    loop = next(a for a in book.active() if a.name == "ActorRestartLoop")
    assert loop.labels["actor"] == "processor/executor"
    assert loop.annotations["description"] == "processor/executor restarted 5 times in 10 minutes."

    clock.now = 60.0 + 601
    await evaluator.evaluate()
    assert book.active() == []


@pytest.mark.parametrize(
    ("new", "words"), [(1, "1 message broke a contract"), (2, "2 messages broke a contract")]
)
async def test_the_dead_letter_alert_counts_in_words(new: int, words: str) -> None:
    counters, dead, clock = MemoryCounters(), DeadLetterCount(), FakeClock()
    evaluator, book = _evaluator(counters, dead, [], clock)
    await evaluator.evaluate()
    clock.now = 60.0
    dead.value = new
    await evaluator.evaluate()
    (alert,) = book.active()
    assert alert.annotations["description"] == (
        f"{words} in the last 10 minutes; see GET /dead-letters on the read model."
    )
