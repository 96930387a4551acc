"""The ``observatory`` command line.

``observatory up`` runs everything in one process with embedded stores; more commands
arrive with the real infrastructure and the cluster launcher.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from actors._version import VERSION
from actors.errors import ObservatoryError
from actors.observability import configure_logging
from actors.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import TaskStatus

    from actors.observatory import ObservatoryUrls

__all__ = ["build_parser", "main"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Task Observatory: submit small typed jobs over HTTP and watch them flow through a
broker, processors, stores and a live read model.
"""

_UP_EPILOG = """\
examples:
  observatory up                      everything on 127.0.0.1 (gateway :3000, read model :8080)
  observatory up --demo               ...plus a steady mix of sample jobs, some failing
  observatory up --data-dir /tmp/obs  keep the embedded stores somewhere else

Submit a job:  curl -X POST localhost:3000/jobs -H 'content-type: application/json' \\
                    -d '{"type": "echo", "payload": {"hello": "world"}}'
Watch it:      curl localhost:8080/jobs/recent   (API docs at /docs on both ports)

Ctrl-C or SIGTERM stops gracefully: nothing accepted is lost, the next `up` resumes it.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535 (0 picks a free one)")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``observatory`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="observatory",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default: INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "json", "console"],
        help="log lines as JSON or readable text (default: JSON unless stderr is a terminal)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = commands.add_parser(
        "up",
        help="run the whole observatory in this process (no servers needed)",
        description="Run gateway, processor, metrics engine and read model in one process, "
        "with embedded stores in --data-dir.",
        epilog=_UP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = Settings()
    up.add_argument("--host", default=defaults.host, help="address to bind (default: %(default)s)")
    up.add_argument(
        "--gateway-port",
        type=_port,
        default=defaults.gateway_port,
        help="gateway port, 0 for a free one (default: %(default)s)",
    )
    up.add_argument(
        "--read-model-port",
        type=_port,
        default=defaults.read_model_port,
        help="read model port, 0 for a free one (default: %(default)s)",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=defaults.data_dir,
        help="where the embedded stores live (default: %(default)s)",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="submit a steady mix of sample jobs (some failing) so the system is alive",
    )
    up.add_argument(
        "--demo-rate",
        type=_positive,
        default=2.0,
        metavar="JOBS_PER_S",
        help="demo jobs per second with --demo (default: %(default)s)",
    )
    up.add_argument(
        "--job-timeout",
        type=_positive,
        default=defaults.job_timeout_s,
        metavar="SECONDS",
        help="a job running longer fails (default: %(default)s)",
    )
    up.add_argument(
        "--shutdown-timeout",
        type=_positive,
        default=defaults.shutdown_s,
        metavar="SECONDS",
        help="how long each service may drain on Ctrl-C before running jobs are cancelled "
        "(they are kept and rerun at the next start) (default: %(default)s)",
    )
    up.add_argument(
        "--default-job-duration",
        type=float,
        default=defaults.default_job_duration_s,
        metavar="SECONDS",
        help="simulated duration of job types without a handler (default: %(default)s)",
    )
    return parser


async def _run_up(args: argparse.Namespace) -> int:
    from actors.observatory import EmbeddedObservatory

    settings = Settings(
        host=args.host,
        gateway_port=args.gateway_port,
        read_model_port=args.read_model_port,
        data_dir=args.data_dir,
        job_timeout_s=args.job_timeout,
        shutdown_s=args.shutdown_timeout,
        default_job_duration_s=max(0.0, args.default_job_duration),
    )
    observatory = EmbeddedObservatory(
        settings, demo_rate_per_s=args.demo_rate if args.demo else 0.0
    )
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                stopping = False
                async for signum in signals:
                    if stopping:
                        print("Second signal: stopping now, without draining.", flush=True)
                        tg.cancel_scope.cancel()
                        return
                    stopping = True
                    print(
                        f"{signal.Signals(signum).name} received: draining and stopping "
                        "(send it again to stop at once)...",
                        flush=True,
                    )
                    observatory.request_stop()

        async def run_observatory(*, task_status: TaskStatus[ObservatoryUrls]) -> None:
            await observatory.run(task_status=task_status)
            tg.cancel_scope.cancel()  # it has stopped: end the signal watcher too

        tg.start_soon(watch_signals)
        urls = await tg.start(run_observatory)
        print(f"Task Observatory {VERSION} is up (embedded; data in {settings.data_dir}/)")
        print(f"  Gateway     {urls.gateway}   POST /jobs, docs at {urls.gateway}/docs")
        print(
            f"  Read model  {urls.read_model}   GET /stats /jobs/recent, docs at {urls.read_model}/docs"
        )
        if args.demo:
            print(f"  Demo load   {args.demo_rate:g} jobs/s of echo, sleep, compute, fail, report")
        print("Press Ctrl-C to stop.", flush=True)
    print("Stopped; nothing in flight was lost.", flush=True)
    return 0


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause: what the operator can act on (a supervisor only relays it)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``observatory`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    json_lines = None if args.log_format == "auto" else args.log_format == "json"
    configure_logging(level=args.log_level, json_lines=json_lines)
    errors: list[BaseException] = []
    interrupted = False
    try:
        if args.command == "up":
            return anyio.run(_run_up, args, backend_options={"use_uvloop": True})
    except* ObservatoryError as group:
        errors.extend(group.exceptions)
    except* KeyboardInterrupt:
        interrupted = True
    for error in errors:
        print(f"observatory: error: {_root_cause(error)}", file=sys.stderr)
    if errors:
        return 1
    if interrupted:
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
