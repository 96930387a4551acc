"""``observatory workers`` and ``observatory queues``: the processes and the broker's queues
of a running observatory, as tables (or ``--json``).

Like the job verbs (:mod:`launcher.jobs_cli`) they use :mod:`observatory` and nothing
else: the read model comes from ``--read-model-url`` or ``READ_MODEL_URL`` (default
``http://127.0.0.1:8080``), the token from ``OBSERVATORY_API_TOKEN``.

Exit codes: 0 answered; 1 the read model could not be reached or could not answer (its
message on stderr, one line).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from launcher.client_cli import add_url_options
from observatory import ApiError, Client

if TYPE_CHECKING:
    from collections.abc import Sequence

    from observatory import QueueStats, WorkerList

__all__ = ["FLEET_COMMANDS", "add_fleet_commands", "fleet_main", "queues_table", "workers_table"]

FLEET_COMMANDS = ("workers", "queues")
"""The subcommands this module adds to ``observatory``."""

UNKNOWN = "—"
"""Shown for a figure the broker does not give (a null in the answer)."""

_WORKERS_EPILOG = """\
examples:
  observatory workers
  observatory workers --json
  READ_MODEL_URL=http://127.0.0.1:18080 observatory workers

A worker is alive while its heartbeat is current, "stopped" after a graceful stop and
"gone" after three missed beats (killed, or cut off); the others stay listed for an hour.
IN FLIGHT are the jobs it started and has not finished (a gone worker's are redelivered).
DONE/FAILED count jobs since the process started (a metrics engine: events stored and
envelopes dead-lettered). Exit 0 when the read model answered, 1 when it did not.
"""

_QUEUES_EPILOG = """\
examples:
  observatory queues
  observatory queues --json

DEPTH is READY plus UNACKED. SOURCE says whom the read model asked: "embedded" (the
embedded broker), "management" (RabbitMQ's management API; PUBLISH/S and DELIVER/S are
RabbitMQ's own rates) or "amqp" (RabbitMQ by passive declares, where its management API
is off or does not answer: READY, CONSUMERS and Δ/S only, the rest shows "—"). Rates the
read model computes compare with its previous /queues call, so its first call shows
none. Exit 0 when the read model answered, 1 when it did not.
"""


def add_fleet_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``workers`` and ``queues`` to the ``observatory`` parser."""
    raw = argparse.RawDescriptionHelpFormatter
    workers = commands.add_parser(
        "workers",
        help="the processors and metrics engines: alive, recently gone, what they run",
        description="List the workers the read model has seen in the last hour (GET /workers).",
        epilog=_WORKERS_EPILOG,
        formatter_class=raw,
    )
    queues = commands.add_parser(
        "queues",
        help="the broker's queues: depth, ready, unacked, consumers, rates",
        description="List every queue of the topology (GET /queues).",
        epilog=_QUEUES_EPILOG,
        formatter_class=raw,
    )
    for parser in (workers, queues):
        add_url_options(parser, gateway=False, json_help="a table")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _number(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:g}"


def workers_table(listed: WorkerList) -> list[str]:
    """The lines ``observatory workers`` prints for ``listed``."""
    lines = [f"{listed.alive} alive, {listed.gone} gone or stopped"]
    if not listed.workers:
        return [*lines, "no worker has been seen in the last hour"]
    rows = [
        [
            worker.id,
            worker.service,
            worker.status,
            f"{worker.host}:{worker.pid}",
            f"{worker.seconds_since_seen:.0f}s ago",
            str(worker.in_flight_count),
            str(worker.done),
            str(worker.failed),
            ",".join(worker.handler_types) or UNKNOWN,
        ]
        for worker in listed.workers
    ]
    header = ["ID", "SERVICE", "STATUS", "HOST:PID", "SEEN", "IN FLIGHT", "DONE", "FAILED"]
    return [*lines, *_table([*header, "TYPES"], rows)]


def queues_table(queues: Sequence[QueueStats]) -> list[str]:
    """The lines ``observatory queues`` prints for ``queues``."""
    if not queues:
        return ["the broker has no queue"]
    rows = [
        [
            queue.name,
            str(queue.depth),
            str(queue.ready),
            _number(queue.unacked),
            _number(queue.delayed),
            str(queue.consumers),
            _number(queue.publish_per_s),
            _number(queue.deliver_per_s),
            _number(queue.depth_change_per_s),
            queue.source or UNKNOWN,
        ]
        for queue in queues
    ]
    header = ["QUEUE", "DEPTH", "READY", "UNACKED", "DELAYED", "CONSUMERS"]
    return _table([*header, "PUBLISH/S", "DELIVER/S", "Δ/S", "SOURCE"], rows)


def fleet_main(args: argparse.Namespace) -> int:
    """Run ``observatory workers|queues``; returns the exit code."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        with Client(read_model_url=args.read_model_url) as client:
            if args.command == "workers":
                listed = client.workers()
                document: object = asdict(listed)
                lines = workers_table(listed)
            else:
                queues = client.queues()
                document = [asdict(queue) for queue in queues]
                lines = queues_table(queues)
    except ApiError as exc:
        sys.stderr.write(f"observatory {args.command}: error: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0
