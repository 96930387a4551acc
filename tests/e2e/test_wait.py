"""``GET /jobs/{id}?wait=`` against a real ``observatory up`` (issue 14, item 7)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from actors.domain.clock import parse_timestamp
from observatory import Client, JobStatus
from tests.e2e.conftest import observatory_running

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def observatory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    with observatory_running(tmp_path_factory.mktemp("wait") / "data") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=90.0) as client:
        yield client


def _submit(http: httpx.Client, gateway: str, job_type: str, payload: dict[str, object]) -> str:
    response = http.post(f"{gateway}/jobs", json={"type": job_type, "payload": payload})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert isinstance(job_id, str)
    return job_id


def test_wait_answers_right_after_the_job_completes(
    observatory: RunningObservatory, http: httpx.Client
) -> None:
    delays_s: list[float] = []
    for _ in range(5):
        job_id = _submit(http, observatory.gateway, "sleep", {"seconds": 0.5})
        response = http.get(f"{observatory.read_model}/jobs/{job_id}", params={"wait": 30})
        answered = time.time()
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["status"] == "COMPLETED"
        assert [e["eventType"] for e in job["events"]][-1] == "job.completed"
        delays_s.append(answered - parse_timestamp(job["finishedAt"]).timestamp())
    print(f"wait answered {', '.join(f'{d * 1000:.0f}' for d in delays_s)} ms after finishedAt")
    assert max(delays_s) < 1.0, delays_s


def test_wait_answers_with_the_current_state_when_the_time_is_up(
    observatory: RunningObservatory, http: httpx.Client
) -> None:
    job_id = _submit(http, observatory.gateway, "sleep", {"seconds": 5})
    started = time.monotonic()
    response = http.get(f"{observatory.read_model}/jobs/{job_id}?wait=2")
    elapsed_s = time.monotonic() - started
    print(f"wait=2 on a 5 s job answered after {elapsed_s:.3f} s")
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("PENDING", "VALIDATED", "EXECUTING")
    assert 2.0 <= elapsed_s < 3.0
    # The same job waited for long enough ends COMPLETED.
    done = http.get(f"{observatory.read_model}/jobs/{job_id}?wait=10")
    assert done.json()["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("wait", "message"),
    [
        ("61", "Query parameter 'wait' must be between 0 and 60 seconds, got 61; "),
        ("-1", "Query parameter 'wait' must be between 0 and 60 seconds, got -1; "),
        ("soon", "Query parameter 'wait' must be a number of seconds, got 'soon'."),
        ("nan", "Query parameter 'wait' must be a number of seconds, got 'nan'."),
    ],
)
def test_a_wait_out_of_bounds_is_refused(
    observatory: RunningObservatory, http: httpx.Client, wait: str, message: str
) -> None:
    response = http.get(f"{observatory.read_model}/jobs/{uuid.uuid4()}", params={"wait": wait})
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(message)
    assert body["details"][0]["path"] == "/wait"


def test_an_unknown_job_is_404_with_or_without_wait(
    observatory: RunningObservatory, http: httpx.Client
) -> None:
    unknown = uuid.uuid4()
    assert http.get(f"{observatory.read_model}/jobs/{unknown}").status_code == 404
    started = time.monotonic()
    response = http.get(f"{observatory.read_model}/jobs/{unknown}?wait=30")
    assert response.status_code == 404
    assert response.json()["error"] == f"No job with id '{unknown}' is known."
    assert time.monotonic() - started < 10  # at once, not after the wait


def test_failed_jobs_end_a_wait_too(observatory: RunningObservatory, http: httpx.Client) -> None:
    job_id = _submit(http, observatory.gateway, "fail", {})
    response = http.get(f"{observatory.read_model}/jobs/{job_id}?wait=30")
    assert response.json()["status"] == "FAILED"
    assert response.json()["attempts"] == 3


@pytest.mark.integration
@pytest.mark.parametrize("observatory_factory", ["local"], indirect=True)
def test_wait_with_one_process_per_service_on_the_real_servers(
    observatory_factory: Callable[..., RunningObservatory],
) -> None:
    running = observatory_factory()
    delays_s: list[float] = []
    with Client(running.gateway, running.read_model) as client:
        for _ in range(3):
            # Just accepted, the job may be unknown for a moment: wait() asks again.
            job = client.wait(client.submit("sleep", {"seconds": 0.5}).job_id, timeout_s=30)
            answered = time.time()
            assert job.status is JobStatus.COMPLETED
            assert job.finished_at is not None
            delays_s.append(answered - parse_timestamp(job.finished_at).timestamp())
    shown = ", ".join(f"{d * 1000:.0f}" for d in delays_s)
    print(f"four processes: wait answered {shown} ms after finishedAt")
    assert max(delays_s) < 1.0, delays_s
