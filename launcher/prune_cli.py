"""``observatory prune``: retention on demand, and the retention flags of ``up``.

``observatory prune --older-than 7d [--dry-run]`` runs one retention pass
(:func:`actors.retention.prune_once`) against the stores and prints, per store, what it
deleted or would delete, with a progress line per batch on long runs. Where the stores
are:

* ``--data-dir DIR``: the embedded stores of ``observatory up --data-dir DIR`` (SQLite);
* otherwise the servers, named as for ``observatory migrate`` and ``serve``:
  ``POSTGRES_URL`` (jobs) and ``MONGO_URL`` (events, dead letters), the namespace from
  ``--namespace`` or ``OBSERVATORY_NAMESPACE``. The pass holds the namespace's
  PostgreSQL advisory lock; when another pruner holds it, it says so and exits 1.
  A server that cannot be reached is one line on stderr naming its URL (password
  hidden), the error and the variable that sets it; exit 1. MongoDB is pinged first
  with a short server selection timeout (:data:`MONGO_CHECK_TIMEOUT_MS`), so a MongoDB
  away fails within seconds and before anything is written to PostgreSQL.

The counters are not touched: ``/stats`` totals keep counting pruned jobs.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from actors.config.settings import Settings
from actors.errors import ConfigError
from actors.retention import (
    InProcessPruneLock,
    PrunedStore,
    PruneReport,
    cutoff_before,
    parse_duration,
    prune_once,
)
from launcher._arguments import parse_number
from launcher._dependencies import url_set_by

if TYPE_CHECKING:
    from datetime import timedelta

    from actors.stores import DeadLetterStore, EventStore, JobStore

__all__ = [
    "MONGO_CHECK_TIMEOUT_MS",
    "PRUNE_EPILOG",
    "add_prune_arguments",
    "add_prune_command",
    "add_retention_arguments",
    "prune_main",
    "retention_overrides",
]

MONGO_CHECK_TIMEOUT_MS = 2_000
"""How long ``prune`` waits for MongoDB to answer its first ping (the stores' own server
selection timeout, 5 s, then applies to the pass)."""

PRUNE_EPILOG = """\
examples:
  observatory prune --older-than 7d --dry-run          what would go (servers)
  observatory prune --older-than 30d                   delete it
  observatory prune --older-than 12h --data-dir .observatory   the embedded stores

Durations: a number and a unit, d (days), h (hours), m (minutes) or s (seconds).
Terminal jobs (COMPLETED, FAILED) that finished before then go, with their events;
dead letters older than that too. Jobs waiting, running or being retried stay.
/stats totals are not changed: they keep counting pruned jobs.
"""


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative(text: str) -> float:
    value = parse_number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_retention_arguments(parser: argparse.ArgumentParser) -> None:
    """``--retain-days`` and ``--prune-interval`` (of ``up``; defaults from the env)."""
    defaults = Settings()
    parser.add_argument(
        "--retain-days",
        type=_non_negative,
        default=None,
        metavar="DAYS",
        help="prune terminal jobs (with their events) and dead letters older than this; 0 "
        "prunes every terminal job at the next pass (default: $OBSERVATORY_RETAIN_DAYS or "
        f"{defaults.retain_days:g})",
    )
    parser.add_argument(
        "--prune-interval",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="how often the pruner runs (default: $OBSERVATORY_PRUNE_INTERVAL_S or "
        f"{defaults.prune_interval_s:g})",
    )


def retention_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The ``Settings`` overrides the retention arguments ask for (none when not given)."""
    overrides: dict[str, object] = {}
    if args.retain_days is not None:
        overrides["retain_days"] = args.retain_days
    if args.prune_interval is not None:
        overrides["prune_interval_s"] = args.prune_interval
    return overrides


