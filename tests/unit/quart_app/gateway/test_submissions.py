"""Resubmitted job ids, ``Idempotency-Key`` and ``X-Correlation-Id`` at the gateway (issue
16, items 1 to 3), through Quart's test client over the embedded broker and the in-memory
job store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.config.settings import Settings
from actors.domain.clock import utc_now
from actors.domain.handlers import DEFAULT_REGISTRY
from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.domain.submissions import IDEMPOTENCY_TTL_S
from actors.stores.memory import MemoryJobStore
from quart_app.gateway.service import GatewayService
from tests.unit.quart_app.gateway.running import running_gateway, take_published

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors.broker.memory import MemoryBroker
    from actors.domain.jobs import JobRecord
    from actors.domain.submissions import Submission, SubmissionClaim

pytestmark = pytest.mark.timeout(30)

V, E = JobStatus.VALIDATED, JobStatus.EXECUTING


@pytest.fixture
def jobs() -> MemoryJobStore:
    return MemoryJobStore()


def _job(job_id: str, **changes: object) -> dict[str, object]:
    return {"id": job_id, "type": "echo", "payload": {"n": 1}, "metadata": {}, **changes}


# -- 1. a resubmitted job id --------------------------------------------------------------


async def test_issue_16_the_same_job_resubmitted_answers_as_the_first_time_and_publishes_nothing(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    job_id = str(uuid.uuid4())
    first = await client.post("/jobs", json=_job(job_id))
    assert first.status_code == 202
    assert len(await take_published(broker)) == 1

    again = await client.post("/jobs", json=_job(job_id))

    assert again.status_code == 202
    assert await again.get_json() == await first.get_json()
    assert await take_published(broker) == []


async def test_issue_17_a_job_id_pruned_by_retention_is_accepted_again_as_a_new_job(
    gateway: GatewayService, broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    """Retention removes the job with its claim (docs/operations.md, "Retention"): the id
    submitted again, even with another payload, is a new job, published under a new
    event id."""
    client = gateway.http.app.test_client()
    job_id = str(uuid.uuid4())
    first = await client.post("/jobs", json=_job(job_id))
    [envelope] = await take_published(broker)
    spec = JobSpec(id=job_id, type="echo", created_at=envelope["occurredAt"], correlation_id="c")
    at = envelope["occurredAt"]
    await jobs.apply_transitions(
        [JobTransition(spec, status, at) for status in (V, E, JobStatus.COMPLETED)]
    )
    assert await jobs.remove_jobs([job_id], finished_before=utc_now()) == 1

    again = await client.post("/jobs", json=_job(job_id, payload={"n": 2}))

    assert again.status_code == 202
    first_body, again_body = await first.get_json(), await again.get_json()
    assert again_body["jobId"] == job_id
    assert again_body["eventId"] != first_body["eventId"]
    [republished] = await take_published(broker)
    assert republished["eventId"] == again_body["eventId"]
    assert republished["payload"]["payload"] == {"n": 2}


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"payload": {"n": 2}}, ["payload"]),
        ({"type": "sleep"}, ["type"]),
        ({"metadata": {"owner": "b"}}, ["metadata"]),
        ({"type": "sleep", "payload": {}}, ["type", "payload"]),
    ],
)
async def test_issue_16_another_job_under_a_submitted_id_is_409_naming_what_differs(
    gateway: GatewayService, broker: MemoryBroker, changes: dict[str, object], fields: list[str]
) -> None:
    client = gateway.http.app.test_client()
    job_id = str(uuid.uuid4())
    assert (await client.post("/jobs", json=_job(job_id))).status_code == 202
    await take_published(broker)

    response = await client.post("/jobs", json=_job(job_id, **changes))

    assert response.status_code == 409
    body = await response.get_json()
    assert body["error"] == (
        f"Job {job_id} was submitted before with another {' and '.join(fields)}; nothing was "
        "published. Resubmit it as it was first submitted, or submit the new job under a new id."
    )
    assert [d["path"] for d in body["details"]] == [f"/{name}" for name in fields]
    assert await take_published(broker) == []


async def test_issue_16_a_batch_answers_each_resubmitted_id_in_its_entry(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    same, other, new = (str(uuid.uuid4()) for _ in range(3))
    first = await client.post("/jobs", json=_job(same))
    await client.post("/jobs", json=_job(other))
    await take_published(broker)

    response = await client.post(
        "/jobs/batch",
        json=[
            _job(same),
            _job(other, payload={"n": 9}),
            _job(new),
            _job(new),
            {"type": "no space"},
        ],
    )

    assert response.status_code == 202
    body = await response.get_json()
    assert (body["accepted"], body["rejected"]) == (3, 2)
    results = body["results"]
    assert results[0] == await first.get_json()
    assert results[1]["error"].startswith(f"Job {other} was submitted before with another payload")
    assert results[2] == results[3]
    assert results[2]["jobId"] == new
    assert "error" in results[4]
    published = await take_published(broker)
    assert [envelope["payload"]["id"] for envelope in published] == [new]
    assert published[0]["eventId"] == results[2]["eventId"]


async def test_issue_16_a_publish_that_failed_does_not_hold_the_id(
    broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    service = GatewayService(
        broker,
        Settings(gateway_port=0, publish_timeout_s=0.5),
        handlers=DEFAULT_REGISTRY,
        jobs=jobs,
    )
    client = service.http.app.test_client()
    job_id = str(uuid.uuid4())
    async with anyio.create_task_group() as tg:
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        failed = await client.post("/jobs", json=_job(job_id))  # no publisher: no confirm
        assert failed.status_code == 503
        await tg.start(service.publisher.run)

        accepted = await client.post("/jobs", json=_job(job_id, payload={"n": 2}))

        assert accepted.status_code == 202
        [envelope] = await take_published(broker)
        assert envelope["payload"]["payload"] == {"n": 2}
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()


class _CountingJobStore(MemoryJobStore):
    """Counts claim calls; the first one waits until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.claim_calls = 0
        self.first_entered = anyio.Event()
        self.release = anyio.Event()

    async def claim_submissions(self, submissions: Sequence[Submission]) -> list[SubmissionClaim]:
        self.claim_calls += 1
        if self.claim_calls == 1:
            self.first_entered.set()
            await self.release.wait()
        return await super().claim_submissions(submissions)


