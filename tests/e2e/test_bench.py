"""``observatory bench`` as a subprocess against an embedded system it starts itself.

Speeds are never asserted: only that every phase ran and reported a positive figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from launcher.bench import FIGURES, RATIOS, Phase
from launcher.observatory_process import STDERR_FILE, ObservatoryStartError, start_observatory

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def _bench(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str, str]:
    """Run ``observatory bench ARGS --json`` as a subprocess: exit code, JSON, stdout, stderr."""
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "launcher.cli", "bench", *args, "--json", str(out)]
    with anyio.fail_after(280):
        result = await anyio.run_process(
            command,
            cwd=tmp_path,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert out.exists(), f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    report: dict[str, Any] = json.loads(out.read_text())
    return result.returncode, report, stdout, stderr


async def test_embedded_bench_with_default_flags_reports_every_figure_it_ran(
    tmp_path: Path,
) -> None:
    # Default flags but --jobs: 20,000 jobs per phase take minutes. 4,500 is above the
    # default rate limit's burst (4,000), so the batch phase met 429s before the bench
    # started its system without the limit.
    code, report, stdout, stderr = await _bench(tmp_path, "--jobs", "4500")
    assert code == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    assert "without a submission rate limit (OBSERVATORY_RATE_LIMIT=0)" in stderr
    assert (report["rate_limit_waits"], report["rate_limit_wait_s"]) == (0, 0)

    # The relay and the Celery peer need RabbitMQ (and Celery): measured or skipped.
    optional = {Phase.RELAY, Phase.PEER_CELERY}
    for figure in FIGURES:
        if figure.phase is None or figure.phase in optional:
            continue
        value = report[figure.key]
        assert isinstance(value, int | float), (figure.key, value)
        assert value > 0, (figure.key, value)
    for phase in optional:
        status = report["phases"][phase.value]["status"]
        assert status in ("ok", "skipped"), (phase, report["phases"][phase.value])
    for ratio, (numerator, denominator) in RATIOS.items():
        if report[numerator] is not None and report[denominator] is not None:
            assert report[ratio] == pytest.approx(report[numerator] / report[denominator])
            assert any(ratio in line and "ratio" in line for line in stdout.splitlines())
        else:
            assert report[ratio] is None
            assert report["reasons"][ratio] == f"needs both {numerator} and {denominator}"
    assert report["submit_single_vs_http_ceiling"] > 0
    assert (report["jobs"], report["concurrency"], report["batch_size"]) == (4500, 64, 1000)
    assert report["mode"] == "embedded"
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["started_at"].endswith("Z")
    assert report["uvloop"] is True
    assert report["ok"] is True
    assert "50% of e2e_rate_" in report["phases"]["latency"]["note"]
    # Where each phase's CPU went: the system under test and the load generator both worked.
    single_cpu = report["phases"]["single"]["cpu"]
    assert single_cpu["observatory up"] > 0
    assert any(name.startswith("bench") and share > 0 for name, share in single_cpu.items())
    assert 0 < single_cpu["machine"] <= 1
    assert "CPU per phase, in cores (1.00: one core kept busy):" in stdout

    assert stdout.splitlines()[0].split() == ["phase", "figure", "value", "duration"]
    assert "Ran mode embedded (gateway http://127.0.0.1:" in stdout
    assert "bench: single: started" in stderr
    assert "bench: http_ceiling: started" in stderr
    # The work directory (stores, logs) of a successful run is removed.
    assert "logs kept in" not in stderr


def _only(*phases: str) -> tuple[str, ...]:
    """``--skip`` for every phase but ``phases``."""
    return tuple(
        arg for phase in Phase if phase.value not in phases for arg in ("--skip", phase.value)
    )


async def test_bench_waits_out_429_of_a_system_it_did_not_start(tmp_path: Path) -> None:
    limit = {"OBSERVATORY_RATE_LIMIT": "100", "OBSERVATORY_RATE_BURST": "100"}
    with anyio.fail_after(280):
        async with start_observatory(data_dir=tmp_path / "obs", env=limit) as running:
            code, report, stdout, stderr = await _bench(
                tmp_path,
                "--gateway-url",
                running.gateway,
                "--read-model-url",
                running.read_model,
                "--jobs",
                "300",
                "--concurrency",
                "8",
                "--batch-size",
                "50",
                *_only("single", "batch"),
            )
    assert code == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    assert report["ok"] is True
    assert report["mode"] == "external"
    # 600 jobs against 100 a second (bursts of 100): waits were needed, and counted.
    assert report["rate_limit_waits"] > 0
    assert report["rate_limit_wait_s"] >= report["rate_limit_waits"]  # Retry-After >= 1 s
    assert report["e2e_rate_single"] > 0
    assert report["e2e_rate_batch"] > 0
    assert f"429 answers waited out: {report['rate_limit_waits']} (" in stdout
    assert "without a submission rate limit" not in stderr


async def test_peer_phase_says_skipped_without_celery(tmp_path: Path) -> None:
    # Celery made unimportable for the bench's process: a package of that name that
    # fails to import comes first on its path, as a missing one fails.
    hidden = tmp_path / "no-celery" / "celery"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        "raise ImportError('No module named celery (hidden by the test)')\n"
    )
    code, report, stdout, stderr = await _bench(
        tmp_path,
        "--jobs",
        "50",
        *_only("peer_celery"),
        env={"PYTHONPATH": str(hidden.parent)},
    )
    assert code == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    peer = report["phases"]["peer_celery"]
    assert peer["status"] == "skipped"
    assert peer["note"].startswith("skipped: celery not installed")
    assert "pip install -e .[bench]" in peer["note"]
    assert report["peer_celery_rate"] is None
    assert report["processor_vs_celery"] is None
    assert report["ok"] is True
    assert any("peer_celery" in line and "skipped" in line for line in stdout.splitlines())


async def test_peer_celery_drains_against_the_processor_on_the_same_servers(
    tmp_path: Path,
) -> None:
    pytest.importorskip("celery", reason="the bench extra is not installed")
    code, report, stdout, stderr = await _bench(
        tmp_path,
        "--mode",
        "local",
        "--jobs",
        "300",
        *_only("processor", "peer_celery"),
    )
    assert code == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    assert report["phases"]["peer_celery"]["status"] == "ok", report["phases"]
    assert report["peer_celery_rate"] > 0
    assert report["processor_vs_celery"] == pytest.approx(
        report["processor_alone_rate"] / report["peer_celery_rate"]
    )
    assert "one PostgreSQL upsert" in report["phases"]["peer_celery"]["note"]


async def test_event_store_phase_times_the_mongodb_stand_in_of_local_mode(tmp_path: Path) -> None:
    code, report, stdout, stderr = await _bench(
        tmp_path,
        "--mode",
        "local",
        "--jobs",
        "300",
        *_only("event_store"),
        env={"MONGO_URL": ""},
    )
    assert code == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    phase = report["phases"]["event_store"]
    assert phase["status"] == "ok", phase
    assert report["event_store_rate"] > 0
    # MONGO_URL unset: the MongoDB it stored the 1,200 events (4 a job) in is a stand-in
    # it started (there is no other here).
    assert phase["note"].startswith("MongoEventStore: 4 lifecycle events per job, 400 events")
    assert report["e2e_batch_vs_event_store"] is None  # the batch phase was skipped
    assert "bench: event_store: started" in stderr


async def test_start_observatory_yields_its_urls_and_stops_it(tmp_path: Path) -> None:
    with anyio.fail_after(120):
        async with start_observatory(data_dir=tmp_path / "obs") as running:
            assert running.gateway.startswith("http://127.0.0.1:")
            assert running.read_model.startswith("http://127.0.0.1:")
            assert running.process.returncode is None
            assert any("Gateway" in line for line in running.output)
    assert running.process.returncode == 0
    assert (tmp_path / "obs" / STDERR_FILE).stat().st_size > 0


async def test_start_observatory_reports_an_up_that_exits(tmp_path: Path) -> None:
    with (
        anyio.fail_after(60),
        pytest.raises(ObservatoryStartError, match=r"^observatory up exited with code 2 before"),
    ):
        async with start_observatory("--job-timeout", "-1", data_dir=tmp_path / "obs"):
            pytest.fail("it should not have started")
