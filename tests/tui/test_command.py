"""``observatory tui``: its options, and ``--serve`` serving the TUI to a browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from launcher.cli import build_parser
from launcher.tui.command import serve_command


def test_tui_is_a_subcommand_with_its_options() -> None:
    args = build_parser().parse_args(["tui", "--read-model-url", "http://rm:1", "--read-only"])
    assert args.command == "tui"
    assert args.read_model_url == "http://rm:1"
    assert args.read_only
    assert not args.serve
    assert args.poll_interval == 3.0


def test_the_read_model_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READ_MODEL_URL", "http://elsewhere:9000/")
    assert build_parser().parse_args(["tui"]).read_model_url == "http://elsewhere:9000"
    monkeypatch.delenv("READ_MODEL_URL")
    assert build_parser().parse_args(["tui"]).read_model_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("seconds", ["1", "6", "soon"])
def test_poll_interval_is_two_to_five_seconds(
    seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tui", "--poll-interval", seconds])
    assert "--poll-interval" in capsys.readouterr().err


def test_served_sessions_are_read_only_unless_writes_are_allowed() -> None:
    parser = build_parser()
    served = serve_command(parser.parse_args(["tui", "--serve"]))
    assert served[:5] == [sys.executable, "-m", "launcher.cli", "tui", "--read-model-url"]
    assert served[-1] == "--read-only"
    writable = serve_command(parser.parse_args(["tui", "--serve", "--allow-writes"]))
    assert "--read-only" not in writable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_a_browser_with_the_textual_page() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "tui", "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        page: httpx.Response | None = None
        while page is None:  # a server in another process: nothing to wait on but its port
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "textual-serve did not listen within 30 s"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "Task Observatory" in page.text
        assert f"ws://127.0.0.1:{port}/ws" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
