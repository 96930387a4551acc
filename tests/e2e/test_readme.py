"""Issue 16 (item 8): every shell block of the README is run against a running observatory.

The README's ``sh`` blocks are what a new user types. Each one runs here, command by
command, in bash against ``observatory up`` on free ports: ``localhost:3000`` /
``127.0.0.1:3000`` become the gateway, ``:8080`` the read model, ``<jobId>`` a job of
that observatory in the state the command is shown for (a running one to cancel, a
``FAILED`` one to retry or read), and ``observatory`` this checkout's command.

Every command must succeed: a ``curl`` gets a 2xx answer that is no error (no
``error`` in the answer to a ``POST`` or ``DELETE``, nor in any of its ``results``), every
other command exits 0 without a traceback and, for ``observatory``, without an
``error:`` line. :data:`KNOWN_FAILURES` lists the commands known to end otherwise here,
each with the status it must end with and why; a command that starts failing, or one
listed that starts succeeding, fails the test.

A block that cannot run in a test (it installs, runs in the foreground for good, needs a
cluster or a terminal) carries ``<!-- docs-test: skip (why) -->`` on the line before it;
:data:`SKIPPED` lists those blocks by their first command, so a block skipped by
mistake, or a new block nobody ran, fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.conftest import observatory_running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import RunningObservatory

README = Path(__file__).resolve().parents[2] / "README.md"
SKIPPED = {
    "python3 -m venv .venv && .venv/bin/pip install -r requirements/lock.txt \\": "installs",
    "observatory up --infra local          # all four services as processes, on the ports below": (
        "real servers"
    ),
    "observatory up --app myjobs                        # embedded, with your handlers": (
        "an app of your own"
    ),
    "python -m http.server 8765 --bind 127.0.0.1 --directory examples/fetcher/site": (
        "three terminals"
    ),
    "curl -s -X POST localhost:3000/jobs -H 'Content-Type: application/json' \\": (
        "the example app"
    ),
    "observatory cluster up            # prerequisites, cluster, image, load, deploy, rollout,": (
        "kind"
    ),
    "observatory tui                          # the read model at $READ_MODEL_URL (default :8080)": (
        "a terminal"
    ),
    "observatory bench                                   # starts `observatory up` itself": (
        "minutes of load"
    ),
    "observatory gate                                   # observatory up on the default ports": (
        "default ports, a cluster"
    ),
    "scripts/test": "the whole suite",
    "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 observatory up --infra local": (
        "a trace backend"
    ),
}
"""The blocks the README marks as not runnable here, by their first line."""
KNOWN_FAILURES: dict[str, tuple[str, str]] = {}
"""README commands known not to succeed here, by the command as written (its comment left
out): the exit status (``exit 1``) or HTTP status (``HTTP 409``) each must end with, and
why. Empty: every command the README shows succeeds as shown."""
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!-- docs-test: skip \((?P<why>[^)]+)\) -->$")
_SHELLS = {"sh", "bash", "shell", "console"}

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Block:
    """One shell block of the README."""

    line: int
    """Where its fence opens (1-based)."""
    text: str
    skip: str | None
    """Why it is not run, from its marker; ``None``: it is run."""

    @property
    def first(self) -> str:
        return self.text.splitlines()[0]

    def commands(self) -> list[str]:
        """Its commands: continuation lines joined, blank and comment-only lines left out."""
        commands: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            line = pending + raw
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
        return commands


def shell_blocks(text: str) -> list[Block]:
    """The README's shell blocks, each with its skip marker if it has one."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        if opening[1] in _SHELLS:
            marker = _SKIP.match(lines[index - 1]) if index else None
            body = "\n".join(lines[index + 1 : end])
            blocks.append(Block(index + 1, body, marker["why"] if marker else None))
        index = end + 1
    return blocks


def test_the_readme_marks_exactly_the_blocks_a_test_cannot_run() -> None:
    text = README.read_text()
    blocks = shell_blocks(text)
    skipped = {block.first: block.skip for block in blocks if block.skip is not None}
    assert sorted(skipped) == sorted(SKIPPED)
    assert all(why and len(why) > 10 for why in skipped.values()), skipped
    # Every marker sits on a shell block (none lost above a paragraph or another block).
    assert len(re.findall(r"<!-- docs-test: skip", text)) == len(skipped)
    assert len([block for block in blocks if block.skip is None]) >= 6


def test_commands_are_split_as_bash_reads_them() -> None:
    block = Block(1, "curl a \\\n     -d '{}'\n# a comment\n\ncurl b   # why\n", None)
    assert block.commands() == ["curl a       -d '{}'", "curl b   # why"]
    parsed = shell_blocks("<!-- docs-test: skip (a good reason) -->\n```sh\nx\n```\n```py\ny\n```")
    assert parsed == [Block(2, "x", "a good reason")]


