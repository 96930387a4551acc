"""The ``observatory`` command line's parsing and help."""

from __future__ import annotations

import pytest

from launcher.cli import build_parser, main


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "up" in out
    assert "run the whole observatory in this process" in out


def test_up_help_shows_flags_defaults_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = capsys.readouterr().out
    for flag in ("--host", "--gateway-port", "--read-model-port", "--data-dir", "--demo"):
        assert flag in out
    assert "(default: 3000)" in out
    assert "curl -X POST localhost:3000/jobs" in out


def test_up_defaults_follow_the_architecture() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.host, args.gateway_port, args.read_model_port) == ("127.0.0.1", 3000, 8080)
    assert str(args.data_dir) == ".observatory"
    assert args.demo is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["up", "--gateway-port", "70000"], "port 70000 is outside 0-65535 (0 picks a free one)"),
        (["up", "--read-model-port", "web"], "'web' is not a port number"),
        (["up", "--demo-rate", "0"], "0 must be greater than 0"),
    ],
)
def test_bad_flags_are_refused_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
