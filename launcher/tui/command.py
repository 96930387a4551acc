"""The ``observatory tui`` subcommand: in this terminal, or served to a browser."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys

from launcher._arguments import parse_number
from launcher.tui.client import read_model_url_from_env

__all__ = ["TUI_EPILOG", "add_tui_arguments", "serve_command", "tui_main"]

TUI_EPILOG = """\
keys:
  dashboard  Q quit, R refresh, N new task, Enter job details, D dead letters, ? help
  launcher   L launch the kind cluster, E start the embedded observatory, Q quit

examples:
  observatory tui                          the console for the read model at $READ_MODEL_URL
  observatory tui --serve                  the same console in a browser, read-only
  observatory tui --serve --allow-writes   ... where N (new task) and L/E (launch) work
"""


def _interval(text: str) -> float:
    value = parse_number(text, float, "a number of seconds")
    if not 2.0 <= value <= 5.0:
        raise argparse.ArgumentTypeError(f"{value:g} s is outside 2 to 5 s")
    return value


def add_tui_arguments(tui: argparse.ArgumentParser) -> None:
    """The options of ``observatory tui``."""
    tui.add_argument(
        "--read-model-url",
        default=read_model_url_from_env(),
        metavar="URL",
        help="where the read model answers (default: $READ_MODEL_URL or %(default)s)",
    )
    tui.add_argument(
        "--gateway-url",
        default=os.environ.get("GATEWAY_URL") or None,
        metavar="URL",
        help="where N submits (default: $GATEWAY_URL, else what the read model's /config says)",
    )
    tui.add_argument(
        "--poll-interval",
        type=_interval,
        default=3.0,
        metavar="SECONDS",
        help="seconds between polls when the live stream is unavailable, 2-5 (default: %(default)g)",
    )
    tui.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every key that writes (new task, retry, dead letters, launching): watch only",
    )
    tui.add_argument("--serve", action="store_true", help="serve the TUI to web browsers")
    tui.add_argument(
        "--allow-writes",
        action="store_true",
        help="with --serve: let browsers submit jobs and launch (read-only otherwise)",
    )
    tui.add_argument(
        "--host", default="127.0.0.1", help="with --serve: address to bind (default: %(default)s)"
    )
    tui.add_argument(
        "--port", type=int, default=8000, help="with --serve: port (default: %(default)s)"
    )


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``observatory tui`` command line each browser session runs."""
    command = [sys.executable, "-m", "launcher.cli", "tui", "--read-model-url", args.read_model_url]
    command += ["--poll-interval", f"{args.poll_interval:g}"]
    if args.gateway_url:
        command += ["--gateway-url", args.gateway_url]
    if not args.allow_writes or args.read_only:
        command.append("--read-only")
    return command


def tui_main(args: argparse.Namespace) -> int:
    """Run the TUI here, or serve it with textual-serve until Ctrl-C; the exit code."""
    if args.serve:
        from textual_serve.server import Server

        command = shlex.join(serve_command(args))
        Server(command, host=args.host, port=args.port, title="Task Observatory").serve()
        return 0
    from textual.logging import TextualHandler

    from launcher.tui.app import ObservatoryApp
    from launcher.tui.options import TuiOptions

    # Log lines on stderr would scribble over the screen: send them to Textual's console.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(TextualHandler())
    root.setLevel(logging.WARNING)
    options = TuiOptions(
        read_model_url=args.read_model_url.rstrip("/"),
        gateway_url=args.gateway_url.rstrip("/") if args.gateway_url else None,
        read_only=args.read_only,
        poll_interval_s=args.poll_interval,
    )
    ObservatoryApp(options).run()
    return 0
