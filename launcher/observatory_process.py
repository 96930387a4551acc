"""``observatory up`` as a child process: start it, learn its URLs, stop it.

:func:`start_observatory` is what ``observatory bench`` uses to put a system under test
(embedded, or ``--infra local`` with its own namespace); tests can use it the same way::

    async with start_observatory(data_dir=tmp / "obs") as running:
        response = await client.post(f"{running.gateway}/jobs", json=job)
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import anyio
from anyio.streams.text import TextReceiveStream

from actors.errors import ObservatoryError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from anyio.abc import Process

__all__ = ["ObservatoryStartError", "RunningObservatory", "start_observatory"]

log = logging.getLogger(__name__)

_URL_LINE = re.compile(r"^\s+(Gateway|Read model)\s+(http://\S+)")
"""The lines ``observatory up`` prints once it answers, e.g. ``  Gateway     http://...``."""

_KILL_WAIT_S = 5.0
"""How long to wait for the process to go away after SIGKILL."""

STDERR_FILE = "observatory-stderr.log"
"""Name of the file, in ``data_dir``, that receives the child's stderr (its logs)."""


class ObservatoryStartError(ObservatoryError):
    """``observatory up`` exited, or printed no URLs in time; the message quotes its stderr."""


@dataclass(eq=False)
class RunningObservatory:
    """A running ``observatory up`` child process and where it answers."""

    gateway: str
    """Base URL of the gateway (``POST /jobs``)."""
    read_model: str
    """Base URL of the read model (``GET /stats``)."""
    process: Process
    """The child process; :func:`start_observatory` stops it."""
    stderr_path: Path
    """Where its stderr (its log lines) is kept."""
    output: list[str] = field(default_factory=list)
    """Its stdout lines so far (kept for as long as it runs)."""

    def __repr__(self) -> str:
        return (
            f"<RunningObservatory pid={self.process.pid} returncode={self.process.returncode} "
            f"gateway={self.gateway} read_model={self.read_model}>"
        )

    def stderr_tail(self, max_lines: int = 20) -> str:
        """The last ``max_lines`` lines of its stderr (blocking read of a small file tail)."""
        return _tail(self.stderr_path, max_lines)


def _tail(path: Path, max_lines: int) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-max_lines:])


def _open_for_append(path: Path) -> BinaryIO:
    return path.open("ab")


class _StdoutReader:
    """Reads the child's stdout line by line until EOF, noting the URLs it prints."""

    def __init__(self, output: list[str]) -> None:
        self.output = output
        self.urls: dict[str, str] = {}
        self.settled = anyio.Event()
        """Set once both URLs were seen, or stdout ended (the process exited)."""

    async def run(self, process: Process) -> None:
        assert process.stdout is not None
        pending = ""
        try:
            async for chunk in TextReceiveStream(process.stdout, errors="replace"):
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._take(line)
            if pending:
                self._take(pending)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the pipe went away with the process: same as EOF
        finally:
            self.settled.set()

    def _take(self, line: str) -> None:
        self.output.append(line)
        if match := _URL_LINE.match(line):
            self.urls[match[1]] = match[2]
            if len(self.urls) == 2:
                self.settled.set()


@asynccontextmanager
async def start_observatory(
    *args: str,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    stop_timeout_s: float = 60.0,
) -> AsyncIterator[RunningObservatory]:
    """Run ``observatory up`` on free ports until the block exits.

    The command is ``python -m launcher.cli --log-format json up --gateway-port 0
    --read-model-port 0 --data-dir DATA_DIR [*args]``, with this interpreter.

    Args:
        *args: more arguments of ``up``, e.g. ``"--infra", "local"``.
        data_dir: the embedded stores' directory (created if missing); the child's
            stderr is appended to :data:`STDERR_FILE` in it.
        env: variables set for the child on top of this process's environment.
        ready_timeout_s: how long it may take to print both URLs.
        stop_timeout_s: how long it may drain after SIGTERM before it is killed.

    Resource handling:
        stdout is read continuously by a task, so the child never blocks on a full pipe;
        stderr goes straight to the file (no pipe at all). On exit, normal or not, the
        child gets SIGTERM and is waited for (in a bounded shield), then killed if it
        has not exited within ``stop_timeout_s``.

    Raises:
        ObservatoryStartError: it exited, or printed no URLs within ``ready_timeout_s``;
            the message carries the end of its stderr.
    """
    await anyio.Path(data_dir).mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / STDERR_FILE
    command = [
        sys.executable,
        "-m",
        "launcher.cli",
        "--log-format",
        "json",
        "up",
        "--gateway-port",
        "0",
        "--read-model-port",
        "0",
        "--data-dir",
        str(data_dir),
        *args,
    ]
    stderr_file = await anyio.to_thread.run_sync(_open_for_append, stderr_path)
    try:
        process = await anyio.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    finally:
        stderr_file.close()  # the child holds its own descriptor
    log.info("observatory.starting pid=%d data_dir=%s", process.pid, data_dir)
    reader = _StdoutReader([])
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader.run, process)
        try:
            with anyio.move_on_after(ready_timeout_s):
                await reader.settled.wait()
            if len(reader.urls) < 2:
                await _stop(process, stop_timeout_s)
                why = (
                    f"exited with code {process.returncode}"
                    if reader.settled.is_set()
                    else f"printed no URLs within {ready_timeout_s:g} s"
                )
                tail = await anyio.to_thread.run_sync(_tail, stderr_path, 15)
                raise ObservatoryStartError(
                    f"observatory up {why} before it was up (stdout: {reader.output!r}); "
                    f"the end of its stderr ({stderr_path}):\n{tail}"
                )
            log.info("observatory.up pid=%d urls=%s", process.pid, reader.urls)
            yield RunningObservatory(
                gateway=reader.urls["Gateway"],
                read_model=reader.urls["Read model"],
                process=process,
                stderr_path=stderr_path,
                output=reader.output,
            )
        finally:
            await _stop(process, stop_timeout_s)
            # Its own children (``--infra local``) may still hold the pipe open: stop
            # reading rather than wait for an EOF that may never come.
            tg.cancel_scope.cancel()
            with anyio.move_on_after(_KILL_WAIT_S, shield=True):
                await process.aclose()


async def _stop(process: Process, stop_timeout_s: float) -> None:
    """SIGTERM, wait up to ``stop_timeout_s``, then SIGKILL; survives cancellation."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(stop_timeout_s, shield=True):
            await process.wait()
    if process.returncode is None:
        log.warning(
            "observatory.kill pid=%d reason=no exit within %g s of SIGTERM",
            process.pid,
            stop_timeout_s,
        )
        process.kill()
        with anyio.move_on_after(_KILL_WAIT_S, shield=True):
            await process.wait()
    log.info("observatory.stopped pid=%d returncode=%s", process.pid, process.returncode)
