"""Issue 16, item 4: SIGTERM while a long job runs, on the real servers.

Four services run as processes (``observatory serve``) against RabbitMQ, PostgreSQL,
Redis and MongoDB; the processor serves ``tests.apps.stopping`` with a short
``--shutdown-grace``. SIGTERM arrives while two long jobs (one allowed a single attempt)
and a short one run: the short one completes within the grace, the long ones are
interrupted and returned to the queue, the process exits well before they would have
ended, logging one line per interrupted job and no ``actor.killed``. After the restart
both long jobs complete, and their record, timeline and ``job.completed`` agree on one
attempt.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from typing import TYPE_CHECKING

import anyio
import asyncpg
import httpx
import pytest

from tests.e2e.conftest import _remove_namespace
from tests.integration.fault_harness import Services

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GRACE_S = 3.0
LONG_S = 25.0
"""Far longer than the grace and the stop's bound below."""
EXIT_BOUND_S = GRACE_S + 12.0
"""The grace and a few seconds of draining; a stop that waited for the long jobs would
take ``LONG_S``."""


@pytest.fixture
def services(
    rabbitmq_url: str, postgres_url: str, redis_url: str, mongo_url: str, tmp_path: Path
) -> Iterator[Services]:
    env = {
        "RABBITMQ_URL": rabbitmq_url,
        "POSTGRES_URL": postgres_url,
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "OBSERVATORY_NAMESPACE": f"stop-{uuid.uuid4().hex[:10]}",
    }
    args: dict[str, tuple[str, ...]] = {
        "processor": ("--shutdown-grace", f"{GRACE_S:g}", "--app", "tests.apps.stopping")
    }
    running = Services(env, tmp_path / "logs", args=args)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()
        anyio.run(_remove_namespace, env)


async def _rows(services: Services, ids: list[str]) -> dict[str, tuple[str, int]]:
    connection = await asyncpg.connect(services.settings.postgres_url)
    try:
        rows = await connection.fetch(
            f'SELECT id::text AS id, status, attempts FROM "{services.settings.postgres_schema}"'
            ".jobs WHERE id::text = ANY($1::text[])",
            ids,
        )
    finally:
        await connection.close()
    return {row["id"]: (row["status"], row["attempts"]) for row in rows}


def _wait_rows(
    services: Services, ids: list[str], statuses: set[str], timeout_s: float = 60.0
) -> dict[str, tuple[str, int]]:
    """Until every job of ``ids`` is in one of ``statuses`` in PostgreSQL."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = anyio.run(_rows, services, ids)
        if all(rows.get(i, ("", 0))[0] in statuses for i in ids):
            return rows
        assert time.monotonic() < deadline, f"not {statuses} within {timeout_s} s: {rows}"
        time.sleep(0.1)


def _log_lines(services: Services, name: str) -> list[dict[str, object]]:
    lines = (services.logs / f"{name}.log").read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _submit(gateway: str, job_type: str, **job: object) -> str:
    job_id = str(uuid.uuid4())
    response = httpx.post(
        f"{gateway}/jobs", json={"id": job_id, "type": job_type, **job}, timeout=10.0
    )
    assert response.status_code == 202, response.text
    return job_id


def _job(services: Services, job_id: str) -> dict[str, object]:
    response = httpx.get(
        f"{services.url('read-model')}/jobs/{job_id}", params={"wait": "30"}, timeout=40.0
    )
    assert response.status_code == 200, response.text
    document: dict[str, object] = response.json()
    return document


def test_issue_16_sigterm_interrupts_long_jobs_after_the_grace_and_the_restart_runs_them_once(
    services: Services,
) -> None:
    gateway = services.url("gateway")
    long_id = _submit(gateway, "stop-sleep", payload={"seconds": LONG_S})
    once_id = _submit(
        gateway, "stop-sleep", payload={"seconds": LONG_S}, metadata={"maxAttempts": 1}
    )
    short_id = _submit(gateway, "stop-sleep", payload={"seconds": 1.0})
    ids = [long_id, once_id, short_id]
    _wait_rows(services, ids, {"EXECUTING"})

    asked = time.monotonic()
    code = services.signal("processor", signal.SIGTERM, wait_s=EXIT_BOUND_S)
    took_s = time.monotonic() - asked

    assert code == 0
    assert GRACE_S <= took_s < EXIT_BOUND_S
    rows = anyio.run(_rows, services, ids)
    assert rows == {
        long_id: ("PENDING", 0),  # given back: the attempt is not counted
        once_id: ("PENDING", 0),
        short_id: ("COMPLETED", 1),  # finished within the grace
    }
    lines = _log_lines(services, "processor")
    interrupted = [
        line for line in lines if str(line.get("message", "")).startswith("job.interrupted")
    ]
    assert sorted(str(line.get("jobId")) for line in interrupted) == sorted([long_id, once_id])
    assert [line for line in lines if "actor.killed" in str(line.get("message", ""))] == []

    # The restart: the same attempts run again, quickly this time.
    services.env["STOP_TEST_QUICK"] = "1"
    services.start("processor")
    for job_id in (long_id, once_id):
        document = _job(services, job_id)
        assert document["status"] == "COMPLETED", document
        events = document["events"]
        assert isinstance(events, list)
        executed = [e["payload"] for e in events if e["eventType"] == "job.executed"]
        completed = [e["payload"] for e in events if e["eventType"] == "job.completed"]
        assert [(p["attempt"], p.get("interrupted")) for p in executed] == [(1, None), (1, True)]
        assert len(completed) == 1
        assert document["attempts"] == completed[0]["attempts"] == 1
        assert max(p["attempt"] for p in executed) == 1
    short = _job(services, short_id)
    assert (short["status"], short["attempts"]) == ("COMPLETED", 1)
