"""What ``observatory`` commands print when a server they connect to is away (issue 16)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def _closed_port() -> int:
    """A port nothing listens on (bound and released: connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _observatory(
    *argv: str, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
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


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("observatory: error: "), lines[0]
    return lines[0]


def test_issue_16_prune_against_an_unreachable_mongodb_is_one_line_within_seconds() -> None:
    port = _closed_port()
    # PostgreSQL is away too: MongoDB is checked first, so nothing else is reached.
    result = _observatory(
        "prune",
        "--older-than",
        "7d",
        env={
            "MONGO_URL": f"mongodb://u:hunter2@127.0.0.1:{port}/",
            "POSTGRES_URL": f"postgresql://x:secret@127.0.0.1:{_closed_port()}/db",
        },
        # Not a speed test: the stores' own server selection waits 5 s and pymongo's
        # default 30 s; a run past 25 s means the short check was not used.
        timeout_s=25,
    )

    line = _one_error_line(result)
    assert line == (
        f"observatory: error: Cannot reach MongoDB at mongodb://u:***@127.0.0.1:{port}/: "
        f"127.0.0.1:{port}: [Errno 111] Connect call failed ('127.0.0.1', {port}) "
        "(no answer within 2 s). Check that MongoDB is running and reachable. "
        "The URL is set by MONGO_URL."
    )
    assert "Topology" not in line
    assert result.stdout == ""


@pytest.mark.integration
def test_issue_16_prune_against_an_unreachable_postgresql_is_one_line_with_a_hint(
    mongo_url: str,
) -> None:
    port = _closed_port()
    result = _observatory(
        "prune",
        "--older-than",
        "7d",
        env={"MONGO_URL": mongo_url, "POSTGRES_URL": f"postgresql://x:secret@127.0.0.1:{port}/db"},
    )

    line = _one_error_line(result)
    assert line.startswith(
        "observatory: error: Cannot open the PostgreSQL job store at "
        f"'postgresql://x:***@127.0.0.1:{port}/db' (schema 'public'): "
    )
    assert "secret" not in line
    assert "Check that PostgreSQL is running" in line
    assert line.endswith(" The URL is set by POSTGRES_URL.")
    assert result.stdout == ""
