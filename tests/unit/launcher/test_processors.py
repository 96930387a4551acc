"""Issue 19, item 6: ``observatory up --infra local --processors N``, without servers.

What the processes would be started with (names, ports, ``--log-name``), how a bad
count or a shared port is refused, and how the processes' log lines are told apart.
The processes themselves run in ``tests/e2e/test_processors.py``.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from actors.errors import ConfigError
from actors.observability.logs import ConsoleFormatter, ContextFilter, JsonFormatter, ProcessName
from launcher.cli import build_parser, main
from launcher.local import local_supervisor, processor_names


def test_one_processor_keeps_the_plain_name_and_more_are_numbered() -> None:
    assert processor_names(1) == ["processor"]
    assert processor_names(3) == ["processor-1", "processor-2", "processor-3"]


def test_a_count_below_one_is_refused_with_the_reason() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^--processors must be at least 1 \(got 0\): the processors are the only "
        r"consumers of jobs\.created\.$",
    ):
        processor_names(0)


def test_n_processors_are_n_processes_of_serve_processor_each_named_on_its_own_port() -> None:
    ports = {
        "metrics-engine": 9002,
        "processor-1": 9001,
        "processor-2": 9011,
        "processor-3": 9021,
        "read-model": 9080,
        "gateway": 9000,
    }
    supervisor, processes = local_supervisor(
        host="127.0.0.1",
        env={},
        shutdown_s=1.0,
        ports=ports,
        global_args=["--log-format", "json"],
        processors=3,
    )
    # Consumers first, the gateway last: it is stopped first.
    assert list(processes) == [
        "metrics-engine",
        "processor-1",
        "processor-2",
        "processor-3",
        "read-model",
        "gateway",
    ]
    assert [entry.path for entry in supervisor.health()][1:] == [
        f"observatory/{name}" for name in processes
    ]
    for name in ("processor-1", "processor-2", "processor-3"):
        command = processes[name].command()
        serve = command.index("serve")
        assert command[serve - 4 : serve + 2] == [
            "--log-format",
            "json",
            "--log-name",
            name,
            "serve",
            "processor",
        ]
        assert command[command.index("--port") + 1] == str(ports[name])
        assert processes[name].url == f"http://127.0.0.1:{ports[name]}"
    # The other services are not renamed.
    gateway = processes["gateway"].command()
    assert "--log-name" not in gateway
    assert gateway[gateway.index("serve") + 1] == "gateway"


def test_one_processor_is_started_as_before() -> None:
    _, processes = local_supervisor(host="127.0.0.1", env={}, shutdown_s=1.0)
    assert list(processes) == ["metrics-engine", "processor", "read-model", "gateway"]
    command = processes["processor"].command()
    assert "--log-name" not in command
    assert command[command.index("serve") + 1] == "processor"
    assert processes["processor"].port == 8001


def test_two_processes_on_one_port_are_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^Two services would listen on one port \(processor-2 and read-model on 8080\): "
        r"give each its own port, or 0 for a free one\.$",
    ):
        local_supervisor(
            host="127.0.0.1",
            env={},
            shutdown_s=1.0,
            ports={"processor-1": 8001, "processor-2": 8080},
            processors=2,
        )


def test_the_cli_refuses_a_bad_count_and_more_than_one_processor_embedded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        build_parser().parse_args(["up", "--infra", "local", "--processors", "3"]).processors == 3
    )
    assert build_parser().parse_args(["up"]).processors == 1
    for bad, said in (("0", "0 processors: at least 1 is needed"), ("two", "'two' is not a whole")):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["up", "--infra", "local", "--processors", bad])
        assert exit_info.value.code == 2
        assert f"argument --processors: {said}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--log-format", "console", "up", "--processors", "2"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: --processors 2 needs --infra local: the embedded observatory runs one "
        "processor in one process\n"
    )


def _line(formatter: logging.Formatter, process_name: str | None) -> str:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "job.completed", None, None)
    ContextFilter().filter(record)
    if process_name is not None:
        ProcessName(process_name).filter(record)
    return formatter.format(record)


def test_the_lines_of_each_processor_carry_its_name() -> None:
    readable = _line(ConsoleFormatter(), "processor-2")
    assert re.fullmatch(r"processor-2 \| \d\d:\d\d:\d\d INFO    \[-/-\] job\.completed", readable)
    assert not _line(ConsoleFormatter(), None).startswith("processor")
    assert json.loads(_line(JsonFormatter(), "processor-2"))["process_name"] == "processor-2"
    assert "process_name" not in json.loads(_line(JsonFormatter(), None))


def test_log_name_reaches_every_line_of_the_process() -> None:
    from actors.observability.logs import configure_logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging(level="INFO", json_lines=True, process_name="processor-3")
        (handler,) = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        handler.setStream(stream)
        logging.getLogger("tests.processors").info("service.up")
        assert json.loads(stream.getvalue())["process_name"] == "processor-3"
    finally:
        for handler in root.handlers:
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        root.setLevel(saved[0])
