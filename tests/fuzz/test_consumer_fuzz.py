"""Issue 9 (part 4): random messages thrown at the processor's and metrics engine's consumers.

Each example publishes a batch to ``jobs.created`` (the processor) or ``jobs.completed``
(the metrics engine) over the in-memory broker: random bytes, random JSON values (deep
nesting, huge integers, NaN-like text, unicode, NUL), valid envelopes with one field
mutated, and envelopes of the wrong event type, interleaved with good jobs. Once the
pipeline settled, every good job ended ``COMPLETED`` exactly once (job store, audit trail
and counters), every bad message (each envelope of it, when it is an array) is exactly
one dead letter, a mutated envelope that is still valid was processed instead, no actor
restarted, and nothing is left unacknowledged.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import pytest
from hypothesis import given, settings, strategies as st

from actors.broker import OutgoingMessage
from actors.broker.names import JOBS_COMPLETED, JOBS_CREATED
from actors.domain.clock import utc_now
from actors.domain.events import EventType
from actors.domain.jobs import JobStatus
from actors.errors import InvalidMessage
from actors.pipeline.admission import MAX_MESSAGE_DEPTH
from actors.stores.memory import MemoryCounters
from contracts import MAX_JSON_DEPTH, SchemaName, get_contracts, parse_json
from tests.fuzz.conftest import GOOD_TYPE

if TYPE_CHECKING:
    from tests.fuzz.conftest import DrivenPipeline
    from tests.pipeline import Pipeline

pytestmark = pytest.mark.timeout(180)

MAX_EXAMPLES = 30
DIRECT_TYPE = "fuzz-direct"
"""Type of the valid ``job.completed`` envelopes sent straight to the metrics engine."""
BASE_TYPE = "echo"
"""Type of the envelopes that get mutated (so they never count as good jobs)."""

# ---------------------------------------------------------------------------------------
# Strategies: specs of bad messages; the ids are filled in per example (``uuid4``), since
# hypothesis replays values and the pipeline outlives an example.

_TRICKY_TEXT = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "\x00", "a\x00b", "\ud800", "\u202e", "😀", "", "null"]
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | _TRICKY_TEXT
)
JSON_VALUES = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"NaN",
            b"[NaN, 1]",
            b"-Infinity",
            b'{"x": Infinity}',
            b"\xef\xbb\xbf{}",
            b'"\\u0000"',
            b'{"eventType": "job.created"}',
            b"[]",
            b"[{}]",
            b"1" * 5000,
            b"[" + b",".join([b"{}"] * 10_001) + b"]",
        ]
    ),
    st.integers(1, 100_000).map(_deep_array),
    st.integers(1, 100_000).map(_deep_object),
    st.text(max_size=50).map(lambda text: text.encode("utf-8", "surrogatepass")),
)

_ENVELOPE_FIELDS = [
    "contractVersion",
    "eventType",
    "eventId",
    "occurredAt",
    "producer",
    "correlationId",
    "idempotencyKey",
    "payload",
]
_JOB_FIELDS = ["id", "type", "status", "payload", "createdAt", "updatedAt", "metadata"]


@dataclass(frozen=True)
class Raw:
    body: bytes


@dataclass(frozen=True)
class Json:
    value: object


@dataclass(frozen=True)
class Mutated:
    """A valid envelope with one field deleted, replaced, or an extra one added."""

    event_type: str
    where: str
    """A top-level field, or ``payload.<field>`` of the job inside."""
    action: str
    value: object


@dataclass(frozen=True)
class WrongType:
    event_type: str


BadSpec = Raw | Json | Mutated | WrongType

MUTATIONS = st.builds(
    Mutated,
    event_type=st.sampled_from([t.value for t in EventType]),
    where=st.sampled_from(_ENVELOPE_FIELDS + [f"payload.{name}" for name in _JOB_FIELDS]),
    action=st.sampled_from(["delete", "replace", "extra"]),
    value=JSON_VALUES,
)


def bad_specs(wrong_types: st.SearchStrategy[str]) -> st.SearchStrategy[list[BadSpec]]:
    one: st.SearchStrategy[BadSpec] = st.one_of(
        st.builds(Raw, RAW_BODIES),
        st.builds(Json, JSON_VALUES),
        MUTATIONS,
        st.builds(WrongType, wrong_types),
    )
    return st.lists(one, min_size=1, max_size=8)


# The processor takes job.created only; the metrics engine takes every lifecycle type, so
# a wrong type for it is one the contract does not know.
PROCESSOR_WRONG_TYPES = st.sampled_from([t.value for t in EventType if t is not EventType.CREATED])
ENGINE_WRONG_TYPES = st.text(max_size=20).filter(
    lambda text: text not in {t.value for t in EventType}
)

# ---------------------------------------------------------------------------------------
# Building messages


_STATUS_FOR = {
    EventType.CREATED.value: JobStatus.PENDING.value,
    EventType.VALIDATED.value: JobStatus.VALIDATED.value,
    EventType.EXECUTED.value: JobStatus.EXECUTING.value,
    EventType.COMPLETED.value: JobStatus.COMPLETED.value,
    EventType.FAILED.value: JobStatus.FAILED.value,
}


def envelope(event_type: str, job_type: str, job_id: str | None = None) -> dict[str, object]:
    """A valid envelope of ``event_type`` about a new job of ``job_type``."""
    job_id = job_id or str(uuid.uuid4())
    now = utc_now()
    return {
        "contractVersion": "1.0.0",
        "eventType": event_type,
        "eventId": str(uuid.uuid4()),
        "occurredAt": now,
        "producer": {"service": "fuzz", "instanceId": "fuzz-1", "version": "0.0.0"},
        "correlationId": str(uuid.uuid4()),
        "idempotencyKey": job_id,
        "payload": {
            "id": job_id,
            "type": job_type,
            "status": _STATUS_FOR.get(event_type, JobStatus.PENDING.value),
            "createdAt": now,
            "payload": {"n": 1},
        },
    }


def _mutate(spec: Mutated) -> dict[str, object]:
    document = envelope(spec.event_type, BASE_TYPE)
    target: dict[str, object] = document
    name = spec.where
    if name.startswith("payload."):
        inner = document["payload"]
        assert isinstance(inner, dict)
        target, name = inner, name.removeprefix("payload.")
    if spec.action == "delete":
        target.pop(name, None)
    elif spec.action == "replace":
        target[name] = spec.value
    else:
        target[f"{name}-extra"] = spec.value
    return document


def _encode(document: object) -> bytes:
    # Lone surrogates survive as \ud800 escapes (the default ensure_ascii), as a foreign
    # producer could send them.
    return json.dumps(document).encode()


def _body(spec: BadSpec) -> bytes:
    if isinstance(spec, Raw):
        return spec.body
    if isinstance(spec, Json):
        return _encode(spec.value)
    if isinstance(spec, Mutated):
        return _encode(_mutate(spec))
    return _encode(envelope(spec.event_type, BASE_TYPE))


def _message(body: bytes) -> OutgoingMessage:
    return OutgoingMessage(body=body, message_id=str(uuid.uuid4()))


@dataclass
class Expected:
    """What one example must leave behind."""

    dead: dict[str, int] = field(default_factory=dict)
    """Message id → how many dead letters (one per refused envelope)."""
    good_jobs: list[str] = field(default_factory=list)
    processed_jobs: list[str] = field(default_factory=list)
    """Jobs of valid mutated envelopes sent to the processor: they end terminal."""
    processed_events: list[tuple[str, str]] = field(default_factory=list)
    """(job id, event id) of valid envelopes sent to the metrics engine: they are stored."""


def _classify(queue: str, message: OutgoingMessage, expected: Expected) -> None:
    """Predict what the consumer of ``queue`` does with ``message`` (from the contracts)."""
    try:
        document = parse_json(message.body, max_depth=MAX_MESSAGE_DEPTH)
    except InvalidMessage:
        expected.dead[message.message_id] = 1
        return
    if isinstance(document, list):
        # Every envelope of a message is judged on its own; an empty array, or one with
        # too many envelopes, is refused whole.
        expected.dead[message.message_id] = len(document) if 0 < len(document) <= 10_000 else 1
        assert not any(_valid_on(queue, item) for item in document)
        return
    if not _valid_on(queue, document):
        expected.dead[message.message_id] = 1
        return
    assert isinstance(document, dict)
    job = document["payload"]
    assert isinstance(job, dict)
    if queue == JOBS_CREATED:
        expected.processed_jobs.append(str(job["id"]))
    else:
        expected.processed_events.append((str(job["id"]), str(document["eventId"])))


def _valid_on(queue: str, document: object) -> bool:
    contracts = get_contracts()
    if contracts.issues(SchemaName.EVENT_ENVELOPE, document):
        return False
    assert isinstance(document, dict)
    if queue == JOBS_CREATED and document["eventType"] != EventType.CREATED.value:
        return False
    return not contracts.issues(SchemaName.JOB, document["payload"])


# ---------------------------------------------------------------------------------------
# Driving the pipeline


async def _settled(
    pipeline: Pipeline, dead_total: int, totals: Counter[str], wanted: Expected
) -> bool:
    stats = pipeline.broker.statistics()
    if any(q.ready or q.unacked for q in stats.queues.values()):
        return False
    if await pipeline.dead_letters.count() < dead_total:
        return False
    counters = await pipeline.counters.snapshot()
    good = counters.by_type.get(GOOD_TYPE)
    if totals["good"] and (good is None or good.completed < totals["good"]):
        return False
    direct = counters.by_type.get(DIRECT_TYPE)
    if totals["direct"] and (direct is None or direct.completed < totals["direct"]):
        return False
    for job_id in wanted.processed_jobs:
        record = await pipeline.jobs.get_job(job_id)
        if record is None or not record.status.is_terminal:
            return False
    for job_id, event_id in wanted.processed_events:
        if event_id not in {e.event_id for e in await pipeline.events.events_for_job(job_id)}:
            return False
    return True


async def _run_example(
    pipeline: Pipeline, queue: str, specs: list[BadSpec], good: int, totals: Counter[str]
) -> None:
    dead_before = await pipeline.dead_letters.count()
    expected = Expected()
    bad = [_message(_body(spec)) for spec in specs]
    for message in bad:
        _classify(queue, message, expected)
    good_envelopes = [envelope(EventType.CREATED.value, GOOD_TYPE) for _ in range(good)]
    expected.good_jobs = [str(e["idempotencyKey"]) for e in good_envelopes]
    good_messages = [_message(_encode(e)) for e in good_envelopes]
    totals["good"] += good
    if queue == JOBS_CREATED:
        # Interleaved: good, bad, good, bad, ...
        batch: list[OutgoingMessage] = []
        for index in range(max(len(bad), len(good_messages))):
            batch.extend(good_messages[index : index + 1] + bad[index : index + 1])
        await pipeline.broker.publish_batch(JOBS_CREATED, batch)
    else:
        # Good jobs go through the processor (which publishes their lifecycle to
        # jobs.completed); valid job.completed envelopes sit between the bad ones.
        direct = [
            _message(_encode(envelope(EventType.COMPLETED.value, DIRECT_TYPE))) for _ in range(good)
        ]
        totals["direct"] += good
        batch = []
        for index in range(max(len(bad), len(direct))):
            batch.extend(direct[index : index + 1] + bad[index : index + 1])
        await pipeline.broker.publish_batch(JOBS_CREATED, good_messages)
        await pipeline.broker.publish_batch(JOBS_COMPLETED, batch)

    dead_total = dead_before + sum(expected.dead.values())
    with anyio.fail_after(30):
        while not await _settled(pipeline, dead_total, totals, expected):  # noqa: ASYNC110
            # The stores work in worker threads: nothing in-process to wait on.
            await anyio.sleep(0.01)

    await _check(pipeline, queue, expected, totals, dead_total)


async def _check(
    pipeline: Pipeline, queue: str, expected: Expected, totals: Counter[str], dead_total: int
) -> None:
    # Every bad message: exactly its dead letters, from the consumer of its queue.
    assert await pipeline.dead_letters.count() == dead_total
    records = await pipeline.dead_letters.recent(limit=dead_total + 10)
    per_message = Counter(r.message_id for r in records if r.message_id in expected.dead)
    assert dict(per_message) == expected.dead
    service = "processor" if queue == JOBS_CREATED else "metrics-engine"
    assert {(r.queue, r.service) for r in records if r.message_id in expected.dead} <= {
        (queue, service)
    }

    # Every good job: COMPLETED, one terminal event, counted once.
    for job_id in expected.good_jobs:
        record = await pipeline.jobs.get_job(job_id)
        assert record is not None
        assert record.status is JobStatus.COMPLETED
        terminal = [
            e
            for e in await pipeline.events.events_for_job(job_id)
            if e.event_type in (EventType.COMPLETED, EventType.FAILED)
        ]
        assert [e.event_type for e in terminal] == [EventType.COMPLETED]
    stats = await pipeline.counters.snapshot()
    good = stats.by_type[GOOD_TYPE]
    assert (good.total, good.completed, good.failed) == (totals["good"], totals["good"], 0)
    if totals["direct"]:
        direct = stats.by_type[DIRECT_TYPE]
        assert (direct.completed, direct.failed) == (totals["direct"], 0)

    # Counted exactly what the audit trail holds: a replay gives the same counters.
    replayed = MemoryCounters()
    await replayed.rebuild(pipeline.events)
    again = await replayed.snapshot()
    assert (again.total_jobs, again.completed_jobs, again.failed_jobs, again.by_type) == (
        stats.total_jobs,
        stats.completed_jobs,
        stats.failed_jobs,
        stats.by_type,
    )

    # No actor crashed, nothing is left unacknowledged.
    health = [*pipeline.processor.health(), *pipeline.metrics_engine.health()]
    assert [(h.path, h.restarts) for h in health if h.restarts] == []
    stats_now = pipeline.broker.statistics()
    assert {
        name: (q.ready, q.unacked) for name, q in stats_now.queues.items() if q.ready or q.unacked
    } == {}


@settings(max_examples=MAX_EXAMPLES)
@given(specs=bad_specs(PROCESSOR_WRONG_TYPES), good=st.integers(1, 3))
def test_the_processor_dead_letters_every_bad_message_and_completes_every_good_job(
    driven_pipeline: DrivenPipeline, specs: list[BadSpec], good: int
) -> None:
    driven_pipeline.portal.call(
        _run_example, driven_pipeline.pipeline, JOBS_CREATED, specs, good, driven_pipeline.sent
    )


@settings(max_examples=MAX_EXAMPLES)
@given(specs=bad_specs(ENGINE_WRONG_TYPES), good=st.integers(1, 3))
def test_the_metrics_engine_dead_letters_every_bad_message_and_counts_every_good_job(
    driven_pipeline: DrivenPipeline, specs: list[BadSpec], good: int
) -> None:
    driven_pipeline.portal.call(
        _run_example, driven_pipeline.pipeline, JOBS_COMPLETED, specs, good, driven_pipeline.sent
    )


def test_issue_9_a_job_nested_as_deep_as_the_gateway_allows_runs_to_completion(
    driven_pipeline: DrivenPipeline,
) -> None:
    # The submission {"type", "payload": {"x": [[...]]}} is MAX_JSON_DEPTH levels deep:
    # the most the gateway accepts. Wrapped in envelopes it must still be admitted (a
    # deeper one made the validator crash, so the job was never run nor dead-lettered).
    arrays = MAX_JSON_DEPTH - 2
    deep: object = []
    for _ in range(arrays - 1):
        deep = [deep]
    submission = {"type": GOOD_TYPE, "payload": {"x": deep}}
    assert parse_json(_encode(submission)) == submission
    document = envelope(EventType.CREATED.value, GOOD_TYPE)
    job = document["payload"]
    assert isinstance(job, dict)
    job["payload"] = submission["payload"]

    async def run(pipeline: Pipeline) -> None:
        await pipeline.broker.publish_batch(JOBS_CREATED, [_message(_encode(document))])
        with anyio.fail_after(30):
            while True:
                record = await pipeline.jobs.get_job(str(job["id"]))
                stats = await pipeline.counters.snapshot()
                done = stats.by_type.get(GOOD_TYPE)
                if record is not None and done is not None and done.completed == 1:
                    break
                await anyio.sleep(0.01)
        assert record.status is JobStatus.COMPLETED
        assert await pipeline.dead_letters.count() == 0

    driven_pipeline.portal.call(run, driven_pipeline.pipeline)
