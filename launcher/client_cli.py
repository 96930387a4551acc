"""What the commands that talk to a running observatory share (``submit``, ``job``,
``jobs``, ``cancel``, ``retry``, ``workers``, ``queues``, ``schedule``): their URL and
``--json`` options, reading a JSON object option, writing lines, and how a command's
errors end it (a wrong command line: exit 2; the server refused or could not be reached:
exit 1, one line on stderr).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING

from observatory import ApiError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

__all__ = [
    "UsageError",
    "add_url_options",
    "err",
    "json_object",
    "out",
    "run_command",
]


class UsageError(Exception):
    """The command line is wrong (exit 2)."""


def add_url_options(
    parser: argparse.ArgumentParser, *, gateway: bool = True, json_help: str = "text"
) -> None:
    """``--gateway-url`` (unless ``gateway`` is false), ``--read-model-url`` and ``--json``."""
    if gateway:
        parser.add_argument(
            "--gateway-url",
            default=None,
            help="the gateway (default: $GATEWAY_URL, else http://127.0.0.1:3000)",
        )
    parser.add_argument(
        "--read-model-url",
        default=None,
        help="the read model (default: $READ_MODEL_URL, else http://127.0.0.1:8080)",
    )
    parser.add_argument("--json", action="store_true", help=f"print JSON instead of {json_help}")


def json_object(text: str | None, flag: str) -> dict[str, object] | None:
    """The JSON object given as ``flag`` (``None`` when not given).

    Raises:
        UsageError: it is not JSON, or not an object.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object, not {type(value).__name__}.")
    return value


def out(line: str) -> None:
    """One line of the command's output (stdout)."""
    sys.stdout.write(f"{line}\n")


def err(line: str) -> None:
    """One line about the command's trouble (stderr)."""
    sys.stderr.write(f"{line}\n")


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run ``observatory NAME``'s ``body``; its exit code, or 2 for a wrong command line
    and 1 when the server refused or could not be reached (said on stderr)."""
    # One log line per request would bury the answer.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return body()
    except UsageError as exc:
        err(f"observatory {name}: error: {exc}")
        return 2
    except ApiError as exc:
        err(f"observatory {name}: error: {exc}")
        return 1
