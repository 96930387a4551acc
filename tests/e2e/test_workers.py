"""Issue 17, item 2: ``GET /workers`` and ``GET /queues`` with four real processes.

The services run with a 0.5 s heartbeat. The processor serves ``tests.apps.slow``; a
job sleeping there is listed in flight under it; after a kill -9 the processor is shown
gone (no beat for three intervals), still listing the job it held, and a restarted
processor is listed alive beside it. Meanwhile ``/queues`` shows ``jobs.created``'s
backlog growing with no consumer, and draining after the restart, from RabbitMQ's
management API (``source`` ``management``; its absence fails these tests in CI).
"""

from __future__ import annotations

import signal
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.fault_harness import Services

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

_HEARTBEAT_S = 0.5
_POLL_SLACK_S = 2.0
"""What a poll of /workers may add to when a change is seen: its 0.1 s sleep and a request
on a loaded machine."""


@pytest.fixture
def services(
    servers_env: dict[str, str], rabbitmq_management_url: str, tmp_path: Path
) -> Iterator[Services]:
    env = {
        **servers_env,
        "OBSERVATORY_HEARTBEAT_S": str(_HEARTBEAT_S),
        "OBSERVATORY_RABBITMQ_MANAGEMENT_URL": rabbitmq_management_url,
    }
    env["OBSERVATORY_APP"] = "tests.apps.slow"
    running = Services(env, tmp_path / "logs")
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def _poll(what: str, check: Callable[[], object], timeout_s: float = 60.0) -> object:
    """Poll ``check`` until it answers something truthy, within a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout_s} s: {what}")
        time.sleep(0.1)


def _workers(services: Services) -> list[dict[str, object]]:
    response = httpx.get(f"{services.url('read-model')}/workers", timeout=5.0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alive"] + body["gone"] == len(body["workers"])
    workers: list[dict[str, object]] = body["workers"]
    return workers


def _queue(services: Services, name: str) -> dict[str, object]:
    response = httpx.get(f"{services.url('read-model')}/queues", timeout=5.0)
    assert response.status_code == 200, response.text
    queues = {queue["name"]: queue for queue in response.json()}
    assert set(queues) == {
        "jobs.created",
        "jobs.completed",
        "jobs.dead-letter",
        "jobs.retry.1s",
        "jobs.retry.5s",
        "jobs.retry.30s",
    }
    queue: dict[str, object] = queues[name]
    return queue


def _worker(services: Services, service: str, pid: int) -> dict[str, object] | None:
    for worker in _workers(services):
        if worker["service"] == service and worker["pid"] == pid:
            return worker
    return None


def test_workers_lists_the_processor_with_its_jobs_and_shows_it_gone_after_kill_9(
    services: Services,
) -> None:
    job_id = str(uuid.uuid4())
    submitted = httpx.post(
        f"{services.url('gateway')}/jobs",
        json={"id": job_id, "type": "slow-sleep", "payload": {"seconds": 20}},
        timeout=10.0,
    )
    assert submitted.status_code == 202, submitted.text
    pids = services.pids()
    held = {"jobId": job_id, "type": "slow-sleep"}

    def running_the_job() -> dict[str, object] | None:
        worker = _worker(services, "processor", pids["processor"])
        if worker and worker["status"] == "alive":
            in_flight = worker["inFlight"]
            return worker if isinstance(in_flight, list) and held in in_flight else None
        return None

    processor = _poll("the processor running the slow job", running_the_job)
    assert isinstance(processor, dict)
    assert "slow-sleep" in processor["handlerTypes"]
    assert processor["intervalS"] == _HEARTBEAT_S
    assert processor["inFlightCount"] == 1
    assert {"path": "processor/executor", "state": "running"}.items() <= next(
        a for a in processor["actors"] if a["path"] == "processor/executor"
    ).items()
    engine = _worker(services, "metrics-engine", pids["metrics-engine"])
    assert engine is not None
    assert engine["status"] == "alive"

    assert services.signal("processor", signal.SIGKILL) == -signal.SIGKILL

    def gone() -> dict[str, object] | None:
        worker = _worker(services, "processor", pids["processor"])
        return worker if worker and worker["status"] == "gone" else None

    dead = _poll("the killed processor shown gone", gone, timeout_s=30.0)
    assert isinstance(dead, dict)
    assert held in dead["inFlight"], "the jobs the gone processor held are listed under it"
    assert dead["secondsSinceSeen"] > 3 * _HEARTBEAT_S
    # Shown gone once three intervals pass without a beat, not at some later sweep: when
    # first seen gone, its last beat is that old plus at most the poll's own delays.
    assert dead["secondsSinceSeen"] < 3 * _HEARTBEAT_S + _POLL_SLACK_S, dead

    # While no processor runs, jobs.created's backlog grows ...
    for _ in range(20):
        accepted = httpx.post(
            f"{services.url('gateway')}/jobs", json={"type": "echo", "payload": {}}, timeout=10.0
        )
        assert accepted.status_code == 202, accepted.text

    def backlog() -> dict[str, object] | None:
        created = _queue(services, "jobs.created")
        counted = created["source"] == "management" and created["unacked"] == 0
        return created if counted and created["ready"] >= 21 and created["consumers"] == 0 else None  # type: ignore[operator]

    _poll("jobs.created's backlog growing with no processor", backlog, timeout_s=30.0)

    services.start("processor")
    new_pid = services.pids()["processor"]

    def restarted() -> dict[str, object] | None:
        worker = _worker(services, "processor", new_pid)
        return worker if worker and worker["status"] == "alive" else None

    _poll("the restarted processor alive", restarted)

    # ... and drains once one runs again.
    def drained() -> dict[str, object] | None:
        created = _queue(services, "jobs.created")
        counted = created["source"] == "management"
        return created if counted and created["ready"] == 0 and created["consumers"] >= 1 else None  # type: ignore[operator]

    _poll("jobs.created drained by the restarted processor", drained)
    still_gone = _worker(services, "processor", pids["processor"])
    assert still_gone is not None
    assert still_gone["status"] == "gone", "a gone worker stays listed"


def test_observatory_up_lists_its_workers_and_queues(
    observatory_factory: Callable[..., RunningObservatory], request: pytest.FixtureRequest
) -> None:
    """Embedded (heartbeats in memory, the memory broker's queues) and ``--infra local``
    (four processes sharing Redis, RabbitMQ's queues from its management API) alike."""
    source = "embedded"
    if request.node.callspec.params["observatory_factory"] == "local":
        request.getfixturevalue("rabbitmq_management_url")
        source = "management"
    running = observatory_factory()

    def both_alive() -> list[dict[str, object]] | None:
        response = httpx.get(f"{running.read_model}/workers", timeout=5.0)
        assert response.status_code == 200, response.text
        alive = [w for w in response.json()["workers"] if w["status"] == "alive"]
        services = {w["service"] for w in alive}
        return alive if services == {"processor", "metrics-engine"} else None

    alive = _poll("a processor and a metrics engine alive", both_alive)
    assert isinstance(alive, list)
    processor = next(w for w in alive if w["service"] == "processor")
    assert "echo" in processor["handlerTypes"]

    def created_queue() -> dict[str, object] | None:
        response = httpx.get(f"{running.read_model}/queues", timeout=5.0)
        assert response.status_code == 200, response.text
        created: dict[str, object] = next(q for q in response.json() if q["name"] == "jobs.created")
        # RabbitMQ's statistics lag by up to their interval (5 s): a queue just declared
        # has none yet, and the processor's subscription shows at the next round.
        consumed = created["consumers"] >= 1  # type: ignore[operator]
        return created if created["source"] == source and consumed else None

    _poll(f"jobs.created consumed, answered by the {source} source", created_queue)
