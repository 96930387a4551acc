"""``observatory gate``: the end-to-end proof for a running observatory.

It talks to the system only as a client does (HTTP to the gateway and the read model;
``kubectl`` for the cluster preflight) and checks, step by step, that jobs go in, reach
their terminal state exactly once, leave a complete audit trail, move the counters and
the metrics by exactly what was sent, that a failing job ends ``FAILED`` after its
retries, and that a malformed message reaches the dead letters. Each step is PASS or
FAIL with its time; the report is printed as a table and written as JSON; the exit code
is 0 only when every step passed within the budget.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families

from actors.config.urls import redact
from contracts import SchemaName, get_contracts
from launcher._api_auth import auth_headers

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from launcher.cluster._run import Runner

__all__ = [
    "GATE_EPILOG",
    "GATE_JOB_TYPE",
    "Gate",
    "GateReport",
    "StepResult",
    "add_gate_arguments",
    "gate_main",
]

GATE_JOB_TYPE = "gate"
"""The type of the gate's jobs (completed by the default handler): /stats counts it apart."""
FAILING_MAX_ATTEMPTS = 2
"""Attempts the gate's deliberately failing job is given (``metadata.maxAttempts``)."""
LIFECYCLE = ("job.created", "job.validated", "job.executed", "job.completed")

GATE_EPILOG = """\
examples:
  observatory gate                                   # against observatory up on the default ports
  observatory gate --gateway-url http://127.0.0.1:3000 --read-model-url http://127.0.0.1:8080
  observatory gate --cluster                         # after observatory cluster up
  observatory gate --jobs 20 --budget-s 60 --report out/gate.json

steps: preflight (with --cluster: kubectl context and pods ready), health (with retry),
submit, complete, audit trail, stats, metrics, failing job, dead letter. Exit 0 only when
every step passes (and, with --budget-s, within the budget); the report is JSON.
"""


class GateFailure(Exception):
    """A step's check did not hold; the message says what was expected and seen."""


@dataclass(slots=True)
class StepResult:
    """One step's outcome."""

    name: str
    status: str
    """``PASS``, ``FAIL`` or ``SKIP`` (a step whose prerequisite failed)."""
    seconds: float
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass(slots=True)
class GateReport:
    """Every step, and whether the gate passed."""

    gateway_url: str
    read_model_url: str
    started_at: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    budget_s: float | None = None

    @property
    def passed(self) -> bool:
        within = self.budget_s is None or self.seconds <= self.budget_s
        return within and bool(self.steps) and all(s.status == "PASS" for s in self.steps)

    def to_json(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "startedAt": self.started_at,
            "seconds": round(self.seconds, 3),
            "budgetSeconds": self.budget_s,
            "gatewayUrl": redact(self.gateway_url),
            "readModelUrl": redact(self.read_model_url),
            "steps": [step.to_json() for step in self.steps],
        }


