"""``observatory tui``: its options, and ``--serve`` serving the TUI to a browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import aiohttp
import anyio
import httpx
import pytest

from launcher.cli import build_parser
from launcher.tui.command import serve_command


def test_tui_is_a_subcommand_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_URL", raising=False)
    args = build_parser().parse_args(["tui", "--read-model-url", "http://rm:1", "--read-only"])
    assert args.command == "tui"
    assert args.read_model_url == "http://rm:1"
    assert args.read_only
    assert not args.serve
    assert args.poll_interval == 3.0
    assert args.gateway_url is None  # then the read model's /config names the gateway


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
    writable = serve_command(
        parser.parse_args(["tui", "--serve", "--allow-writes", "--gateway-url", "http://gw:1"])
    )
    assert "--read-only" not in writable
    assert writable[-2:] == ["--gateway-url", "http://gw:1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.usefixtures("fake_tools")
async def test_serve_runs_the_tui_read_only_for_a_browser() -> None:
    port = free_port()
    process = await anyio.open_process(
        [
            *(sys.executable, "-m", "launcher.cli", "tui", "--serve", "--port", str(port)),
            *("--read-model-url", "http://127.0.0.1:9"),  # nothing answers: the launcher
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        page: httpx.Response | None = None
        async with httpx.AsyncClient(timeout=5) as client:
            with anyio.fail_after(30):
                while page is None:  # another process's server: nothing to wait on but its port
                    assert process.returncode is None, "tui --serve exited"
                    try:
                        page = await client.get(f"http://127.0.0.1:{port}/")
                    except httpx.ConnectError:
                        await anyio.sleep(0.1)
        assert page.status_code == 200
        assert "Task Observatory" in page.text
        assert f"ws://127.0.0.1:{port}/ws" in page.text
        # What a browser does next: open the websocket, and the TUI runs and draws.
        screen = b""
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{port}/ws?width=110&height=36") as ws,
        ):
            with anyio.fail_after(30):
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.BINARY:
                        screen += message.data
                    if b"Cluster not detected" in screen and b"Read-only" in screen:
                        break
        assert b"Read-only: L, E and F are off" in screen
    finally:
        with anyio.move_on_after(15, shield=True):
            process.send_signal(signal.SIGINT)
            await process.wait()
        if process.returncode is None:
            process.kill()
        await process.aclose()
