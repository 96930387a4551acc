"""``observatory submit``, ``job``, ``jobs``, ``cancel`` and ``retry``: the client's verbs on
the command line.

They use :mod:`observatory.client` and nothing else: the gateway and read model come from
``--gateway-url`` / ``--read-model-url`` or ``GATEWAY_URL`` / ``READ_MODEL_URL`` (default
the ports of ``observatory up``), the token from ``OBSERVATORY_API_TOKEN``.

Exit codes: 0 done (with ``--wait``: every job COMPLETED); 1 the server refused or could
not be reached, a job FAILED, or a wait ran out; 2 the command line itself is wrong
(e.g. ``--payload`` is not a JSON object). Errors are one line on stderr, with the
server's own message and the fields it refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from actors.domain.jobs import MAX_PRIORITY
from launcher._arguments import parse_number
from launcher.client_cli import UsageError, add_url_options, err, json_object, out, run_command
from observatory import (
    Client,
    Job,
    JobPage,
    JobStatus,
    JobSummary,
    NewJob,
    Rejected,
    Submitted,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["JOB_COMMANDS", "add_job_commands", "jobs_main"]

JOB_COMMANDS = ("submit", "job", "jobs", "cancel", "retry")
"""The subcommands this module adds to ``observatory``."""

_SUBMIT_EPILOG = """\
examples:
  observatory submit echo --payload '{"hello": "world"}' --wait
  observatory submit sleep --payload '{"seconds": 2}' --count 50
  observatory submit compute --payload '{"rounds": 1000}' --wait --json
  observatory submit echo --in 10m
  observatory submit echo --at 2026-12-06T10:00:00Z
  observatory submit echo --payload '{"hello": "first"}' --priority 9

--in and --at delay the job (at most 30 days): it waits PENDING until then and
can be cancelled meanwhile (observatory cancel ID). With --wait, --timeout counts
from the job's time.

--priority 0 (lowest) to 9 (highest): of the jobs waiting to start, the higher run
first (arrival order within one). Without it the job's priority is 5.

With --count above 1 the jobs go in batches of 1,000 (POST /jobs/batch).
Exit 0 when accepted (with --wait: when every job COMPLETED), 1 when refused or a
job FAILED or the wait ran out, 2 when the command line is wrong.
"""

_JOB_EPILOG = """\
examples:
  observatory job 2f6c0c2e-8a3b-4c1e-9d4f-0b1a2c3d4e5f
  observatory job 2f6c0c2e-8a3b-4c1e-9d4f-0b1a2c3d4e5f --wait --timeout 120