def add_prune_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``observatory prune``."""
    parser.add_argument(
        "--older-than",
        type=_duration,
        required=True,
        metavar="DURATION",
        help="delete what ended (jobs) or was dead-lettered before this long ago: 7d, 12h, 30m",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="prune the embedded stores of `observatory up --data-dir DIR` instead of the "
        "servers (POSTGRES_URL, MONGO_URL)",
    )
    parser.add_argument(
        "--namespace",
        default=None,
        help="the namespace whose stores to prune (default: $OBSERVATORY_NAMESPACE or none)",
    )


def add_prune_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``observatory prune`` on the ``observatory`` subcommands."""
    prune = commands.add_parser(
        "prune",
        help="delete old terminal jobs, their events and old dead letters (retention)",
        description="Run one retention pass now, in batches, and print what it deleted per "
        "store (or, with --dry-run, what it would delete).",
        epilog=PRUNE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_prune_arguments(prune)


def _say(text: str, *, error: bool = False) -> None:
    """One line on stdout (stderr for an error), flushed: progress shows as it happens."""
    stream = sys.stderr if error else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def _line(report: PruneReport) -> str:
    verb = "would delete" if report.dry_run else "deleted"
    counts = ", ".join(
        f"{report.rows[store]} {label}"
        for store, label in (
            (PrunedStore.JOBS, "jobs"),
            (PrunedStore.EVENTS, "events"),
            (PrunedStore.DEAD_LETTERS, "dead letters"),
        )
    )
    return f"{verb} {counts}"


async def _prune(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.namespace is not None:
        overrides["namespace"] = args.namespace
    settings = Settings.from_env(**overrides)
    cutoff = cutoff_before(args.older_than)
    async with AsyncExitStack() as stack:
        jobs: JobStore
        events: EventStore
        dead_letters: DeadLetterStore
        if args.data_dir is not None:
            from actors.stores.sqlite import (
                DEAD_LETTERS_DATABASE,
                EVENTS_DATABASE,
                JOBS_DATABASE,
                open_sqlite_dead_letter_store,
                open_sqlite_event_store,
                open_sqlite_job_store,
            )

            if not (args.data_dir / JOBS_DATABASE).exists():
                raise ConfigError(
                    f"No embedded stores in {str(args.data_dir)!r} (no {JOBS_DATABASE}); "
                    "give the --data-dir of `observatory up`."
                )
            where = f"embedded stores in {args.data_dir}/"
            jobs = await stack.enter_async_context(
                open_sqlite_job_store(args.data_dir / JOBS_DATABASE)
            )
            events = await stack.enter_async_context(
                open_sqlite_event_store(args.data_dir / EVENTS_DATABASE)
            )
            dead_letters = await stack.enter_async_context(
                open_sqlite_dead_letter_store(args.data_dir / DEAD_LETTERS_DATABASE)
            )
            # `up` may run on the same files: SQLite serialises the writes; the in-process
            # lock only keeps this command to one pass.
            lock = InProcessPruneLock().hold
        else:
            from actors.config.urls import redact
            from actors.stores.mongo import (
                open_mongo_dead_letter_store,
                open_mongo_event_store,
                ping_mongo,
            )
            from actors.stores.postgres import open_postgres_job_store

            where = (
                f"PostgreSQL {redact(settings.postgres_url)} schema {settings.postgres_schema!r}, "
                f"MongoDB {redact(settings.mongo_url)} database {settings.mongo_database!r}"
            )
            # MongoDB is asked first, briefly: a server away fails the command in a
            # couple of seconds, before the job store's schema is migrated or locked.
            with url_set_by("MONGO_URL"):
                await ping_mongo(
                    settings.mongo_url, server_selection_timeout_ms=MONGO_CHECK_TIMEOUT_MS
                )
            with url_set_by("POSTGRES_URL"):
                postgres = await stack.enter_async_context(
                    open_postgres_job_store(settings.postgres_url, schema=settings.postgres_schema)
                )
            jobs = postgres
            with url_set_by("MONGO_URL"):
                events = await stack.enter_async_context(
                    open_mongo_event_store(settings.mongo_url, database=settings.mongo_database)
                )
                dead_letters = await stack.enter_async_context(
                    open_mongo_dead_letter_store(
                        settings.mongo_url, database=settings.mongo_database
                    )
                )
            lock = postgres.prune_lock
        mode = "dry run: nothing is deleted" if args.dry_run else "deleting"
        _say(f"Pruning what ended before {cutoff} ({where}; {mode}).")
        async with lock() as taken:
            if not taken:
                _say(
                    "observatory: error: another pruner is running on these stores (it holds "
                    "the pruner lock); try again when it is done.",
                    error=True,
                )
                return 1
            report = await prune_once(
                jobs,
                events,
                dead_letters,
                cutoff=cutoff,
                dry_run=args.dry_run,
                on_batch=lambda partial: _say(f"  ... {_line(partial)}"),
            )
    verb = "Would delete" if report.dry_run else "Deleted"
    _say(f"{verb}:")
    _say(f"  job store         {report.rows[PrunedStore.JOBS]} jobs")
    _say(f"  event store       {report.rows[PrunedStore.EVENTS]} events")
    _say(f"  dead-letter store {report.rows[PrunedStore.DEAD_LETTERS]} dead letters")
    _say("/stats totals are unchanged: they keep counting pruned jobs.")
    return 0


def prune_main(args: argparse.Namespace) -> int:
    """Run ``observatory prune``; 0 when the pass ran, 1 when it could not.

    Raises:
        ObservatoryError: a store cannot be reached (``main`` prints it, exit 1).
    """
    return anyio.run(_prune, args)
