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
The processes are read at the start, every second and at the end, so one that ends
during the phase keeps the time it was last seen with (a process living less than a
second between two readings is missed).
With the machine's own busy share (from ``/proc/stat``) it tells whether the phase was
bound by one process (one near 1.0, the machine not full) or by the machine (the cores
full). Where ``/proc`` cannot be read nothing is measured and nothing is said.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CpuSnapshot", "CpuWatch", "describe_shares", "process_name", "take_snapshot"]

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
    """One reading: each process's name and CPU seconds so far, and the machine's."""

    at: float
    """``time.monotonic()`` when taken."""
    processes: dict[int, tuple[str, float]]
    """Process id → (what the report calls it, its user + system seconds so far)."""
    machine_busy_s: float
    """Seconds the machine's cores were busy (all cores summed) since boot."""
    cores: int
    counted_by_parent: frozenset[int] = frozenset()
    """The servers' processes: their seconds include their reaped children's, so one that
    ends is counted by its parent (a PostgreSQL backend by the postmaster), not kept."""


@dataclass(slots=True)
class _Followed:
    name: str
    first: float
    last: float


class CpuWatch:
    """Follows the CPU time of the processes taking part in a phase, from its start.

    Read at the start, every second meanwhile (:meth:`follow`) and at the end: a process
    that ends during the phase (the bare HTTP app of ``http_ceiling``) keeps the time it
    was last seen with, except a server's, which its parent counts once it reaped it (a
    connection's PostgreSQL backend, in the postmaster's children's time); one that
    starts during it counts from zero. ``take`` makes the readings (:func:`take_snapshot`
    by default).
    """

    def __init__(self, first: CpuSnapshot, take: Callable[[], CpuSnapshot | None]) -> None:
        self._take = take
        self._first = first
        self._last = first
        self._followed = {
            pid: _Followed(name, seconds, seconds)
            for pid, (name, seconds) in first.processes.items()
        }
        self._ended: dict[str, float] = {}
        """Seconds of processes whose id was taken by another one meanwhile, by name."""

    @classmethod
    def start(cls, take: Callable[[], CpuSnapshot | None] | None = None) -> CpuWatch | None:
        """A watch from now on; ``None`` where nothing can be read (no ``/proc``)."""
        reader = take_snapshot if take is None else take
        first = reader()
        return None if first is None else cls(first, reader)

    def read(self) -> None:
        """Take a reading now (it blocks for the few milliseconds a ``/proc`` scan takes)."""
        snapshot = self._take()
        if snapshot is None:
            return
        for pid in [p for p in self._followed if p not in snapshot.processes]:
            if pid in self._last.counted_by_parent:
                # Its whole time now shows in its parent's reaped children's time.
                gone = self._followed.pop(pid)
                self._ended[gone.name] = self._ended.get(gone.name, 0.0) - gone.first
        for pid, (name, seconds) in snapshot.processes.items():
            followed = self._followed.get(pid)
            if followed is None:
                self._followed[pid] = _Followed(name, 0.0, seconds)
            elif seconds < followed.last or name != followed.name:
                # Another process under a freed id: keep what the first one used.
                self._ended[followed.name] = self._ended.get(followed.name, 0.0) + (
                    followed.last - followed.first
                )
                self._followed[pid] = _Followed(name, 0.0, seconds)
            else:
                followed.last = seconds
        self._last = snapshot

    async def follow(self, period_s: float = 1.0) -> None:
        """Read every ``period_s`` seconds, in a worker thread, until cancelled."""
        while True:
            await anyio.sleep(period_s)
            await anyio.to_thread.run_sync(self.read)

    def shares(self) -> dict[str, float]:
        """Take a last reading; each name's CPU seconds since the start over the wall
        time, busiest first (1.0: one core kept busy), then ``machine``: the share of all
        the machine's cores that were busy."""
        self.read()
        wall = self._last.at - self._first.at
        if wall <= 0:
            return {}
        used = dict(self._ended)
        for followed in self._followed.values():
            used[followed.name] = used.get(followed.name, 0.0) + followed.last - followed.first
        ordered = sorted(
            ((name, seconds / wall) for name, seconds in used.items()),
            key=lambda item: item[1],
            reverse=True,
        )
        busy = self._last.machine_busy_s - self._first.machine_busy_s
        machine = busy / (wall * self._last.cores)
        return {**dict(ordered), "machine": max(0.0, min(1.0, machine))}


def process_name(argv: list[str], *, own: bool) -> str:
    """What the report calls a process with command line ``argv``.

    ``own``: it is this process (the bench). A ``serve <service>`` child is its service,
    ``observatory up`` (or ``python -m launcher.cli ... up``) is ``observatory up``;
    anything else is the program it runs, the interpreter skipped (``python3
    /venv/bin/nx-27017`` is ``nx-27017``, ``python -m celery`` is ``celery``,
    ``python -m launcher.bench.ceiling_app`` the bare HTTP app's module).
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
        return words[1]
    return Path(words[0]).name if words else "?"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (_PROC / str(pid) / "task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _cpu_seconds(pid: int, ticks: int, *, reaped: bool = False) -> tuple[str, float] | None:
    """``(comm, user + system seconds)`` of ``pid`` (``reaped``: plus those of the
    children it has reaped); ``None`` when it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return comm, sum(int(value) for value in fields[11 : 15 if reaped else 13]) / ticks


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
    processes: dict[int, tuple[str, float]] = {}
    own = os.getpid()
    pending = [own]
    while pending:
        pid = pending.pop()
        if pid in processes:
            continue
        used = _cpu_seconds(pid, ticks)
        if used is not None:
            processes[pid] = (process_name(_argv(pid), own=pid == own), used[1])
        pending += _children(pid)
    servers: set[int] = set()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in processes:
            continue
        used = _cpu_seconds(int(entry.name), ticks, reaped=True)
        if used is not None and used[0] in _SERVERS:
            processes[int(entry.name)] = (_SERVERS[used[0]], used[1])
            servers.add(int(entry.name))
    return CpuSnapshot(
        at=time.monotonic(),
        processes=processes,
        counted_by_parent=frozenset(servers),
        machine_busy_s=_machine_busy_s(ticks),
        cores=os.cpu_count() or 1,
    )


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
