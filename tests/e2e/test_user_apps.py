"""Issue 14: a real ``observatory up --app tests.apps.sample`` runs the user's handlers.

Sync and async handlers complete, ``NonRetryable`` fails after one attempt, a payload off
its schema and an unknown type are refused with 400 (embedded: the gateway knows the
handlers), a broken app stops the start with exit 2 and one line, 20 one-second sync
jobs on 10 threads finish in a fraction of the serial time while ``/healthz`` keeps
answering, and ``concurrency=2`` holds. With four processes (``serve processor --app``,
a gateway without it) an unknown type is accepted and ends FAILED "no handler".
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.fault_harness import Services

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import RunningObservatory

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
APP = ("--app", "tests.apps.sample")


def _job(http: httpx.Client, read_model: str, job_id: str) -> dict[str, object]:
    response = http.get(f"{read_model}/jobs/{job_id}")
    return dict(response.json()) if response.status_code == 200 else {}


def _terminal(
    http: httpx.Client,
    read_model: str,
    job_ids: list[str],
    wait_until: Callable[..., None],
    timeout_s: float = 30.0,
) -> dict[str, dict[str, object]]:
    """Each job's document once all are terminal and their terminal event is in the audit
    trail (over HTTP: a bounded poll). The job store says terminal first: the processor
    writes it, and the event reaches the trail through the metrics engine after."""
    jobs: dict[str, dict[str, object]] = {}

    def finished(job: dict[str, object]) -> bool:
        events = job.get("events")
        return job.get("status") in ("COMPLETED", "FAILED") and any(
            event["eventType"] in ("job.completed", "job.failed")
            for event in (events if isinstance(events, list) else [])
        )

    def done() -> bool:
        for job_id in job_ids:
            if not finished(jobs.get(job_id, {})):
                jobs[job_id] = _job(http, read_model, job_id)
        return all(finished(jobs[j]) for j in job_ids)

    wait_until(done, timeout_s=timeout_s, message=lambda: f"not all terminal: {jobs}")
    return jobs


def _submit(http: httpx.Client, gateway: str, job_type: str, **payload: object) -> str:
    response = http.post(f"{gateway}/jobs", json={"type": job_type, "payload": payload})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def _epoch(timestamp: object) -> float:
    assert isinstance(timestamp, str)
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_user_handlers_run_and_refusals_name_the_problem(
    embedded_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory(*APP)
    health = http.get(f"{obs.gateway}/healthz").json()
    assert {"sample-sync", "sample-async", "sample-refuse", "echo"} <= set(health["handlerTypes"])
    assert any("Handlers" in line and "tests.apps.sample" in line for line in obs.output)

    ids = {
        "sync": _submit(http, obs.gateway, "sample-sync", a=2, b=3),
        "async": _submit(http, obs.gateway, "sample-async", text="hi"),
        "refuse": _submit(http, obs.gateway, "sample-refuse"),
        "typed": _submit(http, obs.gateway, "sample-typed-file", width=4),
        "cpu": _submit(http, obs.gateway, "sample-cpu", rounds=100),
    }
    jobs = _terminal(http, obs.read_model, list(ids.values()), wait_until)
    sync, async_, refuse, typed, cpu = (jobs[ids[k]] for k in ids)

    assert (sync["status"], sync["result"]) == ("COMPLETED", {"sum": 5, "mainThread": False})
    assert (async_["status"], async_["result"]) == ("COMPLETED", {"text": "HI", "attempt": 1})
    assert (typed["status"], typed["result"]) == ("COMPLETED", {"width": 4})
    assert cpu["status"] == "COMPLETED", cpu
    assert (refuse["status"], refuse["attempts"]) == ("FAILED", 1)
    assert refuse["error"] == (
        f"NonRetryable: Job {ids['refuse']} asks for something no retry can give."
    )
    events = refuse["events"]
    assert isinstance(events, list)
    starts = [e for e in events if e["eventType"] == "job.executed"]
    assert len(starts) == 1, events  # one attempt: no retry was scheduled

    off_schema = http.post(
        f"{obs.gateway}/jobs", json={"type": "sample-typed", "payload": {"width": "wide"}}
    )
    assert off_schema.status_code == 400
    assert [d["path"] for d in off_schema.json()["details"]] == ["/payload/width"]
    unknown = http.post(f"{obs.gateway}/jobs", json={"type": "resize", "payload": {}})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "no handler for type 'resize'"
    assert [d["path"] for d in unknown.json()["details"]] == ["/type"]


def test_a_broken_app_stops_the_start_with_exit_2_and_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher.cli",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--app",
            "tests.apps.broken",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "observatory: error: Cannot load app 'tests.apps.broken': importing "
        "'tests.apps.broken' raised RuntimeError: the database password file /nonexistent "
        "is missing"
    ]
    assert not (tmp_path / "data").exists()  # nothing was started


class _HealthProbe:
    """Times ``GET /healthz`` back to back on a thread until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.durations_s: list[float] = []
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                status = client.get(self.url).status_code
                self.durations_s.append(time.perf_counter() - started)
                self.statuses.add(status)
                self._stop.wait(0.05)

    def __enter__(self) -> _HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def test_twenty_blocking_sync_jobs_share_ten_threads_without_blocking_the_loop(
    embedded_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory(*APP, "--threads", "10")
    batch = [{"type": "sample-block", "payload": {"n": n}} for n in range(20)]
    with _HealthProbe(f"{obs.gateway}/healthz") as probe:
        started = time.perf_counter()
        response = http.post(f"{obs.gateway}/jobs/batch", json=batch)
        assert response.status_code == 202, response.text
        ids = [str(r["jobId"]) for r in response.json()["results"]]
        jobs = _terminal(http, obs.read_model, ids, wait_until)
        observed_s = time.perf_counter() - started

    assert {str(job["status"]) for job in jobs.values()} == {"COMPLETED"}
    # From the stored times: first submission to last completion.
    ran_s = max(_epoch(j["finishedAt"]) for j in jobs.values()) - min(
        _epoch(j["createdAt"]) for j in jobs.values()
    )
    print(
        f"20 x 1 s sync jobs on 10 threads: {ran_s:.2f} s stored, {observed_s:.2f} s observed; "
        f"/healthz max {max(probe.durations_s) * 1000:.1f} ms over {len(probe.durations_s)} "
        "calls"
    )
    assert ran_s < 8.0
    assert probe.statuses == {200}
    assert len(probe.durations_s) >= 10
    assert max(probe.durations_s) < 1.0


def test_concurrency_2_holds_a_type_to_two_running_at_once(
    embedded_factory: Callable[..., RunningObservatory],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory(*APP)
    batch = [{"type": "sample-pair", "payload": {"seconds": 0.3}} for _ in range(8)]
    response = http.post(f"{obs.gateway}/jobs/batch", json=batch)
    assert response.status_code == 202, response.text
    ids = [str(r["jobId"]) for r in response.json()["results"]]
    jobs = _terminal(http, obs.read_model, ids, wait_until)

    spans: list[tuple[float, float]] = []
    for job in jobs.values():
        events = job["events"]
        assert isinstance(events, list)
        [completed] = [e for e in events if e["eventType"] == "job.completed"]
        result = completed["payload"]["result"]
        spans.append((result["startedAt"], result["finishedAt"]))
    # The most spans open at any instant: +1 at each start, -1 at each end (ends first).
    edges = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    print(f"sample-pair (concurrency=2): at most {peak} of 8 running at once")
    # The cap is the contract; on a loaded machine two 0.3 s jobs may not overlap.
    assert 1 <= peak <= 2, spans


@pytest.fixture
def env(servers_env: dict[str, str]) -> dict[str, str]:
    return servers_env


@pytest.mark.integration
def test_four_processes_an_unknown_type_fails_with_no_handler(
    env: dict[str, str],
    tmp_path: Path,
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    services = Services(env, tmp_path / "logs", args={"processor": APP})
    try:
        services.start_all()
        processor = http.get(f"{services.url('processor')}/healthz").json()
        assert "sample-sync" in processor["handlerTypes"]
        metrics = http.get(f"{services.url('processor')}/metrics").text
        assert 'processor_handler_types{type="sample-sync"} 1.0' in metrics
        gateway, read_model = services.url("gateway"), services.url("read-model")

        unknown = _submit(http, gateway, "resize", width=3)  # no --app: accepted
        sync = _submit(http, gateway, "sample-sync", a=1, b=1)
        jobs = _terminal(http, read_model, [unknown, sync], wait_until, timeout_s=60.0)

        assert (jobs[unknown]["status"], jobs[unknown]["attempts"], jobs[unknown]["error"]) == (
            "FAILED",
            1,
            "no handler for type 'resize'",
        )
        assert jobs[sync]["status"] == "COMPLETED"
    finally:
        codes = services.stop_all()
    assert {name: code for name, code in codes.items() if code != 0} == {}
