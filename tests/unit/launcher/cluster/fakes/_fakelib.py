"""Shared helpers of the fake ``docker``, ``kind`` and ``kubectl`` (test use only)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def log(tool: str) -> list[str]:
    """Append ``{"tool", "argv", "pid"}`` to $FAKE_TOOLS_LOG; the arguments."""
    args = sys.argv[1:]
    path = os.environ.get("FAKE_TOOLS_LOG")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"tool": tool, "argv": [tool, *args], "pid": os.getpid()}) + "\n")
    return args


def clusters_file() -> Path | None:
    """Where the fake kind remembers the clusters it created (next to the log)."""
    path = os.environ.get("FAKE_TOOLS_LOG")
    return Path(path + ".clusters") if path else None


def clusters() -> list[str]:
    """$FAKE_KIND_CLUSTERS plus the clusters created and not deleted since."""
    names = os.environ.get("FAKE_KIND_CLUSTERS", "").replace(",", " ").split()
    path = clusters_file()
    if path is not None and path.exists():
        names += path.read_text().split()
    return sorted(set(names))


def set_clusters(names: list[str]) -> None:
    path = clusters_file()
    if path is not None:
        path.write_text("\n".join(sorted(set(names))) + "\n")


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` on stderr and exit with ``code``."""
    sys.stderr.write(message + "\n")
    sys.exit(code)
