"""``observatory gate`` against a real ``observatory up``, embedded and on real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STEPS = [
    "health",
    "submit",
    "complete",
    "audit trail",
    "stats",
    "metrics",
    "failing job",
    "dead letter",
]


def run_gate(
    obs: RunningObservatory, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, object], str]:
    report = tmp_path / f"gate-report-{len(list(tmp_path.glob('gate-report-*')))}.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher.cli",
            "gate",
            "--gateway-url",
            obs.gateway,
            "--read-model-url",
            obs.read_model,
            "--report",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    return done.returncode, json.loads(report.read_text()), done.stdout


def test_the_gate_passes_against_a_running_observatory_twice(
    observatory_factory: Callable[..., RunningObservatory], tmp_path: Path
) -> None:
    obs = observatory_factory()
    for _ in range(2):  # the second run sees the first's jobs and must still be exact
        code, report, out = run_gate(obs, tmp_path, "--jobs", "5", "--budget-s", "100")
        steps = report["steps"]
        assert isinstance(steps, list)
        assert [s["name"] for s in steps] == STEPS
        assert {s["name"]: s["status"] for s in steps} == dict.fromkeys(STEPS, "PASS"), out
        assert code == 0, out
        assert report["passed"] is True
        assert "PASSED" in out
    # The probe's dead letters were discarded: none left behind.
    import httpx

    assert httpx.get(f"{obs.read_model}/dead-letters").json() == []


def test_the_gate_fails_when_a_step_cannot_pass(
    observatory_factory: Callable[..., RunningObservatory], tmp_path: Path
) -> None:
    obs = observatory_factory()
    code, report, out = run_gate(obs, tmp_path, "--budget-s", "0.001")
    assert code == 1
    assert report["passed"] is False
    assert "FAILED" in out


def test_with_api_tokens_the_gate_needs_a_submitter_token(tmp_path: Path) -> None:
    from tests.e2e.conftest import start_observatory

    viewer, submitter = f"viewer-{uuid.uuid4().hex}", f"submitter-{uuid.uuid4().hex}"
    obs = start_observatory(
        tmp_path / "data",
        env={"OBSERVATORY_API_TOKENS": f"viewer:{viewer},submitter:{submitter}"},
    )
    try:
        results = {
            name: run_gate(obs, tmp_path, env={"OBSERVATORY_API_TOKEN": token})[:2]
            for name, token in (("viewer", viewer), ("submitter", submitter))
        }
        code, viewer_report = results["viewer"]
        assert code == 1
        steps = viewer_report["steps"]
        assert isinstance(steps, list)
        submit = next(s for s in steps if s["name"] == "submit")
        assert submit["status"] == "FAIL"
        assert "403" in submit["detail"]
        code, submitter_report = results["submitter"]
        assert code == 0, submitter_report
    finally:
        obs.stop()
        if obs.process.stdout is not None:
            obs.process.stdout.close()