"""

_WRITE_EPILOG = """\
Exit 0 when the gateway accepted it, 1 when it refused (unknown job: 404; a job
in the wrong state: 409) with its message.
"""

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = parse_number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _seconds(text: str) -> float:
    value = parse_number(text, float, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def add_job_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``submit``, ``job``, ``jobs``, ``cancel`` and ``retry`` to the ``observatory``
    parser."""
    raw = argparse.RawDescriptionHelpFormatter
    submit = commands.add_parser(
        "submit",
        help="submit jobs to a running observatory (--wait for their outcome)",
        description="Submit COUNT jobs of TYPE to the gateway and print their ids.",
        epilog=_SUBMIT_EPILOG,
        formatter_class=raw,
    )
    submit.add_argument("type", metavar="TYPE", help="the job type, e.g. echo, sleep, compute")
    submit.add_argument(
        "--payload", default="{}", help="the payload, a JSON object (default: %(default)s)"
    )
    submit.add_argument(
        "--metadata", default=None, help="a JSON object, e.g. '{\"maxAttempts\": 1}'"
    )
    submit.add_argument("--id", dest="job_id", default=None, help="a UUID for the job (count 1)")
    submit.add_argument(
        "--count", type=_positive_int, default=1, help="how many such jobs (default: 1)"
    )
    when = submit.add_mutually_exclusive_group()
    when.add_argument(
        "--in",
        dest="delay",
        type=_delay,
        metavar="DURATION",
        help="run the job this long from now: 90s, 10m, 2h, 7d (at most 30d)",
    )
    when.add_argument(
        "--at",
        dest="run_at",
        type=_run_at,
        metavar="TIME",
        help="run the job at this RFC 3339 time, e.g. 2026-12-06T10:00:00Z",
    )
    submit.add_argument(
        "--priority",
        type=_priority,
        metavar="N",
        default=None,
        help="0 (lowest) to 9 (highest): waiting jobs of a higher priority start first "
        "(default: none sent, the job gets 5)",
    )
    submit.add_argument("--wait", action="store_true", help="wait for each job to end")
    submit.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        help="with --wait: seconds to wait for each job (default: %(default)g)",
    )
    add_url_options(submit)

    job = commands.add_parser(
        "job",
        help="show a job: status, result or error, attempts, timeline",
        description="Show one job as the read model knows it.",
        epilog=_JOB_EPILOG,
        formatter_class=raw,
    )
    job.add_argument("job_id", metavar="ID", help="the job's id")
    job.add_argument("--wait", action="store_true", help="wait for the job to end first")
    job.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        help="with --wait: seconds to wait (default: %(default)g)",
    )
    add_url_options(job)

    for verb, what in (
        ("cancel", "cancel a job that has not ended (it ends FAILED, cancelled)"),
        ("retry", "run a FAILED job again under the same id"),
    ):
        parser = commands.add_parser(
            verb,
            help=what + "; or, with filters instead of ID, every job matching them",
            description=what[0].upper() + what[1:] + ".",
            epilog=_BULK_EPILOG + _WRITE_EPILOG,
            formatter_class=raw,
        )
        parser.add_argument("job_id", metavar="ID", nargs="?", help="the job's id")
        _add_bulk_filters(parser, verb)
        if verb == "retry":
            parser.add_argument("--wait", action="store_true", help="wait for the new round to end")
            parser.add_argument(
                "--timeout",
                type=_seconds,
                default=60.0,
                help="with --wait: seconds to wait (default: %(default)g)",
            )
        add_url_options(parser)

    _add_jobs_command(commands)


def _print_json(document: object) -> None:
    out(json.dumps(document, indent=2, default=str))


def _job_document(job: Job) -> dict[str, object]:
    document = asdict(job)
    document["status"] = job.status.value
    return document


def _compact(value: object, limit: int = 200) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_job(job: Job) -> None:
    attempts = f"{job.attempts} attempt{'s' if job.attempts != 1 else ''}"
    out(f"{job.id}  {job.type}  {job.status.value}  ({attempts})")
    rows: list[tuple[str, str]] = [("created", job.created_at), ("priority", str(job.priority))]
    if job.started_at:
        rows.append(("started", job.started_at))
    if job.finished_at:
        rows.append(("finished", job.finished_at))
    if job.next_attempt_at:
        rows.append(("next try", job.next_attempt_at))
    if job.scheduled_for:
        rows.append(("scheduled", job.scheduled_for))
    rows.append(("payload", _compact(dict(job.payload))))
    if job.status is JobStatus.COMPLETED:
        rows.append(("result", _compact(job.result)))
    if job.error:
        rows.append(("error", job.error))
    rows += [(f"attempt {e.attempt}", f"{e.error} ({e.at})") for e in job.errors]
    for event in job.events:
        rows.append(("event", f"{event.get('occurredAt', '')}  {event.get('eventType', '')}"))
    for name, value in rows:
        out(f"  {name:<10} {value}")