@pytest.fixture(scope="module")
def observatory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    with observatory_running(tmp_path_factory.mktemp("readme") / "data") as running:
        yield running


def _ended_job(observatory: RunningObservatory, job: dict[str, object], status: str) -> str:
    """A job submitted and waited for until it ended ``status``; its id."""
    submitted = httpx.post(f"{observatory.gateway}/jobs", json=job)
    assert submitted.status_code == 202, submitted.text
    job_id = str(submitted.json()["jobId"])
    deadline = time.monotonic() + 60
    while True:  # the job is unknown to the read model until a processor takes it
        answer = httpx.get(f"{observatory.read_model}/jobs/{job_id}", params={"wait": 30})
        if answer.status_code == 200 and answer.json()["status"] == status:
            return job_id
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def _job_for(command: str, observatory: RunningObservatory) -> str:
    """A job for ``<jobId>`` in ``command`` in the state the README shows it for: one
    still running to cancel, one that ended FAILED and completes when retried to retry,
    one that ended FAILED otherwise (every command shown for one applies)."""
    if re.search(r"-X DELETE \S*/jobs/<jobId>|^observatory cancel ", command):
        submitted = httpx.post(
            f"{observatory.gateway}/jobs", json={"type": "sleep", "payload": {"seconds": 60}}
        )
        assert submitted.status_code == 202, submitted.text
        return str(submitted.json()["jobId"])
    payload = {"succeedFromRound": 2} if re.search(r"retry", command) else {}
    return _ended_job(
        observatory,
        {"type": "fail", "payload": payload, "metadata": {"maxAttempts": 1}},
        "FAILED",
    )


def _filled(command: str, observatory: RunningObservatory) -> str:
    gateway = observatory.gateway.split("://", 1)[1]
    read_model = observatory.read_model.split("://", 1)[1]
    for host in ("localhost", "127.0.0.1"):
        command = command.replace(f"{host}:3000", gateway).replace(f"{host}:8080", read_model)
    if "<jobId>" in command:
        command = command.replace("<jobId>", _job_for(command, observatory))
    return command


_PRELUDE = """
set -o pipefail
observatory() { "$PYTHON" -m launcher.cli "$@"; }
# Each curl prints its body, then the HTTP status on a line of its own.
curl() { command curl -sS --max-time 60 -w '\\nHTTP %{http_code}\\n' "$@"; }
"""


def _run(
    command: str, observatory: RunningObservatory, cwd: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "GATEWAY_URL": observatory.gateway,
        "READ_MODEL_URL": observatory.read_model,
    }
    env.pop("OBSERVATORY_API_TOKEN", None)
    return subprocess.run(
        ["bash", "-c", _PRELUDE + command],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
        check=False,
    )


def _as_written(command: str) -> str:
    """``command`` without its trailing comment."""
    return re.sub(r"\s+#\s.*$", "", command)


def _error_answers(command: str, stdout: str) -> list[object]:
    """The errors in the answers of a ``curl`` that asks for an action (``-X``): an
    ``error`` at the top of an answer or in one of its ``results`` (a batch's refused
    job). A read's answer may carry a job's own ``error`` and is not looked into."""
    if " -X " not in f" {command} ":
        return []
    errors: list[object] = []
    for body in re.split(r"^HTTP \d{3}$", stdout, flags=re.MULTILINE):
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            continue
        if not isinstance(answer, dict):
            continue
        results = answer.get("results")
        answers = [answer, *(results if isinstance(results, list) else [])]
        errors += [
            found["error"] for found in answers if isinstance(found, dict) and "error" in found
        ]
    return errors


def _problem(command: str, done: subprocess.CompletedProcess[str]) -> str | None:
    """What is wrong with how ``command`` ended, or ``None``: it succeeded (or ended as
    :data:`KNOWN_FAILURES` says it must)."""
    if "Traceback" in done.stderr:
        return "a traceback"
    program = command.split()[0]
    statuses = re.findall(r"^HTTP (\d{3})$", done.stdout, flags=re.MULTILINE)
    if program == "curl" and not statuses:
        return f"no answer (exit {done.returncode})"
    ended = f"HTTP {statuses[-1]}" if program == "curl" else f"exit {done.returncode}"
    known = KNOWN_FAILURES.get(_as_written(command))
    if known is not None:
        return None if ended == known[0] else f"{ended}, not the {known[0]} known"
    if done.returncode != 0:
        return f"exit {done.returncode}"
    if program == "curl":
        if not all(status.startswith("2") for status in statuses):
            return f"HTTP {', '.join(statuses)}"
        if errors := _error_answers(command, done.stdout):
            return f"an error answer {errors}"
    if program == "observatory" and ": error:" in done.stderr:
        return "an error line"
    return None