async def test_issue_16_single_requests_arriving_together_share_one_claim(
    broker: MemoryBroker,
) -> None:
    jobs = _CountingJobStore()
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs)
    client = service.http.app.test_client()
    statuses: list[int] = []

    async def submit(index: int) -> None:
        # Ids of the client's: the ledger is asked (the gateway's own ids never are).
        response = await client.post("/jobs", json=_job(str(uuid.uuid4()), payload={"i": index}))
        statuses.append(response.status_code)

    async with anyio.create_task_group() as tg:
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        await tg.start(service.publisher.run)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as requests:
                requests.start_soon(submit, 0)
                await jobs.first_entered.wait()
                for index in range(1, 20):
                    requests.start_soon(submit, index)
                await anyio.wait_all_tasks_blocked()
                jobs.release.set()
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()

    assert statuses == [202] * 20
    assert jobs.claim_calls == 2  # the first request's, then one for the 19 that waited
    # The 19 that waited are published together, packed: fewer messages, every job once.
    messages = await take_published(broker)
    envelopes = [e for m in messages for e in (m if isinstance(m, list) else [m])]
    assert len(messages) < 20
    assert len({e["payload"]["id"] for e in envelopes}) == len(envelopes) == 20


async def test_issue_15_an_id_the_gateway_made_up_is_not_claimed_but_its_confirm_is_written(
    broker: MemoryBroker,
) -> None:
    """A submission without an id gets one no submission can have used: the ledger is not
    asked (one round trip to the job store less per request), the confirm that follows
    writes the claim, and that id submitted again is answered as any resubmitted id."""
    jobs = _CountingJobStore()
    jobs.release.set()
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs)
    client = service.http.app.test_client()

    async with anyio.create_task_group() as tg:
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        await tg.start(service.publisher.run)
        with anyio.fail_after(10):
            first = await client.post("/jobs", json={"type": "echo", "payload": {"n": 1}})
            batch = await client.post(
                "/jobs/batch", json=[{"type": "echo"}, _job(str(uuid.uuid4()))]
            )
            assert jobs.claim_calls == 1  # the batch's job with an id of the client's only
            body = await first.get_json()
            job_id = body["jobId"]
            for _ in range(500):  # the confirm is written after the answer, not waited on
                if job_id in jobs._ledger._submissions:
                    break
                await anyio.sleep(0.01)
            await take_published(broker)
            again = await client.post("/jobs", json=_job(job_id))
            other = await client.post("/jobs", json=_job(job_id, payload={"n": 2}))
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()

    assert (first.status_code, batch.status_code) == (202, 202)
    assert jobs.claim_calls == 3  # the two submissions under the made-up id
    assert again.status_code == 202
    assert await again.get_json() == body
    assert other.status_code == 409
    assert await take_published(broker) == []


