"""The start banner of ``observatory up``: the URLs a person opens, printed once ready.

It is the last thing ``up`` prints on stdout; the log lines (stderr) that follow are
the ones that matter (warnings, your jobs): the demo's own jobs log at DEBUG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from actors._version import VERSION

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["banner_lines", "browser_url"]

_LOOPBACK = {"127.0.0.1", "0.0.0.0", "::", "::1", "localhost"}


def browser_url(url: str) -> str:
    """``url`` as a person types it: ``localhost`` for this machine, with a trailing ``/``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.hostname in _LOOPBACK and parts.port is not None:
        netloc = f"localhost:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))


def banner_lines(
    *,
    mode: str,
    gateway: str,
    read_model: str,
    details: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """The banner, one string per line.

    The ``Gateway`` and ``Read model`` lines start with their URL (scripts and tests read
    them: ``^\\s+(Gateway|Read model)\\s+(http://\\S+)``).

    Args:
        mode: what runs, e.g. ``"embedded; data in .observatory/"``.
        gateway: the gateway's base URL as bound.
        read_model: the read model's base URL as bound.
        details: further (label, text) lines, e.g. ``("Security", "...")``.
    """
    rows = [
        ("Dashboard", f"{browser_url(read_model)}   open it in a browser"),
        ("Gateway", f"{gateway}   POST /jobs"),
        ("Read model", f"{read_model}   GET /stats /jobs/recent /jobs/<id>"),
        ("API docs", f"{gateway}/docs (gateway)   {read_model}/docs (read model)"),
        *details,
    ]
    return [
        f"Task Observatory {VERSION} is up ({mode})",
        *(f"  {label:<11} {text}" for label, text in rows),
        "Press Ctrl-C to stop.",
    ]
