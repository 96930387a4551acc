"""Issues 8 and 14 on real servers: retries through RabbitMQ's retry queues and
PostgreSQL, and ``DELETE /jobs/{id}`` on a gateway that talks to both (``observatory
serve``): of a job waiting for its retry, of a running one, of one still queued."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import TYPE_CHECKING

import anyio
import asyncpg
import httpx
import pytest

from actors.broker.amqp import open_amqp_broker
from actors.broker.names import ALL_QUEUES, RETRY_DELAYS_S, retry_queue
from actors.config.settings import Settings
from actors.domain.handlers import DEFAULT_REGISTRY, JobContext
from actors.domain.jobs import CANCELLED, JobStatus
from actors.errors import JobFailed
from actors.stores.postgres import open_postgres_job_store
from launcher.serve import ServiceProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from actors.domain.jobs import JobRecord
    from actors.stores.postgres import PostgresJobStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
async def settings(rabbitmq_url: str, postgres_url: str, mongo_url: str) -> AsyncIterator[Settings]:
    """Settings of a namespace of the test's own; its queues and schema go afterwards."""
    settings = Settings(
        rabbitmq_url=rabbitmq_url,
        postgres_url=postgres_url,
        # The gateway's dead letters live there; a reachable one leaks no sockets.
        mongo_url=mongo_url,
        namespace=f"retries-{uuid.uuid4().hex[:10]}",
        gateway_port=0,
        processor_port=0,
        # 1 s between attempts: long enough to cancel a job waiting for its retry.
        retry_backoff_s=1.0,
        retry_backoff_factor=1.0,
        prefetch=16,
        shutdown_s=5.0,
    )
    yield settings
    with anyio.fail_after(20, shield=True):
        async with open_amqp_broker(rabbitmq_url, namespace=settings.queue_namespace) as broker:
            for queue in (*(retry_queue(d) for d in RETRY_DELAYS_S), *ALL_QUEUES):
                await broker.delete_queue(queue)
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}" CASCADE')
        finally:
            await connection.close()


async def _ended(jobs: PostgresJobStore, job_id: str) -> JobRecord:
    # The stores are another process's business: poll with a deadline.
    with anyio.fail_after(30):
        while True:
            record = await jobs.get_job(job_id)
            if record is not None and record.status.is_terminal:
                return record
            await anyio.sleep(0.05)


async def test_issue_8_retries_and_cancel_through_rabbitmq_and_postgresql(
    settings: Settings,
) -> None:
    runs: Counter[str] = Counter()
    handlers = DEFAULT_REGISTRY.copy()

    async def flaky(job: JobContext) -> object:
        runs[job.id] += 1
        if job.attempt < 3:
            raise JobFailed(f"attempt {job.attempt} failed")
        return {"attempt": job.attempt}

    handlers.register("flaky", flaky)
    processor = ServiceProcess("processor", settings, handlers=handlers)
    gateway = ServiceProcess("gateway", settings)
    async with (
        anyio.create_task_group() as tg,
        httpx.AsyncClient(timeout=10) as client,
        open_postgres_job_store(settings.postgres_url, schema=settings.postgres_schema) as jobs,
    ):
        await tg.start(processor.run)
        await tg.start(gateway.run)
        base = f"http://127.0.0.1:{gateway.http.port}"

        flaky_id = (await client.post(f"{base}/jobs", json={"type": "flaky"})).json()["jobId"]
        failing_id = (await client.post(f"{base}/jobs", json={"type": "fail"})).json()["jobId"]
        flaky_record = await _ended(jobs, flaky_id)
        failing = await _ended(jobs, failing_id)

        # A job waiting out a long backoff (set per job: one attempt more than it has).
        slow = {"type": "fail", "metadata": {"maxAttempts": 2}}
        waiting_id = (await client.post(f"{base}/jobs", json=slow)).json()["jobId"]
        with anyio.fail_after(30):
            while True:
                record = await jobs.get_job(waiting_id)
                if record is not None and record.next_attempt_at is not None:
                    break
                await anyio.sleep(0.02)
        cancel = await client.delete(f"{base}/jobs/{waiting_id}")
        cancelled = await _ended(jobs, waiting_id)
        conflict = await client.delete(f"{base}/jobs/{flaky_id}")
        unknown = await client.delete(f"{base}/jobs/{uuid.uuid4()}")
        processor.request_stop()
        gateway.request_stop()

    assert (flaky_record.status, flaky_record.attempts, runs[flaky_id]) == (
        JobStatus.COMPLETED,
        3,
        3,
    )
    assert [(e.attempt, e.error) for e in flaky_record.errors] == [
        (1, "attempt 1 failed"),
        (2, "attempt 2 failed"),
    ]
    assert (failing.status, failing.attempts, len(failing.errors)) == (JobStatus.FAILED, 3, 3)
    assert cancel.status_code == 202
    assert cancel.json()["status"] == "PENDING"
    # Cancelled while waiting for attempt 2 (or, had the backoff already run out, right
    # as attempt 2 was taken): it never ran again.
    assert (cancelled.status, cancelled.error) == (JobStatus.FAILED, CANCELLED)
    assert (cancelled.attempts, [e.attempt for e in cancelled.errors]) == (1, [1])
    assert conflict.status_code == 409
    assert conflict.json()["status"] == "COMPLETED"
    # Not in the job store: taken for a job still queued, the request is kept (issue 14).
    assert (unknown.status_code, unknown.json()["status"]) == (202, "PENDING")


