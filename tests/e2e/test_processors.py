"""Issue 19, item 6: processor processes on the same queues run every job once.

``observatory up --infra local --processors N`` (2 and 3) against the real servers: the
banner and ``GET /workers`` show every processor; 2,000 ``echo`` jobs submitted in
batches all complete; each job's record says one attempt and its audit trail holds
exactly one start (``job.executed``) and one ``job.completed``, produced by one of the
processors, and each took a share; the counters (``/stats``, Redis) equal the job store
(PostgreSQL), type by type.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import LOCAL_ARGS, _factory
from tests.e2e.test_retry import _stats_equal_the_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

_JOBS = 2_000
_BATCH = 500
_PAGE = 500


@pytest.fixture
def local_factory(
    servers_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., RunningObservatory]]:
    """``observatory up --infra local`` on the real servers, in a namespace of its own."""
    with _factory(tmp_path, extra=LOCAL_ARGS, env=servers_env) as create:
        yield create


def _events(http: httpx.Client, read_model: str, event_type: str) -> list[dict[str, object]]:
    """Every event of ``event_type`` in the audit trail, paged with the cursor."""
    found: list[dict[str, object]] = []
    params: dict[str, str | int] = {"type": event_type, "limit": _PAGE}
    while True:
        page = http.get(f"{read_model}/events", params=params)
        assert page.status_code == 200, page.text
        found.extend(page.json())
        cursor = page.headers.get("X-Next-Cursor")
        if not cursor:
            return found
        params = {"type": event_type, "limit": _PAGE, "cursor": cursor}


def _alive_processors(http: httpx.Client, read_model: str) -> list[dict[str, object]]:
    response = http.get(f"{read_model}/workers")
    assert response.status_code == 200, response.text
    return [
        worker
        for worker in response.json()["workers"]
        if worker["service"] == "processor" and worker["status"] == "alive"
    ]


@pytest.mark.parametrize("processors", [2, 3])
def test_processors_share_2000_jobs_and_run_each_exactly_once(
    processors: int,
    local_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = local_factory("--processors", str(processors))
    banner = "".join(obs.output)
    processor_urls = re.findall(r"^\s+Processor (\d)\s+(http://\S+)", banner, re.MULTILINE)
    assert [index for index, _ in processor_urls] == [str(i) for i in range(1, processors + 1)]
    assert len({url for _, url in processor_urls}) == processors
    for _, url in processor_urls:
        assert http.get(f"{url}/healthz").status_code == 200

    wait_until(
        lambda: len(_alive_processors(http, obs.read_model)) == processors,
        timeout_s=60,
        message=lambda: (
            f"{processors} alive processors in {_alive_processors(http, obs.read_model)}"
        ),
    )
    workers = {str(worker["id"]) for worker in _alive_processors(http, obs.read_model)}
    # Their log lines (one JSON object each, on the shared stderr) say which one logged.
    names = {
        json.loads(line).get("process_name")
        for line in obs.logs().splitlines()
        if line.startswith("{")
    }
    assert {f"processor-{i}" for i in range(1, processors + 1)} <= names

    submitted: list[str] = []
    for start in range(0, _JOBS, _BATCH):
        jobs = [{"type": "echo", "payload": {"n": n}} for n in range(start, start + _BATCH)]
        response = http.post(f"{obs.gateway}/jobs/batch", json=jobs)
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (_BATCH, 0)
        submitted.extend(result["jobId"] for result in body["results"])
    assert len(set(submitted)) == _JOBS

    wait_until(
        lambda: http.get(f"{obs.read_model}/stats").json()["completedJobs"] == _JOBS,
        timeout_s=300,
        message=lambda: str(http.get(f"{obs.read_model}/stats").json()),
    )
    wait_until(
        lambda: _stats_equal_the_store(http, obs.read_model),
        timeout_s=60,
        message=lambda: f"/stats {http.get(f'{obs.read_model}/stats').json()} vs the job store",
    )
    stats = http.get(f"{obs.read_model}/stats").json()
    assert (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"]) == (_JOBS, _JOBS, 0)

    # Each job record: one attempt, completed (GET /jobs lists the attempts).
    records: dict[str, dict[str, object]] = {}
    params: dict[str, str | int] = {"limit": _PAGE}
    while True:
        page = http.get(f"{obs.read_model}/jobs", params=params)
        assert page.status_code == 200, page.text
        records.update({job["id"]: job for job in page.json()["items"]})
        if not page.json()["nextCursor"]:
            break
        params = {"limit": _PAGE, "cursor": page.json()["nextCursor"]}
    assert set(records) == set(submitted)
    assert Counter(job["status"] for job in records.values()) == {"COMPLETED": _JOBS}
    sample = http.get(f"{obs.read_model}/jobs/{submitted[-1]}").json()
    assert (sample["status"], sample["attempts"]) == ("COMPLETED", 1)
    assert Counter(job["attempts"] for job in records.values()) == {1: _JOBS}

    # The audit trail: one start and one completion per job, each by one of the processors.
    for event_type in ("job.executed", "job.completed"):
        events = _events(http, obs.read_model, event_type)
        per_job = Counter(str(event["payload"]["id"]) for event in events)  # type: ignore[index]
        assert set(per_job) == set(submitted), event_type
        assert set(per_job.values()) == {1}, [j for j, n in per_job.items() if n > 1][:5]
        producers = Counter(str(event["producer"]["instanceId"]) for event in events)  # type: ignore[index]
        assert set(producers) == workers, (event_type, producers, workers)
        assert sum(producers.values()) == _JOBS
