"""``observatory up`` as a real subprocess, exercised over HTTP only."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

from contracts import SchemaName, fixtures_dir, get_contracts

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

LIFECYCLE = ["job.created", "job.validated", "job.executed", "job.completed"]
MIX = ["echo", "compute", "fail", "report", "sleep"]


def _fixture(path: Path) -> dict[str, object]:
    doc = json.loads(path.read_text())
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _golden_jobs() -> list[Path]:
    golden = fixtures_dir() / "golden"
    return sorted(golden.glob("job-*.json"))


def _post(http: httpx.Client, gateway: str, body: object) -> httpx.Response:
    return http.post(f"{gateway}/jobs", json=body)


def _short_job(index: int) -> dict[str, object]:
    job_type = MIX[index % len(MIX)]
    payload: dict[str, object] = {"n": index}
    if job_type == "sleep":
        payload = {"seconds": 0.05}
    if job_type == "compute":
        payload = {"rounds": 1000}
    return {"type": job_type, "payload": payload}


def _terminal(http: httpx.Client, read_model: str, job_ids: set[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for job_id in job_ids:
        response = http.get(f"{read_model}/jobs/{job_id}")
        if response.status_code == 200 and response.json()["status"] in ("COMPLETED", "FAILED"):
            statuses[job_id] = response.json()["status"]
    return statuses


def test_jobs_flow_to_a_terminal_state_and_survive_a_restart(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
    tmp_path: Path,
) -> None:
    # The golden fixtures carry types no handler serves (data-processing, test-job):
    # this test is about the contract and the flow, so they are simulated.
    obs = observatory_factory("--simulate-unknown-types")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    contracts = get_contracts()
    # The dashboard learns where to submit from the read model, even on chosen ports.
    assert http.get(f"{read_model}/config").json()["gatewayUrl"] == gateway

    # Every golden job fixture is accepted, but three share one id: the first claims it,
    # a later one with another type, payload or metadata is refused with 409 naming them,
    # the same job again is answered as the first time (issue 16).
    expected: dict[str, str] = {}
    first: dict[object, tuple[dict[str, object], dict[str, object]]] = {}
    for path in _golden_jobs():
        body = _fixture(path)
        response = _post(http, gateway, body)
        job = {"type": body["type"], "payload": body.get("payload") or {}}
        job["metadata"] = body.get("metadata") or {}
        if body.get("id") in first:
            claimed, answer = first[body.get("id")]
            differ = [
                name for name in ("type", "payload", "metadata") if job[name] != claimed[name]
            ]
            if differ:
                assert response.status_code == 409, (path.name, response.text)
                paths = [d["path"] for d in response.json()["details"]]
                assert paths == [f"/{name}" for name in differ], path.name
            else:
                assert (response.status_code, response.json()) == (202, answer), path.name
            continue
        assert response.status_code == 202, (path.name, response.text)
        if body.get("id"):
            first[body["id"]] = (job, response.json())
        accepted = response.json()
        assert contracts.issues(SchemaName.JOB_ACCEPTED, accepted) == []
        assert response.headers["X-Correlation-Id"]
        expected[accepted["jobId"]] = "COMPLETED"

    # 100 short-form jobs of mixed types.
    short_ids: list[str] = []
    for index in range(100):
        body = _short_job(index)
        response = _post(http, gateway, body)
        assert response.status_code == 202, response.text
        expected[response.json()["jobId"]] = "FAILED" if body["type"] == "fail" else "COMPLETED"
        short_ids.append(response.json()["jobId"])

    wait_until(
        lambda: len(_terminal(http, read_model, set(expected))) == len(expected),
        timeout_s=60,
        message=lambda: (
            f"{len(_terminal(http, read_model, set(expected)))}/{len(expected)} terminal"
        ),
    )
    assert _terminal(http, read_model, set(expected)) == expected

    # The counters match exactly, and the resubmitted id was counted once.
    stats = http.get(f"{read_model}/stats").json()
    assert contracts.issues(SchemaName.STATS, stats) == []

    def counted() -> bool:
        current = http.get(f"{read_model}/stats").json()
        return bool(current["completedJobs"] + current["failedJobs"] == len(expected))

    wait_until(counted, timeout_s=30, message=lambda: str(http.get(f"{read_model}/stats").json()))
    stats = http.get(f"{read_model}/stats").json()
    failed = sum(1 for status in expected.values() if status == "FAILED")
    assert stats["totalJobs"] == len(expected)
    assert stats["failedJobs"] == failed
    assert stats["completedJobs"] == len(expected) - failed
    assert stats["inFlightJobs"] == 0
    assert stats["byType"]["fail"] == {"total": failed, "completed": 0, "failed": failed}
    assert stats["lastEventTime"] is not None

    # The timeline of a job: created → validated → executed → completed, in order.
    some_echo = short_ids[0]  # an echo job, submitted once
    wait_until(
        lambda: len(http.get(f"{read_model}/jobs/{some_echo}").json()["events"]) >= 4,
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/jobs/{some_echo}").json()),
    )
    detail = http.get(f"{read_model}/jobs/{some_echo}").json()
    assert [event["eventType"] for event in detail["events"]] == LIFECYCLE
    assert all(contracts.issues(SchemaName.EVENT_ENVELOPE, e) == [] for e in detail["events"])
    assert detail["attempts"] == 1

    # A failing job carries its error, after its 3 attempts (issue 8), each in its history
    # and its timeline; it failed (and was counted, above) once.
    some_failure = next(job_id for job_id, status in expected.items() if status == "FAILED")
    failure = http.get(f"{read_model}/jobs/{some_failure}").json()
    assert failure["error"] == "Demo job failing on purpose." or "fails" in failure["error"]
    assert failure["attempts"] == 3
    assert [entry["attempt"] for entry in failure["errors"]] == [1, 2, 3]
    assert all(entry["error"] == failure["error"] for entry in failure["errors"])
    assert failure["nextAttemptAt"] is None
    wait_until(
        lambda: (
            "job.failed"
            in [
                e["eventType"]
                for e in http.get(f"{read_model}/jobs/{some_failure}").json()["events"]
            ]
        ),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/jobs/{some_failure}").json()),
    )
    timeline = http.get(f"{read_model}/jobs/{some_failure}").json()["events"]
    assert [e["eventType"] for e in timeline].count("job.failed") == 1
    executed = [e["payload"] for e in timeline if e["eventType"] == "job.executed"]
    assert [(e["attempt"], e["status"]) for e in executed] == [
        (1, "EXECUTING"),
        (1, "PENDING"),
        (2, "EXECUTING"),
        (2, "PENDING"),
        (3, "EXECUTING"),
    ]
    assert all(e["willRetry"] for e in executed if e["status"] == "PENDING")

    # The golden fixtures share one id: the first submission ran, the others published
    # nothing (issue 16): one job.created in its audit trail.
    fixture_ids = [_fixture(path).get("id") for path in _golden_jobs()]
    shared_id = max({i for i in fixture_ids if i}, key=fixture_ids.count)
    assert fixture_ids.count(shared_id) >= 3
    shared = http.get(f"{read_model}/jobs/{shared_id}").json()
    assert [e["eventType"] for e in shared["events"]].count("job.created") == 1
    assert [e["eventType"] for e in shared["events"]].count("job.executed") == 1
    assert shared["attempts"] == 1

    # Resubmitting a finished id again changes nothing: answered as the first time.
    again = _post(http, gateway, _fixture(_golden_jobs()[0]))
    assert again.status_code == 202
    assert again.json() == first[_fixture(_golden_jobs()[0])["id"]][1]
    wait_until(
        lambda: any(
            e["eventId"] == again.json()["eventId"]
            for e in http.get(
                f"{read_model}/events", params={"jobId": again.json()["jobId"]}
            ).json()
        ),
        timeout_s=30,
        message=lambda: "the resubmission's job.created event never reached the audit trail",
    )
    assert http.get(f"{read_model}/stats").json()["totalJobs"] == len(expected)

    # SIGTERM, restart on the same data dir: every job and counter is still there.
    before = http.get(f"{read_model}/stats").json()
    recent_before = http.get(f"{read_model}/jobs/recent", params={"limit": 500}).json()
    assert obs.stop() == 0  # type: ignore[attr-defined]
    again_obs = observatory_factory(
        "--simulate-unknown-types",
        data_dir=obs.data_dir,  # type: ignore[attr-defined]
    )
    after = http.get(f"{again_obs.read_model}/stats").json()  # type: ignore[attr-defined]
    after.pop("lastEventTime")
    before.pop("lastEventTime")
    assert after == before
    recent_after = http.get(
        f"{again_obs.read_model}/jobs/recent",  # type: ignore[attr-defined]
        params={"limit": 500},
    ).json()
    assert recent_after == recent_before
    assert _terminal(http, again_obs.read_model, set(expected)) == expected  # type: ignore[attr-defined]


def test_bad_submissions_get_a_400_naming_the_path_and_publish_nothing(
    observatory_factory: Callable[..., object], http: httpx.Client
) -> None:
    obs = observatory_factory()
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    negative = fixtures_dir() / "negative"
    expected_paths = {
        "job-invalid-status": "/status",
        "job-missing-id": "/id",
        "job-wrong-status-type": "/status",
        "job-submission-id-not-uuid": "/id",
        "job-submission-missing-type": "/type",
        "job-submission-payload-not-object": "/payload",
        "job-submission-type-too-long": "/type",
        "job-submission-type-with-space": "/type",
        "job-submission-unknown-property": "/urgency",
    }
    for stem, path in expected_paths.items():
        response = _post(http, gateway, _fixture(negative / f"{stem}.json"))
        assert response.status_code == 400, (stem, response.text)
        body = response.json()
        assert get_contracts().issues(SchemaName.ERROR, body) == []
        assert path in [detail["path"] for detail in body["details"]], (stem, body)
    for envelope in sorted(negative.glob("event-envelope-*.json")):
        response = _post(http, gateway, _fixture(envelope))
        assert response.status_code == 400, (envelope.name, response.text)
        assert "/type" in [detail["path"] for detail in response.json()["details"]]

    not_json = http.post(
        f"{gateway}/jobs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith("Body is not valid JSON")
    wrong_type = http.post(
        f"{gateway}/jobs", content=b"type=echo", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_big = _post(http, gateway, {"type": "echo", "payload": {"blob": "x" * 70_000}})
    assert too_big.status_code == 413

    alerts = http.get(f"{read_model}/alerts").json()
    assert get_contracts().issues(SchemaName.ALERTS, alerts) == []

    metrics = http.get(f"{gateway}/metrics").text
    assert "gateway_jobs_accepted_total 0.0" in metrics
    assert http.get(f"{read_model}/jobs/recent").json() == []
    assert http.get(f"{read_model}/jobs/{uuid.uuid4()}").status_code == 404


def test_demo_mode_shows_a_living_system_with_failures(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory("--demo", "--demo-rate", "25")
    read_model = obs.read_model  # type: ignore[attr-defined]

    def lively() -> bool:
        stats = http.get(f"{read_model}/stats").json()
        return bool(stats["completedJobs"] >= 20 and stats["failedJobs"] >= 1)

    wait_until(lively, timeout_s=60, message=lambda: str(http.get(f"{read_model}/stats").json()))
    types = set(http.get(f"{read_model}/stats").json()["byType"])
    assert {"echo", "fail"} <= types


def test_a_busy_port_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "launcher.cli",
                "up",
                "--gateway-port",
                str(port),
                "--read-model-port",
                "0",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "observatory: error:" in result.stderr


def test_sigterm_with_jobs_in_flight_loses_nothing_and_counts_nothing_twice(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory("--shutdown-timeout", "0.5", "--shutdown-grace", "0.5")
    gateway = obs.gateway  # type: ignore[attr-defined]
    expected: set[str] = set()
    for index in range(120):
        # The sleepers outlive the grace: they are interrupted, given back, and rerun;
        # every other one may run once only, which an interruption does not use up.
        body: dict[str, object] = (
            {
                "type": "sleep",
                "payload": {"seconds": 2},
                "metadata": {"maxAttempts": 1} if index % 8 == 0 else {},
            }
            if index % 4 == 0
            else {"type": "echo", "payload": {"n": index}}
        )
        response = _post(http, gateway, body)
        assert response.status_code == 202
        expected.add(response.json()["jobId"])
    # Stop at once: jobs are queued, running, or waiting to be counted.
    assert obs.stop() == 0  # type: ignore[attr-defined]
    assert "Stopped; nothing in flight was lost." in "".join(obs.output)  # type: ignore[attr-defined]
    spilled = [
        json.loads(line)["message"]
        for line in obs.logs().splitlines()  # type: ignore[attr-defined]
        if "broker.spilled" in line
    ]
    assert spilled
    assert spilled[-1] != "broker.spilled messages=0", spilled

    again = embedded_factory(data_dir=obs.data_dir)  # type: ignore[attr-defined]
    read_model = again.read_model  # type: ignore[attr-defined]

    def all_counted() -> bool:
        stats = http.get(f"{read_model}/stats").json()
        return bool(stats["completedJobs"] == len(expected))

    wait_until(
        all_counted, timeout_s=60, message=lambda: str(http.get(f"{read_model}/stats").json())
    )
    stats = http.get(f"{read_model}/stats").json()
    assert (stats["totalJobs"], stats["failedJobs"], stats["inFlightJobs"]) == (len(expected), 0, 0)
    assert _terminal(http, read_model, expected) == dict.fromkeys(expected, "COMPLETED")
    # Issue 16: an interrupted attempt is told as such and given back: record, timeline
    # and job.completed agree on one attempt.
    interrupted = 0
    for job_id in expected:
        document = http.get(f"{read_model}/jobs/{job_id}").json()
        executed = [e["payload"] for e in document["events"] if e["eventType"] == "job.executed"]
        completed = [e["payload"] for e in document["events"] if e["eventType"] == "job.completed"]
        assert document["attempts"] == completed[0]["attempts"] == 1, document
        assert {p["attempt"] for p in executed} == {1}, document
        interrupted += sum(1 for p in executed if p.get("interrupted") is True)
    assert interrupted, "no sleeper was interrupted and rerun"
    lines = [json.loads(line) for line in obs.logs().splitlines() if line.startswith("{")]  # type: ignore[attr-defined]
    messages = [str(line["message"]) for line in lines]
    assert sum(1 for m in messages if m.startswith("job.interrupted")) == interrupted
    assert not [m for m in messages if "actor.killed" in m]

    for job_id in list(expected)[:10]:
        events = http.get(f"{read_model}/events", params={"jobId": job_id, "limit": 50}).json()
        ids = [e["eventId"] for e in events]
        assert len(ids) == len(set(ids))
        assert {e["eventType"] for e in events} >= set(LIFECYCLE)


def test_one_jobs_log_lines_show_its_path_through_all_four_services(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    # A job's processor lines are DEBUG (a line per job cost the processor 8 % of its time):
    # following one job through every service is a debug-level read.
    obs = embedded_factory(log_level="DEBUG")
    correlation_id = str(uuid.uuid4())
    response = http.post(
        f"{obs.gateway}/jobs",  # type: ignore[attr-defined]
        json={"type": "echo"},
        headers={"X-Correlation-Id": correlation_id},
    )
    assert response.headers["X-Correlation-Id"] == correlation_id
    job_id = response.json()["jobId"]
    read_model = obs.read_model  # type: ignore[attr-defined]
    wait_until(
        lambda: (
            http.get(f"{read_model}/jobs/{job_id}").json().get("status") == "COMPLETED"
            and len(http.get(f"{read_model}/jobs/{job_id}").json()["events"]) == 4
        ),
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/jobs/{job_id}").json()),
    )
    lines = [
        json.loads(line)
        for line in obs.logs().splitlines()  # type: ignore[attr-defined]
        if correlation_id in line
    ]
    assert all(line["jobId"] == job_id for line in lines)
    assert {line["service"] for line in lines} == {
        "gateway",
        "processor",
        "metrics-engine",
        "read-model",
    }
    path = [line["message"].split()[0] for line in lines if "job.read" not in line["message"]]
    assert path == ["job.accepted", "job.completed", "job.recorded"]


def test_issue_8_a_job_waiting_for_its_retry_is_cancelled_over_http(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    obs = embedded_factory("--retry-backoff", "1.5")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    job_id = _post(http, gateway, {"type": "fail"}).json()["jobId"]
    wait_until(
        lambda: http.get(f"{read_model}/jobs/{job_id}").json().get("nextAttemptAt") is not None,
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/jobs/{job_id}").json()),
    )
    waiting = http.get(f"{read_model}/jobs/{job_id}").json()
    assert (waiting["status"], waiting["attempts"], len(waiting["errors"])) == ("PENDING", 1, 1)

    cancel = http.delete(f"{gateway}/jobs/{job_id}")

    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["status"] == "PENDING"
    wait_until(
        lambda: http.get(f"{read_model}/jobs/{job_id}").json()["status"] == "FAILED",
        timeout_s=30,
        message=lambda: str(http.get(f"{read_model}/jobs/{job_id}").json()),
    )
    ended = http.get(f"{read_model}/jobs/{job_id}").json()
    assert (ended["error"], ended["attempts"], len(ended["errors"])) == ("cancelled", 1, 1)
    again = http.delete(f"{gateway}/jobs/{job_id}")
    assert (again.status_code, again.json()["status"]) == (409, "FAILED")
    # Not in the job store: taken for a job still queued, the request is kept (issue 14).
    assert http.delete(f"{gateway}/jobs/{uuid.uuid4()}").status_code == 202
    assert http.delete(f"{gateway}/jobs/not-a-uuid").status_code == 404

    def counted_once() -> bool:
        stats = http.get(f"{read_model}/stats").json()
        return bool((stats["totalJobs"], stats["failedJobs"], stats["inFlightJobs"]) == (1, 1, 0))

    wait_until(
        counted_once, timeout_s=30, message=lambda: str(http.get(f"{read_model}/stats").json())
    )