async def test_issue_14_running_and_queued_jobs_are_cancelled_across_services(
    settings: Settings,
) -> None:
    """The gateway and the processor share nothing but RabbitMQ and PostgreSQL: the
    cancel of a running job reaches the processor through the store."""
    started: dict[str, anyio.Event] = {}
    cancelled: set[str] = set()
    runs: Counter[str] = Counter()
    handlers = DEFAULT_REGISTRY.copy()

    async def hang(job: JobContext) -> object:
        runs[job.id] += 1
        started.setdefault(job.id, anyio.Event()).set()
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.add(job.id)
            raise
        return None

    handlers.register("hang", hang, timeout_s=90.0)
    processor = ServiceProcess("processor", settings, handlers=handlers)
    gateway = ServiceProcess("gateway", settings)
    async with (
        anyio.create_task_group() as tg,
        httpx.AsyncClient(timeout=10) as client,
        open_postgres_job_store(settings.postgres_url, schema=settings.postgres_schema) as jobs,
    ):
        await tg.start(gateway.run)
        base = f"http://127.0.0.1:{gateway.http.port}"
        # Submitted while no processor runs: it stays queued, and is cancelled there.
        queued_id = (await client.post(f"{base}/jobs", json={"type": "hang"})).json()["jobId"]
        queued = await client.delete(f"{base}/jobs/{queued_id}")
        await tg.start(processor.run)
        queued_record = await _ended(jobs, queued_id)

        running_id = (await client.post(f"{base}/jobs", json={"type": "hang"})).json()["jobId"]
        with anyio.fail_after(30):
            await started.setdefault(running_id, anyio.Event()).wait()
        asked = anyio.current_time()
        running = await client.delete(f"{base}/jobs/{running_id}")
        running_record = await _ended(jobs, running_id)
        took_s = anyio.current_time() - asked
        processor.request_stop()
        gateway.request_stop()

    assert (queued.status_code, queued.json()["status"]) == (202, "PENDING")
    assert (queued_record.status, queued_record.error) == (JobStatus.FAILED, CANCELLED)
    assert (queued_record.attempts, runs[queued_id]) == (0, 0)
    assert queued_record.cancel_requested_by == queued.json()["cancelRequestedBy"]
    assert (running.status_code, running.json()["status"]) == (202, "EXECUTING")
    assert (running_record.status, running_record.error) == (JobStatus.FAILED, CANCELLED)
    assert (running_record.attempts, runs[running_id]) == (1, 1)
    assert cancelled == {running_id}
    assert took_s < 3.0, took_s


async def test_a_gateway_whose_postgresql_is_away_accepts_nothing_and_says_why(
    settings: Settings, free_tcp_port: int
) -> None:
    """Issue 16 changed issue 8's answer: every submitted job id is claimed in
    PostgreSQL's ledger first, so without PostgreSQL the gateway is up but not ready,
    refuses submissions with 503 (nothing published) and cannot cancel."""
    away = settings.with_changes(
        postgres_url=f"postgresql://observatory:s3cret@127.0.0.1:{free_tcp_port}/test"
    )
    gateway = ServiceProcess("gateway", away)
    async with anyio.create_task_group() as tg, httpx.AsyncClient(timeout=10) as client:
        tg.start_soon(gateway.run)  # it never becomes ready: not waited for
        base = ""
        with anyio.fail_after(30):
            while not base:
                http = getattr(gateway, "http", None)
                port = getattr(http, "port", 0) if http is not None else 0
                if port:
                    try:
                        await client.get(f"http://127.0.0.1:{port}/healthz")
                        base = f"http://127.0.0.1:{port}"
                    except httpx.TransportError:
                        pass
                await anyio.sleep(0.1)
        with anyio.fail_after(30):  # until its first try at PostgreSQL has failed
            while "gateway/postgres" not in (await client.get(f"{base}/healthz")).text:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        health = await client.get(f"{base}/healthz")
        accepted = await client.post(f"{base}/jobs", json={"type": "echo"})
        cancel = await client.delete(f"{base}/jobs/{uuid.uuid4()}")
        gateway.request_stop()
        tg.cancel_scope.cancel()

    assert "gateway/postgres" in health.json()["unhealthy"]
    assert health.status_code == 503  # /healthz: its dependencies (/readyz: alive)
    assert accepted.status_code == 503, accepted.text
    assert cancel.status_code == 503, cancel.text
    assert "s3cret" not in accepted.text + cancel.text + health.text
