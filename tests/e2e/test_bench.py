"""``observatory bench`` as a subprocess against an embedded system it starts itself.

Speeds are never asserted: only that every phase ran and reported a positive figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from launcher.bench import FIGURES, Phase
from launcher.observatory_process import STDERR_FILE, ObservatoryStartError, start_observatory

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_embedded_bench_reports_every_figure_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    command = [
        sys.executable,
        "-m",
        "launcher.cli",
        "bench",
        "--mode",
        "embedded",
        "--jobs",
        "300",
        "--concurrency",
        "16",
        "--batch-size",
        "100",
        "--skip",
        "relay",
        "--json",
        str(out),
    ]
    with anyio.fail_after(280):
        result = await anyio.run_process(
            command, cwd=tmp_path, check=False, stdin=subprocess.DEVNULL
        )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"

    report = json.loads(out.read_text())
    measured = [f.key for f in FIGURES if f.phase not in (Phase.RELAY, None)]
    for key in measured:
        value = report[key]
        assert isinstance(value, int | float), (key, value)
        assert value > 0, (key, value)
    assert report["relay_ceiling_rate"] is None
    assert "skip relay" in report["reasons"]["relay_ceiling_rate"]
    assert report["processor_vs_relay"] is None
    assert "processor_vs_relay" in report["reasons"]
    assert (report["jobs"], report["concurrency"], report["batch_size"]) == (300, 16, 100)
    assert report["mode"] == "embedded"
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["started_at"].endswith("Z")
    assert report["uvloop"] is True
    assert report["ok"] is True

    assert stdout.splitlines()[0].split() == ["phase", "figure", "value", "duration"]
    assert "Ran mode embedded (gateway http://127.0.0.1:" in stdout
    assert "bench: single: started" in stderr
    # The work directory (stores, logs) of a successful run is removed.
    assert "logs kept in" not in stderr


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
