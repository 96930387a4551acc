"""The ``observatory cluster`` subcommands: arguments, progress display and exit codes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio
from rich.console import Console
from rich.text import Text

from launcher.cluster import kubectl
from launcher.cluster._errors import LauncherError
from launcher.cluster._run import ProcessRunner
from launcher.cluster._state import STATE_ENV, default_state_path
from launcher.cluster._steps import (
    STEPS,
    VERIFY_ENV,
    ClusterOptions,
    StepEvent,
    cluster_down,
    cluster_status,
    cluster_up,
    restart_port_forwards,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from rich.status import Status

    from launcher.cluster._run import Runner

__all__ = [
    "CLUSTER_EPILOG",
    "ProgressDisplay",
    "RichProgress",
    "add_cluster_arguments",
    "cluster_main",
    "progress_for",
]

CLUSTER_EPILOG = f"""\
examples:
  observatory cluster up                 create (or reuse) the kind cluster, build, deploy, forward
  observatory cluster up --skip-build    reuse the image built last time
  observatory cluster up --json          one JSON event per line, then {{"urls": {{...}}}}
  observatory cluster status             context, nodes, deployments, port-forwards
  observatory cluster down               stop the recorded port-forwards, delete the cluster

Needs docker (running), kind and kubectl on PATH; run it from the project root.
Port-forward PIDs are kept in ~/.observatory/port-forwards.json (${STATE_ENV} overrides;
${VERIFY_ENV}=skip disables the verify step's /healthz and dashboard checks and exists
for the tests only).
"""


def add_cluster_arguments(cluster: argparse.ArgumentParser) -> None:
    """The ``up``, ``down`` and ``status`` subcommands of ``observatory cluster``."""
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up",
        help="create or reuse the kind cluster, build, load, deploy and port-forward",
        description="Nine steps: prerequisites, cluster, images, load, deploy, pods, "
        "port-forwards, verify, ready. Running it again reuses the cluster.",
    )
    up.add_argument("--json", action="store_true", help="JSON events on stdout, one per line")
    up.add_argument(
        "--skip-build", action="store_true", help="do not build the image; load the existing one"
    )
    up.add_argument(
        "--timeout",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long each deployment may take to roll out (default: %(default)g)",
    )
    actions.add_parser(
        "down",
        help="stop the recorded port-forwards and delete the kind cluster",
        description="Stops only the port-forwards `cluster up` recorded (if still running), "
        "then runs `kind delete cluster --name task-observatory`.",
    )
    actions.add_parser(
        "port-forward",
        help="(re)start the port-forwards of a running cluster and print the URLs",
        description="Stops the port-forwards `cluster up` recorded, starts new ones for the "
        "gateway, read model, Grafana, Prometheus, RabbitMQ management and the Jaeger UI, and "
        "records them.",
    )
    status = actions.add_parser(
        "status",
        help="show context, nodes, deployments and port-forwards (exit 1 unless all is well)",
    )
    status.add_argument("--json", action="store_true", help="print the status as one JSON object")


def _seconds(text: str) -> float:
    import argparse

    from launcher._arguments import parse_number

    value = parse_number(text, float, "a number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be greater than 0")
    return value


class ProgressDisplay:
    """Readable progress: ``[3/9] images ... done (12.3 s)``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started: dict[str, float] = {}

    def __call__(self, event: StepEvent) -> None:
        number = f"[{STEPS.index(event.step) + 1}/{len(STEPS)}] {event.step}"
        if event.status == "starting":
            self._started[event.step] = time.monotonic()
            return
        elapsed = time.monotonic() - self._started.get(event.step, time.monotonic())
        word = {"complete": "done", "skipped": "skipped", "warning": "warning", "error": "FAILED"}[
            event.status
        ]
        self._out.write(f"{number} ... {word} ({elapsed:.1f} s): {event.message}\n")
        self._out.flush()


_MARKS = {
    "complete": ("✓", "green"),
    "skipped": ("↷", "cyan"),
    "warning": ("!", "yellow"),
    "error": ("✗", "bold red"),
}