def _submit(client: Client, args: argparse.Namespace) -> int:
    payload = json_object(args.payload, "--payload")
    metadata = json_object(args.metadata, "--metadata")
    if args.job_id is not None and args.count > 1:
        raise UsageError("--id names one job; it cannot be used with --count above 1.")
    results: list[Submitted | Rejected]
    run_at: datetime | timedelta | None = args.delay or args.run_at
    if args.count == 1:
        results = [
            client.submit(
                args.type,
                payload,
                job_id=args.job_id,
                metadata=metadata,
                run_at=run_at,
                priority=args.priority,
            )
        ]
    else:
        jobs = [
            NewJob(args.type, payload, metadata=metadata, run_at=run_at, priority=args.priority)
            for _ in range(args.count)
        ]
        results = list(client.submit_many(jobs).results)
    wait_s = args.timeout + _seconds_until(run_at)
    submitted = [r for r in results if isinstance(r, Submitted)]
    rejected = [r for r in results if isinstance(r, Rejected)]
    jobs_seen: list[Job] = []
    failed = bool(rejected)
    if args.wait:
        for item in submitted:
            job = client.wait(item.job_id, timeout_s=wait_s)
            jobs_seen.append(job)
            failed = failed or job.status is not JobStatus.COMPLETED
    if args.json:
        if args.wait:
            _print_json([_job_document(job) for job in jobs_seen])
        else:
            _print_json([asdict(r) for r in results])
        return 1 if failed else 0
    for refused in rejected:
        detail = "; ".join(f"{i.path or '/'}: {i.message}" for i in refused.details)
        err(f"rejected  job {refused.index + 1}: {refused.error} ({detail})")
    if args.wait:
        for job in jobs_seen:
            outcome = (
                f"result {_compact(job.result)}"
                if job.status is JobStatus.COMPLETED
                else f"error {job.error}"
            )
            out(f"{job.id}  {job.status.value}  {outcome}")
    else:
        when = "" if run_at is None else f"  scheduled for {_when(run_at)}"
        if args.priority is not None:
            when += f"  priority {args.priority}"
        for item in submitted:
            out(f"{item.job_id}  submitted{when}")
    if args.count > 1:
        out(f"{len(submitted)} submitted, {len(rejected)} rejected")
    return 1 if failed else 0


def _job(client: Client, args: argparse.Namespace) -> int:
    job = client.wait(args.job_id, args.timeout) if args.wait else client.get(args.job_id)
    if args.json:
        _print_json(_job_document(job))
    else:
        _print_job(job)
    return 0


_BULK_EPILOG = """\
in bulk (filters instead of ID; the search's filters, as `observatory jobs`):
  observatory cancel --status PENDING --type resize      waiting resize jobs
  observatory retry --type resize --since 1h --yes        FAILED resize jobs of the last hour

cancel acts on waiting or running jobs (PENDING, VALIDATED, EXECUTING), retry on FAILED
ones. It first counts the matching jobs (read model) and asks to confirm, unless --yes.

"""
_BULK_STATUSES = {
    "cancel": (JobStatus.PENDING, JobStatus.VALIDATED, JobStatus.EXECUTING),
    "retry": (JobStatus.FAILED,),
}
_BULK_FILTERS = (
    "status",
    "type",
    "created_after",
    "created_before",
    "finished_after",
    "finished_before",
    "correlation_id",
    "error",
    "q",
)


