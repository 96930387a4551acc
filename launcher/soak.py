"""``observatory bench --soak MINUTES``: a steady load, with memory and latency sampled.

The load is paced (``--soak-rate`` jobs a second, one ``POST /jobs`` each). Every sample
period (10 s unless told) it records each service process's resident memory (from
``/proc``, for the system the bench started; a running system named by URL is measured
when its processes are on this machine and ``--soak-pid`` names them), the submit
latency percentiles of the period, and the submit→COMPLETED latency of a few probe jobs.
At the end it says whether memory was flat: the growth from the first sample after the
warm-up to the last, against a tolerance of 10 % or 16 MiB, whichever is larger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx

from launcher._api_auth import auth_headers

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "SoakReport",
    "SoakSample",
    "memory_verdict",
    "process_tree",
    "rss_mib",
    "run_soak",
]

PROBES_PER_SAMPLE = 3
WARM_UP_SAMPLES = 1
"""Samples left out of the flatness verdict (caches and pools fill up first)."""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> dict[str, int]:
    """``pid`` and its descendants, named: ``serve <service>`` children by their service."""
    named: dict[str, int] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            argv = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv if word]
        if "serve" in words and words.index("serve") + 1 < len(words):
            name = words[words.index("serve") + 1]
        elif current == pid:
            name = "observatory"
        else:
            name = f"pid {current}"
        named[name] = current
        pending += _children(current)
    return named


def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB, or ``None`` when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _percentile(values: list[float], percent: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class SoakSample:
    """One sample period."""

    at_s: float
    rss_mib: dict[str, float]
    submitted: int
    refused: int
    submit_p50_ms: float | None
    submit_p99_ms: float | None
    e2e_ms: list[float]

    def to_json(self) -> dict[str, object]:
        return {
            "atSeconds": round(self.at_s, 1),
            "rssMiB": {k: round(v, 1) for k, v in self.rss_mib.items()},
            "submitted": self.submitted,
            "refused": self.refused,
            "submitP50Ms": self.submit_p50_ms,
            "submitP99Ms": self.submit_p99_ms,
            "e2eMs": [round(v, 1) for v in self.e2e_ms],
        }


def memory_verdict(samples: list[SoakSample]) -> dict[str, dict[str, object]]:
    """Per process: first (after warm-up) and last RSS, growth, and whether that is flat."""
    usable = samples[WARM_UP_SAMPLES:] if len(samples) > WARM_UP_SAMPLES + 1 else samples
    verdict: dict[str, dict[str, object]] = {}
    if len(usable) < 2:
        return verdict
    for name in usable[0].rss_mib:
        series = [s.rss_mib[name] for s in usable if name in s.rss_mib]
        if len(series) < 2:
            continue
        first, last, peak = series[0], series[-1], max(series)
        tolerance = max(first * 0.10, 16.0)
        verdict[name] = {
            "firstMiB": round(first, 1),
            "lastMiB": round(last, 1),
            "peakMiB": round(peak, 1),
            "growthMiB": round(last - first, 1),
            "flat": last - first <= tolerance,
        }
    return verdict


@dataclass(slots=True)
class SoakReport:
    """Every sample and the verdict."""

    minutes: float
    rate: float
    samples: list[SoakSample] = field(default_factory=list)
    completed: int = 0

    @property
    def memory(self) -> dict[str, dict[str, object]]:
        return memory_verdict(self.samples)

    @property
    def flat(self) -> bool:
        return bool(self.memory) and all(v["flat"] for v in self.memory.values())

    def to_json(self) -> dict[str, object]:
        return {
            "minutes": self.minutes,
            "ratePerSecond": self.rate,
            "samples": [s.to_json() for s in self.samples],
            "memory": self.memory,
            "memoryFlat": self.flat,
        }

    def render(self) -> str:
        names = sorted({n for s in self.samples for n in s.rss_mib})
        header = ["t (s)", "submitted", "refused", "p50 ms", "p99 ms", "e2e ms", *names]
        rows = [header]
        for s in self.samples:
            e2e = "/".join(f"{v:.0f}" for v in s.e2e_ms) or "-"
            rows.append(
                [
                    f"{s.at_s:.0f}",
                    str(s.submitted),
                    str(s.refused),
                    "-" if s.submit_p50_ms is None else f"{s.submit_p50_ms:.1f}",
                    "-" if s.submit_p99_ms is None else f"{s.submit_p99_ms:.1f}",
                    e2e,
                    *(f"{s.rss_mib[n]:.1f}" if n in s.rss_mib else "-" for n in names),
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        ]
        lines.append("")
        memory = self.memory
        if not memory:
            lines.append("memory: not measured (no process of the system on this machine)")
        for name, v in memory.items():
            lines.append(
                f"memory {name}: {v['firstMiB']} → {v['lastMiB']} MiB "
                f"(peak {v['peakMiB']}, growth {v['growthMiB']}): "
                + ("flat" if v["flat"] else "GROWING")
            )
        return "\n".join(lines)


async def _probe(http: httpx.AsyncClient, gateway: str, read_model: str) -> float | None:
    """Submit one job; milliseconds until the read model shows it COMPLETED."""
    started = time.perf_counter()
    response = await http.post(f"{gateway}/jobs", json={"type": "echo", "payload": {"probe": 1}})
    if response.status_code != 202:
        return None
    job_id = response.json()["jobId"]
    with anyio.move_on_after(30):
        while True:
            found = await http.get(f"{read_model}/jobs/{job_id}")
            if found.status_code == 200 and found.json()["status"] == "COMPLETED":
                return (time.perf_counter() - started) * 1000
            await anyio.sleep(0.02)
    return None


async def run_soak(
    gateway: str,
    read_model: str,
    *,
    minutes: float,
    rate: float,
    pid: int | None,
    sample_s: float = 10.0,
    on_sample: Callable[[SoakSample], None] | None = None,
) -> SoakReport:
    """Submit ``rate`` jobs a second for ``minutes``; a sample every ``sample_s``."""
    report = SoakReport(minutes=minutes, rate=rate)
    latencies: list[float] = []
    counts = {"submitted": 0, "refused": 0}
    started = time.perf_counter()
    end = started + minutes * 60
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=10.0, limits=limits, headers=auth_headers()) as http:

        async def submit_one(index: int) -> None:
            t0 = time.perf_counter()
            try:
                response = await http.post(
                    f"{gateway}/jobs", json={"type": "echo", "payload": {"soak": index}}
                )
                ok = response.status_code == 202
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            counts["submitted" if ok else "refused"] += 1

        async def load() -> None:
            async with anyio.create_task_group() as tg:
                index = 0
                while time.perf_counter() < end:
                    tg.start_soon(submit_one, index)
                    index += 1
                    target = started + index / rate
                    await anyio.sleep(max(0.0, target - time.perf_counter()))

        async def sample() -> None:
            next_at = started + sample_s
            while time.perf_counter() < end + 0.5:
                await anyio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += sample_s
                window, latencies[:] = list(latencies), []
                submitted, refused = counts["submitted"], counts["refused"]
                counts["submitted"] = counts["refused"] = 0
                probes = [await _probe(http, gateway, read_model) for _ in range(PROBES_PER_SAMPLE)]
                memory: dict[str, float] = {}
                if pid is not None:
                    for name, process in process_tree(pid).items():
                        if (value := rss_mib(process)) is not None:
                            memory[name] = value
                taken = SoakSample(
                    at_s=time.perf_counter() - started,
                    rss_mib=memory,
                    submitted=submitted,
                    refused=refused,
                    submit_p50_ms=_percentile(window, 50),
                    submit_p99_ms=_percentile(window, 99),
                    e2e_ms=[p for p in probes if p is not None],
                )
                report.samples.append(taken)
                if on_sample is not None:
                    on_sample(taken)
                if time.perf_counter() >= end:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(load)
            tg.start_soon(sample)
    report.completed = sum(s.submitted for s in report.samples)
    return report
