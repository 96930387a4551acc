"""``observatory submit --priority N`` and ``observatory jobs --priority N`` (issue 18,
item 3): a whole number from 0 to 9, anything else a usage error naming the value. Against
a real observatory: tests/e2e/test_jobs_cli.py."""

from __future__ import annotations

import pytest

from launcher.cli import build_parser


def test_priority_is_read_as_a_number_and_absent_means_none_sent() -> None:
    parser = build_parser()

    assert parser.parse_args(["submit", "echo", "--priority", "9"]).priority == 9
    assert parser.parse_args(["submit", "echo", "--priority", "0"]).priority == 0
    assert parser.parse_args(["submit", "echo"]).priority is None
    assert parser.parse_args(["jobs", "--priority", "7"]).priority == 7
    assert parser.parse_args(["jobs"]).priority is None


@pytest.mark.parametrize("verb", ["submit", "jobs"])
@pytest.mark.parametrize("value", ["10", "-1", "high", "4.5"])
def test_a_bad_priority_is_a_usage_error(
    verb: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [verb, "echo"] if verb == "submit" else [verb]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*args, "--priority", value])

    assert exited.value.code == 2
    assert (
        f"argument --priority: {value!r} is not a priority: give a whole number from 0 "
        "(lowest) to 9 (highest)"
    ) in capsys.readouterr().err


def test_the_help_says_what_a_priority_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--priority N 0 (lowest) to 9 (highest): waiting jobs of a higher priority" in text
