"""The fetcher example's site, served as its README says: ``python -m http.server``."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
SITE = "examples/fetcher/site"
_SERVING = re.compile(r"Serving HTTP on \S+ port (\d+)")


@contextlib.contextmanager
def serve_example_site() -> Iterator[str]:
    """``python -m http.server PORT --bind 127.0.0.1 --directory examples/fetcher/site``
    on a free port, from the repository root; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", SITE],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = _SERVING.search(line)
        assert match, f"http.server printed {line!r}"
        yield f"http://127.0.0.1:{match[1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
