"""Starting ``observatory up`` as a real subprocess on free ports, for tests over HTTP only."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

_URL_LINE = re.compile(r"^\s+(Gateway|Read model)\s+(http://\S+)")


@dataclass
class RunningObservatory:
    """A running ``observatory up`` process and where it answers."""

    process: subprocess.Popen[str]
    gateway: str
    read_model: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    stderr_log: Path | None = None

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM it and wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def logs(self) -> str:
        """What it logged on stderr so far."""
        return "" if self.stderr_log is None else self.stderr_log.read_text()


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def start_observatory(data_dir: Path, *extra: str, timeout_s: float = 60.0) -> RunningObservatory:
    """Start ``observatory up`` on free ports and wait until it prints its URLs."""
    command = [
        sys.executable,
        "-m",
        "launcher.cli",
        "--log-format",
        "json",
        "up",
        "--host",
        "127.0.0.1",
        "--gateway-port",
        "0",
        "--read-model-port",
        "0",
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    log_path = data_dir.parent / f"{data_dir.name}-stderr.log"
    with log_path.open("a") as stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    urls: dict[str, str] = {}
    output: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(urls) < 2:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(0.0, remaining))
        except queue.Empty:
            process.kill()
            raise AssertionError(
                f"observatory up printed no URLs within {timeout_s} s; stdout: {output}; "
                f"stderr in {log_path}"
            ) from None
        if line is None:
            raise AssertionError(
                f"observatory up exited with {process.wait()} before it was up; stdout: {output}; "
                f"stderr: {log_path.read_text()[-3000:]}"
            )
        output.append(line)
        if match := _URL_LINE.match(line):
            urls[match[1]] = match[2]
    running = RunningObservatory(
        process, urls["Gateway"], urls["Read model"], data_dir, output, log_path
    )

    def keep_reading() -> None:
        while (line := lines.get()) is not None:
            running.output.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return running


@pytest.fixture
def observatory_factory(tmp_path: Path) -> Iterator[Callable[..., RunningObservatory]]:
    """Start observatories; each is stopped (killed if it hangs) at teardown, last first."""
    started: list[RunningObservatory] = []

    def create(*extra: str, data_dir: Path | None = None) -> RunningObservatory:
        running = start_observatory(data_dir or tmp_path / "data", *extra)
        started.append(running)
        return running

    yield create
    for running in reversed(started):
        if running.process.poll() is None:
            try:
                running.stop(timeout_s=30)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        if running.process.stdout is not None:
            running.process.stdout.close()


def _wait_until(
    predicate: Callable[[], bool], *, timeout_s: float, message: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s: {message()}")
        time.sleep(0.1)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """Poll an outside system (over HTTP there is no event to wait on) until a predicate holds."""
    return _wait_until


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client."""
    with httpx.Client(timeout=30.0) as client:
        yield client
