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


def test_issue_16_shutdown_grace_is_a_flag_of_up_and_serve_documented_in_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    assert parser.parse_args(["up"]).shutdown_grace is None  # then the env, else 10 s
    assert parser.parse_args(["up", "--shutdown-grace", "2.5"]).shutdown_grace == 2.5
    assert parser.parse_args(["serve", "processor", "--shutdown-grace", "0"]).shutdown_grace == 0
    for command in (["up", "--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        out = " ".join(capsys.readouterr().out.split())
        assert "--shutdown-grace SECONDS" in out
        assert "returns their jobs to the queue" in out
        assert "(default: $OBSERVATORY_SHUTDOWN_GRACE_S or 10)" in out
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["serve", "processor", "--shutdown-grace", "-1"])
    assert exit_info.value.code == 2
    assert "-1 must be 0 or more" in capsys.readouterr().err
