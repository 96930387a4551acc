"""Alert rules and Alertmanager config: checked by promtool and amtool, names checked live.

promtool and amtool come from Debian's ``prometheus`` and ``prometheus-alertmanager``
packages (``.ci/run`` installs them); without them these tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from quart_app.read_model.runbooks import anchor, render_runbooks

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "manifests" / "prometheus" / "rules.yml"
RULE_TESTS = ROOT / "manifests" / "prometheus" / "tests" / "rules-test.yml"
ALERTMANAGER = ROOT / "manifests" / "alertmanager" / "alertmanager.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Series Prometheus itself adds to every scrape.
PROMETHEUS_SERIES = {"up"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_every_alert_fires_on_a_synthetic_series_and_stays_quiet_on_a_healthy_one() -> None:
    result = _run(_tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == set(_alerts())


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = _run(_tool("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, object]]:
    return {str(rule["alert"]): rule for rule in _rules()}


def test_every_rule_has_severity_service_summary_description_and_a_runbook_section() -> None:
    # Issue 16 (item 9): the sections of the page the read model serves at /runbooks.
    anchors = set(re.findall(r'<h[1-6] id="([^"]+)"', render_runbooks(RUNBOOKS.read_text())))
    for name, rule in _alerts().items():
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict)
        assert isinstance(annotations, dict)
        assert labels["severity"] in ("critical", "warning"), name
        assert labels["service"], name
        assert annotations["summary"], name
        assert annotations["description"], name
        url = str(annotations["runbook_url"])
        # Its own section, on the read model as `observatory up` and the port-forwards serve it.
        assert url == f"http://localhost:8080/runbooks#{anchor(name)}", name
        assert anchor(name) in anchors, f"{name}: no runbook section for {url}"


def test_every_metric_the_rules_query_is_exported_by_a_service(
    exported_series: set[str], series_in: Callable[[str], set[str]]
) -> None:
    queried = {name for rule in _rules() for name in series_in(str(rule["expr"]))}
    missing = queried - exported_series - PROMETHEUS_SERIES
    assert not missing, f"rules query series no service exports: {sorted(missing)}"
    assert {"processor_jobs_failed_total", "dependency_up", "broker_queue_depth"} <= queried
