"""The ``observatory`` command line.

``observatory up`` runs everything in one process with embedded stores; more commands
arrive with the real infrastructure and the cluster launcher.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from actors._version import VERSION
from actors.config.settings import Settings
from actors.errors import ConfigError, ObservatoryError
from actors.observability import tracing
from actors.observability.logs import configure_logging
from launcher._arguments import parse_number
from launcher._dependencies import url_set_by
from launcher.apps import (
    AppLoadError,
    LoadedApps,
    add_app_arguments,
    app_names,
    app_overrides,
    load_apps,
)
from launcher.prune_cli import (
    add_prune_command,
    add_retention_arguments,
    prune_main,
    retention_overrides,
)
from launcher.serve import SERVICES
from launcher.up_local import (
    grace_override,
    print_banner,
    run_up_local,
    until_signalled,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import TaskStatus

    from launcher.demo import DemoJobIds
    from launcher.embedded import ObservatoryUrls

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
  observatory up --app myjobs         run the @handler functions of module myjobs

Submit a job:  curl -X POST localhost:3000/jobs -H 'content-type: application/json' \\
                    -d '{"type": "echo", "payload": {"hello": "world"}}'
Watch it:      curl localhost:8080/jobs/recent   (API docs at /docs on both ports)

Ctrl-C or SIGTERM stops gracefully: nothing accepted is lost, the next `up` resumes it.
"""


_SERVE_EPILOG = """\
examples:
  observatory serve gateway
  observatory serve processor --app myjobs --threads 20   run your handlers
  RABBITMQ_URL=amqp://user:pass@rabbit:5672/ observatory serve processor --port 8001
"""


def _port(text: str) -> int:
    value = parse_number(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535 (0 picks a free one)")
    return value


def _positive(text: str) -> float:
    value = parse_number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


def _processors(text: str) -> int:
    value = parse_number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} processors: at least 1 is needed")
    return value


def _non_negative(text: str) -> float:
    value = parse_number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be 0 or more")
    return value


def _add_management_url(parser: argparse.ArgumentParser, *, where: str) -> None:
    parser.add_argument(
        "--rabbitmq-management-url",
        default=None,
        metavar="URL",
        help=f"{where}RabbitMQ's management API, which GET /queues asks for unacked "
        "messages and rates (falling back to passive declares while it does not answer); "
        "'off' never asks it (default: $OBSERVATORY_RABBITMQ_MANAGEMENT_URL, else "
        "RABBITMQ_URL's host on port 15672 with its credentials)",
    )


def _management_override(args: argparse.Namespace) -> dict[str, object]:
    url: str | None = args.rabbitmq_management_url
    return {} if url is None else {"rabbitmq_management_url": url}


def _add_shutdown_grace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shutdown-grace",
        type=_non_negative,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C the processor takes no new jobs and lets running handlers "
        "finish for this long; then it interrupts them and returns their jobs to the queue "
        "(the attempt is not counted; they run again at the next start) "
        "(default: $OBSERVATORY_SHUTDOWN_GRACE_S or 10)",
    )


