"""Issue 16 (item 8): every shell block of the README is run against a running observatory.

The README's ``sh`` blocks are what a new user types. Each one runs here, command by
command, in bash against ``observatory up`` on free ports: ``localhost:3000`` /
``127.0.0.1:3000`` become the gateway, ``:8080`` the read model, ``<jobId>`` a job of
that observatory, and ``observatory`` this checkout's command. Every ``curl`` must get
an answer that is not an error of the service or of the README (2xx, or the 409 a
command documents for a job in that state), every ``observatory`` verb exit 0 or 1 (the
server's refusal, or a job that ended ``FAILED``) without a traceback.

A block that cannot run in a test (it installs, runs in the foreground for good, needs a
cluster or a terminal) carries ``<!-- docs-test: skip (why) -->`` on the line before it;
:data:`SKIPPED` lists those blocks by their first command, so a block skipped by
mistake, or a new block nobody ran, fails the test.
"""

from __future__ import annotations

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


def _failed_job(observatory: RunningObservatory) -> str:
    """A job that ended FAILED, for ``<jobId>``: every command shown for one applies."""
    submitted = httpx.post(
        f"{observatory.gateway}/jobs", json={"type": "fail", "metadata": {"maxAttempts": 1}}
    )
    assert submitted.status_code == 202, submitted.text
    job_id = str(submitted.json()["jobId"])
    deadline = time.monotonic() + 60
    while True:  # the job is unknown to the read model until a processor takes it
        answer = httpx.get(f"{observatory.read_model}/jobs/{job_id}", params={"wait": 30})
        if answer.status_code == 200 and answer.json()["status"] == "FAILED":
            return job_id
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def _filled(command: str, observatory: RunningObservatory, job_id: str) -> str:
    gateway = observatory.gateway.split("://", 1)[1]
    read_model = observatory.read_model.split("://", 1)[1]
    for host in ("localhost", "127.0.0.1"):
        command = command.replace(f"{host}:3000", gateway).replace(f"{host}:8080", read_model)
    return command.replace("<jobId>", job_id)


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


def test_every_runnable_shell_block_of_the_readme_runs(
    observatory: RunningObservatory, tmp_path: Path
) -> None:
    job_id = _failed_job(observatory)
    ran: list[str] = []
    for block in shell_blocks(README.read_text()):
        if block.skip is not None:
            continue
        for command in block.commands():
            filled = _filled(command, observatory, job_id)
            assert "<" not in filled.split("#")[0], f"README line {block.line}: {command}"
            done = _run(filled, observatory, tmp_path)
            where = (
                f"README line {block.line}: {command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
            assert "Traceback" not in done.stderr, where
            program = command.split()[0]
            if program == "curl":
                assert done.returncode == 0, where
                statuses = re.findall(r"^HTTP (\d{3})$", done.stdout, flags=re.MULTILINE)
                assert statuses, where
                # A documented 409: cancelling or retrying a job in the wrong state.
                assert all(s.startswith("2") or s == "409" for s in statuses), where
            elif program == "observatory":
                # 1: the server refused (said on one line) or a job ended FAILED.
                assert done.returncode in (0, 1), where
            else:
                assert done.returncode == 0, where
            ran.append(program)
    assert ran.count("curl") >= 12
    assert ran.count("observatory") >= 6


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