def _add_bulk_filters(parser: argparse.ArgumentParser, verb: str) -> None:
    """The search's filters, ``--limit`` and ``--yes``, for the bulk form of ``verb``."""
    parser.add_argument(
        "--status",
        action="append",
        type=str.upper,
        choices=[status.value for status in _BULK_STATUSES[verb]],
        help="a status (repeatable; default: all of these)",
    )
    parser.add_argument("--type", action="append", help="a job type (repeatable)")
    parser.add_argument(
        "--since",
        "--created-after",
        dest="created_after",
        type=_moment,
        metavar="TIME",
        help="created at or after (RFC 3339, or a duration ago: 15m)",
    )
    parser.add_argument(
        "--until", "--created-before", dest="created_before", type=_moment, metavar="TIME"
    )
    parser.add_argument("--finished-after", type=_moment, metavar="TIME", help="ended at or after")
    parser.add_argument("--finished-before", type=_moment, metavar="TIME", help="ended before")
    parser.add_argument("--correlation-id", help="submitted with this correlation id")
    parser.add_argument("--error", help="the last error contains this text")
    parser.add_argument("--q", help="the id starts with this text, or the payload contains it")
    parser.add_argument(
        "--priority",
        type=_priority,
        metavar="N",
        help="submitted with this priority, 0 to 9 (5: submitted without one)",
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=None, help="act on at most this many (10,000)"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask to confirm")


def _bulk(client: Client, args: argparse.Namespace) -> int:
    given = ((name, getattr(args, name)) for name in _BULK_FILTERS)
    filters: dict[str, object] = {name: value for name, value in given if value}
    if args.priority is not None:  # 0 is a priority
        filters["priority"] = args.priority
    if args.limit is not None:
        filters["limit"] = args.limit
    if not args.yes:
        cap = args.limit or 10_000
        search = {k: v for k, v in filters.items() if k != "limit"}
        search.setdefault("status", [s.value for s in _BULK_STATUSES[args.command]])
        count = 0
        for _ in client.iter_jobs(**search, limit=500):  # type: ignore[arg-type]
            count += 1
            if count > cap:
                break
        if count == 0:
            out(f"No job matches: nothing to {args.command}.")
            return 0
        shown = f"more than {cap}" if count > cap else str(count)
        acted = f" (the first {cap})" if count > cap else ""
        try:
            answer = input(f"{shown} jobs match. {args.command.capitalize()} them{acted}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in {"y", "yes"}:
            err(f"observatory {args.command}: nothing done (answer y, or pass --yes).")
            return 1
    act = client.cancel_jobs if args.command == "cancel" else client.retry_jobs
    body = act(**filters)  # type: ignore[arg-type]
    if args.json:
        _print_json(body)
    else:
        verb = "cancel requested for" if args.command == "cancel" else "retry requested for"
        more = " (more match past the limit: run it again)" if body.get("more") else ""
        out(f"{body['matched']} matched, {verb} {body['actedOn']}, {body['skipped']} skipped{more}")
    return 0


def _write(client: Client, args: argparse.Namespace) -> int:
    filtered = (
        any(getattr(args, name) for name in _BULK_FILTERS)
        or args.priority is not None
        or args.limit is not None
    )
    if args.job_id is None:
        if not filtered:
            raise UsageError("give a job ID, or filters (--status, --type, ...) for many jobs")
        if getattr(args, "wait", False):
            raise UsageError("--wait waits for one job: give its ID")
        return _bulk(client, args)
    if filtered:
        raise UsageError("give a job ID or filters, not both")
    if args.command == "cancel":
        cancelled = client.cancel(args.job_id)
        body: Mapping[str, object] = cancelled.body
        text = f"{cancelled.job_id}  cancel accepted: it ends FAILED (cancelled) shortly"
    else:
        retried = client.retry(args.job_id)
        if args.wait:
            job = client.wait(retried.job_id, args.timeout, round=retried.round)
            if args.json:
                _print_json(_job_document(job))
            else:
                _print_job(job)
            return 0 if job.status is JobStatus.COMPLETED else 1
        body = retried.body
        text = f"{retried.job_id}  retry accepted: round {retried.round} runs from attempt 1"
    if args.json:
        _print_json(dict(body))
    else:
        out(text)
    return 0


def jobs_main(args: argparse.Namespace) -> int:
    """Run ``observatory submit|job|jobs|cancel|retry``; returns the exit code."""

    def body() -> int:
        with Client(args.gateway_url, args.read_model_url) as client:
            if args.command == "submit":
                return _submit(client, args)
            if args.command == "job":
                return _job(client, args)
            if args.command == "jobs":
                return _jobs(client, args)
            return _write(client, args)

    return run_command(args.command, body)


# -- observatory jobs: the search -----------------------------------------------------------

_JOBS_EPILOG = """\
examples:
  observatory jobs                                  the 50 newest jobs
  observatory jobs --status FAILED --type resize --since 1h
  observatory jobs --error timeout --all            every job whose last error says timeout
  observatory jobs --q 2f6c0c2e                     by id prefix, or text in the payload
  observatory jobs --priority 9 --status PENDING    urgent jobs still waiting
  observatory jobs --sort finished:asc --finished-after 2026-12-01T00:00:00Z --json

Times are RFC 3339 (2026-12-01T09:30:00Z) or a duration ago (90s, 15m, 2h, 7d).
--status and --type may be repeated (any of them matches). Each line shows the job's
id, type, status, priority (p0 to p9), creation and end time. Without --all, a full page
ends with the --cursor of the next one (on stderr). Exit 0 on success (even with no
match), 1 when the read model refused or could not be reached.
"""

_AGO = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _moment(text: str) -> str:
    """An RFC 3339 time as given, or a duration ago (``15m``) as an RFC 3339 time."""
    if match := _AGO.match(text.strip()):
        ago = timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
        return (datetime.now(UTC) - ago).isoformat()
    if not _RFC3339_START.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an RFC 3339 time (2026-12-01T09:30:00Z) nor a duration "
            "ago (90s, 15m, 2h, 7d)"
        )
    return text


def _delay(text: str) -> timedelta:
    """``--in``: a duration from now (``90s``, ``10m``, ``2h``, ``7d``)."""
    match = _AGO.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration above 0 such as 90s, 10m, 2h or 7d"
        )
    return timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])