def _attempts(text: str) -> int:
    from actors.domain.attempts import MAX_ATTEMPTS_LIMIT

    value = parse_number(text, int, "a whole number")
    if not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is outside 1-{MAX_ATTEMPTS_LIMIT}")
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
    parser.add_argument(
        "--log-name",
        default=None,
        metavar="NAME",
        help="stamp NAME on every log line (the start of a readable line, process_name in "
        "JSON); up --infra local --processors N names its processors processor-1..N",
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
        "--insecure",
        action="store_true",
        help="serve on a non-loopback address without API tokens (OBSERVATORY_API_TOKENS)",
    )
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
        help="how long each service may drain on Ctrl-C (after the processor's "
        "--shutdown-grace) before it is cancelled (default: %(default)s)",
    )
    _add_shutdown_grace(up)
    up.add_argument(
        "--max-attempts",
        type=_attempts,
        default=defaults.max_attempts,
        metavar="N",
        help="attempts of a failing job whose type and metadata.maxAttempts set none "
        "(default: %(default)s)",
    )
    up.add_argument(
        "--retry-backoff",
        type=_positive,
        default=defaults.retry_backoff_s,
        metavar="SECONDS",
        help="wait after a first failed attempt; each further wait is 5 times longer, at "
        "most 30 s (default: %(default)s)",
    )
    up.add_argument(
        "--default-job-duration",
        type=float,
        default=defaults.default_job_duration_s,
        metavar="SECONDS",
        help="simulated duration of job types without a handler, with --demo or "
        "--simulate-unknown-types (default: %(default)s)",
    )
    up.add_argument(
        "--processor-port",
        type=_port,
        default=defaults.processor_port,
        help="processor health/metrics port with --infra local (default: %(default)s)",
    )
    up.add_argument(
        "--processors",
        type=_processors,
        default=1,
        metavar="N",
        help="with --infra local: N processor processes on the same queues, processor-1 on "
        "--processor-port and the others on free ports (default: %(default)s)",
    )
    up.add_argument(
        "--metrics-engine-port",
        type=_port,
        default=defaults.metrics_engine_port,
        help="metrics engine health/metrics port with --infra local (default: %(default)s)",
    )
    up.add_argument(
        "--infra",
        choices=["embedded", "local"],
        default="embedded",
        help="embedded: one process, no servers (default); local: each service as its own "
        "process against RABBITMQ_URL, POSTGRES_URL, REDIS_URL and MONGO_URL",
    )
    up.add_argument(
        "--trace-console",
        action="store_true",
        help="print every service's trace spans on stdout (tracing is otherwise on only "
        "with OTEL_EXPORTER_OTLP_ENDPOINT set)",
    )
    _add_management_url(up, where="with --infra local: ")
    add_app_arguments(up, demo=True)
    add_retention_arguments(up)

    serve = commands.add_parser(
        "serve",
        help="run one service in this process against real servers",
        description="Run one service against RabbitMQ, PostgreSQL, Redis and MongoDB, named by "
        "RABBITMQ_URL, POSTGRES_URL, REDIS_URL and MONGO_URL (defaults: the local servers). "
        "While a server is away the service retries with backoff and /healthz answers 503.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("service", choices=SERVICES, help="which service")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="serve on a non-loopback address without API tokens (OBSERVATORY_API_TOKENS)",
    )
    serve.add_argument(
        "--host", default=defaults.host, help="address to bind (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=None,
        help="HTTP port (default: gateway 3000, processor 8001, metrics-engine 8002, "
        "read-model 8080)",
    )
    serve.add_argument(
        "--namespace",
        default=None,
        help="isolate from other observatories on the same servers (queue and key prefix, "
        "PostgreSQL schema, MongoDB database; default: $OBSERVATORY_NAMESPACE or none)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_positive,
        default=defaults.shutdown_s,
        metavar="SECONDS",
        help="how long each actor may drain on SIGTERM (after the processor's "
        "--shutdown-grace) before it is cancelled (default: %(default)s)",
    )
    _add_shutdown_grace(serve)
    _add_management_url(serve, where="read-model: ")
    add_app_arguments(serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply the PostgreSQL migrations and exit",
        description="Apply pending migrations of the job store at POSTGRES_URL.",
    )
    migrate.add_argument("--namespace", default=None, help="the namespace whose schema to migrate")
    migrate.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="the PostgreSQL to migrate (default: $POSTGRES_URL, else the local server)",
    )

    from launcher.bench import BENCH_EPILOG, add_bench_arguments

    bench = commands.add_parser(
        "bench",
        help="measure throughput and latency, phase by phase",
        description="Measure how fast the observatory moves zero-work echo jobs: HTTP\n"
        "submission (single and batch) and end to end, paced latency, the processor alone\n"
        "and a raw RabbitMQ relay ceiling. Without URLs it starts `observatory up` itself.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bench_arguments(bench)

    from launcher.cluster.command import CLUSTER_EPILOG, add_cluster_arguments

    cluster = commands.add_parser(
        "cluster",
        help="run the observatory on a local kind cluster (up, down, status)",
        description="Create or reuse a kind cluster, build and load the image, deploy the\n"
        "kind overlay, wait for the rollouts and port-forward the services.",
        epilog=CLUSTER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_cluster_arguments(cluster)

    from launcher.gate import GATE_EPILOG, add_gate_arguments

    gate = commands.add_parser(
        "gate",
        help="prove a running observatory end to end (PASS/FAIL per step, JSON report)",
        description="Submit jobs to a running observatory and check, step by step, that\n"
        "they complete exactly once with a full audit trail, that counters and metrics\n"
        "moved by what was sent, that a failing job ends FAILED after its retries and a\n"
        "malformed message reaches the dead letters.",
        epilog=GATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gate_arguments(gate)

    from launcher.doctor import DOCTOR_EPILOG, add_doctor_arguments

    doctor = commands.add_parser(
        "doctor",
        help="check this machine: Python, docker, kind, kubectl, the cluster, the servers",
        description="One line per check (OK, WARN or FAIL) with an install hint for\n"
        "Debian/Ubuntu. Exit 1 only when a required check (Python >= 3.11) fails.",
        epilog=DOCTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_doctor_arguments(doctor)

    from launcher.checks.command import CHECK_EPILOG, add_check_arguments

    check = commands.add_parser(
        "check",
        help="repository checks: image/label versions, schema compatibility",
        description="Consistency checks of the repository (run them in CI).",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_check_arguments(check)

    from launcher.tui.command import TUI_EPILOG, add_tui_arguments

    tui = commands.add_parser(
        "tui",
        help="the operator's console: launcher, dashboard, new tasks (--serve: in a browser)",
        description="A terminal UI over the read model and gateway APIs. Without an\n"
        "observatory it offers to launch the kind cluster or start the embedded one.",
        epilog=TUI_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_tui_arguments(tui)

    from launcher.jobs_cli import add_job_commands

    add_job_commands(commands)

    from launcher.fleet_cli import add_fleet_commands

    add_fleet_commands(commands)

    from launcher.schedule_cli import add_schedule_command

    add_schedule_command(commands)
    add_prune_command(commands)
    return parser


async def _run_up(args: argparse.Namespace) -> int:
    from launcher.embedded import EmbeddedObservatory

    settings = Settings.from_env(
        host=args.host,
        gateway_port=args.gateway_port,
        read_model_port=args.read_model_port,
        data_dir=args.data_dir,
        job_timeout_s=args.job_timeout,
        shutdown_s=args.shutdown_timeout,
        default_job_duration_s=max(0.0, args.default_job_duration),
        max_attempts=args.max_attempts,
        retry_backoff_s=args.retry_backoff,
        insecure=args.insecure,
        **grace_override(args),
        **app_overrides(args),
        **retention_overrides(args),
    )
    exposure = check_exposure(settings)
    apps: LoadedApps = args.loaded_apps
    observatory = EmbeddedObservatory(
        settings, handlers=apps.registry, demo_rate_per_s=args.demo_rate if args.demo else 0.0
    )
    if args.demo:
        _quiet_demo_jobs(observatory.demo_ids)
    async with anyio.create_task_group() as tg:

        async def run_observatory(*, task_status: TaskStatus[ObservatoryUrls]) -> None:
            await observatory.run(task_status=task_status)
            tg.cancel_scope.cancel()  # it has stopped: end the signal watcher too

        tg.start_soon(until_signalled, tg.cancel_scope, observatory.request_stop)
        urls = await tg.start(run_observatory)
        details = [("Security", exposure), ("Handlers", handlers_line(apps, settings))]
        if args.demo:
            details.insert(
                0,
                (
                    "Demo load",
                    f"{args.demo_rate:g} jobs/s of echo, sleep, compute, fail, report "
                    "(their log lines at DEBUG)",
                ),
            )
        print_banner(
            f"embedded; data in {settings.data_dir}/", urls.gateway, urls.read_model, details
        )
    print("Stopped; nothing in flight was lost.", flush=True)
    return 0


def handlers_line(apps: LoadedApps, settings: Settings) -> str:
    """One line on the job types served and what happens to the others."""
    unknown = "simulated" if settings.simulate_unknown_types else "refused"
    origin = f" (apps: {', '.join(apps.named)})" if apps.named else ""
    return f"{', '.join(apps.registry.types())}{origin}; other types {unknown}"


def check_exposure(settings: Settings) -> str:
    """One line on how the APIs are protected.

    Raises:
        ConfigError: a non-loopback address without tokens and without ``insecure``.
    """
    from actors.config.tokens import is_loopback

    roles = sorted(settings.api_tokens.values())
    if roles:
        counts = ", ".join(f"{roles.count(r)} {r}" for r in sorted(set(roles)))
        return f"API tokens required ({counts}); health and metrics stay open"
    if is_loopback(settings.host):
        return (
            f"API tokens off: bound to {settings.host}, only this machine can connect "
            "(set OBSERVATORY_API_TOKENS to require them)"
        )
    if settings.insecure:
        return f"API tokens OFF on {settings.host} (--insecure): anyone who can reach it may submit"
    raise ConfigError(
        f"Refusing to serve on {settings.host} without API tokens: anyone on the network could "
        "submit jobs. Set OBSERVATORY_API_TOKENS (e.g. 'submitter:<token>,viewer:<token>') or "
        "OBSERVATORY_API_TOKENS_FILE, bind to 127.0.0.1, or pass --insecure."
    )


async def _run_serve(args: argparse.Namespace) -> int:
    from launcher.serve import ServiceProcess

    overrides: dict[str, object] = {"host": args.host, "shutdown_s": args.shutdown_timeout}
    if args.namespace is not None:
        overrides["namespace"] = args.namespace
    if args.port is not None:
        field = {
            "gateway": "gateway_port",
            "processor": "processor_port",
            "metrics-engine": "metrics_engine_port",
            "read-model": "read_model_port",
        }[args.service]
        overrides[field] = args.port
    overrides["insecure"] = args.insecure
    overrides.update(grace_override(args))
    overrides.update(app_overrides(args))
    overrides.update(_management_override(args))
    settings = Settings.from_env(**overrides)
    log.info("service.security service=%s %s", args.service, check_exposure(settings))
    apps: LoadedApps = args.loaded_apps
    log.info("service.handlers service=%s types=%s", args.service, handlers_line(apps, settings))
    # The gateway checks types against the handlers only when told the apps: without
    # them it cannot know what the processors serve.
    process = ServiceProcess(
        args.service, settings, handlers=apps.registry, check_types=bool(apps.named)
    )
    async with anyio.create_task_group() as tg:

        async def run_service(*, task_status: TaskStatus[None]) -> None:
            await process.run(task_status=task_status)
            tg.cancel_scope.cancel()  # it has stopped: end the signal watcher too

        tg.start_soon(until_signalled, tg.cancel_scope, process.request_stop)
        await tg.start(run_service)
        log.info(
            "service.up service=%s url=http://%s:%d", args.service, settings.host, process.http.port
        )
    return 0


def _quiet_demo_jobs(ids: DemoJobIds) -> None:
    """Lower the log lines of the demo's own jobs to DEBUG (see :class:`QuietDemoJobs`)."""
    from launcher.demo import QuietDemoJobs

    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietDemoJobs(ids))


async def _run_migrate(args: argparse.Namespace) -> int:
    from actors.stores.postgres import migrate_postgres

    overrides: dict[str, object] = {}
    if args.namespace is not None:
        overrides["namespace"] = args.namespace
    if args.database_url is not None:
        overrides["postgres_url"] = args.database_url
    settings = Settings.from_env(**overrides)
    # The store's sentence names the URL (password hidden) and the error; add where the
    # URL came from, so the operator knows what to change.
    with url_set_by("--database-url or POSTGRES_URL"):
        applied = await migrate_postgres(settings.postgres_url, schema=settings.postgres_schema)
    if applied:
        print(
            f"Applied migrations {', '.join(map(str, applied))} to schema {settings.postgres_schema!r}."
        )
    else:
        print(f"Schema {settings.postgres_schema!r} is up to date; nothing to apply.")
    return 0


def _root_cause(error: BaseException) -> BaseException:
    """The innermost of our own errors: what the operator can act on.

    A supervisor only relays a child's error, so its causes are followed; a third-party
    exception (``OSError: [Errno 111] Connection refused``) is not: the error that
    translated it already names the server, the reason and what to do.
    """
    while isinstance(error.__cause__, ObservatoryError):
        error = error.__cause__
    return error


def _configure_tracing(args: argparse.Namespace) -> None:
    """Turn tracing on for this process if the environment (or ``--trace-console``) asks.

    ``up --infra local`` only passes the switch on to its services, each of which traces
    as itself (``serve processor``: ``observatory-processor``); ``bench`` traces its
    in-process phases (the processor alone) as ``observatory-bench``.
    """
    if getattr(args, "trace_console", False):
        os.environ[tracing.CONSOLE_ENV] = "1"  # the services started from here inherit it
    if args.command == "serve":
        tracing.configure_tracing(args.service)
    elif args.command == "bench":
        tracing.configure_tracing("bench")
    elif args.infra == "embedded":
        tracing.configure_tracing("observatory")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``observatory`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    json_lines = None if args.log_format == "auto" else args.log_format == "json"
    configure_logging(level=args.log_level, json_lines=json_lines, process_name=args.log_name)
    if args.command == "up" and args.infra == "embedded" and args.processors != 1:
        parser.error(
            f"--processors {args.processors} needs --infra local: the embedded observatory "
            "runs one processor in one process"
        )
    errors: list[BaseException] = []
    interrupted = False
    if args.command in ("up", "serve"):
        try:
            args.loaded_apps = load_apps(app_names(args.app))
        except AppLoadError as exc:
            # One line, no traceback: the module and what its import raised.
            print(f"observatory: error: {exc}", file=sys.stderr)
            return 2
        _configure_tracing(args)
    try:
        if args.command == "up":
            runner = _run_up if args.infra == "embedded" else run_up_local
            return anyio.run(runner, args, backend_options={"use_uvloop": True})
        if args.command == "serve":
            return anyio.run(_run_serve, args, backend_options={"use_uvloop": True})
        if args.command == "migrate":
            return anyio.run(_run_migrate, args, backend_options={"use_uvloop": True})
        if args.command == "bench":
            from launcher.bench import bench_main

            _configure_tracing(args)
            return bench_main(args)
        if args.command == "cluster":
            from launcher.cluster.command import cluster_main

            return cluster_main(args)
        if args.command == "gate":
            from launcher.gate import gate_main

            return gate_main(args)
        if args.command == "doctor":
            from launcher.doctor import doctor_main

            return doctor_main(args)
        if args.command == "check":
            from launcher.checks.command import check_main

            return check_main(args)
        if args.command == "tui":
            from launcher.tui.command import tui_main

            return tui_main(args)
        if args.command == "prune":
            return prune_main(args)
        if args.command in ("submit", "job", "jobs", "cancel", "retry"):
            from launcher.jobs_cli import jobs_main

            return jobs_main(args)
        if args.command in ("workers", "queues"):
            from launcher.fleet_cli import fleet_main

            return fleet_main(args)
        if args.command == "schedule":
            from launcher.schedule_cli import schedule_main

            return schedule_main(args)
    except* ObservatoryError as group:
        errors.extend(group.exceptions)
    except* KeyboardInterrupt:
        interrupted = True
    finally:
        tracing.shutdown_tracing()  # the spans still buffered are exported
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