# -- 2. Idempotency-Key -------------------------------------------------------------------


async def test_issue_16_an_idempotency_key_replays_the_answer_kept(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/jobs", json={"type": "echo"}, headers=headers)
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers

    again = await client.post("/jobs", json={"type": "echo"}, headers=headers)

    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.get_json() == await first.get_json()  # the same job id, not a new one
    assert len(await take_published(broker)) == 1


async def test_issue_16_an_idempotency_key_with_another_body_is_422(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    headers = {"Idempotency-Key": "k-1"}
    await client.post("/jobs/batch", json=[{"type": "echo"}], headers=headers)
    await take_published(broker)

    response = await client.post("/jobs/batch", json=[{"type": "sleep"}], headers=headers)

    assert response.status_code == 422
    assert (await response.get_json())["error"] == (
        "The Idempotency-Key 'k-1' was used before with another body; send a new key for a "
        "new request."
    )
    assert await take_published(broker) == []
    replay = await client.post("/jobs/batch", json=[{"type": "echo"}], headers=headers)
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (202, "true")


async def test_issue_16_a_quoted_idempotency_key_is_the_same_key_as_the_bare_one(
    gateway: GatewayService, broker: MemoryBroker
) -> None:
    client = gateway.http.app.test_client()
    first = await client.post("/jobs", json={"type": "echo"}, headers={"Idempotency-Key": "k-9"})

    quoted = await client.post("/jobs", json={"type": "echo"}, headers={"Idempotency-Key": '"k-9"'})

    assert quoted.headers["Idempotent-Replayed"] == "true"
    assert await quoted.get_json() == await first.get_json()
    assert len(await take_published(broker)) == 1


@pytest.mark.parametrize("key", ["has space", "x" * 256, "caf\u00e9", '"a b"', '""'])
async def test_issue_16_a_malformed_idempotency_key_is_400_naming_the_header(
    gateway: GatewayService, key: str
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post("/jobs", json={"type": "echo"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["details"] == [{"path": "/headers/Idempotency-Key", "message": "Not a valid key."}]


async def test_issue_16_a_kept_answer_expires_after_the_gateways_ttl(
    broker: MemoryBroker, jobs: MemoryJobStore
) -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    now = [start]
    headers = {"Idempotency-Key": "order-7"}
    async with running_gateway(broker, jobs, clock=lambda: now[0]) as gateway:
        client = gateway.http.app.test_client()
        first = await client.post("/jobs", json={"type": "echo"}, headers=headers)
        assert first.status_code == 202
        job_id = (await first.get_json())["jobId"]

        now[0] = start + timedelta(seconds=IDEMPOTENCY_TTL_S - 1)
        kept = await client.post("/jobs", json={"type": "echo"}, headers=headers)
        other = await client.post("/jobs", json={"type": "sleep"}, headers=headers)

        now[0] = start + timedelta(seconds=IDEMPOTENCY_TTL_S)
        expired = await client.post("/jobs", json={"type": "echo"}, headers=headers)

    assert IDEMPOTENCY_TTL_S == 24 * 3600  # the 24 h the OpenAPI description promises
    assert (kept.status_code, kept.headers.get("Idempotent-Replayed")) == (202, "true")
    assert (await kept.get_json())["jobId"] == job_id
    assert other.status_code == 422
    # Forgotten: answered anew (a new job), not replayed.
    assert (expired.status_code, expired.headers.get("Idempotent-Replayed")) == (202, None)
    assert (await expired.get_json())["jobId"] != job_id
    assert [job["payload"]["id"] for job in await take_published(broker)] == [
        job_id,
        (await expired.get_json())["jobId"],
    ]


async def test_issue_16_openapi_documents_the_idempotency_key_of_both_submit_routes(
    gateway: GatewayService,
) -> None:
    client = gateway.http.app.test_client()
    document = await (await client.get("/openapi.json")).get_json()

    for path in ("/jobs", "/jobs/batch"):
        operation = document["paths"][path]["post"]
        [key] = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
        assert (key["in"], key["required"], key["schema"]["type"]) == ("header", False, "string")
        assert "24 h" in key["description"]
        assert "422" in key["description"]
        responses = operation["responses"]
        assert "another body" in responses["422"]["description"], path
        assert "Idempotency-Key" in responses["409"]["description"], path


# -- 3. X-Correlation-Id ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["order-42 / retry #1", "x" * 128, "[/]{}"])
async def test_issue_16_any_printable_ascii_correlation_id_is_echoed_and_used_as_is(
    gateway: GatewayService, broker: MemoryBroker, value: str
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post(
        "/jobs", json={"type": "echo"}, headers={"X-Correlation-Id": value}
    )
    assert response.status_code == 202
    assert response.headers["X-Correlation-Id"] == value
    [envelope] = await take_published(broker)
    assert envelope["correlationId"] == value


@pytest.mark.parametrize("value", ["x" * 129, "caf\u00e9", "tab\there"])
async def test_issue_16_any_other_correlation_id_is_400_naming_the_header(
    gateway: GatewayService, broker: MemoryBroker, value: str
) -> None:
    client = gateway.http.app.test_client()
    response = await client.post(
        "/jobs", json={"type": "echo"}, headers={"X-Correlation-Id": value}
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["details"] == [
        {"path": "/headers/X-Correlation-Id", "message": "Not a valid correlation id."}
    ]
    assert await take_published(broker) == []


async def test_issue_16_two_requests_for_one_id_in_one_round_are_decided_in_turn(
    broker: MemoryBroker,
) -> None:
    jobs = _CountingJobStore()
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs)
    client = service.http.app.test_client()
    job_id = str(uuid.uuid4())
    statuses: dict[int, int] = {}

    async def submit(n: int) -> None:
        # The first, under another id of the client's, holds the ledger's first call.
        job = _job(job_id, payload={"n": n}) if n else _job(str(uuid.uuid4()))
        response = await client.post("/jobs", json=job)
        statuses[n] = response.status_code

    async with anyio.create_task_group() as tg:
        await tg.start(service.ledger.run)
        await tg.start(service.confirmer.run)
        await tg.start(service.publisher.run)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as requests:
                requests.start_soon(submit, 0)
                await jobs.first_entered.wait()
                requests.start_soon(submit, 1)
                requests.start_soon(submit, 2)
                await anyio.wait_all_tasks_blocked()
                jobs.release.set()
        service.publisher.request_stop()
        service.ledger.request_stop()
        service.confirmer.request_stop()

    assert statuses[0] == 202
    assert sorted([statuses[1], statuses[2]]) == [202, 409]
    assert jobs.claim_calls == 3  # the blocked one, then the id's two claims in turn
    published = await take_published(broker)
    assert len(published) == 2


class _AwayJobStore(MemoryJobStore):
    """Says it is unavailable until it is read."""

    def __init__(self) -> None:
        super().__init__()
        self.available = False
        self.reads = 0

    def is_available(self) -> bool:
        return self.available

    async def get_job(self, job_id: str) -> JobRecord | None:
        self.reads += 1
        self.available = True
        return await super().get_job(job_id)


async def test_issue_16_the_gateway_reads_a_store_that_says_it_is_away_until_it_is_back(
    broker: MemoryBroker,
) -> None:
    jobs = _AwayJobStore()
    service = GatewayService(broker, Settings(gateway_port=0), handlers=DEFAULT_REGISTRY, jobs=jobs)
    await service.store_probe.tick()
    assert (jobs.reads, jobs.is_available()) == (1, True)
    await service.store_probe.tick()
    assert jobs.reads == 1  # available: nothing to probe
