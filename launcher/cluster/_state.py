"""The state file of recorded port-forwards, and stopping them safely."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from launcher.cluster._run import exit_code_if_exited

__all__ = ["STATE_ENV", "default_state_path", "is_our_forward", "read_state", "stop", "write_state"]

STATE_ENV = "OBSERVATORY_CLUSTER_STATE"
"""Overrides the state file location (tests, or several checkouts side by side)."""


def default_state_path() -> Path:
    """``$OBSERVATORY_CLUSTER_STATE`` or ``~/.observatory/port-forwards.json``."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override)
    return Path.home() / ".observatory" / "port-forwards.json"


def read_state(path: Path) -> dict[str, int]:
    """Service name -> PID of the recorded forwards (nothing if absent or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    forwards = data.get("forwards", {}) if isinstance(data, dict) else {}
    return {
        str(name): int(entry["pid"])
        for name, entry in forwards.items()
        if isinstance(entry, dict) and isinstance(entry.get("pid"), int)
    }


def write_state(path: Path, forwards: dict[str, dict[str, object]]) -> None:
    """Record the forwards (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps({"forwards": forwards}, indent=2) + "\n")
    scratch.replace(path)


def is_our_forward(pid: int) -> bool:
    """Whether ``pid`` is alive and (where /proc tells) a ``port-forward`` process.

    The command line check keeps a recycled PID from being killed by mistake; a zombie has
    an empty command line and counts as gone.
    """
    exit_code_if_exited(pid)  # reap it if it is our own exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    cmdline = Path(f"/proc/{pid}/cmdline")
    if sys.platform.startswith("linux") and Path("/proc/self").exists():
        try:
            return b"port-forward" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def stop(pid: int, *, grace_s: float = 5.0) -> bool:
    """SIGTERM ``pid`` if it is one of our forwards, SIGKILL after ``grace_s``; did we?"""
    if not is_our_forward(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while is_our_forward(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # a bounded wait for a local process to exit
    if is_our_forward(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True
