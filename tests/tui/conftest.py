"""Fixtures of the TUI tests: a respx stand-in for the read model and gateway, fake tools."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx
from textual.css.query import NoMatches

from launcher.tui import ObservatoryApp, TuiOptions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from textual.pilot import Pilot

READ_MODEL = "http://read-model.test"
GATEWAY = "http://gateway.test"
FAKES = Path(__file__).resolve().parents[1] / "unit" / "launcher" / "cluster" / "fakes"
"""The fake docker, kind and kubectl of the ``cluster up`` tests (they log their argv)."""

STATS = {
    "totalJobs": 1234,
    "completedJobs": 1100,
    "failedJobs": 34,
    "inFlightJobs": 100,
    "lastEventTime": "2026-11-27T10:15:30.123456Z",
    "byType": {},
}
JOBS = [
    {
        "id": "11111111-1111-4111-8111-111111111111",
        "type": "echo",
        "status": "COMPLETED",
        "createdAt": "2026-11-27T10:15:29Z",
        "updatedAt": "2026-11-27T10:15:30Z",
    },
    {
        "id": "22222222-2222-4222-8222-222222222222",
        "type": "fail",
        "status": "FAILED",
        "createdAt": "2026-11-27T10:15:28Z",
        "updatedAt": "2026-11-27T10:15:29Z",
    },
    {
        "id": "33333333-3333-4333-8333-333333333333",
        "type": "sleep",
        "status": "EXECUTING",
        "createdAt": "2026-11-27T10:15:27Z",
        "updatedAt": "2026-11-27T10:15:28Z",
    },
    {
        "id": "44444444-4444-4444-8444-444444444444",
        "type": "compute",
        "status": "PENDING",
        "createdAt": "2026-11-27T10:15:26Z",
        "updatedAt": "2026-11-27T10:15:26Z",
    },
]
JOB_DETAIL = {
    **JOBS[1],
    "payload": {"reason": "on purpose"},
    "metadata": {},
    "correlationId": "55555555-5555-4555-8555-555555555555",
    "attempts": 1,
    "startedAt": "2026-11-27T10:15:28Z",
    "finishedAt": "2026-11-27T10:15:29Z",
    "result": None,
    "error": "fail jobs always fail",
    "events": [
        {
            "eventType": f"job.{kind}",
            "occurredAt": f"2026-11-27T10:15:2{n}Z",
            "producer": {"service": service, "instanceId": "x", "version": "0.1.0"},
            "payload": {"id": JOBS[1]["id"], "type": "fail", "status": status},
        }
        for n, (kind, service, status) in enumerate(
            [
                ("created", "gateway", "PENDING"),
                ("validated", "processor", "VALIDATED"),
                ("executed", "processor", "EXECUTING"),
                ("failed", "processor", "FAILED"),
            ]
        )
    ],
}
ALERT = {
    "fingerprint": "abc",
    "name": "HighFailureRate",
    "status": "firing",
    "severity": "critical",
    "labels": {},
    "annotations": {"summary": "More than 10% of jobs fail"},
    "startsAt": "2026-11-27T10:00:00Z",
    "endsAt": None,
    "updatedAt": "2026-11-27T10:00:00Z",
    "source": "read-model",
}
DEAD_LETTER = {
    "deadLetterId": "66666666-6666-4666-8666-666666666666",
    "queue": "jobs.created",
    "reason": "The message is not JSON.",
    "errors": [{"path": "", "message": "Expecting value: line 1 column 1"}],
    "originalBody": "not json",
    "originalBodyEncoding": "utf-8",
    "occurredAt": "2026-11-27T10:10:00Z",
    "service": "processor",
    "version": "0.1.0",
}


@dataclass
class FakeApi:
    """The read model and gateway as respx routes, with data tests can change."""

    router: respx.MockRouter
    stats: dict[str, object] = field(default_factory=lambda: dict(STATS))
    jobs: list[dict[str, object]] = field(default_factory=lambda: [dict(j) for j in JOBS])
    alerts: dict[str, object] = field(default_factory=lambda: {"active": [], "resolved": []})
    dead_letters: list[dict[str, object]] = field(default_factory=lambda: [dict(DEAD_LETTER)])
    per_second: float = 4.2
    alerts_status: int = 200
    read_model: str = READ_MODEL
    gateway: str = GATEWAY
    job_detail: dict[str, object] = field(default_factory=lambda: dict(JOB_DETAIL))

    def app(self, **options: object) -> ObservatoryApp:
        """The app against this read model (spinner still, polling every 2 s), with ``options``."""
        return ObservatoryApp(_options(options))

    def install(self) -> None:
        """Routes for every endpoint the TUI reads; /stream answers 404 (no stream)."""
        r = self.router
        r.get(f"{READ_MODEL}/health").mock(
            return_value=httpx.Response(200, json={"status": "ok", "version": "9.9.9"})
        )
        r.get(f"{READ_MODEL}/config").mock(
            return_value=httpx.Response(
                200,
                json={
                    "gatewayUrl": GATEWAY,
                    "version": "9.9.9",
                    "jobTypes": ["compute", "echo", "fail", "sleep"],
                },
            )
        )
        r.get(f"{READ_MODEL}/types", name="types").mock(
            return_value=httpx.Response(
                200,
                json=[
                    {"type": t, "description": None, "mode": "async", "payloadSchema": None}
                    for t in ("compute", "echo", "fail", "sleep")
                ],
            )
        )
        r.get(f"{READ_MODEL}/stats", name="stats").mock(
            side_effect=lambda _: httpx.Response(200, json=self.stats)
        )
        r.get(f"{READ_MODEL}/stats/throughput").mock(
            side_effect=lambda _: httpx.Response(
                200, json={"bucketSeconds": 10, "buckets": [], "perSecond": self.per_second}
            )
        )
        r.get(f"{READ_MODEL}/jobs/recent", name="jobs").mock(
            side_effect=lambda _: httpx.Response(200, json=self.jobs)
        )
        r.get(f"{READ_MODEL}/jobs/{JOBS[1]['id']}").mock(
            side_effect=lambda _: httpx.Response(200, json=self.job_detail)
        )
        r.get(f"{READ_MODEL}/alerts", name="alerts").mock(
            side_effect=lambda _: httpx.Response(self.alerts_status, json=self.alerts)
        )
        r.get(f"{READ_MODEL}/dead-letters").mock(
            side_effect=lambda _: httpx.Response(200, json=self.dead_letters)
        )
        r.get(f"{READ_MODEL}/stream", name="stream").mock(
            return_value=httpx.Response(404, json={"error": "No such route."})
        )


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """respx routes for the read model at :data:`READ_MODEL` and the gateway at :data:`GATEWAY`."""
    with respx.mock(assert_all_called=False) as router:
        fake = FakeApi(router)
        fake.install()
        yield fake


def _options(overrides: dict[str, object]) -> TuiOptions:
    options = TuiOptions(read_model_url=READ_MODEL, spinner_tick_s=None, poll_interval_s=2.0)
    for name, value in overrides.items():
        setattr(options, name, value)
    return options


@dataclass
class FakeTools:
    """Where the fake tools log and the launcher keeps its state, for one test."""

    log: Path
    state: Path

    def calls(self) -> list[list[str]]:
        """Every argv the fakes saw, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def forward_pids(self) -> list[int]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e["pid"] for e in entries if "port-forward" in e["argv"]]


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTools]:
    """PATH starts with the fake docker, kind and kubectl; nothing runs; verify is skipped."""
    tools = FakeTools(log=tmp_path / "tools.jsonl", state=tmp_path / "state" / "forwards.json")
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(tools.log))
    monkeypatch.setenv("OBSERVATORY_CLUSTER_STATE", str(tools.state))
    monkeypatch.setenv("OBSERVATORY_CLUSTER_VERIFY", "skip")
    for name in list(os.environ):
        if name.startswith("FAKE_") and name != "FAKE_TOOLS_LOG":
            monkeypatch.delenv(name)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # cluster up runs from the root
    yield tools
    for pid in tools.forward_pids():  # never leak a fake port-forward
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


async def _until(
    pilot: Pilot[None], predicate: Callable[[], bool], timeout_s: float = 10.0
) -> None:
    # The app reacts to messages and workers; the pilot's pause lets them run. A widget the
    # predicate looks for may not be there yet: a screen is on the stack before it is composed.
    def holds() -> bool:
        try:
            return predicate()
        except NoMatches:
            return False

    with anyio.fail_after(timeout_s):
        while not holds():
            await pilot.pause(0.02)


@pytest.fixture
def until() -> Callable[[Pilot[None], Callable[[], bool]], Awaitable[None]]:
    """``await until(pilot, predicate)``: let the app run until ``predicate()`` holds (10 s max)."""
    return _until
