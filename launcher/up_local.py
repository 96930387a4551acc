"""``observatory up --infra local``: the command's side of the four-process mode (which
ports, which environment, the banner), and what every ``up``/``serve`` shares: the
shutdown-grace override, waiting for SIGINT/SIGTERM, the start banner. The processes
themselves are supervised by :mod:`launcher.local`.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

import anyio

from actors.config.settings import Settings
from launcher.apps import app_overrides
from launcher.prune_cli import retention_overrides

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from launcher.apps import LoadedApps

__all__ = [
    "child_log_args",
    "free_port",
    "grace_override",
    "print_banner",
    "processor_label",
    "run_up_local",
    "until_signalled",
]

log = logging.getLogger("launcher.cli")


def grace_override(args: argparse.Namespace) -> dict[str, object]:
    grace: float | None = args.shutdown_grace
    return {} if grace is None else {"shutdown_grace_s": grace}


async def until_signalled(tg_cancel: anyio.CancelScope, stop: Callable[[], None]) -> None:
    """First SIGINT/SIGTERM: ``stop()`` (graceful); the second: cancel everything."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        stopping = False
        async for signum in signals:
            if stopping:
                log.warning("signal.second name=%s: stopping now", signal.Signals(signum).name)
                tg_cancel.cancel()
                return
            stopping = True
            log.info("signal.received name=%s: draining", signal.Signals(signum).name)
            stop()


def print_banner(mode: str, gateway: str, read_model: str, details: list[tuple[str, str]]) -> None:
    """The start banner on stdout, in one write: the last thing ``up`` prints."""
    from launcher.banner import banner_lines

    print(
        "\n".join(banner_lines(mode=mode, gateway=gateway, read_model=read_model, details=details)),
        flush=True,
    )


async def run_up_local(args: argparse.Namespace) -> int:
    from launcher.local import local_supervisor, processor_names, wait_all_healthy

    management: str | None = args.rabbitmq_management_url
    settings = Settings.from_env(
        **grace_override(args),
        **app_overrides(args),
        **retention_overrides(args),
        **({} if management is None else {"rabbitmq_management_url": management}),
    )
    apps: LoadedApps = args.loaded_apps
    env = {
        "RABBITMQ_URL": settings.rabbitmq_url,
        "POSTGRES_URL": settings.postgres_url,
        "REDIS_URL": settings.redis_url,
        "MONGO_URL": settings.mongo_url,
        "OBSERVATORY_NAMESPACE": settings.namespace,
        "OBSERVATORY_MAX_ATTEMPTS": str(args.max_attempts),
        "OBSERVATORY_RETRY_BACKOFF_S": str(args.retry_backoff),
        "OBSERVATORY_APP": ",".join(apps.named),
        "OBSERVATORY_THREADS": str(settings.threads),
        "OBSERVATORY_SHUTDOWN_GRACE_S": str(settings.shutdown_grace_s),
        "OBSERVATORY_SIMULATE_UNKNOWN_TYPES": "1" if settings.simulate_unknown_types else "0",
        "OBSERVATORY_RETAIN_DAYS": str(settings.retain_days),
        "OBSERVATORY_PRUNE_INTERVAL_S": str(settings.prune_interval_s),
        # Empty: the read model derives it from RABBITMQ_URL.
        "OBSERVATORY_RABBITMQ_MANAGEMENT_URL": settings.rabbitmq_management_url or "",
    }
    processor_ports = {
        # The first processor on --processor-port, the others wherever the OS says.
        name: args.processor_port if index == 0 else 0
        for index, name in enumerate(processor_names(args.processors))
    }
    ports = {
        "gateway": args.gateway_port,
        "read-model": args.read_model_port,
        **processor_ports,
        "metrics-engine": args.metrics_engine_port,
    }
    chosen = {name: port or free_port(args.host) for name, port in ports.items()}
    # The dashboard (served by the read model) submits to the gateway: tell it where.
    env["OBSERVATORY_GATEWAY_URL"] = settings.with_changes(
        host=args.host, gateway_port=chosen["gateway"]
    ).gateway_url
    supervisor, processes = local_supervisor(
        host=args.host,
        env=env,
        # The processor's grace comes before its drain.
        shutdown_s=args.shutdown_timeout + settings.shutdown_grace_s,
        ports=chosen,
        global_args=child_log_args(args),
        extra_args=[
            "--shutdown-timeout",
            str(args.shutdown_timeout),
            *(["--insecure"] if args.insecure else []),
        ],
        processors=args.processors,
    )
    async with anyio.create_task_group() as tg:

        async def run_processes(*, task_status: TaskStatus[None]) -> None:
            await supervisor.run(task_status=task_status)
            tg.cancel_scope.cancel()

        tg.start_soon(until_signalled, tg.cancel_scope, supervisor.request_stop)
        await tg.start(run_processes)
        unready = await wait_all_healthy(list(processes.values()), timeout_s=60.0)
        if unready:
            print(
                f"Waiting for {', '.join(unready)}: not ready after 60 s (see their /healthz); "
                "they keep retrying."
            )
        print_banner(
            "local: one process per service",
            processes["gateway"].url,
            processes["read-model"].url,
            [
                *(
                    (processor_label(name), f"{processes[name].url}   /healthz /metrics")
                    for name in processor_ports
                ),
                ("Metrics", f"{processes['metrics-engine'].url}   /healthz /metrics"),
            ],
        )
    print("Stopped; nothing in flight was lost.", flush=True)
    return 0


def processor_label(name: str) -> str:
    """The banner label of a processor process: ``Processor``, ``Processor 2``."""
    index = name.removeprefix("processor").removeprefix("-")
    return f"Processor {index}" if index else "Processor"


def child_log_args(args: argparse.Namespace) -> list[str]:
    """``--log-format``/``--log-level`` for the services of ``--infra local``.

    ``auto`` is decided here, once: the children share this process's stderr, and one
    format for all keeps the output readable (and parseable).
    """
    json_lines = args.log_format == "json" or (
        args.log_format == "auto" and not sys.stderr.isatty()
    )
    return ["--log-format", "json" if json_lines else "console", "--log-level", args.log_level]


def free_port(host: str) -> int:
    """A port the OS says is free now (for ``--*-port 0`` with separate processes)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