def _run_at(text: str) -> datetime:
    """``--at``: an RFC 3339 time with its timezone (``Z`` or an offset)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time with a timezone, e.g. 2026-12-06T10:00:00Z"
        )
    return moment


def _priority(text: str) -> int:
    """``--priority``: a whole number from 0 to 9."""
    what = f"a priority: give a whole number from 0 (lowest) to {MAX_PRIORITY} (highest)"
    value = parse_number(text, int, what)
    if not 0 <= value <= MAX_PRIORITY:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def _seconds_until(run_at: datetime | timedelta | None) -> float:
    if run_at is None:
        return 0.0
    if isinstance(run_at, timedelta):
        return run_at.total_seconds()
    return max(0.0, (run_at - datetime.now(UTC)).total_seconds())


def _when(run_at: datetime | timedelta) -> str:
    moment = datetime.now(UTC) + run_at if isinstance(run_at, timedelta) else run_at
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add_jobs_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = commands.add_parser(
        "jobs",
        help="search jobs: status, type, time range, correlation id, error text",
        description="List the jobs matching every filter given (GET /jobs), newest first.",
        epilog=_JOBS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs.add_argument(
        "--status",
        action="append",
        type=str.upper,
        choices=[status.value for status in JobStatus],
        help="a status (repeatable)",
    )
    jobs.add_argument("--type", action="append", help="a job type (repeatable)")
    jobs.add_argument(
        "--since",
        "--created-after",
        dest="created_after",
        type=_moment,
        metavar="TIME",
        help="created at or after",
    )
    jobs.add_argument(
        "--until",
        "--created-before",
        dest="created_before",
        type=_moment,
        metavar="TIME",
        help="created before",
    )
    jobs.add_argument("--finished-after", type=_moment, metavar="TIME", help="ended at or after")
    jobs.add_argument("--finished-before", type=_moment, metavar="TIME", help="ended before")
    jobs.add_argument("--correlation-id", help="submitted with this correlation id")
    jobs.add_argument("--error", help="the last error contains this text")
    jobs.add_argument("--q", help="the id starts with this text, or the payload contains it")
    jobs.add_argument(
        "--priority",
        type=_priority,
        metavar="N",
        help="submitted with this priority, 0 to 9 (5: submitted without one)",
    )
    jobs.add_argument(
        "--sort",
        default="created",
        choices=[
            "created",
            "finished",
            "created:desc",
            "created:asc",
            "finished:desc",
            "finished:asc",
        ],
        help="order (default: %(default)s, newest first)",
    )
    jobs.add_argument(
        "--limit", type=_positive_int, default=50, help="jobs per page, at most 500 (default: 50)"
    )
    jobs.add_argument("--cursor", help="start after this cursor (printed after a full page)")
    jobs.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    add_url_options(jobs)


def _summary_document(job: JobSummary) -> dict[str, object]:
    document = asdict(job)
    document["status"] = job.status.value
    return document


def _print_summary(job: JobSummary) -> None:
    ended = job.finished_at or "-"
    if job.status is JobStatus.PENDING and job.scheduled_for:
        ended = f"scheduled for {job.scheduled_for}"
    error = f"  {job.error}" if job.error else ""
    out(
        f"{job.id}  {job.type:<12} {job.status.value:<9} p{job.priority}  {job.created_at}  "
        f"{ended}{error}"
    )


def _jobs(client: Client, args: argparse.Namespace) -> int:
    cursor: str | None = args.cursor
    listed: list[JobSummary] = []
    page: JobPage
    while True:
        page = client.search_jobs(
            status=args.status,
            type=args.type,
            created_after=args.created_after,
            created_before=args.created_before,
            finished_after=args.finished_after,
            finished_before=args.finished_before,
            correlation_id=args.correlation_id,
            error=args.error,
            q=args.q,
            priority=args.priority,
            sort=args.sort,
            limit=args.limit,
            cursor=cursor,
        )
        listed.extend(page.items)
        if not args.json:
            for job in page.items:
                _print_summary(job)
        cursor = page.next_cursor
        if cursor is None or not args.all:
            break
    if args.json:
        _print_json({"items": [_summary_document(job) for job in listed], "nextCursor": cursor})
    elif cursor is not None:
        err(f"more: observatory jobs ... --cursor {cursor}")
    elif not listed:
        out("no job matches")
    return 0
