"""Issue 17, item 4, retention against a real ``observatory up`` (embedded): ``observatory
prune --dry-run`` reports without deleting; the pruner of an observatory started with
``--retain-days 0 --prune-interval 1`` deletes every terminal job with its events, while
``/stats`` totals stay as they were and a waiting job stays."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

_JOBS = 12


def _prune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "prune", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _totals(http: httpx.Client, read_model: str) -> tuple[object, ...]:
    stats = http.get(f"{read_model}/stats").json()
    return (stats["totalJobs"], stats["completedJobs"], stats["failedJobs"])


def test_issue_17_old_terminal_jobs_are_pruned_and_stats_totals_stay(
    embedded_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = embedded_factory(data_dir=data_dir)
    gateway, read_model = first.gateway, first.read_model  # type: ignore[attr-defined]
    batch = [{"type": "echo", "payload": {"n": n}} for n in range(_JOBS - 2)]
    batch += [{"type": "fail", "payload": {}} for _ in range(2)]
    submitted = http.post(f"{gateway}/jobs/batch", json=batch)
    assert submitted.status_code == 202, submitted.text
    ids = [result["jobId"] for result in submitted.json()["results"]]
    wait_until(
        lambda: _totals(http, read_model) == (_JOBS, _JOBS - 2, 2),
        timeout_s=60,
        message=lambda: f"stats {_totals(http, read_model)}",
    )
    totals = _totals(http, read_model)
    assert first.stop() == 0  # type: ignore[attr-defined]

    # A dry run against the stores reports every job, deletes nothing.
    dry = _prune("--older-than", "0s", "--dry-run", "--data-dir", str(data_dir))
    assert dry.returncode == 0, dry.stderr
    assert "Would delete:" in dry.stdout
    assert f"  job store         {_JOBS} jobs" in dry.stdout
    assert "dead-letter store 0 dead letters" in dry.stdout
    events_line = next(line for line in dry.stdout.splitlines() if "event store" in line)
    assert int(events_line.split()[2]) >= 4 * _JOBS  # created, validated, executed, outcome

    second = embedded_factory("--retain-days", "0", "--prune-interval", "1", data_dir=data_dir)
    read_model = second.read_model  # type: ignore[attr-defined]
    wait_until(
        lambda: http.get(f"{read_model}/jobs/recent", params={"limit": 100}).json() == [],
        timeout_s=60,
        message=lambda: "terminal jobs still listed",
    )
    assert http.get(f"{read_model}/jobs/{ids[0]}").status_code == 404
    assert http.get(f"{read_model}/events", params={"jobId": ids[-1]}).json() == []
    assert _totals(http, read_model) == totals
    metrics = http.get(f"{read_model}/metrics").text
    assert f'metrics_engine_pruned_rows_total{{store="jobs"}} {float(_JOBS)}' in metrics

    # The pruned stores: a second dry run finds nothing left.
    assert second.stop() == 0  # type: ignore[attr-defined]
    after = _prune("--older-than", "0s", "--dry-run", "--data-dir", str(data_dir))
    assert after.returncode == 0, after.stderr
    assert "  job store         0 jobs" in after.stdout


def test_issue_17_prune_refuses_a_bad_duration_and_a_missing_data_dir(tmp_path: Path) -> None:
    bad = _prune("--older-than", "7 days")
    assert bad.returncode == 2
    assert "'7 days' is not a duration" in bad.stderr
    missing = _prune("--older-than", "7d", "--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 1
    assert "No embedded stores in" in missing.stderr


def test_issue_17_the_pruner_runs_in_every_mode_and_keeps_stats_totals(
    observatory_factory: Callable[..., object],
    http: httpx.Client,
    wait_until: Callable[..., None],
) -> None:
    """Embedded, and (integration) four processes, where the metrics engine prunes
    PostgreSQL and MongoDB under the advisory lock while Redis keeps the totals."""
    obs = observatory_factory("--retain-days", "0", "--prune-interval", "1")
    gateway, read_model = obs.gateway, obs.read_model  # type: ignore[attr-defined]
    batch = [{"type": "echo", "payload": {"n": n}} for n in range(_JOBS)]
    submitted = http.post(f"{gateway}/jobs/batch", json=batch)
    assert submitted.status_code == 202, submitted.text
    ids = [result["jobId"] for result in submitted.json()["results"]]
    wait_until(
        lambda: _totals(http, read_model) == (_JOBS, _JOBS, 0),
        timeout_s=90,
        message=lambda: f"stats {_totals(http, read_model)}",
    )
    wait_until(
        lambda: http.get(f"{read_model}/jobs/recent", params={"limit": 100}).json() == [],
        timeout_s=90,
        message=lambda: "terminal jobs still listed",
    )
    assert all(http.get(f"{read_model}/jobs/{job_id}").status_code == 404 for job_id in ids)
    assert http.get(f"{read_model}/events", params={"jobId": ids[0]}).json() == []
    assert _totals(http, read_model) == (_JOBS, _JOBS, 0)
