"""``observatory submit|job|jobs|cancel|retry`` as subprocesses against a running observatory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import observatory_running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.e2e.conftest import RunningObservatory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def observatory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObservatory]:
    with observatory_running(tmp_path_factory.mktemp("cli") / "data") as running:
        yield running


def cli(
    observatory: RunningObservatory, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``observatory ARGS`` with the URLs in the environment, as a user would."""
    env = {
        **os.environ,
        "GATEWAY_URL": observatory.gateway,
        "READ_MODEL_URL": observatory.read_model,
    }
    env.pop("OBSERVATORY_API_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args],
        capture_output=True,
        input=stdin,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_submit_wait_prints_the_outcome(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "echo", "--payload", '{"hello": "world"}', "--wait")
    assert done.returncode == 0, done.stderr
    job_id, status, outcome = done.stdout.strip().split("  ")
    uuid.UUID(job_id)
    assert (status, outcome) == ("COMPLETED", 'result {"hello":"world"}')


def test_issue_18_submit_in_delays_the_job_and_job_shows_its_time(
    observatory: RunningObservatory,
) -> None:
    later = cli(observatory, "submit", "echo", "--in", "1h")
    assert later.returncode == 0, later.stderr
    job_id, submitted, scheduled = later.stdout.strip().split("  ")
    assert (submitted, scheduled.split()[:2]) == ("submitted", ["scheduled", "for"])
    shown = cli(observatory, "job", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["status"], job["attempts"]) == ("PENDING", 0)
    assert job["scheduled_for"] > job["created_at"]
    assert cli(observatory, "cancel", job_id).returncode == 0

    soon = cli(observatory, "submit", "echo", "--in", "1s", "--wait", "--json")
    assert soon.returncode == 0, soon.stderr
    [done] = json.loads(soon.stdout)
    assert done["status"] == "COMPLETED"
    assert done["started_at"] >= done["scheduled_for"]

    both = cli(observatory, "submit", "echo", "--in", "1s", "--at", "2026-12-06T10:00:00Z")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_issue_18_submit_priority_is_shown_by_job_and_jobs(
    observatory: RunningObservatory,
) -> None:
    marker = uuid.uuid4().hex
    payload = json.dumps({"marker": marker})
    urgent = cli(observatory, "submit", "echo", "--payload", payload, "--priority", "9", "--wait")
    assert urgent.returncode == 0, urgent.stderr
    job_id = urgent.stdout.split()[0]
    plain = cli(observatory, "submit", "echo", "--payload", payload, "--wait")
    assert plain.returncode == 0, plain.stderr
    plain_id = plain.stdout.split()[0]

    shown = cli(observatory, "job", job_id)
    assert shown.returncode == 0, shown.stderr
    assert "  priority   9" in shown.stdout.splitlines()
    assert json.loads(cli(observatory, "job", plain_id, "--json").stdout)["priority"] == 5
    listed = cli(observatory, "jobs", "--q", marker)
    assert listed.returncode == 0, listed.stderr
    columns = {line.split()[0]: line.split()[3] for line in listed.stdout.splitlines()}
    assert columns == {job_id: "p9", plain_id: "p5"}
    only = cli(observatory, "jobs", "--q", marker, "--priority", "9", "--json")
    assert only.returncode == 0, only.stderr
    assert [(job["id"], job["priority"]) for job in json.loads(only.stdout)["items"]] == [
        (job_id, 9)
    ]
    bad = cli(observatory, "submit", "echo", "--priority", "10")
    assert bad.returncode == 2
    assert "'10' is not a priority" in bad.stderr


def test_submit_count_json_then_job_shows_each(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "echo", "--count", "3", "--json")
    assert done.returncode == 0, done.stderr
    submitted = json.loads(done.stdout)
    assert len(submitted) == 3
    job_id = submitted[0]["job_id"]
    shown = cli(observatory, "job", job_id, "--wait", "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["id"], job["status"], job["type"]) == (job_id, "COMPLETED", "echo")
    text = cli(observatory, "job", job_id)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"{job_id}  echo  COMPLETED  (1 attempt)"
    assert any(line.split()[:1] == ["result"] for line in lines)
    assert sum(line.split()[-1:] == ["job.completed"] for line in lines) == 1


def test_a_failing_job_waited_for_exits_1(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "fail", "--wait")
    assert done.returncode == 1
    assert "  FAILED  error " in done.stdout


def test_bad_json_is_a_usage_error(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "echo", "--payload", "{seconds: 2}")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "observatory submit: error: --payload is not valid JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)."
    ]
    listed = cli(observatory, "submit", "echo", "--payload", "[1]")
    assert listed.returncode == 2
    assert listed.stderr.strip() == (
        "observatory submit: error: --payload must be a JSON object, not list."
    )


def test_a_refusal_exits_1_with_the_servers_message(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "not a type!")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "observatory submit: error: The job does not match the job-submission contract: "
        "1 problem(s). (/type: "
    )
    unknown = str(uuid.uuid4())
    missing = cli(observatory, "job", unknown)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"observatory job: error: No job with id '{unknown}' is known."


