"""Issue 18, item 2: recurring schedules on the gateway, over the embedded broker.

The routes (201 / 400 naming the field / 404 / 200 / 202), and the scheduler driven by an
injected clock: a due occurrence is submitted once through the ledger with its schedule in
its metadata, a second gateway finds nothing left to fire, a second fire of one occurrence
publishes nothing, a paused schedule fires nothing, and ``catchUp`` after downtime."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.clock import format_timestamp
from actors.domain.schedules import Schedule, Trigger, apply_changes, occurrence_job_id
from actors.stores.memory import MemoryJobStore
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import echo_and_typed_handlers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.timeout(30)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ManualClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


class Gateways:
    def __init__(self, broker: MemoryBroker, store: MemoryJobStore, clock: ManualClock) -> None:
        self.broker = broker
        self.store = store
        self.clock = clock
        self.services: list[GatewayService] = []

    async def published(self) -> list[dict[str, Any]]:
        """The jobs published since the last call."""
        if await self.broker.queue_depth(JOBS_CREATED) == 0:
            return []
        async with self.broker.open_consumer(JOBS_CREATED, prefetch=1000) as consumer:
            deliveries = await consumer.receive_batch(1000)
            await consumer.ack(deliveries)
        jobs: list[dict[str, Any]] = []
        for delivery in deliveries:
            body = json.loads(delivery.body)
            jobs.extend(
                envelope["payload"] for envelope in (body if isinstance(body, list) else [body])
            )
        return jobs


@pytest.fixture
async def gateways() -> AsyncIterator[Gateways]:
    """Two gateways on one job store and one broker, their schedulers not running (the
    test ticks them), both going by the same manual clock."""
    broker = MemoryBroker()
    await broker.declare_topology()
    store = MemoryJobStore()
    clock = ManualClock()
    found = Gateways(broker, store, clock)
    async with anyio.create_task_group() as tg:
        for _ in range(2):
            service = GatewayService(
                broker,
                Settings(gateway_port=0),
                handlers=echo_and_typed_handlers(),
                jobs=store,
                check_types=True,
                clock=clock,
            )
            for actor in (service.publisher, service.ledger, service.confirmer):
                await tg.start(actor.run)
            found.services.append(service)
        yield found
        for service in found.services:
            for actor in (service.publisher, service.ledger, service.confirmer):
                actor.request_stop()


def _body(**fields: object) -> dict[str, object]:
    return {"name": "nightly", "interval": "10s", "job": {"type": "echo"}, **fields}


async def test_a_schedule_is_created_with_its_id_and_next_run_and_read_back(
    gateways: Gateways,
) -> None:
    client = gateways.services[0].http.app.test_client()
    before = datetime.now(UTC)

    created = await client.post(
        "/schedules",
        json=_body(cron="*/5 * * * *", interval=None, timezone="Europe/Berlin", catchUp="all"),
    )

    assert created.status_code == 201
    schedule = await created.get_json()
    assert created.headers["Location"] == f"/schedules/{schedule['id']}"
    next_run = datetime.fromisoformat(schedule["nextRunAt"].replace("Z", "+00:00"))
    assert before < next_run <= before + timedelta(minutes=5)
    assert next_run.minute % 5 == 0
    assert (schedule["cron"], schedule["timezone"], schedule["catchUp"]) == (
        "*/5 * * * *",
        "Europe/Berlin",
        "all",
    )
    one = await client.get(f"/schedules/{schedule['id']}")
    listed = await (await client.get("/schedules")).get_json()
    assert await one.get_json() == schedule
    assert listed == {"schedules": [schedule]}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (_body(interval=None, cron="*/5 * * *"), "/cron"),
        (_body(interval=None, cron="99 * * * *"), "/cron"),
        (_body(interval=None, cron="0 * * * *", timezone="Mars/Olympus"), "/timezone"),
        (_body(cron="0 * * * *"), "/interval"),
        (_body(interval="10w"), "/interval"),
        (_body(interval=None), "/cron"),
        (_body(job={"type": "nope"}), "/job/type"),
        (_body(job={"type": "typed", "payload": {"width": "wide"}}), "/job/payload/width"),
        (_body(job={"type": "bad type"}), "/job/type"),
        (_body(catchUp="some"), "/catchUp"),
        (_body(name=""), "/name"),
        (_body(every="10s"), "/every"),
    ],
)
async def test_an_invalid_schedule_is_refused_naming_the_field(
    gateways: Gateways, body: dict[str, object], path: str
) -> None:
    client = gateways.services[0].http.app.test_client()

    answer = await client.post("/schedules", json={k: v for k, v in body.items() if v is not None})

    assert answer.status_code == 400
    details = (await answer.get_json())["details"]
    assert path in [detail["path"] for detail in details]
    assert await gateways.store.list_schedules(limit=10) == []


async def test_run_now_submits_one_job_linked_to_its_schedule(gateways: Gateways) -> None:
    client = gateways.services[0].http.app.test_client()
    schedule = await (
        await client.post(
            "/schedules",
            json=_body(
                enabled=False,
                job={"type": "typed", "payload": {"width": 3}, "metadata": {"team": "a"}},
            ),
        )
    ).get_json()

    run = await client.post(f"/schedules/{schedule['id']}/run")
    missing = await client.post("/schedules/nope/run")

    assert (run.status_code, missing.status_code) == (202, 404)
    answer = await run.get_json()
    [job] = await gateways.published()
    assert (
        job["id"]
        == answer["jobId"]
        == occurrence_job_id(schedule["id"], answer["scheduledAt"], Trigger.MANUAL)
    )
    assert (job["type"], job["payload"]) == ("typed", {"width": 3})
    assert job["metadata"] == {
        "team": "a",
        "scheduleId": schedule["id"],
        "scheduleName": "nightly",
        "scheduledAt": answer["scheduledAt"],
        "scheduleTrigger": "manual",
    }
    stored = await gateways.store.get_schedule(schedule["id"])
    assert stored is not None
    assert (stored.fires, stored.last_run_at, stored.next_run_at) == (
        1,
        answer["scheduledAt"],
        None,
    )


async def test_patch_pauses_and_resumes_and_delete_removes(gateways: Gateways) -> None:
    client = gateways.services[0].http.app.test_client()
    schedule = await (await client.post("/schedules", json=_body())).get_json()
    path = f"/schedules/{schedule['id']}"

    paused = await client.patch(path, json={"enabled": False})
    renamed = await client.patch(path, json={"name": "hourly", "interval": "1h"})
    resumed = await client.patch(path, json={"enabled": True})
    refused = await client.patch(path, json={"cron": "0 * * * *", "interval": "1h"})
    deleted = await client.delete(path)

    assert [r.status_code for r in (paused, renamed, resumed, refused, deleted)] == [
        200,
        200,
        200,
        400,
        200,
    ]
    assert (await paused.get_json())["nextRunAt"] is None
    assert (await renamed.get_json())["nextRunAt"] is None  # still paused
    body = await resumed.get_json()
    assert (body["name"], body["interval"], body["enabled"]) == ("hourly", "1h", True)
    assert body["nextRunAt"] is not None
    assert (await client.get(path)).status_code == 404
    assert (await client.delete(path)).status_code == 404
    assert (await client.patch(path, json={"enabled": False})).status_code == 404


async def _add(store: MemoryJobStore, schedule_id: str, **fields: object) -> Schedule:
    schedule = apply_changes(
        {"name": schedule_id, "interval": "10s", "job": {"type": "echo"}, **fields},
        current=None,
        schedule_id=schedule_id,
        now=T0,
    )
    await store.add_schedule(schedule)
    return schedule


async def test_each_due_occurrence_is_fired_once_across_two_gateways(gateways: Gateways) -> None:
    one, other = gateways.services
    await _add(gateways.store, "every-10s")

    gateways.clock.at(9.9)
    await one.scheduler.tick()
    early = await gateways.published()
    for seconds in (10.2, 20.1, 30.4):
        gateways.clock.at(seconds)
        await one.scheduler.tick()
        await other.scheduler.tick()
    jobs = await gateways.published()

    assert early == []
    occurrences = [format_timestamp(T0 + timedelta(seconds=s)) for s in (10, 20, 30)]
    assert [job["metadata"]["scheduledAt"] for job in jobs] == occurrences
    assert [job["id"] for job in jobs] == [
        occurrence_job_id("every-10s", at, Trigger.SCHEDULE) for at in occurrences
    ]
    assert {job["metadata"]["scheduleTrigger"] for job in jobs} == {"schedule"}
    assert one.scheduler.fired + other.scheduler.fired == 3


async def test_a_second_fire_of_one_occurrence_is_caught_by_the_ledger(gateways: Gateways) -> None:
    one, other = gateways.services
    schedule = await _add(gateways.store, "twice")
    gateways.clock.at(10.5)
    await one.scheduler.tick()
    # As if a second scheduler had read the schedule before the first one moved it on.
    await gateways.store.change_schedule(
        "twice", lambda s: replace(s, next_run_at=schedule.next_run_at)
    )
    await other.scheduler.tick()

    jobs = await gateways.published()

    assert len(jobs) == 1
    assert (one.scheduler.fired, other.scheduler.fired) == (1, 0)


async def test_a_paused_schedule_fires_nothing(gateways: Gateways) -> None:
    one = gateways.services[0]
    await _add(gateways.store, "paused", enabled=False)

    for seconds in (10, 20, 30):
        gateways.clock.at(seconds + 0.1)
        await one.scheduler.tick()

    assert await gateways.published() == []


@pytest.mark.parametrize(
    ("catch_up", "fired", "missed"),
    [("none", [100], 9), ("one", [100], 9), ("all", [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0)],
)
async def test_missed_occurrences_after_downtime_follow_catch_up(
    gateways: Gateways, catch_up: str, fired: list[int], missed: int
) -> None:
    one = gateways.services[0]
    await _add(gateways.store, "late", catchUp=catch_up)

    gateways.clock.at(100.5)  # no scheduler ran from 0 to 100.5 s
    await one.scheduler.tick()

    jobs = await gateways.published()
    assert [job["metadata"]["scheduledAt"] for job in jobs] == [
        format_timestamp(T0 + timedelta(seconds=s)) for s in fired
    ]
    metrics = one.registry.get_sample_value("gateway_schedule_misses_total")
    assert metrics == missed
    stored = await gateways.store.get_schedule("late")
    assert stored is not None
    assert stored.next_run_at == format_timestamp(T0 + timedelta(seconds=110))


async def test_an_occurrence_found_after_the_grace_is_missed_under_catch_up_none(
    gateways: Gateways,
) -> None:
    one = gateways.services[0]
    await _add(gateways.store, "long-down", catchUp="none", interval="1h")

    gateways.clock.at(3600 + 61)  # the 1 h occurrence is 61 s old: past the 60 s grace
    await one.scheduler.tick()

    assert await gateways.published() == []
    stored = await gateways.store.get_schedule("long-down")
    assert stored is not None
    assert (stored.misses, stored.fires) == (1, 0)
    assert stored.next_run_at == format_timestamp(T0 + timedelta(hours=2))
