"""What ``observatory`` commands print when a server they connect to is away (issue 16)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _closed_port() -> int:
    """A port nothing listens on (bound and released: connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _observatory(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_issue_16_migrate_against_an_unreachable_server_is_one_line_with_a_hint() -> None:
    port = _closed_port()
    result = _observatory("migrate", "--database-url", f"postgresql://x:secret@127.0.0.1:{port}/db")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("observatory: error: Cannot migrate the PostgreSQL job store at ")
    assert f"'postgresql://x:***@127.0.0.1:{port}/db'" in line
    assert "secret" not in line
    assert "Connection refused" in line
    assert "Check that PostgreSQL is running" in line
    assert "--database-url or POSTGRES_URL" in line
    assert "Traceback" not in result.stderr


def test_issue_16_migrate_takes_the_url_from_postgres_url_too() -> None:
    port = _closed_port()
    result = _observatory(
        "migrate", env={"POSTGRES_URL": f"postgresql://x:hunter2@127.0.0.1:{port}/db"}
    )
    assert result.returncode == 1
    assert f"postgresql://x:***@127.0.0.1:{port}/db" in result.stderr
    assert "hunter2" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
