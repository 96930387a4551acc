"""Issue 17: ``Client.workers``/``queues`` (sync and async), the async bulk methods, and
``observatory workers``/``queues`` against a real ``observatory up``."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, TypeVar

import anyio
import pytest

from observatory import AsyncClient, Client, JobStatus, NotFound, QueueStats, Worker, WorkerList
from tests.e2e.conftest import observatory_running

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.e2e.conftest import RunningObservatory

T = TypeVar("T")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

TOPOLOGY = {"jobs.created", "jobs.completed", "jobs.dead-letter"}
"""The embedded broker's queues (its retries wait inside ``jobs.created``: ``delayed``)."""


@pytest.fixture(scope="module")
def observatory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    with observatory_running(tmp_path_factory.mktemp("fleet") / "data") as running:
        yield running


@pytest.fixture
def client(observatory: RunningObservatory) -> Iterator[Client]:
    with Client(observatory.gateway, observatory.read_model) as client:
        yield client


def _until(what: str, check: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    """Ask ``check`` until it answers something, within a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout_s} s: {what}")
        time.sleep(0.1)


def _processor(client: Client) -> Worker | None:
    listed = client.workers()
    return next((w for w in listed.workers if w.service == "processor"), None)


def test_workers_lists_the_processor_with_its_types_and_a_running_job(client: Client) -> None:
    processor = _until("a processor", lambda: _processor(client))
    assert processor.is_alive
    assert processor.status == "alive"
    assert {"echo", "sleep", "fail"} <= set(processor.handler_types)
    assert processor.pid > 0
    assert processor.host
    assert processor.version

    job_id = client.submit("sleep", {"seconds": 30}).job_id

    def holding() -> Worker | None:
        found = _processor(client)
        return found if found and job_id in {j.job_id for j in found.in_flight} else None

    held = _until("the sleep job in flight", holding)
    assert held.in_flight_count >= 1
    assert [j.type for j in held.in_flight if j.job_id == job_id] == ["sleep"]
    done_before = held.done
    client.cancel(job_id)
    assert client.wait(job_id, timeout_s=30).status is JobStatus.FAILED
    client.wait(client.submit("echo", {"n": 1}).job_id, timeout_s=30)
    after = _until(
        "the echo job counted done",
        lambda: p if (p := _processor(client)) and p.done > done_before else None,
    )
    assert job_id not in {j.job_id for j in after.in_flight}
    listed = client.workers()
    assert listed.alive == sum(1 for w in listed.workers if w.is_alive)
    assert listed.alive + listed.gone == len(listed.workers)


def test_queues_lists_the_topology_with_consumers_and_rates(client: Client) -> None:
    first = client.queues()
    assert {q.name for q in first} == TOPOLOGY
    assert {q.source for q in first} == {"embedded"}
    created = {q.name: q for q in first}["jobs.created"]
    assert created.consumers >= 1
    assert created.depth == created.ready + (created.unacked or 0)
    time.sleep(0.6)  # rates compare two samples at least 0.5 s apart
    client.wait(client.submit("echo", {"n": 2}).job_id, timeout_s=30)
    later = {q.name: q for q in client.queues()}["jobs.created"]
    # the embedded broker counts everything: rates are numbers now, not unknown
    assert isinstance(later.publish_per_s, float)
    assert later.publish_per_s >= 0
    assert isinstance(later.deliver_per_s, float)
    assert later.unacked is not None


def _running(client: Client, job_id: str) -> bool | None:
    try:
        return client.get(job_id).status is JobStatus.EXECUTING or None
    except NotFound:
        return None


def test_the_async_client_mirrors_workers_queues_and_the_bulk_actions(
    client: Client, observatory: RunningObservatory
) -> None:
    tag = f"bulk-{uuid.uuid4().hex[:8]}"
    ids = [client.submit("sleep", {"seconds": 30, "tag": tag}).job_id for _ in range(2)]
    failed = client.submit("fail", {"tag": tag}).job_id
    client.wait(failed, timeout_s=30)
    for job_id in ids:  # the read model lists them once a processor took them
        _until(f"{job_id} running", functools.partial(_running, client, job_id))

    async def run() -> tuple[WorkerList, tuple[QueueStats, ...], dict[str, object], object]:
        async with AsyncClient(observatory.gateway, observatory.read_model) as aclient:
            workers = await aclient.workers()
            queues = await aclient.queues()
            counted = await aclient.cancel_jobs(type="sleep", q=tag, dry_run=True)
            assert (counted["matched"], counted["actedOn"], counted["dryRun"]) == (2, 0, True)
            cancelled = await aclient.cancel_jobs(type="sleep", q=tag)
            retried = await aclient.retry_jobs(type="fail", q=tag, status="FAILED")
            return workers, queues, cancelled, retried

    workers, queues, cancelled, retried = anyio.run(run)
    # The sync client's dry run counts too, and changes nothing.
    assert client.retry_jobs(type="fail", q=tag, dry_run=True)["actedOn"] == 0
    assert {w.id for w in workers.workers} == {w.id for w in client.workers().workers}
    assert {q.name for q in queues} == TOPOLOGY
    assert cancelled["matched"] == 2
    assert cancelled["actedOn"] == 2
    assert isinstance(retried, dict)
    assert retried["matched"] == 1
    assert retried["actedOn"] == 1
    assert isinstance(cancelled["auditEventId"], str)
    for job_id in ids:
        job = client.wait(job_id, timeout_s=30)
        assert (job.status, job.error) == (JobStatus.FAILED, "cancelled")


def cli(observatory: RunningObservatory | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["READ_MODEL_URL"] = observatory.read_model if observatory else "http://127.0.0.1:9"
    env.pop("OBSERVATORY_API_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_observatory_workers_prints_a_table_and_json(observatory: RunningObservatory) -> None:
    done = cli(observatory, "workers")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("gone or stopped")
    assert "alive" in lines[0]
    assert lines[1].split() == [
        *["ID", "SERVICE", "STATUS", "HOST:PID", "SEEN", "IN", "FLIGHT", "DONE", "FAILED"],
        "TYPES",
    ]
    rows = [line.split() for line in lines[2:]]
    assert any(row[1] == "processor" and row[2] == "alive" for row in rows)
    as_json = json.loads(cli(observatory, "workers", "--json").stdout)
    assert as_json["alive"] >= 1
    assert {w["service"] for w in as_json["workers"]} >= {"processor"}


def test_observatory_queues_prints_a_table_and_json(observatory: RunningObservatory) -> None:
    done = cli(observatory, "queues")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:6] == ["QUEUE", "DEPTH", "READY", "UNACKED", "DELAYED", "CONSUMERS"]
    assert header.split()[-1] == "SOURCE"
    assert {row.split()[0] for row in rows} == TOPOLOGY
    assert {row.split()[-1] for row in rows} == {"embedded"}
    as_json = json.loads(cli(observatory, "queues", "--json").stdout)
    assert {q["name"] for q in as_json} == TOPOLOGY
    assert all(set(q) >= {"depth", "ready", "consumers", "publish_per_s"} for q in as_json)
    assert {q["source"] for q in as_json} == {"embedded"}


def test_the_verbs_say_when_the_read_model_is_unreachable() -> None:
    for verb in ("workers", "queues"):
        done = cli(None, verb)
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr.startswith(
            f"observatory {verb}: error: Cannot reach http://127.0.0.1:9/"
        )
        assert "is the observatory running there?" in done.stderr
        help_text = cli(None, verb, "--help")
        assert help_text.returncode == 0
        assert "--json" in help_text.stdout
