"""Where a phase's CPU went: the share of one core each process on this machine used.

A bench figure says how fast, not why; on a small machine the answer is often "another
process had the cores". Around each phase the bench reads, from ``/proc`` (Linux), the
CPU time of the processes that take part:

* this process (the load generator, and the in-process phases) and its descendants: the
  system under test it started (``observatory up``, each ``serve <service>`` by its
  service, the MongoDB stand-in ``nx-27017``), a Celery peer's workers;
* the servers, by program name: ``postgres`` (every backend), RabbitMQ (``beam.smp``),
  ``redis-server``, ``mongod``.

Each is given as its CPU seconds over the phase's wall time: 1.0 is one core kept busy.
With the machine's own busy share (from ``/proc/stat``) it tells whether the phase was
bound by one process (one near 1.0, the machine not full) or by the machine (the cores
full). Where ``/proc`` cannot be read nothing is measured and nothing is said.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuSnapshot", "describe_shares", "process_name", "shares_between", "take_snapshot"]

_PROC = Path("/proc")
_SERVERS = {
    "postgres": "postgres",
    "beam.smp": "rabbitmq",
    "redis-server": "redis",
    "mongod": "mongod",
}
"""Program name (``/proc/<pid>/comm``) → how the report calls it."""
_SHOWN = 8
"""Processes named in a phase's note, the busiest first."""
_LEAST_SHOWN = 0.01
"""Below this share of a core a process is left out of the note."""


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds used so far by each named process group, and by the machine."""

    at: float
    """``time.monotonic()`` when taken."""
    seconds: dict[str, float]
    machine_busy_s: float
    """Seconds the machine's cores were busy (all cores summed) since boot."""
    cores: int


def process_name(argv: list[str], *, own: bool) -> str:
    """What the report calls a process with command line ``argv``.

    ``own``: it is this process (the bench). A ``serve <service>`` child is its service,
    ``observatory up`` (or ``python -m launcher.cli ... up``) is ``observatory up``;
    anything else is the program it runs, the interpreter skipped (``python3
    /venv/bin/nx-27017`` is ``nx-27017``, ``python -m celery`` is ``celery``).
    """
    if own:
        return "bench (load generator, in-process phases)"
    if "serve" in argv and argv.index("serve") + 1 < len(argv):
        return argv[argv.index("serve") + 1]
    if "up" in argv and ("launcher.cli" in argv or Path(argv[0]).name == "observatory"):
        return "observatory up"
    words = list(argv)
    while words and Path(words[0]).name.startswith("python"):
        words.pop(0)
        while words and words[0].startswith("-") and words[0] != "-m":
            words.pop(0)  # interpreter options such as -u or -X
    if len(words) >= 2 and words[0] == "-m":
        return words[1].split(".")[0]
    return Path(words[0]).name if words else "?"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (_PROC / str(pid) / "task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _cpu_seconds(pid: int, ticks: int) -> tuple[str, float] | None:
    """``(comm, seconds)`` of ``pid``: its user and system time, and that of its children
    it has reaped (a PostgreSQL backend that ended during a phase is counted in its
    postmaster's); ``None`` when it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return comm, sum(int(value) for value in fields[11:15]) / ticks


def _argv(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [word.decode(errors="replace") for word in raw.split(b"\0") if word]


def _machine_busy_s(ticks: int) -> float:
    """Busy seconds of all cores since boot: everything but idle and iowait."""
    first = (_PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(value) for value in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    # guest times are already counted in user and nice.
    return (sum(values[:8]) - idle) / ticks


def take_snapshot() -> CpuSnapshot | None:
    """CPU seconds of this process's tree and of the servers, now; ``None`` without ``/proc``."""
    if not (_PROC / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        seconds[name] = seconds.get(name, 0.0) + value

    own = os.getpid()
    tree: set[int] = set()
    pending = [own]
    while pending:
        pid = pending.pop()
        if pid in tree:
            continue
        tree.add(pid)
        used = _cpu_seconds(pid, ticks)
        if used is not None:
            add(process_name(_argv(pid), own=pid == own), used[1])
        pending += _children(pid)
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in tree:
            continue
        used = _cpu_seconds(int(entry.name), ticks)
        if used is not None and used[0] in _SERVERS:
            add(_SERVERS[used[0]], used[1])
    return CpuSnapshot(
        at=time.monotonic(),
        seconds=seconds,
        machine_busy_s=_machine_busy_s(ticks),
        cores=os.cpu_count() or 1,
    )


def shares_between(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Each process group's CPU seconds between the snapshots over the wall time, busiest
    first (1.0: one core kept busy); ``machine`` is the share of all cores that were busy.

    A process that started after ``before`` counts from zero; one gone by ``after`` is
    counted in its parent's time once the parent reaped it (a PostgreSQL backend in the
    postmaster's), else left out.
    """
    wall = after.at - before.at
    if wall <= 0:
        return {}
    used = {
        name: (total - before.seconds.get(name, 0.0)) / wall
        for name, total in after.seconds.items()
    }
    ordered = dict(sorted(used.items(), key=lambda item: item[1], reverse=True))
    machine = (after.machine_busy_s - before.machine_busy_s) / (wall * after.cores)
    return {**ordered, "machine": max(0.0, min(1.0, machine))}


def describe_shares(shares: dict[str, float], cores: int) -> str:
    """One line of the report, e.g. ``nx-27017 0.96, processor 0.20; the machine's 2
    cores were 60% busy.``"""
    busy = [
        f"{name} {share:.2f}"
        for name, share in shares.items()
        if name != "machine" and share >= _LEAST_SHOWN
    ][:_SHOWN]
    machine = shares.get("machine")
    tail = "" if machine is None else f"; the machine's {cores} cores were {machine:.0%} busy"
    return f"{', '.join(busy) or 'none'}{tail}."
