"""``observatory gate``: its verdicts when things are wrong (the e2e tests show it pass)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import respx

from launcher.cli import build_parser
from launcher.cluster._run import CompletedCommand
from launcher.gate import Gate, _metric_total, gate_main

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(30)

GW, RM = "http://gateway.test", "http://read-model.test"


class FakeKubectl:
    """kubectl answers by argv prefix."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    async def run(
        self, argv: list[str], *, timeout_s: float, hint: str = "", check: bool = True
    ) -> CompletedCommand:
        self.calls.append(argv)
        key = max((k for k in self.answers if tuple(argv[: len(k)]) == k), key=len)
        code, stdout = self.answers[key]
        return CompletedCommand(argv, code, stdout, "")


CONTEXTS = ("kubectl", "config", "get-contexts")
NODES = ("kubectl", "--context", "kind-task-observatory", "get", "nodes")
DEPLOYMENTS = ("kubectl", "--context", "kind-task-observatory", "-n", "task-observatory")
ALL_READY = (
    "gateway 1/1 1 1 1m\nprocessor 2/2 2 2 1m\nmetrics-engine 1/1 1 1 1m\nread-model 1/1 1 1 1m\n"
)


@pytest.mark.parametrize(
    ("answers", "verdict"),
    [
        (
            {CONTEXTS: (0, "kind-other\n"), NODES: (0, ""), DEPLOYMENTS: (0, "")},
            "no context kind-task-observatory",
        ),
        (
            {
                CONTEXTS: (0, "kind-task-observatory\n"),
                NODES: (0, "n1 NotReady control-plane 1m v1\n"),
                DEPLOYMENTS: (0, ALL_READY),
            },
            "Nodes not Ready: ['n1']",
        ),
        (
            {
                CONTEXTS: (0, "kind-task-observatory\n"),
                NODES: (0, "n1 Ready control-plane 1m v1\n"),
                DEPLOYMENTS: (0, ALL_READY.replace("processor 2/2", "processor 1/2")),
            },
            "Deployments not ready: processor 1/2",
        ),
    ],
)
async def test_the_cluster_preflight_fails_with_what_is_missing_and_skips_the_rest(
    answers: dict[tuple[str, ...], tuple[int, str]], verdict: str
) -> None:
    runner = FakeKubectl(answers)
    report = await Gate(GW, RM, cluster=True, runner=runner).run()
    assert report.steps[0].name == "preflight"
    assert report.steps[0].status == "FAIL"
    assert verdict in report.steps[0].detail
    assert {s.status for s in report.steps[1:]} == {"SKIP"}
    assert not report.passed


async def test_a_ready_cluster_passes_the_preflight() -> None:
    runner = FakeKubectl(
        {
            CONTEXTS: (0, "kind-task-observatory\n"),
            NODES: (0, "n1 Ready control-plane 1m v1\n"),
            DEPLOYMENTS: (0, ALL_READY),
        }
    )
    gate = Gate(GW, RM, cluster=True, runner=runner, wait_s=0.2)
    with respx.mock:
        respx.get(f"{GW}/healthz").respond(
            503, json={"status": "unavailable", "unhealthy": ["publisher"]}
        )
        respx.get(f"{RM}/healthz").respond(200, json={"status": "ok"})
        report = await gate.run()
    assert [(s.name, s.status) for s in report.steps[:2]] == [
        ("preflight", "PASS"),
        ("health", "FAIL"),
    ]
    assert "unhealthy: ['publisher']" in report.steps[1].detail


async def test_a_job_that_never_completes_fails_the_gate_with_what_was_seen() -> None:
    gate = Gate(GW, RM, jobs=1, wait_s=0.3)
    job_id = "7d3c2c9e-8f0f-4d7e-9c55-5a8f0c1f2b3a"
    with respx.mock:
        respx.get(f"{GW}/healthz").respond(200, json={})
        respx.get(f"{RM}/healthz").respond(200, json={})
        respx.get(f"{RM}/stats").respond(200, json={"byType": {}})
        respx.get(f"{GW}/metrics").respond(200, text="gateway_jobs_accepted_total 0.0\n")
        respx.post(f"{GW}/jobs").respond(
            202, json={"jobId": job_id, "eventId": "2f1d0c9e-8f0f-4d7e-9c55-5a8f0c1f2b3a"}
        )
        respx.get(f"{RM}/jobs/{job_id}").respond(200, json={"status": "EXECUTING"})
        respx.post(f"{GW}/probes/dead-letter").respond(503, json={"error": "broker away"})
        report = await gate.run()
    by_name = {s.name: s for s in report.steps}
    assert by_name["submit"].status == "PASS"
    assert by_name["complete"].status == "FAIL"
    assert "1 not COMPLETED yet" in by_name["complete"].detail
    assert by_name["audit trail"].status == "SKIP"
    assert by_name["dead letter"].status == "FAIL"
    assert "503" in by_name["dead letter"].detail


async def test_an_answer_that_breaks_the_contract_fails_submit() -> None:
    with respx.mock:
        respx.get(f"{GW}/healthz").respond(200, json={})
        respx.get(f"{RM}/healthz").respond(200, json={})
        respx.get(f"{RM}/stats").respond(200, json={"byType": {}})
        respx.get(f"{GW}/metrics").respond(200, text="")
        respx.post(f"{GW}/jobs").respond(202, json={"jobId": "not-a-uuid"})
        report = await Gate(GW, RM, jobs=1, wait_s=0.2).run()
    submit = next(s for s in report.steps if s.name == "submit")
    assert submit.status == "FAIL"
    assert "job-accepted.json" in submit.detail


def test_unreachable_services_fail_the_command_and_the_report_says_why(tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "gate.json"
    args = build_parser().parse_args(
        [
            "gate",
            "--gateway-url",
            "http://127.0.0.1:9",
            "--read-model-url",
            "http://127.0.0.1:9",
            "--wait-s",
            "0.3",
            "--budget-s",
            "20",
            "--report",
            str(report_path),
        ]
    )
    assert gate_main(args) == 1
    report = json.loads(report_path.read_text())
    assert report["passed"] is False
    assert report["budgetSeconds"] == 20
    assert report["steps"][0]["name"] == "health"
    assert report["steps"][0]["status"] == "FAIL"
    assert "ConnectError" in report["steps"][0]["detail"]


async def test_a_gate_over_its_budget_fails_even_if_every_step_passed() -> None:
    gate = Gate(GW, RM, budget_s=0.0)
    report = await gate.run()
    assert {s.status for s in report.steps} == {"SKIP"}
    assert "budget" in report.steps[0].detail
    assert not report.passed


def test_metric_totals_sum_matching_samples() -> None:
    text = (
        "# TYPE gateway_jobs_submitted_total counter\n"
        'gateway_jobs_submitted_total{type="echo"} 3.0\n'
        'gateway_jobs_submitted_total{type="gate"} 2.0\n'
        "# TYPE gateway_jobs_accepted_total counter\n"
        "gateway_jobs_accepted_total 5.0\n"
    )
    assert _metric_total(text, "gateway_jobs_accepted_total") == 5.0
    assert _metric_total(text, "gateway_jobs_submitted_total") == 5.0
    assert _metric_total(text, "gateway_jobs_submitted_total", {"type": "gate"}) == 2.0
    with pytest.raises(ValueError, match="at least one"):
        Gate(GW, RM, jobs=0)