def _metric_total(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of the samples of counter ``name`` (matching ``labels``) in exposition text."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            if labels and any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            total += sample.value
    return total


class Gate:
    """Runs the steps against one observatory."""

    def __init__(
        self,
        gateway_url: str,
        read_model_url: str,
        *,
        jobs: int = 3,
        wait_s: float = 60.0,
        cluster: bool = False,
        runner: Runner | None = None,
        budget_s: float | None = None,
        client: httpx.AsyncClient | None = None,
        token: str | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("The gate submits at least one job.")
        self.gateway = gateway_url.rstrip("/")
        self.read_model = read_model_url.rstrip("/")
        self.jobs = jobs
        self.wait_s = wait_s
        self.cluster = cluster
        self._runner = runner
        self.budget_s = budget_s
        self._client = client
        self.token = token
        """Sent as a bearer token (default ``$OBSERVATORY_API_TOKEN``); needs ``submitter``."""
        self._job_ids: list[str] = []
        self._stats_before: dict[str, object] = {}
        self._metrics_before = 0.0

    # -- helpers ---------------------------------------------------------------------

    async def _get_json(self, http: httpx.AsyncClient, url: str) -> object:
        response = await http.get(url)
        if response.status_code != 200:
            raise GateFailure(f"GET {url} answered {response.status_code}: {response.text[:200]}")
        return response.json()

    async def _poll(
        self, what: str, check: Callable[[], Awaitable[str | None]], *, timeout_s: float
    ) -> None:
        """Call ``check`` until it returns ``None`` (done); fail with its last complaint."""
        deadline = time.monotonic() + timeout_s
        complaint: str | None = "not checked yet"
        delay = 0.05
        while True:
            try:
                complaint = await check()
            except httpx.HTTPError as exc:
                complaint = f"{type(exc).__name__}: {exc}"
            if complaint is None:
                return
            if time.monotonic() >= deadline:
                raise GateFailure(f"{what} not within {timeout_s:g} s: {complaint}")
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _stats(self, http: httpx.AsyncClient) -> dict[str, object]:
        stats = await self._get_json(http, f"{self.read_model}/stats")
        assert isinstance(stats, dict)
        return stats

    @staticmethod
    def _type_counts(stats: dict[str, object], job_type: str) -> tuple[int, int, int]:
        by_type = stats.get("byType")
        entry = by_type.get(job_type, {}) if isinstance(by_type, dict) else {}
        assert isinstance(entry, dict)
        return (
            int(entry.get("total", 0)),
            int(entry.get("completed", 0)),
            int(entry.get("failed", 0)),
        )

    async def _accepted_metric(self, http: httpx.AsyncClient) -> float:
        response = await http.get(f"{self.gateway}/metrics")
        if response.status_code != 200:
            raise GateFailure(f"GET {self.gateway}/metrics answered {response.status_code}.")
        return _metric_total(response.text, "gateway_jobs_accepted_total")

    # -- steps -----------------------------------------------------------------------

    async def preflight(self, http: httpx.AsyncClient) -> str:
        """The kind cluster's kubectl context exists, its nodes and deployments are ready."""
        from launcher.cluster import kubectl
        from launcher.cluster._run import ProcessRunner

        runner = self._runner or ProcessRunner()
        if not await kubectl.context_exists(runner):
            raise GateFailure(
                f"kubectl has no context {kubectl.CONTEXT}; run `observatory cluster up`."
            )
        nodes = await kubectl.nodes(runner)
        unready_nodes = [name for name, status in nodes if status != "Ready"]
        if not nodes or unready_nodes:
            raise GateFailure(f"Nodes not Ready: {unready_nodes or 'none found'}.")
        deployments = dict(await kubectl.deployments(runner))
        unready = []
        for name in kubectl.DEPLOYMENTS:
            ready, _, wanted = deployments.get(name, "0/?").partition("/")
            if ready != wanted or ready in ("", "0"):
                unready.append(f"{name} {deployments.get(name, 'missing')}")
        if unready:
            raise GateFailure(f"Deployments not ready: {', '.join(unready)}.")
        return f"context {kubectl.CONTEXT}, {len(nodes)} node(s) Ready, pods ready"

    async def health(self, http: httpx.AsyncClient) -> str:
        """Every service's /healthz answers 200 (retried while they come up)."""
        urls = [f"{self.gateway}/healthz", f"{self.read_model}/healthz"]
        for url in urls:

            async def healthy(url: str = url) -> str | None:
                response = await http.get(url)
                if response.status_code == 200:
                    return None
                body = response.json() if response.content else {}
                unhealthy = body.get("unhealthy") if isinstance(body, dict) else None
                return f"{url} answered {response.status_code} (unhealthy: {unhealthy})"

            await self._poll("health", healthy, timeout_s=min(self.wait_s, 30.0))
        return "gateway and read model healthy"

    async def submit(self, http: httpx.AsyncClient) -> str:
        """N jobs accepted, each answer valid against job-accepted.json."""
        self._stats_before = await self._stats(http)
        self._metrics_before = await self._accepted_metric(http)
        contracts = get_contracts()
        run = uuid.uuid4().hex[:8]
        for index in range(self.jobs):
            body = {"type": GATE_JOB_TYPE, "payload": {"gate": run, "index": index}}
            response = await http.post(f"{self.gateway}/jobs", json=body)
            if response.status_code != 202:
                raise GateFailure(f"POST /jobs answered {response.status_code}: {response.text}")
            accepted = response.json()
            issues = contracts.issues(SchemaName.JOB_ACCEPTED, accepted)
            if issues:
                raise GateFailure(f"The answer breaks job-accepted.json: {issues[0].message}")
            self._job_ids.append(str(accepted["jobId"]))
        return f"{self.jobs} accepted"

    async def complete(self, http: httpx.AsyncClient) -> str:
        """Every submitted job reaches COMPLETED."""
        pending = set(self._job_ids)

        async def all_done() -> str | None:
            for job_id in sorted(pending):
                response = await http.get(f"{self.read_model}/jobs/{job_id}")
                if response.status_code == 200 and response.json()["status"] == "COMPLETED":
                    pending.discard(job_id)
                elif response.status_code == 200 and response.json()["status"] == "FAILED":
                    raise GateFailure(f"Job {job_id} FAILED: {response.json().get('error')}")
            return f"{len(pending)} not COMPLETED yet" if pending else None

        await self._poll("completion", all_done, timeout_s=self.wait_s)
        return f"{len(self._job_ids)} COMPLETED"

    async def audit(self, http: httpx.AsyncClient) -> str:
        """Each job's events are in the audit trail, valid, each event id once."""
        contracts = get_contracts()
        counted = 0
        for job_id in self._job_ids:

            async def trail(job_id: str = job_id) -> str | None:
                events = await self._get_json(
                    http, f"{self.read_model}/events?jobId={job_id}&limit=500"
                )
                assert isinstance(events, list)
                types = {event["eventType"] for event in events}
                missing = [t for t in LIFECYCLE if t not in types]
                return f"job {job_id} lacks {missing}" if missing else None

            await self._poll("audit trail", trail, timeout_s=min(self.wait_s, 30.0))
            events = await self._get_json(
                http, f"{self.read_model}/events?jobId={job_id}&limit=500"
            )
            assert isinstance(events, list)
            ids = Counter(str(event["eventId"]) for event in events)
            twice = [event_id for event_id, n in ids.items() if n > 1]
            if twice:
                raise GateFailure(f"Job {job_id}: event ids stored more than once: {twice}")
            for event in events:
                issues = contracts.issues(SchemaName.EVENT_ENVELOPE, event)
                if issues:
                    raise GateFailure(f"Event {event.get('eventId')} breaks the envelope: {issues}")
            counted += len(events)
        return f"{counted} events, no duplicate ids"

    async def stats(self, http: httpx.AsyncClient) -> str:
        """/stats grew by exactly N jobs of the gate's type, all completed."""
        before = self._type_counts(self._stats_before, GATE_JOB_TYPE)
        expected = (before[0] + self.jobs, before[1] + self.jobs, before[2])

        async def grown() -> str | None:
            now = self._type_counts(await self._stats(http), GATE_JOB_TYPE)
            return None if now == expected else f"byType.{GATE_JOB_TYPE} is {now}, want {expected}"

        await self._poll("stats", grown, timeout_s=min(self.wait_s, 30.0))
        return f"byType.{GATE_JOB_TYPE} +{self.jobs} total, +{self.jobs} completed"

    async def metrics(self, http: httpx.AsyncClient) -> str:
        """The gateway's /metrics counted the accepted jobs."""
        after = await self._accepted_metric(http)
        grew = after - self._metrics_before
        if grew < self.jobs:
            raise GateFailure(
                f"gateway_jobs_accepted_total grew by {grew:g}, expected at least {self.jobs}."
            )
        return f"gateway_jobs_accepted_total +{grew:g}"

    async def failing_job(self, http: httpx.AsyncClient) -> str:
        """A job that always fails ends FAILED after its retries, with one job.failed."""
        body = {
            "type": "fail",
            "payload": {"message": "observatory gate: failing on purpose"},
            "metadata": {"maxAttempts": FAILING_MAX_ATTEMPTS},
        }
        response = await http.post(f"{self.gateway}/jobs", json=body)
        if response.status_code != 202:
            raise GateFailure(f"POST /jobs answered {response.status_code}: {response.text}")
        job_id = response.json()["jobId"]
        job: dict[str, object] = {}

        async def failed() -> str | None:
            found = await http.get(f"{self.read_model}/jobs/{job_id}")
            if found.status_code != 200:
                return f"job {job_id} not known yet ({found.status_code})"
            job.update(found.json())
            return None if job["status"] == "FAILED" else f"status {job['status']}"

        await self._poll("failing job", failed, timeout_s=self.wait_s)
        if job.get("attempts") != FAILING_MAX_ATTEMPTS:
            raise GateFailure(
                f"Job {job_id} FAILED after {job.get('attempts')} attempt(s); it was given "
                f"{FAILING_MAX_ATTEMPTS}."
            )
        terminal: list[object] = []

        async def recorded() -> str | None:
            # The trail follows the job store by a moment (another service writes it).
            events = await self._get_json(
                http, f"{self.read_model}/events?jobId={job_id}&limit=500"
            )
            assert isinstance(events, list)
            terminal[:] = [e for e in events if e["eventType"] == "job.failed"]
            return None if terminal else "no job.failed event in the audit trail yet"

        await self._poll(
            "job.failed in the audit trail", recorded, timeout_s=min(self.wait_s, 30.0)
        )
        if len(terminal) != 1:
            raise GateFailure(f"Job {job_id} has {len(terminal)} job.failed events, not 1.")
        return f"FAILED after {FAILING_MAX_ATTEMPTS} attempts, one job.failed"

    async def dead_letter(self, http: httpx.AsyncClient) -> str:
        """A malformed message (the gateway's probe) reaches the dead letters; then discarded."""
        response = await http.post(f"{self.gateway}/probes/dead-letter")
        if response.status_code != 202:
            raise GateFailure(
                f"POST /probes/dead-letter answered {response.status_code}: {response.text}"
            )
        message_id = response.json()["messageId"]
        found: list[str] = []

        async def arrived() -> str | None:
            letters = await self._get_json(http, f"{self.read_model}/dead-letters?limit=500")
            assert isinstance(letters, list)
            found[:] = [str(d["deadLetterId"]) for d in letters if d.get("messageId") == message_id]
            return None if found else f"no dead letter for message {message_id} yet"

        await self._poll("dead letter", arrived, timeout_s=self.wait_s)
        if len(found) != 1:
            raise GateFailure(f"Message {message_id} was dead-lettered {len(found)} times.")
        discarded = await http.delete(f"{self.gateway}/dead-letters/{found[0]}")
        if discarded.status_code != 200:
            raise GateFailure(f"Discarding the probe answered {discarded.status_code}.")
        return f"probe {message_id[:8]} dead-lettered once, then discarded"

    # -- running ---------------------------------------------------------------------

    def plan(self) -> list[tuple[str, Callable[[httpx.AsyncClient], Awaitable[str]], str | None]]:
        """(name, step, prerequisite) in order."""
        steps: list[tuple[str, Callable[[httpx.AsyncClient], Awaitable[str]], str | None]] = []
        if self.cluster:
            steps.append(("preflight", self.preflight, None))
        steps += [
            ("health", self.health, "preflight" if self.cluster else None),
            ("submit", self.submit, "health"),
            ("complete", self.complete, "submit"),
            ("audit trail", self.audit, "complete"),
            ("stats", self.stats, "complete"),
            ("metrics", self.metrics, "submit"),
            ("failing job", self.failing_job, "health"),
            ("dead letter", self.dead_letter, "health"),
        ]
        return steps

    async def run(self, on_step: Callable[[StepResult], None] | None = None) -> GateReport:
        """Every step in order; a step whose prerequisite failed is SKIP (and fails the gate)."""
        report = GateReport(
            self.gateway,
            self.read_model,
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            budget_s=self.budget_s,
        )
        started = time.perf_counter()
        status: dict[str, str] = {}
        client = self._client or httpx.AsyncClient(timeout=10.0, headers=auth_headers(self.token))
        async with client as http:
            for name, step, needs in self.plan():
                step_started = time.perf_counter()
                left = None if self.budget_s is None else self.budget_s - (step_started - started)
                if needs is not None and status.get(needs) != "PASS":
                    result = StepResult(name, "SKIP", 0.0, f"needs {needs}, which did not pass")
                elif left is not None and left <= 0:
                    result = StepResult(name, "SKIP", 0.0, "the budget was used up")
                else:
                    try:
                        with anyio.fail_after(left):
                            detail = await step(http)
                        result = StepResult(name, "PASS", 0.0, detail)
                    except GateFailure as exc:
                        result = StepResult(name, "FAIL", 0.0, str(exc))
                    except TimeoutError:
                        result = StepResult(
                            name, "FAIL", 0.0, f"over the {self.budget_s:g} s budget"
                        )
                    except httpx.HTTPError as exc:
                        result = StepResult(name, "FAIL", 0.0, f"{type(exc).__name__}: {exc}")
                    except Exception as exc:  # a step's own bug must not hide the report
                        result = StepResult(name, "FAIL", 0.0, f"{type(exc).__name__}: {exc}")
                    result.seconds = time.perf_counter() - step_started
                status[name] = result.status
                report.steps.append(result)
                if on_step is not None:
                    on_step(result)
        report.seconds = time.perf_counter() - started
        return report


# -- command line --------------------------------------------------------------------


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``observatory gate`` flags."""
    parser.add_argument(
        "--gateway-url", default="http://127.0.0.1:3000", help="the gateway (default %(default)s)"
    )
    parser.add_argument(
        "--read-model-url",
        default="http://127.0.0.1:8080",
        help="the read model (default %(default)s)",
    )
    parser.add_argument(
        "--jobs", type=int, default=3, help="jobs to submit and follow (default %(default)s)"
    )
    parser.add_argument(
        "--wait-s",
        type=float,
        default=60.0,
        help="longest wait for a step's outcome, in seconds (default %(default)s)",
    )
    parser.add_argument(
        "--budget-s", type=float, default=None, help="fail the gate if it runs longer than this"
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also check the kind cluster first (kubectl context, nodes and pods ready)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding a submitter API token (default: $OBSERVATORY_API_TOKEN, if set)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("gate-report.json"),
        help="where to write the JSON report (default %(default)s)",
    )


def _print_table(report: GateReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"observatory gate: {report.gateway_url} · {report.read_model_url}")
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    colours = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
    for step in report.steps:
        table.add_row(
            step.name,
            f"[{colours[step.status]}]{step.status}[/]",
            f"{step.seconds:.2f} s",
            step.detail,
        )
    console = Console(soft_wrap=False, width=max(100, Console().width))
    console.print(table)
    budget = "" if report.budget_s is None else f" (budget {report.budget_s:g} s)"
    verdict = "[green]PASSED[/]" if report.passed else "[red]FAILED[/]"
    console.print(f"{verdict} in {report.seconds:.2f} s{budget}")


def gate_main(args: argparse.Namespace) -> int:
    """Run the gate; print the table, write the report, 0 only when everything passed."""
    if args.jobs < 1:
        sys.stderr.write("observatory gate: --jobs must be at least 1\n")
        return 2
    # One line per request would bury the table.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    gate = Gate(
        args.gateway_url,
        args.read_model_url,
        jobs=args.jobs,
        wait_s=args.wait_s,
        cluster=args.cluster,
        budget_s=args.budget_s,
        token=args.token_file.read_text().strip() if args.token_file else None,
    )
    report = anyio.run(gate.run)
    _print_table(report)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0 if report.passed else 1
