"""Issue 18, item 2, with real processes on the real servers: the four services plus a
second gateway, both gateways running their schedulers on one PostgreSQL schema.

A schedule every 2 s (made with ``observatory schedule add``) fires about five times in
10 s, each occurrence once: its jobs are the consecutive occurrences from the first on,
each with one ``job.created`` in its timeline, and the two gateways' fire counters add up
to the jobs (a second fire of an occurrence is not published, so not counted). Paused
(through the other gateway), it fires no more; run now, it submits one job, which
completes with the schedule in its metadata.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from actors.domain.clock import format_timestamp, parse_timestamp
from actors.domain.schedules import Trigger, occurrence_job_id
from observatory import Client, JobStatus, NotFound
from tests.integration.fault_harness import Services, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

_FIRES = re.compile(r'^gateway_schedule_fires_total\{trigger="schedule"\} ([0-9.]+)$', re.M)


@pytest.fixture
def services(servers_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Services, str]]:
    """The four services and a second gateway's URL."""
    running = Services(servers_env, tmp_path / "logs")
    port = free_port()
    second: subprocess.Popen[bytes] | None = None
    try:
        running.start_all()
        with (tmp_path / "logs" / "gateway-2.log").open("ab") as log:
            second = subprocess.Popen(
                [
                    *(sys.executable, "-m", "launcher.cli", "--log-format", "json"),
                    *("serve", "gateway", "--host", "127.0.0.1", "--port", str(port)),
                ],
                stdout=log,
                stderr=log,
                env=running.env,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert second.poll() is None, "the second gateway exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the second gateway is not ready"
            time.sleep(0.1)
        yield running, url
    finally:
        if second is not None and second.poll() is None:
            second.terminate()
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
        running.stop_all()


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "schedule", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _fires(gateway: str) -> float:
    found = _FIRES.search(httpx.get(f"{gateway}/metrics", timeout=5.0).text)
    return float(found[1]) if found else 0.0


def test_a_schedule_every_2_s_fires_once_per_occurrence_with_two_gateways(
    services: tuple[Services, str],
) -> None:
    running, other = services
    gateway, read_model = running.url("gateway"), running.url("read-model")
    created = json.loads(
        _cli(
            *("add", "every-2s", "echo", "--every", "2s", "--catch-up", "all"),
            *("--payload", '{"from": "schedule"}', "--json", "--gateway-url", gateway),
        )
    )
    schedule_id = created["id"]
    anchor = parse_timestamp(created["anchorAt"])

    time.sleep(10.5)  # the test is about elapsed time: about five occurrences
    _cli("pause", schedule_id, "--gateway-url", other, "--read-model-url", read_model)

    with Client(gateway, read_model) as client:
        paused = client.get_schedule(schedule_id)
        fired = paused.fires
        assert paused.next_run_at is None
        assert fired >= 4, f"only {fired} fires in 10.5 s"
        occurrences = [
            format_timestamp(anchor + timedelta(seconds=2 * k)) for k in range(1, fired + 1)
        ]
        for at in occurrences:
            job = client.wait(occurrence_job_id(schedule_id, at, Trigger.SCHEDULE), timeout_s=60)
            assert job.status is JobStatus.COMPLETED
            assert job.payload == {"from": "schedule"}
            assert (job.metadata["scheduleId"], job.metadata["scheduledAt"]) == (schedule_id, at)
            created_events = [e for e in job.events if e.get("eventType") == "job.created"]
            assert len(created_events) == 1, job.events
        assert _fires(gateway) + _fires(other) == fired

        time.sleep(3)  # paused: more than an interval passes and nothing fires
        after = client.get_schedule(schedule_id)
        assert after.fires == fired
        following = format_timestamp(anchor + timedelta(seconds=2 * (fired + 1)))
        with pytest.raises(NotFound):
            client.get(occurrence_job_id(schedule_id, following, Trigger.SCHEDULE))

        run_line = _cli("run", schedule_id, "--gateway-url", other)
        job_id = run_line.split()[0]
        manual = client.wait(job_id, timeout_s=60)
        assert manual.status is JobStatus.COMPLETED
        assert manual.metadata["scheduleTrigger"] == "manual"
        assert manual.metadata["scheduleId"] == schedule_id
        assert client.get_schedule(schedule_id).fires == fired + 1

        listed = _cli("list", "--read-model-url", read_model)
        assert f"{schedule_id}  every-2s  echo  every 2s  paused" in listed
        _cli("delete", schedule_id, "--gateway-url", gateway)
        with pytest.raises(NotFound):
            client.get_schedule(schedule_id)
