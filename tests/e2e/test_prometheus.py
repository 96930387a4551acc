"""A real Prometheus scrapes a running observatory and fires an alert on failing jobs.

Debian's ``prometheus`` binary (installed by ``.ci/run``) runs on a free port with a
generated scrape config; without it the test skips locally and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

RULES = Path(__file__).resolve().parents[2] / "manifests" / "prometheus" / "rules.yml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fast_rules(path: Path) -> None:
    """The real JobFailureRateHigh rule, with windows short enough for a test."""
    document = yaml.safe_load(RULES.read_text())
    rule = next(
        r for g in document["groups"] for r in g["rules"] if r.get("alert") == "JobFailureRateHigh"
    )
    rule["expr"] = str(rule["expr"]).replace("[5m]", "[20s]")
    rule["for"] = "2s"
    path.write_text(yaml.safe_dump({"groups": [{"name": "test", "rules": [rule]}]}))


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], str]]:
    """Starts Prometheus scraping the given targets every second; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        message = "prometheus is not installed (apt-get install prometheus)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    processes: list[subprocess.Popen[bytes]] = []

    def start(targets: list[str]) -> str:
        rules = tmp_path / "rules.yml"
        _fast_rules(rules)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "gateway", "static_configs": [{"targets": targets}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.append(process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _poll(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> None:
    # Prometheus scrapes and evaluates on its own clock; polling its API is the only way.
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout_s} s: {what()}")
        time.sleep(0.5)


def test_prometheus_scrapes_the_seed_metrics_and_fires_job_failure_rate_high(
    embedded_factory: Callable[..., object],
    prometheus: Callable[[list[str]], str],
    http: httpx.Client,
) -> None:
    obs = embedded_factory()
    gateway = obs.gateway  # type: ignore[attr-defined]
    url = prometheus([urlsplit(gateway).netloc])

    def query(expr: str) -> list[dict[str, object]]:
        try:
            response = http.get(f"{url}/api/v1/query", params={"query": expr})
        except httpx.HTTPError:
            return []
        return list(response.json()["data"]["result"]) if response.status_code == 200 else []

    def alerts() -> list[dict[str, object]]:
        try:
            return list(http.get(f"{url}/api/v1/alerts").json()["data"]["alerts"])
        except httpx.HTTPError:
            return []

    _poll(lambda: bool(query('up{job="gateway"} == 1')), 60, lambda: "gateway never scraped")
    assert alerts() == []

    def submit(count: int) -> None:
        for index in range(count):
            body = {"type": "fail" if index % 2 else "echo", "payload": {"n": index}}
            assert http.post(f"{gateway}/jobs", json=body).status_code == 202

    # First let Prometheus see the series, then make them grow while it watches: a
    # counter that appears at its final value shows no rate.
    submit(2)
    _poll(
        lambda: bool(query('processor_jobs_failed_total{type="fail"}')),
        30,
        lambda: "the failure counter never scraped",
    )
    for _ in range(10):
        submit(4)
        time.sleep(0.5)  # the test is about rates over elapsed time

    for name in (
        "gateway_jobs_submitted_total",
        "gateway_jobs_accepted_total",
        "processor_jobs_processed_total",
        "processor_jobs_completed_total",
        "processor_jobs_failed_total",
        "processor_job_processing_seconds_bucket",
    ):
        _poll(lambda n=name: bool(query(n)), 30, lambda n=name: f"{n} never scraped")  # type: ignore[misc]

    def firing() -> bool:
        return any(
            a["labels"]["alertname"] == "JobFailureRateHigh" and a["state"] == "firing"  # type: ignore[index]
            for a in alerts()
        )

    _poll(firing, 60, lambda: f"alerts: {alerts()}")
    fired = next(a for a in alerts() if a["state"] == "firing")
    assert fired["labels"] == {
        "alertname": "JobFailureRateHigh",
        "severity": "warning",
        "service": "processor",
        "type": "fail",
    }
