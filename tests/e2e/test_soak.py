"""``observatory bench --soak`` against an embedded observatory it starts itself."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_a_short_soak_samples_memory_and_latency_and_says_whether_memory_is_flat(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher.cli",
            "bench",
            "--soak",
            "0.25",
            "--soak-sample-s",
            "3",
            "--soak-rate",
            "40",
            "--json",
            str(report_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    report = json.loads(report_path.read_text())
    samples = report["samples"]
    assert len(samples) == 5, done.stdout
    assert all(s["refused"] == 0 for s in samples)
    assert sum(s["submitted"] for s in samples) >= 500  # 40/s for 15 s, give or take
    assert all(s["rssMiB"]["observatory"] > 10 for s in samples)
    assert all(len(s["e2eMs"]) == 3 for s in samples)
    assert set(report["memory"]) == {"observatory"}
    assert report["memoryFlat"] is (done.returncode == 0)
    assert "memory observatory:" in done.stdout
