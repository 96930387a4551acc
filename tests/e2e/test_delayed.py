"""Issue 18, item 1: delayed jobs against a real ``observatory up``: embedded, and
(integration) one process per service on RabbitMQ and PostgreSQL.

A job with ``delaySeconds: 3`` waits ``PENDING`` with its ``scheduledFor`` (in the job
record and the search), starts after its time and not before, and completes; one
cancelled while it waits ends ``FAILED`` cancelled and never runs, not even once its time
has passed; one waiting while every process is restarted (SIGTERM, then ``up`` again on
the same data directory or namespace) still runs, once. How late each started after its
time is printed (a figure, not asserted).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _at(text: object) -> datetime:
    assert isinstance(text, str), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _job(http: httpx.Client, read_model: str, job_id: str, wait_s: float = 0) -> dict[str, object]:
    params = {"wait": str(wait_s)} if wait_s else {}
    response = http.get(f"{read_model}/jobs/{job_id}", params=params, timeout=wait_s + 30)
    assert response.status_code == 200, response.text
    doc: dict[str, object] = response.json()
    return doc


def _event_types(job: dict[str, object]) -> list[str]:
    events = job["events"]
    assert isinstance(events, list)
    return [str(event["eventType"]) for event in events]


def _submit(http: httpx.Client, gateway: str, **fields: object) -> str:
    response = http.post(f"{gateway}/jobs", json={"type": "echo", "payload": {}, **fields})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    assert isinstance(job_id, str)
    return job_id


def test_issue_18_a_delayed_job_runs_after_its_time_and_a_cancelled_one_never(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    obs = observatory_factory()
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]

    delayed = _submit(http, gateway, delaySeconds=3)
    cancelled = _submit(http, gateway, delaySeconds=5)

    # Waiting: PENDING with its time, in the record and in the search.
    waiting = _job(http, read_model, delayed)
    assert waiting["status"] == "PENDING"
    due = _at(waiting["scheduledFor"])
    assert (due - _at(waiting["createdAt"])).total_seconds() >= 3
    search = http.get(f"{read_model}/jobs", params={"status": "PENDING", "limit": 50})
    assert search.status_code == 200, search.text
    listed = {item["id"]: item for item in search.json()["items"]}
    assert listed[delayed]["scheduledFor"] == waiting["scheduledFor"]

    # Cancelled while it waits: FAILED cancelled, never started.
    cancel = http.delete(f"{gateway}/jobs/{cancelled}")
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["status"] == "PENDING"
    wait_until(
        lambda: _job(http, read_model, cancelled)["status"] == "FAILED",
        timeout_s=20,
        message=lambda: str(_job(http, read_model, cancelled)),
    )

    done = _job(http, read_model, delayed, wait_s=30)
    assert done["status"] == "COMPLETED", done
    started = _at(done["startedAt"])
    assert started >= due
    assert _at(done["finishedAt"]) >= due
    assert done["attempts"] == 1
    assert _event_types(done).count("job.executed") == 1

    # Past the cancelled job's own time it still never ran.
    cancelled_due = _at(_job(http, read_model, cancelled)["scheduledFor"])
    time.sleep(max(0.0, (cancelled_due - datetime.now(cancelled_due.tzinfo)).total_seconds()) + 1)
    gone = _job(http, read_model, cancelled)
    assert (gone["status"], gone["error"], gone["attempts"]) == ("FAILED", "cancelled", 0)
    assert "job.executed" not in _event_types(gone)
    with capsys.disabled():
        late_ms = (started - due).total_seconds() * 1000
        print(f"\n[{obs.mode}] delaySeconds 3: started {late_ms:.0f} ms after its time")  # type: ignore[attr-defined]


def test_issue_18_a_delayed_job_survives_a_restart_of_every_process_and_runs_once(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = observatory_factory()
    job_id = str(uuid.uuid4())
    submitted = time.monotonic()
    _submit(http, first.gateway, id=job_id, delaySeconds=20)  # type: ignore[attr-defined]
    assert _job(http, first.read_model, job_id)["status"] == "PENDING"  # type: ignore[attr-defined]

    assert first.stop() == 0  # type: ignore[attr-defined]
    second = observatory_factory()
    restarted_s = time.monotonic() - submitted
    read_model = second.read_model  # type: ignore[attr-defined]
    assert _job(http, read_model, job_id)["status"] == "PENDING" or restarted_s >= 20

    done = _job(http, read_model, job_id, wait_s=60)
    assert done["status"] == "COMPLETED", done
    assert done["attempts"] == 1
    assert _event_types(done).count("job.executed") == 1
    assert _event_types(done).count("job.completed") == 1
    started, due = _at(done["startedAt"]), _at(done["scheduledFor"])
    assert started >= due
    with capsys.disabled():
        late_ms = (started - due).total_seconds() * 1000
        print(
            f"\n[{second.mode}] restarted in {restarted_s:.1f} s; "  # type: ignore[attr-defined]
            f"delaySeconds 20: started {late_ms:.0f} ms after its time"
        )


def test_issue_18_embedded_a_delayed_job_survives_a_kill_9_and_runs_once(
    embedded_factory: Callable[..., object], http: httpx.Client
) -> None:
    """The scheduled set is in SQLite, not in the in-process broker (which a kill -9
    empties): the job still runs after the next ``observatory up``."""
    first = embedded_factory()
    job_id = _submit(http, first.gateway, delaySeconds=5)  # type: ignore[attr-defined]
    assert _job(http, first.read_model, job_id)["status"] == "PENDING"  # type: ignore[attr-defined]

    first.process.kill()  # type: ignore[attr-defined]
    first.process.wait(timeout=30)  # type: ignore[attr-defined]
    second = embedded_factory()

    done = _job(http, second.read_model, job_id, wait_s=60)  # type: ignore[attr-defined]
    assert done["status"] == "COMPLETED", done
    assert done["attempts"] == 1
    assert _event_types(done).count("job.executed") == 1
    assert _at(done["startedAt"]) >= _at(done["scheduledFor"])