class RichProgress:
    """Live progress on a terminal: a spinner on the running step, a mark per finished one."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._started: dict[str, float] = {}
        self._status: Status | None = None

    def __call__(self, event: StepEvent) -> None:
        number = f"[{STEPS.index(event.step) + 1}/{len(STEPS)}]"
        if event.status == "starting":
            self._started[event.step] = time.monotonic()
            self._stop_spinner()
            self._status = self._console.status(f"{number} {event.step} ...", spinner="dots")
            self._status.start()
            return
        self._stop_spinner()
        elapsed = time.monotonic() - self._started.get(event.step, time.monotonic())
        mark, style = _MARKS[event.status]
        line = Text.assemble(
            (f"{mark} ", style),
            (f"{number} {event.step:<13}", "bold"),
            (f" {elapsed:5.1f} s  ", "dim"),
            (event.message, style if event.status in ("error", "warning") else ""),
        )
        self._console.print(line)

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def progress_for(out: TextIO) -> Callable[[StepEvent], None]:
    """Rich live progress on a terminal, plain lines otherwise (logs, CI, pipes)."""
    if out.isatty():
        return RichProgress(Console(file=out))
    return ProgressDisplay(out)


def _json_line(out: TextIO, value: object) -> None:
    out.write(json.dumps(value) + "\n")
    out.flush()


SECRETS_ENV = Path("manifests/base/secrets.env")
"""The local development credentials kustomize turns into the cluster's Secret."""


def local_token(key: str, path: Path = SECRETS_ENV) -> str | None:
    """The value of ``key`` in the local credentials file, if it is there."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition("=")
        if name.strip() == key and value.strip():
            return value.strip()
    return None


def cluster_main(
    args: argparse.Namespace,
    *,
    runner: Runner | None = None,
    out: TextIO | None = None,
    options: ClusterOptions | None = None,
) -> int:
    """Run ``observatory cluster <action>``; the exit code.

    A :class:`LauncherError` propagates (the caller prints it, hint included, on stderr
    and exits 1) after ``up`` has emitted its error event.
    """
    out = out or sys.stdout
    runner = runner or ProcessRunner()
    state_path = options.state_path if options else default_state_path()
    if args.cluster_command == "up":
        opts = options or ClusterOptions(runner=runner, state_path=state_path)
        opts.skip_build = args.skip_build
        opts.rollout_timeout_s = args.timeout
        opts.runner = runner
        observe = (lambda e: _json_line(out, e.as_json())) if args.json else progress_for(out)
        urls = anyio.run(cluster_up, opts, observe)
        if args.json:
            _json_line(out, {"urls": urls})
        else:
            out.write("Task Observatory is up on kind:\n")
            out.writelines(f"  {name:<11} {url}\n" for name, url in urls.items())
            if token := local_token("SUBMITTER_TOKEN"):
                out.write(
                    "The APIs want a token (the dashboard asks for it). For the CLI and the TUI:\n"
                    f"  export OBSERVATORY_API_TOKEN={token}\n"
                )
            out.write(
                "The dashboard links job traces to Jaeger; for the TUI's trace links:\n"
                f"  export OBSERVATORY_TRACE_URL='{kubectl.TRACE_URL}'\n"
            )
            out.write("Stop it with `observatory cluster down`.\n")
        return 0
    if args.cluster_command == "down":

        def say(line: str) -> None:
            out.write(line + "\n")
            out.flush()

        anyio.run(cluster_down, runner, state_path, say)
        return 0
    if args.cluster_command == "port-forward":
        message = anyio.run(restart_port_forwards, state_path)
        out.write(message + "\n")
        out.writelines(f"  {f.service:<11} {f.url}\n" for f in kubectl.FORWARDS)
        return 0
    if args.cluster_command == "status":
        status = anyio.run(cluster_status, runner, state_path)
        if args.json:
            _json_line(out, status.as_json())
        else:
            out.write(f"context   {'present' if status.context else 'missing'}\n")
            out.writelines(f"node      {name} {state}\n" for name, state in status.nodes)
            out.writelines(f"deploy    {name} {ready}\n" for name, ready in status.deployments)
            out.writelines(
                f"forward   {name} PID {pid} {'alive' if alive else 'gone'}\n"
                for name, (pid, alive) in status.forwards.items()
            )
            out.writelines(f"problem   {problem}\n" for problem in status.problems)
            out.write("healthy\n" if status.healthy else "not healthy\n")
        return 0 if status.healthy else 1
    raise LauncherError(
        ["observatory", "cluster", str(args.cluster_command)],
        exit_code=None,
        reason="is not a cluster action",
        hint="use up, down, port-forward or status",
    )
