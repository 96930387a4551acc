"""The clients' schedule methods: what each sends, and what it makes of the answer
(respx stands in for the gateway and the read model; the routes themselves are tested in
tests/unit/quart_app/gateway/test_schedules.py and, end to end, tests/e2e/test_schedules.py)."""

from __future__ import annotations

import json

import pytest
import respx

from observatory import AsyncClient, BadRequest, Client, NotFound, Schedule

pytestmark = pytest.mark.timeout(30)

GATEWAY = "http://gateway.test"
READ_MODEL = "http://read-model.test"

_SCHEDULE = {
    "id": "s1",
    "name": "nightly",
    "cron": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "job": {"type": "report", "payload": {"days": 1}, "metadata": {"team": "a"}},
    "enabled": True,
    "catchUp": "none",
    "nextRunAt": "2026-12-07T01:00:00.000000Z",
    "lastRunAt": None,
    "fires": 3,
    "misses": 1,
}


def test_create_sends_only_the_fields_given_and_reads_the_schedule() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{GATEWAY}/schedules").respond(201, json=_SCHEDULE)
        with Client(GATEWAY, READ_MODEL) as client:
            schedule = client.create_schedule(
                "nightly",
                "report",
                {"days": 1},
                cron="0 2 * * *",
                timezone="Europe/Berlin",
                metadata={"team": "a"},
                catch_up="none",
            )

    assert json.loads(route.calls.last.request.content) == {
        "name": "nightly",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "job": {"type": "report", "payload": {"days": 1}, "metadata": {"team": "a"}},
        "enabled": True,
        "catchUp": "none",
    }
    assert schedule == Schedule.from_json(_SCHEDULE)
    assert (schedule.job_type, schedule.interval, schedule.next_run_at) == (
        "report",
        None,
        "2026-12-07T01:00:00.000000Z",
    )
    assert (schedule.fires, schedule.misses, schedule.catch_up) == (3, 1, "none")


def test_a_refused_schedule_raises_bad_request_naming_the_field() -> None:
    refusal = {
        "error": "The schedule is not valid (cron): 1 problem(s).",
        "details": [{"path": "/cron", "message": "Cron expression '* *' must have five fields."}],
    }
    with respx.mock() as mock:
        mock.post(f"{GATEWAY}/schedules").respond(400, json=refusal)
        with Client(GATEWAY, READ_MODEL) as client, pytest.raises(BadRequest) as caught:
            client.create_schedule("x", "echo", cron="* *")

    assert [issue.path for issue in caught.value.details] == ["/cron"]


async def test_the_async_client_pauses_runs_lists_and_deletes() -> None:
    paused = {**_SCHEDULE, "enabled": False, "nextRunAt": None}
    with respx.mock(assert_all_called=True) as mock:
        patch = mock.patch(f"{GATEWAY}/schedules/s1").respond(200, json=paused)
        mock.post(f"{GATEWAY}/schedules/s1/run").respond(
            202,
            json={
                "jobId": "j1",
                "eventId": "e1",
                "scheduleId": "s1",
                "scheduledAt": "2026-12-06T10:00:00.000000Z",
            },
        )
        mock.get(f"{READ_MODEL}/schedules").respond(200, json={"schedules": [paused]})
        mock.delete(f"{GATEWAY}/schedules/s1").respond(200, json=paused)
        mock.get(f"{READ_MODEL}/schedules/gone").respond(
            404, json={"error": "There is no schedule 'gone'."}
        )
        async with AsyncClient(GATEWAY, READ_MODEL) as client:
            after = await client.pause_schedule("s1")
            run = await client.run_schedule("s1")
            listed = await client.list_schedules()
            await client.delete_schedule("s1")
            with pytest.raises(NotFound):
                await client.get_schedule("gone")

    assert json.loads(patch.calls.last.request.content) == {"enabled": False}
    assert (after.enabled, after.next_run_at) == (False, None)
    assert (run.job_id, run.schedule_id) == ("j1", "s1")
    assert [s.id for s in listed] == ["s1"]


def test_update_sends_a_new_job_template_and_interval() -> None:
    with respx.mock() as mock:
        route = mock.patch(f"{GATEWAY}/schedules/s1").respond(
            200, json={**_SCHEDULE, "cron": None, "interval": "5m"}
        )
        with Client(GATEWAY, READ_MODEL) as client:
            changed = client.update_schedule("s1", interval="5m", type="echo", payload={"n": 1})

    assert json.loads(route.calls.last.request.content) == {
        "interval": "5m",
        "job": {"type": "echo", "payload": {"n": 1}},
    }
    assert (changed.cron, changed.interval) == (None, "5m")
