"""What ``observatory up`` prints, as a person at a terminal sees it (issue 16, items 5 and 6).

stdout and stderr go to one pipe, as they do to a terminal, so the tests see the order
in which the lines arrive.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

_BANNER_END = "Press Ctrl-C to stop."


class Terminal:
    """A child process whose stdout and stderr are read as one stream of lines."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def read_until(self, predicate: Callable[[str], bool], *, timeout_s: float) -> str:
        """Collect lines until one satisfies ``predicate``; that line."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no such line within {timeout_s} s; output:\n" + "\n".join(self.lines[-60:])
                ) from None
            if line is None:
                raise AssertionError(
                    f"exited with {self.process.wait()}; output:\n" + "\n".join(self.lines[-60:])
                )
            self.lines.append(line)
            if predicate(line):
                return line

    def close(self) -> None:
        """Wait for the reader to see the end of the output, then close the pipe."""
        self._reader.join(timeout=10)
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()

    def stop(self) -> list[str]:
        """SIGINT (Ctrl-C) and wait for the exit; every line it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return self.lines


@contextlib.contextmanager
def _terminal(argv: list[str], env: dict[str, str] | None = None) -> Iterator[Terminal]:
    terminal = Terminal(argv, env)
    try:
        yield terminal
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
            terminal.process.wait()
        terminal.close()


def _banner(lines: list[str]) -> list[str]:
    end = lines.index(_BANNER_END)
    start = max(i for i, line in enumerate(lines[:end]) if line.startswith("Task Observatory "))
    return lines[start : end + 1]


def _url(banner: list[str], label: str) -> str:
    for line in banner:
        if match := re.match(rf"^  {label}\s+(http://\S+)", line):
            return match[1]
    raise AssertionError(f"no {label!r} line in the banner: {banner}")