def test_cancel_and_retry_report_the_gateways_answer(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "echo", "--wait", "--json")
    job_id = json.loads(done.stdout)[0]["id"]
    cancel = cli(observatory, "cancel", job_id)
    assert cancel.returncode == 1
    (line,) = cancel.stderr.splitlines()
    assert line.startswith("observatory cancel: error: ")
    assert "COMPLETED" in line
    # An unknown id is 404 to a retry (a cancel may be recorded for a job still queued).
    refused = cli(observatory, "retry", str(uuid.uuid4()))
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert line.startswith("observatory retry: error: ")


def test_retry_wait_runs_a_failed_job_again_to_its_end(observatory: RunningObservatory) -> None:
    done = cli(observatory, "submit", "fail", "--payload", '{"succeedFromRound": 2}', "--wait")
    assert done.returncode == 1  # round 1 fails
    job_id = done.stdout.split()[0]
    retried = cli(observatory, "retry", job_id, "--wait", "--json")
    assert retried.returncode == 0, retried.stderr
    job = json.loads(retried.stdout)
    assert (job["id"], job["status"], job["round"], job["attempts"]) == (
        job_id,
        "COMPLETED",
        2,
        1,
    )


def test_jobs_searches_with_filters_pages_and_json(observatory: RunningObservatory) -> None:
    marker = uuid.uuid4().hex
    payload = json.dumps({"marker": marker})
    done = cli(observatory, "submit", "echo", "--payload", payload, "--count", "3", "--wait")
    assert done.returncode == 0, done.stderr
    failed = cli(observatory, "submit", "fail", "--payload", payload, "--wait")
    assert failed.returncode == 1
    failed_id = failed.stdout.split()[0]

    listed = cli(observatory, "jobs", "--q", marker, "--status", "failed", "--since", "1h")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.split()[:3] == [failed_id, "fail", "FAILED"]
    first = cli(observatory, "jobs", "--q", marker, "--type", "echo", "--limit", "2")
    assert len(first.stdout.splitlines()) == 2
    assert first.stderr.startswith("more: observatory jobs ... --cursor ")
    cursor = first.stderr.split()[-1]
    rest = cli(
        observatory, "jobs", "--q", marker, "--type", "echo", "--limit", "2", "--cursor", cursor
    )
    assert rest.returncode == 0, rest.stderr
    assert len(rest.stdout.splitlines()) == 1
    every = cli(observatory, "jobs", "--q", marker, "--limit", "1", "--all", "--json")
    assert every.returncode == 0, every.stderr
    document = json.loads(every.stdout)
    assert document["nextCursor"] is None
    assert len(document["items"]) == 4
    assert document["items"][0]["id"] == failed_id
    none = cli(observatory, "jobs", "--q", uuid.uuid4().hex)
    assert (none.returncode, none.stdout) == (0, "no job matches\n")
    bad = cli(observatory, "jobs", "--since", "yesterday")
    assert bad.returncode == 2
    assert "neither an RFC 3339 time" in bad.stderr


def test_the_verbs_have_help() -> None:
    for verb in ("submit", "job", "jobs", "cancel", "retry"):
        done = subprocess.run(
            [sys.executable, "-m", "launcher.cli", verb, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0
        assert "--gateway-url" in done.stdout


def test_bulk_retry_counts_asks_to_confirm_then_acts(observatory: RunningObservatory) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    for _ in range(2):
        failed = cli(observatory, "submit", "fail", "--metadata", '{"maxAttempts": 1}', "--wait")
        assert failed.returncode == 1, failed.stderr

    declined = cli(observatory, "retry", "--type", "fail", "--since", since, stdin="n\n")
    done = cli(observatory, "retry", "--type", "fail", "--since", since, "--yes", "--json")
    neither = cli(observatory, "cancel")
    both = cli(observatory, "cancel", str(uuid.uuid4()), "--type", "sleep")
    none = cli(observatory, "cancel", "--type", "no-such-type")

    assert declined.returncode == 1
    assert "2 jobs match. Retry them? [y/N]" in declined.stdout
    assert "nothing done" in declined.stderr
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["matched"], body["actedOn"], body["filter"]["type"]) == (2, 2, ["fail"])
    assert (neither.returncode, both.returncode) == (2, 2)
    assert (none.returncode, none.stdout.strip()) == (0, "No job matches: nothing to cancel.")


def test_bulk_retry_by_priority_takes_that_priority_only(observatory: RunningObservatory) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    failed: dict[str, str] = {}
    for priority in ("0", "5"):
        done = cli(
            observatory,
            *("submit", "fail", "--metadata", '{"maxAttempts": 1}', "--priority", priority),
            "--wait",
        )
        assert done.returncode == 1, done.stderr
        failed[priority] = done.stdout.split()[0]

    # Priority 0 is a filter of its own, not "no filter".
    retried = cli(observatory, "retry", "--since", since, "--priority", "0", "--yes", "--json")

    assert retried.returncode == 0, retried.stderr
    body = json.loads(retried.stdout)
    assert (body["matched"], body["actedOn"], body["filter"]["priority"]) == (1, 1, 0)

    def round_of(job_id: str) -> int:
        return int(json.loads(cli(observatory, "job", job_id, "--json").stdout)["round"])

    # The retried job reads FAILED in round 1 until a processor takes its retry.
    deadline = time.monotonic() + 30
    while round_of(failed["0"]) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (round_of(failed["0"]), round_of(failed["5"])) == (2, 1)
