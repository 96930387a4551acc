"""The soak's memory reading and its flatness verdict."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from launcher.soak import SoakReport, SoakSample, memory_verdict, process_tree, rss_mib


def sample(at: float, **rss: float) -> SoakSample:
    return SoakSample(
        at_s=at,
        rss_mib=rss,
        submitted=100,
        refused=0,
        submit_p50_ms=1.0,
        submit_p99_ms=2.0,
        e2e_ms=[5.0],
    )


def test_memory_is_flat_within_the_tolerance_after_the_warm_up() -> None:
    samples = [
        sample(10, processor=50.0, gateway=200.0),  # warm-up: left out
        sample(20, processor=100.0, gateway=200.0),
        sample(30, processor=110.0, gateway=230.0),
        sample(40, processor=115.9, gateway=219.0),
    ]
    verdict = memory_verdict(samples)
    assert verdict["processor"] == {
        "firstMiB": 100.0,
        "lastMiB": 115.9,
        "peakMiB": 115.9,
        "growthMiB": 15.9,
        "flat": True,  # under 16 MiB
    }
    assert verdict["gateway"]["flat"] is True  # 19 MiB is within 10 % of 200
    growing = [*samples, sample(50, processor=140.0, gateway=221.0)]
    assert memory_verdict(growing)["processor"]["flat"] is False
    report = SoakReport(minutes=1, rate=10, samples=growing)
    assert not report.flat
    assert "processor: 100.0 → 140.0 MiB" in report.render()
    assert "GROWING" in report.render()


def test_without_memory_samples_nothing_is_called_flat() -> None:
    report = SoakReport(minutes=1, rate=10, samples=[sample(10), sample(20), sample(30)])
    assert report.memory == {}
    assert not report.flat
    assert "memory: not measured" in report.render()


def test_the_process_tree_names_service_children_and_reads_their_memory() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "serve", "processor"]
    )
    try:
        deadline = time.monotonic() + 10
        while b"serve" not in Path(f"/proc/{child.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the child never ran its command"
            time.sleep(0.01)  # forked but not yet exec'd
        tree = process_tree(os.getpid())
        assert tree["observatory"] == os.getpid()
        assert tree["processor"] == child.pid
        own = rss_mib(os.getpid())
        assert own is not None
        assert own > 1.0
    finally:
        child.kill()
        child.wait()
    assert rss_mib(child.pid) is None