def test_issue_16_up_demo_banner_names_the_urls_and_stays_the_last_thing_printed(
    tmp_path: Path,
) -> None:
    argv = [
        "--log-format",
        "console",
        "up",
        "--demo",
        "--demo-rate",
        "20",
        "--gateway-port",
        "0",
        "--read-model-port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    with _terminal(argv) as terminal:
        terminal.read_until(lambda line: line == _BANNER_END, timeout_s=60)
        banner = _banner(terminal.lines)
        gateway, read_model = _url(banner, "Gateway"), _url(banner, "Read model")
        port = read_model.rsplit(":", 1)[1]
        assert _url(banner, "Dashboard") == f"http://localhost:{port}/"
        docs = next(line for line in banner if line.startswith("  API docs"))
        assert f"{gateway}/docs" in docs
        assert f"{read_model}/docs" in docs
        with httpx.Client(timeout=30.0) as http:
            assert http.get(f"{read_model}/").status_code == 200  # the dashboard is there
            # A job of our own among the demo's: its lines stay at INFO, each id once.
            mine = http.post(f"{gateway}/jobs", json={"type": "echo", "payload": {}}).json()
            job_id = mine["jobId"]
            terminal.read_until(
                lambda line: "job.recorded" in line and job_id in line, timeout_s=60
            )
            deadline = time.monotonic() + 60
            while http.get(f"{read_model}/stats").json()["completedJobs"] < 20:
                assert time.monotonic() < deadline, "the demo completed fewer than 20 jobs"
                time.sleep(0.2)
        lines = terminal.stop()

    after = lines[lines.index(_BANNER_END) + 1 :]
    stopping = next(i for i, line in enumerate(after) if "signal.received" in line)
    while_up = after[:stopping]
    # Only the lines of the job we submitted: the demo's 20+ jobs are at DEBUG.
    assert while_up, lines
    assert all(job_id in line for line in while_up), "\n".join(while_up)
    assert not [line for line in lines if "HTTP Request:" in line]
    assert not [line for line in lines if "Running on http" in line]
    for line in lines:
        for name in ("jobId", "correlationId"):
            ids = re.findall(rf"{name}=(\S+)", line)
            if ids:
                assert line.count(ids[0]) == 1, line
    assert not [line for line in lines if line.count(job_id) > 1]


@pytest.mark.timeout(150)
def test_issue_16_up_with_json_logs_names_each_job_once_per_line(tmp_path: Path) -> None:
    argv = ["--log-format", "json", "--log-level", "DEBUG", "up"]
    argv += ["--gateway-port", "0", "--read-model-port", "0", "--data-dir", str(tmp_path / "d")]
    with _terminal(argv) as terminal:
        terminal.read_until(lambda line: line == _BANNER_END, timeout_s=60)
        banner = _banner(terminal.lines)
        gateway, read_model = _url(banner, "Gateway"), _url(banner, "Read model")
        with httpx.Client(timeout=30.0) as http:

            def submit(job: dict[str, object]) -> str:
                answer = http.post(f"{gateway}/jobs", json=job)
                assert answer.status_code == 202, answer.text
                return str(answer.json()["jobId"])

            def reached(job_id: str, *statuses: str) -> None:
                deadline = time.monotonic() + 60
                while True:
                    answer = http.get(f"{read_model}/jobs/{job_id}")
                    if answer.status_code == 200 and answer.json()["status"] in statuses:
                        return
                    assert time.monotonic() < deadline, answer.text
                    time.sleep(0.1)

            def ended(job_id: str) -> None:
                reached(job_id, "COMPLETED", "FAILED")

            done = submit({"type": "echo", "payload": {"n": 1}})
            ended(done)
            assert submit({"id": done, "type": "echo", "payload": {"n": 1}}) == done
            delayed = submit({"type": "echo", "delaySeconds": 1})
            running = submit({"type": "sleep", "payload": {"seconds": 60}})
            reached(running, "EXECUTING")
            assert http.delete(f"{gateway}/jobs/{running}").status_code == 202
            failed = submit({"type": "fail", "metadata": {"maxAttempts": 1}})
            for job_id in (delayed, running, failed):
                ended(job_id)
        lines = terminal.stop()

    records = [json.loads(line) for line in lines if line.startswith("{")]
    ids = (done, delayed, running, failed)
    assert [line for line in lines if any(line.count(i) > 1 for i in ids)] == []
    # The lines about a job name it as jobId, not in the message.
    named = [r for r in records if r["jobId"] in ids]
    assert not [r for r in named if r["jobId"] in r["message"]]
    assert {r["message"].split()[0] for r in named} >= {
        "job.accepted",
        "job.resubmitted",
        "job.scheduled",
        "job.cancel_requested",
        "job.cancelling",
        "job.failed",
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(150)
def test_issue_16_up_local_with_rabbitmq_away_says_waiting_once_per_retry_in_one_format(
    tmp_path: Path,
) -> None:
    closed = _closed_port()
    env = {
        # Every server away: nothing is touched on the machine's servers.
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{closed}/",
        "POSTGRES_URL": f"postgresql://postgres:secret@127.0.0.1:{closed}/test",
        "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "MONGO_URL": f"mongodb://127.0.0.1:{closed}/observatory",
        "OBSERVATORY_NAMESPACE": f"h16-{os.getpid()}",
    }
    argv = ["--log-format", "json", "up", "--infra", "local"]
    argv += [f"--{name}-port" for name in ("gateway", "read-model", "processor", "metrics-engine")]
    argv = [part for flag in argv for part in ((flag, "0") if flag.endswith("-port") else (flag,))]
    rabbit = f"amqp://guest:***@127.0.0.1:{closed}/"
    with _terminal(argv, env) as terminal:
        # The gateway starts last; its third RabbitMQ attempt means every service is up
        # and retrying.
        terminal.read_until(
            lambda line: (
                '"service":"gateway"' in line.replace(" ", "")
                and f"waiting for RabbitMQ at {rabbit} (attempt 3, next in " in line
            ),
            timeout_s=90,
        )
        lines = terminal.stop()

    records = []
    for line in lines:
        if line.startswith("{"):
            records.append(json.loads(line))
        else:
            assert line.startswith(("Waiting for", "Task Observatory", "  ", "Press", "Stopped")), (
                f"not one format: {line!r}"
            )
    assert "secret" not in "\n".join(lines)
    messages = [str(r["message"]) for r in records]
    assert not [m for m in messages if "HTTP Request" in m or "/healthz" in m or "/readyz" in m]
    waiting = [
        r
        for r in records
        if r.get("event") == "dependency.unavailable" and r.get("dependency") == "rabbitmq"
    ]
    for service in ("gateway", "processor", "metrics-engine"):
        attempts = [r["attempt"] for r in waiting if r["service"] == service]
        # One line per retry: attempts counted 1, 2, 3... with no repeats.
        assert attempts == list(range(1, len(attempts) + 1)), (service, attempts)
        assert attempts[:1] == [1], service
    third = next(r for r in waiting if r["attempt"] == 3)
    assert third["message"] == f"waiting for RabbitMQ at {rabbit} (attempt 3, next in 2 s)"
    # The client libraries' own reconnect lines: WARNING and above only, once a minute.
    library = [r for r in records if r["logger"].split(".")[0] in ("aiormq", "aio_pika")]
    assert all(r["level"] in ("WARNING", "ERROR", "CRITICAL") for r in library)
    times: dict[tuple[str, str, str], list[datetime]] = {}
    for r in library:
        key = (str(r["service"]), str(r["logger"]), str(r["message"])[:30])
        times.setdefault(key, []).append(datetime.fromisoformat(str(r["time"])))
    for key, seen in times.items():
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(seen)]
        assert all(gap >= 59 for gap in gaps), (key, gaps)
    assert not [r for r in records if r["logger"] in ("coredis", "httpx", "pymongo")]