def test_every_runnable_shell_block_of_the_readme_runs(
    observatory: RunningObservatory, tmp_path: Path
) -> None:
    ran: list[str] = []
    problems: list[str] = []
    for block in shell_blocks(README.read_text()):
        if block.skip is not None:
            continue
        for command in block.commands():
            filled = _filled(command, observatory)
            assert "<" not in filled.split("#")[0], f"README line {block.line}: {command}"
            done = _run(filled, observatory, tmp_path)
            problem = _problem(command, done)
            if problem is not None:
                problems.append(
                    f"README line {block.line}: {command}: {problem}\n"
                    f"{done.stdout[-1500:]}{done.stderr[-1500:]}"
                )
            ran.append(command)
    assert problems == [], "\n\n".join(problems)
    programs = [command.split()[0] for command in ran]
    assert programs.count("curl") >= 12
    assert programs.count("observatory") >= 6
    # Every known failure is a command the README still shows.
    assert sorted(set(KNOWN_FAILURES) - {_as_written(c) for c in ran}) == []


def test_a_command_that_fails_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def ended(code: int, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], code, stdout, stderr)

    refused = '{"error": "The job does not match the job-submission contract."}\nHTTP 400\n'
    assert _problem("curl -X POST g/jobs -d '{}'", ended(0, refused)) == "HTTP 400"
    conflict = '{"error": "Job j is FAILED."}\nHTTP 409\n'
    assert _problem("curl -X DELETE g/jobs/j   # 202", ended(0, conflict)) == "HTTP 409"
    half = '{"accepted": 1, "results": [{"jobId": "a"}, {"error": "bad"}]}\nHTTP 202\n'
    assert _problem("curl -X POST g/jobs/batch", ended(0, half)) == "an error answer ['bad']"
    failed_job = '{"status": "FAILED", "error": "boom"}\nHTTP 200\n'
    assert _problem("curl g/jobs/j", ended(0, failed_job)) is None
    line = "observatory cancel: error: Job j is FAILED; only a job that has not ended can be.\n"
    assert _problem("observatory cancel j", ended(1, stderr=line)) == "exit 1"
    assert _problem("observatory workers", ended(0, stderr=line)) == "an error line"
    assert _problem("observatory queues", ended(0, "ok\n")) is None
    assert _problem("observatory queues", ended(0, "", "Traceback (most...")) == "a traceback"
    # A known failure must end as listed, and nothing else may.
    monkeypatch.setitem(KNOWN_FAILURES, "curl -X DELETE g/jobs/j", ("HTTP 409", "it ended"))
    monkeypatch.setitem(KNOWN_FAILURES, "observatory cancel j", ("exit 1", "it ended"))
    assert _problem("curl -X DELETE g/jobs/j   # 202", ended(0, conflict)) is None
    accepted = '{"jobId": "j"}\nHTTP 202\n'
    assert (
        _problem("curl -X DELETE g/jobs/j", ended(0, accepted))
        == "HTTP 202, not the HTTP 409 known"
    )
    assert _problem("observatory cancel j", ended(1, stderr=line)) is None
    assert _problem("observatory cancel j", ended(0)) == "exit 0, not the exit 1 known"


def test_the_readme_describes_the_demo_mix_as_the_demo_runs_it() -> None:
    from launcher.demo import DEMO_MIX
    from quart_app.read_model.alert_rules import RuleWindows

    text = " ".join(README.read_text().split())
    start = text.index("**The demo mix.**")
    paragraph = text[start : text.index("From the command line", start)]
    described = {
        kind: int(share) / 100 for share, kind in re.findall(r"(\d+) % `(\w+)`", paragraph)
    }
    assert described == {kind: weight for weight, kind in DEMO_MIX}
    assert "submits 2 jobs a second" in paragraph  # --demo-rate's default
    windows = RuleWindows()
    assert windows.failure_ratio == 0.05
    assert "5 %" in paragraph
    assert windows.failure_for_s == 300
    assert "about five minutes" in paragraph
    assert "**JobFailureRateHigh**" in paragraph
    assert "`type=fail`" in paragraph


def test_a_batch_is_a_bare_array_and_an_object_is_refused_as_the_readme_says(
    observatory: RunningObservatory,
) -> None:
    text = " ".join(README.read_text().split())
    quoted = re.search(
        r"An object such as `\{\"jobs\": \[\.\.\.\]\}` is refused with 400 \(`([^`]+)`\)", text
    )
    assert quoted is not None
    jobs = [{"type": "echo", "payload": {"n": 1}}]
    refused = httpx.post(f"{observatory.gateway}/jobs/batch", json={"jobs": jobs})
    assert refused.status_code == 400
    assert refused.json()["error"] == quoted[1]
    accepted = httpx.post(f"{observatory.gateway}/jobs/batch", json=jobs)
    assert accepted.status_code == 202
    assert accepted.json()["accepted"] == 1
