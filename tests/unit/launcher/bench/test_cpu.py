"""Where a phase's CPU went (launcher/bench/cpu.py): names, shares, and a real phase."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from launcher.bench import BenchOptions, BenchReport, Phase
from launcher.bench.cpu import (
    CpuSnapshot,
    CpuWatch,
    describe_shares,
    process_name,
    take_snapshot,
)
from launcher.bench.run import run_phase

if TYPE_CHECKING:
    from pathlib import Path

    from launcher.bench import PhaseOutcome


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/venv/bin/python3", "-m", "launcher.cli", "serve", "gateway", "--port", "0"], "gateway"),
        (["/venv/bin/observatory", "serve", "metrics-engine"], "metrics-engine"),
        (
            ["/venv/bin/python3", "-m", "launcher.cli", "--log-format", "json", "up"],
            "observatory up",
        ),
        (["/venv/bin/python3", "/venv/bin/nx-27017", "--data-dir", "memory"], "nx-27017"),
        (["/usr/bin/python3.11", "-u", "-m", "celery", "-A", "tasks", "worker"], "celery"),
        (["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib"], "postgres"),
        ([], "?"),
    ],
)
def test_a_process_is_named_by_its_service_or_its_program(argv: list[str], name: str) -> None:
    assert process_name(argv, own=False) == name


def test_the_bench_itself_is_named_as_the_load_generator() -> None:
    assert process_name(["/venv/bin/observatory", "bench"], own=True).startswith("bench")


def _reading(at: float, busy: float, **processes: tuple[str, float]) -> CpuSnapshot:
    """A reading with processes given as ``p<pid>=(name, seconds)``."""
    return CpuSnapshot(
        at=at,
        processes={int(key[1:]): value for key, value in processes.items()},
        machine_busy_s=busy,
        cores=2,
    )


def test_shares_are_cpu_seconds_since_the_start_over_the_wall_time_busiest_first() -> None:
    readings = iter(
        [
            _reading(10.0, 100.0, p1=("gateway", 1.0), p2=("postgres", 5.0), p3=("postgres", 1.0)),
            # p9 started during the phase; p2 ended (its last reading is kept).
            _reading(11.0, 101.0, p1=("gateway", 1.5), p2=("postgres", 6.0), p9=("nx-27017", 0.5)),
            _reading(12.0, 103.0, p1=("gateway", 2.0), p3=("postgres", 2.0), p9=("nx-27017", 1.5)),
        ]
    )
    watch = CpuWatch.start(lambda: next(readings))
    assert watch is not None
    watch.read()

    shares = watch.shares()

    assert shares == {"postgres": 1.0, "nx-27017": 0.75, "gateway": 0.5, "machine": 0.75}
    assert list(shares)[:3] == ["postgres", "nx-27017", "gateway"]
    assert describe_shares(shares, 2) == (
        "postgres 1.00, nx-27017 0.75, gateway 0.50; the machine's 2 cores were 75% busy."
    )


def test_a_process_id_taken_by_another_process_keeps_what_the_first_used() -> None:
    readings = iter(
        [
            _reading(0.0, 0.0, p7=("celery", 4.0)),
            _reading(1.0, 1.0, p7=("celery", 4.5)),
            _reading(2.0, 2.0, p7=("gateway", 0.25)),
        ]
    )
    watch = CpuWatch.start(lambda: next(readings))
    assert watch is not None
    watch.read()

    assert watch.shares() == {"celery": 0.25, "gateway": 0.125, "machine": 0.5}


def test_a_servers_process_that_ends_is_counted_once_by_the_parent_that_reaped_it() -> None:
    def reading(at: float, **processes: tuple[str, float]) -> CpuSnapshot:
        snapshot = _reading(at, at, **processes)
        return CpuSnapshot(
            snapshot.at,
            snapshot.processes,
            snapshot.machine_busy_s,
            snapshot.cores,
            counted_by_parent=frozenset(snapshot.processes),
        )

    readings = iter(
        [
            # The postmaster (p1) and a backend (p2) that used 3 s before the phase.
            reading(0.0, p1=("postgres", 10.0), p2=("postgres", 3.0)),
            reading(1.0, p1=("postgres", 10.0), p2=("postgres", 3.5)),
            # The backend ended after 1.0 s more; the postmaster reaped all its 4.0 s.
            reading(2.0, p1=("postgres", 14.0)),
        ]
    )
    watch = CpuWatch.start(lambda: next(readings))
    assert watch is not None
    watch.read()

    assert watch.shares()["postgres"] == 0.5  # 1.0 s over 2 s


def test_without_proc_nothing_is_watched() -> None:
    assert CpuWatch.start(lambda: None) is None


def test_idle_processes_are_left_out_of_the_sentence() -> None:
    assert describe_shares({"redis": 0.001, "machine": 0.1}, 2) == (
        "none; the machine's 2 cores were 10% busy."
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_child_burning_cpu_is_counted_under_its_program(tmp_path: Path) -> None:
    script = tmp_path / "burner.py"
    script.write_text(
        "import time\nend = time.process_time() + 0.6\n"
        "while time.process_time() < end:\n    pass\ntime.sleep(30)\n"
    )
    before = take_snapshot()
    assert before is not None
    assert "burner.py" not in {name for name, _ in before.processes.values()}
    burner = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 20
        while True:
            after = take_snapshot()
            assert after is not None
            # A child of this process, named by its program.
            used = sum(seconds for name, seconds in after.processes.values() if name == "burner.py")
            if used >= 0.5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        burner.kill()
        burner.wait()
    assert used >= 0.5
    assert after.machine_busy_s - before.machine_busy_s >= 0.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_a_phase_reports_where_its_cpu_went() -> None:
    report = BenchReport(
        mode=BenchOptions().mode, jobs=1, concurrency=1, batch_size=1, started_at="t"
    )

    async def busy(outcome: PhaseOutcome) -> None:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass

    outcome = await run_phase(report, BenchOptions(), Phase.RELAY, busy)

    bench = next(name for name in outcome.cpu if name.startswith("bench"))
    assert outcome.cpu[bench] > 0.5
    assert 0 < outcome.cpu["machine"] <= 1
    phases = report.to_json()["phases"]
    assert isinstance(phases, dict)
    assert phases["relay"]["cpu"][bench] == round(outcome.cpu[bench], 3)
    table = report.render_table().splitlines()
    heading = table.index("CPU per phase, in cores (1.00: one core kept busy):")
    assert table[heading + 1].startswith(f"  relay: {bench} ")
    assert table[heading + 1].endswith("% busy.")
