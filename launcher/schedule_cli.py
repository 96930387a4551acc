"""``observatory schedule add|list|show|pause|resume|delete|run``: recurring schedules on
the command line.

They use the public client (:mod:`observatory`) and nothing else, with the same
``--gateway-url`` / ``--read-model-url`` flags (or ``GATEWAY_URL`` / ``READ_MODEL_URL``)
and ``OBSERVATORY_API_TOKEN`` as ``observatory submit``.

Exit codes: 0 done; 1 the server refused (the fields it refused are named) or could not
be reached; 2 the command line itself is wrong.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from launcher.client_cli import add_url_options, json_object, out, run_command
from observatory import Client

if TYPE_CHECKING:
    from observatory import Schedule

__all__ = ["add_schedule_command", "schedule_main"]

_EPILOG = """\
examples:
  observatory schedule add heartbeat echo --every 30s
  observatory schedule add nightly report --cron '0 2 * * *' --tz Europe/Berlin \\
      --payload '{"days": 1}' --catch-up none
  observatory schedule list
  observatory schedule pause 6f1c...        stop firing (resume: from the next occurrence)
  observatory schedule run 6f1c...          submit its job once, now
  observatory schedule delete 6f1c...

--every takes 30s, 5m, 2h or 1d; --cron five fields (minute hour day month weekday) in
--tz (default UTC). --catch-up says what becomes of occurrences missed while no gateway
ran: none skips them, one (the default) fires once for them all, all fires each (at
most 100). Each fired job's metadata names its schedule (scheduleId, scheduledAt).
Exit 0 when done, 1 when the observatory refused or could not be reached, 2 when the
command line is wrong.
"""


def add_schedule_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``schedule`` and its verbs to the ``observatory`` parser."""
    raw = argparse.RawDescriptionHelpFormatter
    schedule = commands.add_parser(
        "schedule",
        help="recurring schedules: add, list, show, pause, resume, delete, run",
        description="Submit a job every so often, or at the times a cron expression names.",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    verbs = schedule.add_subparsers(dest="schedule_command", metavar="VERB", required=True)
    add = verbs.add_parser(
        "add",
        help="create a schedule",
        description="Create a schedule submitting a job of TYPE at each occurrence.",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    add.add_argument("name", metavar="NAME", help="what to call it")
    add.add_argument("type", metavar="TYPE", help="the job type, e.g. echo")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", metavar="INTERVAL", help="30s, 5m, 2h or 1d")
    when.add_argument("--cron", metavar="EXPR", help="five fields, e.g. '*/5 * * * *'")
    add.add_argument("--tz", default=None, help="the time zone of --cron (default: UTC)")
    add.add_argument("--payload", default="{}", help="a JSON object (default: %(default)s)")
    add.add_argument("--metadata", default=None, help="a JSON object for each job's metadata")
    add.add_argument(
        "--catch-up",
        choices=("none", "one", "all"),
        default=None,
        help="missed occurrences: none, one (default) or all",
    )
    add.add_argument("--paused", action="store_true", help="create it paused")
    add_url_options(add)
    listing = verbs.add_parser("list", help="list the schedules with their next run")
    add_url_options(listing)
    for verb, what in (
        ("show", "show one schedule"),
        ("pause", "stop firing a schedule until resumed"),
        ("resume", "fire a paused schedule again, from its next occurrence"),
        ("delete", "delete a schedule (its jobs stay)"),
        ("run", "submit a schedule's job once, now"),
    ):
        parser = verbs.add_parser(verb, help=what, description=what[0].upper() + what[1:] + ".")
        parser.add_argument("schedule_id", metavar="ID", help="the schedule's id")
        add_url_options(parser)


def _when(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"cron '{schedule.cron}' {schedule.timezone}"
    return f"every {schedule.interval}"


def _line(schedule: Schedule) -> str:
    state = "enabled" if schedule.enabled else "paused"
    next_run = schedule.next_run_at or "-"
    return (
        f"{schedule.id}  {schedule.name}  {schedule.job_type}  {_when(schedule)}  {state}  "
        f"next {next_run}  fires {schedule.fires}  misses {schedule.misses}"
    )


def _print(schedule: Schedule, as_json: bool) -> None:
    out(json.dumps(dict(schedule.raw), indent=2) if as_json else _line(schedule))


def _run(client: Client, args: argparse.Namespace) -> int:
    verb = args.schedule_command
    if verb == "add":
        schedule = client.create_schedule(
            args.name,
            args.type,
            json_object(args.payload, "--payload"),
            cron=args.cron,
            interval=args.every,
            timezone=args.tz,
            metadata=json_object(args.metadata, "--metadata"),
            enabled=not args.paused,
            catch_up=args.catch_up,
        )
        _print(schedule, args.json)
    elif verb == "list":
        schedules = client.list_schedules()
        if args.json:
            out(json.dumps([dict(s.raw) for s in schedules], indent=2))
        else:
            for schedule in schedules:
                out(_line(schedule))
    elif verb == "show":
        _print(client.get_schedule(args.schedule_id), args.json)
    elif verb in ("pause", "resume"):
        change = client.pause_schedule if verb == "pause" else client.resume_schedule
        _print(change(args.schedule_id), args.json)
    elif verb == "delete":
        client.delete_schedule(args.schedule_id)
        out(f"deleted {args.schedule_id}")
    else:
        run = client.run_schedule(args.schedule_id)
        if args.json:
            out(json.dumps({"jobId": run.job_id, "scheduledAt": run.scheduled_at}, indent=2))
        else:
            out(f"{run.job_id}  scheduled at {run.scheduled_at}")
    return 0


def schedule_main(args: argparse.Namespace) -> int:
    """Run ``observatory schedule VERB``; returns the exit code."""

    def body() -> int:
        with Client(args.gateway_url, args.read_model_url) as client:
            return _run(client, args)

    return run_command(f"schedule {args.schedule_command}", body)
