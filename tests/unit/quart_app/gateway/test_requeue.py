"""Requeueing dead letters through the gateway, over the embedded broker and SQLite."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from actors.broker.memory import MemoryBroker
from actors.broker.names import JOBS_CREATED
from actors.config.settings import Settings
from actors.domain.dead_letters import DeadLetter
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.errors import StoreUnavailable, ValidationIssue
from actors.stores.sqlite import open_sqlite_dead_letter_store
from contracts import SchemaName, get_contracts
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import running_gateway, take_audited, take_published

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from quart.typing import TestClientProtocol

    from actors.stores.sqlite import SQLiteDeadLetterStore

pytestmark = pytest.mark.timeout(30)


def envelope_body(job: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "contractVersion": "1.0.0",
            "eventType": "job.created",
            "eventId": str(uuid.uuid4()),
            "occurredAt": "2026-11-27T10:00:00Z",
            "producer": {"service": "gateway", "instanceId": "g-1", "version": "0.0.1"},
            "correlationId": str(uuid.uuid4()),
            "payload": job,
        }
    ).encode()


def dead_letter(body: bytes, *, queue: str = JOBS_CREATED) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=str(uuid.uuid4()),
        queue=queue,
        reason="Refused.",
        errors=[ValidationIssue("", "Refused.")],
        body=body,
        occurred_at="2026-11-27T10:00:01Z",
        service="processor",
        version="0.0.1",
    )


class Setup:
    def __init__(self, gateway: GatewayService, broker: MemoryBroker, store: SQLiteDeadLetterStore):
        self.gateway = gateway
        self.broker = broker
        self.store = store

    @property
    def client(self) -> TestClientProtocol:
        return self.gateway.http.app.test_client()

    async def add(self, *records: DeadLetter) -> list[str]:
        await self.store.add(records)
        return [record.dead_letter_id for record in records]

    async def published(self) -> list[dict[str, object]]:
        return await take_published(self.broker)


@pytest.fixture
async def setup(tmp_path: Path, broker: MemoryBroker) -> AsyncIterator[Setup]:
    async with (
        open_sqlite_dead_letter_store(tmp_path / "d.sqlite3") as store,
        running_gateway(broker, dead_letters=store) as service,
    ):
        yield Setup(service, broker, store)


async def test_a_valid_dead_letter_is_published_again_with_its_job_id_and_removed(
    setup: Setup,
) -> None:
    job_id = str(uuid.uuid4())
    [dl_id] = await setup.add(
        dead_letter(envelope_body({"id": job_id, "type": "echo", "payload": {"n": 1}}))
    )
    response = await setup.client.post(f"/dead-letters/{dl_id}/requeue")
    assert response.status_code == 202
    answer = await response.get_json()
    assert answer["deadLetterId"] == dl_id
    assert answer["jobId"] == job_id
    [published] = await setup.published()
    assert get_contracts().issues(SchemaName.EVENT_ENVELOPE, published) == []
    assert published["eventId"] == answer["eventId"]
    job = published["payload"]
    assert isinstance(job, dict)
    assert (job["id"], job["type"], job["status"], job["payload"]) == (
        job_id,
        "echo",
        "PENDING",
        {"n": 1},
    )
    assert await setup.store.get(dl_id) is None
    # Gone: a second requeue is a 404, and nothing more is published.
    again = await setup.client.post(f"/dead-letters/{dl_id}/requeue")
    assert again.status_code == 404
    assert await setup.published() == []


async def test_an_invalid_job_is_refused_at_its_path_and_kept_until_edited(
    setup: Setup,
) -> None:
    [dl_id] = await setup.add(dead_letter(envelope_body({"type": "bad type!", "payload": {}})))
    refused = await setup.client.post(f"/dead-letters/{dl_id}/requeue")
    assert refused.status_code == 400
    body = await refused.get_json()
    assert get_contracts().issues(SchemaName.ERROR, body) == []
    assert [d["path"] for d in body["details"]] == ["/payload/type"]
    assert "envelope's payload" in body["error"]
    assert await setup.store.get(dl_id) is not None
    assert await setup.published() == []
    # The operator fixes it: a bare job is fine too. No id: one derived from the dead letter.
    edited = json.dumps({"type": "echo", "payload": {"fixed": True}})
    accepted = await setup.client.post(f"/dead-letters/{dl_id}/requeue", json={"body": edited})
    assert accepted.status_code == 202
    answer = await accepted.get_json()
    [published] = await setup.published()
    job = published["payload"]
    assert isinstance(job, dict)
    assert job["payload"] == {"fixed": True}
    assert job["id"] == answer["jobId"]
    assert job["id"] == str(uuid.uuid5(uuid.UUID("6f1d3c1a-5b1e-4d7e-9a1f-2f4b8c0d7e21"), dl_id))


@pytest.mark.parametrize(
    ("edited", "path"),
    [
        ("{not json", ""),
        ("[1, 2]", ""),
        ('{"type": "echo", "payload": "not an object"}', "/payload"),
    ],
)
async def test_an_edit_that_is_not_a_job_gets_400_with_its_path(
    setup: Setup, edited: str, path: str
) -> None:
    [dl_id] = await setup.add(dead_letter(b"garbage"))
    response = await setup.client.post(f"/dead-letters/{dl_id}/requeue", json={"body": edited})
    assert response.status_code == 400
    assert [d["path"] for d in (await response.get_json())["details"]] == [path]
    assert await setup.store.get(dl_id) is not None


async def test_requests_that_cannot_be_a_requeue_are_refused(setup: Setup) -> None:
    [from_completed] = await setup.add(
        dead_letter(envelope_body({"type": "echo"}), queue="jobs.completed")
    )
    response = await setup.client.post(f"/dead-letters/{from_completed}/requeue")
    assert response.status_code == 409
    assert "jobs.completed" in (await response.get_json())["error"]
    unknown = await setup.client.post(f"/dead-letters/{uuid.uuid4()}/requeue")
    assert unknown.status_code == 404
    bad_body = await setup.client.post(f"/dead-letters/{from_completed}/requeue", json={"b": 1})
    assert bad_body.status_code == 400
    not_json = await setup.client.post(
        f"/dead-letters/{from_completed}/requeue",
        data="x",
        headers={"Content-Type": "text/plain"},
    )
    assert not_json.status_code == 415
    assert await setup.published() == []


async def test_requeue_all_reports_each_and_leaves_the_refused(setup: Setup) -> None:
    good_ids = await setup.add(
        dead_letter(envelope_body({"type": "echo", "payload": {"n": 1}})),
        dead_letter(envelope_body({"type": "compute", "payload": {"rounds": 10}})),
    )
    [bad_id] = await setup.add(dead_letter(b"\xff\xfe not utf-8"))
    response = await setup.client.post("/dead-letters/requeue")
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["requeued"], body["refused"]) == (2, 1)
    by_id = {r["deadLetterId"]: r for r in body["results"]}
    assert {by_id[i]["status"] for i in good_ids} == {202}
    assert by_id[bad_id]["status"] == 400
    assert by_id[bad_id]["details"][0]["path"] == ""
    assert len(await setup.published()) == 2
    assert [r.dead_letter_id for r in await setup.store.recent(limit=10)] == [bad_id]
    # By ids: only those named.
    [other] = await setup.add(dead_letter(envelope_body({"type": "echo"})))
    named = await setup.client.post("/dead-letters/requeue", json={"ids": [other, "nope"]})
    results = (await named.get_json())["results"]
    assert [(r["deadLetterId"], r["status"]) for r in results] == [(other, 202), ("nope", 404)]
    wrong = await setup.client.post("/dead-letters/requeue", json={"ids": "all"})
    assert wrong.status_code == 400


async def test_without_a_store_or_with_the_store_away_requeue_says_so(
    setup: Setup, tmp_path: Path
) -> None:
    async def away(_: str) -> None:
        raise StoreUnavailable("The dead-letter store is unavailable: connection refused.")

    setup.store.get = away  # type: ignore[method-assign,assignment]
    response = await setup.client.post(f"/dead-letters/{uuid.uuid4()}/requeue")
    assert response.status_code == 503
    assert "Retry shortly" in (await response.get_json())["error"]
    storeless = GatewayService(
        MemoryBroker(), Settings(gateway_port=0), handlers=DEFAULT_REGISTRY
    ).http.app.test_client()
    response = await storeless.post(f"/dead-letters/{uuid.uuid4()}/requeue")
    assert response.status_code == 409
    assert "no dead-letter store" in (await response.get_json())["error"]


async def test_discard_removes_one_for_good(setup: Setup) -> None:
    [dl_id] = await setup.add(dead_letter(b"garbage"))
    response = await setup.client.delete(f"/dead-letters/{dl_id}")
    assert response.status_code == 200
    assert await response.get_json() == {"deadLetterId": dl_id, "discarded": True}
    assert await setup.store.get(dl_id) is None
    again = await setup.client.delete(f"/dead-letters/{dl_id}")
    assert again.status_code == 404
    assert await setup.published() == []


async def test_a_probe_is_a_malformed_message_on_jobs_created_and_not_a_job(
    setup: Setup,
) -> None:
    response = await setup.client.post("/probes/dead-letter")
    assert response.status_code == 202
    answer = await response.get_json()
    assert answer["queue"] == JOBS_CREATED
    async with setup.broker.open_consumer(JOBS_CREATED, prefetch=10) as consumer:
        [delivery] = await consumer.receive_batch(10)
        await consumer.ack([delivery])
    assert delivery.message_id == answer["messageId"]
    probe = json.loads(delivery.body)
    assert probe["kind"] == "dead-letter-probe"
    # It is no envelope: the processor's intake refuses it, so it becomes a dead letter.
    assert get_contracts().issues(SchemaName.EVENT_ENVELOPE, probe) != []
    metrics = await (await setup.client.get("/metrics")).get_data(as_text=True)
    assert "gateway_jobs_accepted_total 0.0" in metrics


async def test_requeue_by_filter_takes_only_the_dead_letters_matching(setup: Setup) -> None:
    def letter(reason: str, at: str, queue: str = JOBS_CREATED) -> DeadLetter:
        record = dead_letter(envelope_body({"type": "echo", "payload": {"n": 1}}), queue=queue)
        return dataclasses.replace(record, reason=reason, occurred_at=at)

    [timeout_new, timeout_old, schema_new, other_queue] = await setup.add(
        letter("Handler timed out.", "2026-11-27T10:00:00Z"),
        letter("Handler TIMED OUT.", "2026-01-01T00:00:00Z"),
        letter("Schema refused.", "2026-11-27T10:00:00Z"),
        letter("Handler timed out.", "2026-11-27T10:00:00Z", queue="jobs.completed"),
    )

    response = await setup.client.post(
        "/dead-letters/requeue",
        json={
            "reason": "timed out",
            "queue": JOBS_CREATED,
            "occurredAfter": "2026-06-01T00:00:00+00:00",
        },
    )

    assert response.status_code == 200
    body = await response.get_json()
    assert (body["matched"], body["actedOn"], body["skipped"], body["more"]) == (1, 1, 0, False)
    assert body["filter"] == {
        "queue": JOBS_CREATED,
        "reason": "timed out",
        "occurredAfter": "2026-06-01T00:00:00.000000Z",
    }
    assert len(await setup.published()) == 1
    left = {r.dead_letter_id for r in await setup.store.recent(limit=10)}
    assert left == {timeout_old, schema_new, other_queue}
    assert timeout_new not in left
    nothing = await setup.client.post("/dead-letters/requeue", json={"reason": "no such reason"})
    assert (await nothing.get_json())["matched"] == 0
    # Both requeues are bulk actions of the audit trail, the empty one too.
    audited = await take_audited(setup.broker)
    assert [e["eventId"] for e in audited][:1] == [body["auditEventId"]]
    assert [e["payload"]["action"] for e in audited] == ["requeue-dead-letters"] * 2
    assert audited[0]["payload"]["filter"] == body["filter"]
    assert [(e["payload"]["matched"], e["payload"]["actedOn"]) for e in audited] == [(1, 1), (0, 0)]


async def test_requeue_by_filter_refuses_an_unknown_field_naming_it(setup: Setup) -> None:
    response = await setup.client.post("/dead-letters/requeue", json={"colour": "red"})
    bad_time = await setup.client.post(
        "/dead-letters/requeue", json={"occurredBefore": "yesterday"}
    )

    assert response.status_code == 400
    document = await response.get_json()
    assert document["error"] == "Unknown filter field 'colour'."
    assert [d["path"] for d in document["details"]] == ["/colour"]
    assert bad_time.status_code == 400
    assert [d["path"] for d in (await bad_time.get_json())["details"]] == ["/occurredBefore"]


async def test_a_dry_run_requeue_counts_the_dead_letters_matching_and_keeps_them(
    setup: Setup,
) -> None:
    kept = await setup.add(
        dead_letter(envelope_body({"type": "echo"})),
        dead_letter(envelope_body({"type": "echo"})),
    )
    response = await setup.client.post(
        "/dead-letters/requeue", json={"reason": "no such reason", "dryRun": True}
    )
    everything = await setup.client.post("/dead-letters/requeue", json={"dryRun": True})

    assert response.status_code == 200
    assert (await response.get_json())["matched"] == 0
    body = await everything.get_json()
    assert (body["matched"], body["actedOn"], body["requeued"], body["dryRun"]) == (2, 0, 0, True)
    assert body["results"] == []
    assert await setup.published() == []
    assert {r.dead_letter_id for r in await setup.store.recent(limit=10)} == set(kept)
