"""Issue 18, item 4: ``rate_limit=5`` on a type holds across processors; other types run on.

``observatory up --infra local --processors 2 --app tests.apps.rated`` (four services,
two processor processes, the token bucket in Redis): 50 ``rated`` jobs take about
(50 - 5) / 5 = 9 s to start, whichever processor runs them, while 200 ``unrated`` jobs
submitted after them all finish before the last ``rated`` one starts. Only lower bounds
that follow from the rate are asserted (a loaded machine makes the jobs later, never
earlier); the figures are printed.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_processors import _alive_processors, local_factory

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

__all__ = ["local_factory"]  # the fixture, imported for this module's tests

_RATE = 5
_RATED = 50
_UNRATED = 200
_PAGE = 500


def _submit_batch(http: httpx.Client, gateway: str, job_type: str, count: int) -> list[str]:
    jobs = [{"type": job_type, "payload": {"n": n}} for n in range(count)]
    response = http.post(f"{gateway}/jobs/batch", json=jobs)
    assert response.status_code == 202, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (count, 0)
    return [str(result["jobId"]) for result in response.json()["results"]]


def _submit_one(http: httpx.Client, gateway: str, job_type: str, n: int) -> str:
    response = http.post(f"{gateway}/jobs", json={"type": job_type, "payload": {"n": n}})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _records(http: httpx.Client, read_model: str) -> dict[str, dict[str, object]]:
    records: dict[str, dict[str, object]] = {}
    params: dict[str, str | int] = {"limit": _PAGE}
    while True:
        page = http.get(f"{read_model}/jobs", params=params)
        assert page.status_code == 200, page.text
        records.update({job["id"]: job for job in page.json()["items"]})
        if not page.json()["nextCursor"]:
            return records
        params = {"limit": _PAGE, "cursor": page.json()["nextCursor"]}


def _metric(text: str, name: str, job_type: str) -> float | None:
    found = re.search(rf'^{name}\{{type="{job_type}"\}} (\S+)$', text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def test_rate_limit_5_spreads_50_jobs_over_two_processors_while_another_type_runs(
    local_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = local_factory("--processors", "2", "--app", "tests.apps.rated")
    processor_urls = re.findall(r"^\s+Processor \d\s+(http://\S+)", "".join(obs.output), re.M)
    assert len(processor_urls) == 2
    wait_until(
        lambda: len(_alive_processors(http, obs.read_model)) == 2,
        timeout_s=60,
        message=lambda: f"two alive processors in {_alive_processors(http, obs.read_model)}",
    )
    for url in processor_urls:
        assert "rated" in http.get(f"{url}/healthz").json()["handlerTypes"]

    submitted_at = time.time()
    # One job a message, so the broker shares them between the processors.
    rated = [_submit_one(http, obs.gateway, "rated", n) for n in range(_RATED)]
    unrated = _submit_batch(http, obs.gateway, "unrated", _UNRATED)
    wait_until(
        lambda: http.get(f"{obs.read_model}/stats").json()["completedJobs"] == _RATED + _UNRATED,
        timeout_s=180,
        message=lambda: str(http.get(f"{obs.read_model}/stats").json()),
    )
    assert set(_records(http, obs.read_model)) == {*rated, *unrated}

    waits_s: list[float] = []

    def starts(ids: list[str]) -> list[float]:
        """When each job's handler started, as it answered (and how long it waited)."""
        found = []
        for job_id in ids:
            record = http.get(f"{obs.read_model}/jobs/{job_id}").json()
            assert (record["status"], record["attempts"]) == ("COMPLETED", 1), record
            result = record["result"]
            assert isinstance(result, dict)
            found.append(float(result["startedAt"]))
            created = datetime.fromisoformat(str(record["createdAt"]).replace("Z", "+00:00"))
            waits_s.append(found[-1] - created.timestamp())
        return sorted(found)

    rated_starts = starts(rated)
    rated_waits_s = sum(waits_s)
    unrated_starts = starts(unrated)
    # The bucket's bound, across both processors: the k-th start (from 0) comes no
    # sooner than (k - 5 + 1) / 5 s after the first (5 at once, then 5 a second).
    for k, at in enumerate(rated_starts):
        assert at - rated_starts[0] >= (k - _RATE + 1) / _RATE - 0.05, k
    elapsed_s = rated_starts[-1] - submitted_at
    assert elapsed_s >= 8.0
    # The other type, submitted after them, did not wait for them.
    assert unrated_starts[-1] < rated_starts[-1]
    print(
        f"rate_limit=5: {_RATED} rated jobs started over {elapsed_s:.1f} s (bound "
        f"{(_RATED - _RATE) / _RATE:.0f} s); {_UNRATED} unrated ones all started within "
        f"{unrated_starts[-1] - submitted_at:.1f} s, "
        f"{(unrated_starts[-1] - submitted_at) / elapsed_s:.2f} of the rated span; "
        f"rated jobs waited {rated_waits_s:.0f} s in all"
    )

    # Both processors ran rated jobs (the bucket is shared, not per process), the wait
    # shows in the queue-wait histogram, and nothing is left held.
    waited_s = 0.0
    for url in processor_urls:
        metrics = http.get(f"{url}/metrics").text
        assert _metric(metrics, "processor_rate_limited_jobs", "rated") == 0
        waited_s += _metric(metrics, "processor_job_queue_wait_seconds_sum", "rated") or 0.0
    producers = {
        str(event["producer"]["instanceId"])
        for event in http.get(
            f"{obs.read_model}/events", params={"type": "job.executed", "limit": 500}
        ).json()
        if event["payload"]["type"] == "rated"
    }
    assert len(producers) == 2, producers
    # Their wait (from createdAt to the handler's start, which the rate stretched) is what
    # the histogram counted, to a few ms a job.
    assert rated_waits_s >= sum((k - _RATE + 1) / _RATE for k in range(_RATED)) / 2
    assert waited_s >= rated_waits_s - 0.05 * _RATED
