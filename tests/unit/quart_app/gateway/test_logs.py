"""Issue 16 (item 5): in the gateway's log lines a job's id appears once per line, in JSON
(``--log-format json``) as on a terminal: a delayed job kept (alone or in a batch), a
schedule run now, a dead letter requeued, a job accepted and resubmitted."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

from actors.stores.memory import MemoryJobStore
from actors.stores.sqlite import open_sqlite_dead_letter_store
from tests.log_lines import capture_records, formatted, named_more_than_once
from tests.unit.quart_app.gateway.running import running_gateway
from tests.unit.quart_app.gateway.test_requeue import dead_letter, envelope_body

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from actors.broker.memory import MemoryBroker

pytestmark = pytest.mark.timeout(30)


def _lines_of(records: list[logging.LogRecord], event: str) -> list[logging.LogRecord]:
    return [record for record in records if record.getMessage().split(" ", 1)[0] == event]


async def test_issue_16_a_job_id_appears_once_per_gateway_log_line(
    tmp_path: Path, broker: MemoryBroker
) -> None:
    requeued = str(uuid.uuid4())
    with capture_records() as records:
        async with (
            open_sqlite_dead_letter_store(tmp_path / "d.sqlite3") as store,
            running_gateway(broker, MemoryJobStore(), dead_letters=store) as gateway,
        ):
            client = gateway.http.app.test_client()
            delayed = {"id": str(uuid.uuid4()), "type": "echo", "delaySeconds": 60}
            one = await client.post("/jobs", json=delayed)
            again = await client.post("/jobs", json=delayed)
            batch = await client.post(
                "/jobs/batch",
                json=[{"type": "echo", "delaySeconds": 60}, {"type": "echo", "delaySeconds": 90}],
            )
            now = await client.post("/jobs", json={"type": "echo"})
            schedule = await client.post(
                "/schedules",
                json={"name": "n", "interval": "1h", "enabled": False, "job": {"type": "echo"}},
            )
            run = await client.post(f"/schedules/{(await schedule.get_json())['id']}/run")
            [dl_id] = [dead_letter(envelope_body({"id": requeued, "type": "echo"}))]
            await store.add([dl_id])
            requeue = await client.post(f"/dead-letters/{dl_id.dead_letter_id}/requeue")

    assert [r.status_code for r in (one, again, batch, now, schedule, run, requeue)] == [
        202,
        202,
        202,
        202,
        201,
        202,
        202,
    ]
    in_batch = [result["jobId"] for result in (await batch.get_json())["results"]]
    ran = (await run.get_json())["jobId"]
    accepted = (await now.get_json())["jobId"]
    ids = [delayed["id"], *in_batch, ran, accepted, requeued]
    assert named_more_than_once(records, ids) == []
    for event, named in [
        ("job.scheduled", [delayed["id"], *in_batch]),
        ("job.resubmitted", [delayed["id"]]),
        ("job.accepted", [delayed["id"], accepted]),
        ("schedule.run", [ran]),
        ("dead_letter.requeued", [requeued]),
    ]:
        lines = [formatted(record) for record in _lines_of(records, event)]
        assert [json.loads(as_json)["jobId"] for as_json, _ in lines] == named, lines
        assert all(named_id not in json.loads(j)["message"] for j, _ in lines for named_id in named)
        for (_, console), job_id in zip(lines, named, strict=True):
            assert console.count(job_id) == 1, console
            assert f"jobId={job_id}" in console, console
