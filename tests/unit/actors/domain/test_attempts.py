"""Issue 8: the retry policy (backoff, maxAttempts resolution) and where it is configured."""

from __future__ import annotations

import pytest

from actors.config.settings import Settings
from actors.domain.attempts import (
    MAX_ATTEMPTS_LIMIT,
    Backoff,
    backoff_s,
    metadata_max_attempts,
    resolve_max_attempts,
)
from actors.domain.handlers import HandlerRegistry, JobContext
from actors.errors import ConfigError


async def _noop(job: JobContext) -> object:
    return None


def test_default_backoff_grows_five_fold_and_is_capped_at_the_longest_retry_queue() -> None:
    assert [Backoff().delay_s(n) for n in range(1, 6)] == [1.0, 5.0, 25.0, 30.0, 30.0]


def test_backoff_follows_its_settings() -> None:
    assert [Backoff(base_s=0.05).delay_s(n) for n in (1, 2, 3)] == pytest.approx([0.05, 0.25, 1.25])
    assert [Backoff(factor=2, max_s=10).delay_s(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff_s(1000, base_s=1, factor=5, max_s=30) == 30


def test_backoff_refuses_attempt_zero_and_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"^Attempts are numbered from 1, not 0\.$"):
        Backoff().delay_s(0)
    with pytest.raises(ValueError, match=r"^The backoff factor must be at least 1, not 0\.5\.$"):
        Backoff(factor=0.5)
    with pytest.raises(ValueError, match=r"^Backoff delays must not be negative"):
        Backoff(base_s=-1)


def test_settings_carry_the_backoff() -> None:
    assert Settings(retry_backoff_s=0.1).backoff == Backoff(0.1, 5.0, 30.0)
    assert Settings().max_attempts == 3


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, None),
        ({"maxAttempts": 1}, 1),
        ({"maxAttempts": 5}, 5),
        ({"maxAttempts": 5.0}, 5),
        ({"maxAttempts": MAX_ATTEMPTS_LIMIT + 90}, MAX_ATTEMPTS_LIMIT),
        ({"maxAttempts": 0}, None),
        ({"maxAttempts": -2}, None),
        ({"maxAttempts": 2.5}, None),
        ({"maxAttempts": "4"}, None),
        ({"maxAttempts": True}, None),
        ({"maxAttempts": None}, None),
        ({"maxAttempts": [3]}, None),
    ],
)
def test_metadata_max_attempts_takes_integers_from_1_capped_at_the_limit(
    metadata: dict[str, object], expected: int | None
) -> None:
    assert metadata_max_attempts(metadata) == expected


def test_max_attempts_resolve_metadata_then_type_then_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert resolve_max_attempts({}, None, 3) == 3
    assert resolve_max_attempts({}, 1, 3) == 1
    assert resolve_max_attempts({"maxAttempts": 6}, 1, 3) == 6
    assert resolve_max_attempts({"maxAttempts": 1}, None, 3) == 1
    assert resolve_max_attempts({}, None, 99) == MAX_ATTEMPTS_LIMIT
    assert caplog.records == []

    assert resolve_max_attempts({"maxAttempts": "lots"}, 2, 3) == 2

    [record] = caplog.records
    assert record.getMessage() == (
        "job.max_attempts_ignored value='lots' reason=not-an-integer-from-1-to-10"
    )


def test_a_job_type_registers_its_own_max_attempts() -> None:
    registry = HandlerRegistry()
    registry.register("resize", _noop, max_attempts=2)
    registry.register("plain", _noop)

    assert registry.get("resize").max_attempts == 2
    assert registry.get("plain").max_attempts is None
    assert registry.get("unregistered").max_attempts is None


@pytest.mark.parametrize("bad", [0, MAX_ATTEMPTS_LIMIT + 1])
def test_a_job_type_with_max_attempts_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^max_attempts of job type 'resize' must be from 1 to 10, not {bad}\.$",
    ):
        HandlerRegistry().register("resize", _noop, max_attempts=bad)


def test_the_retry_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("OBSERVATORY_RETRY_BACKOFF_S", "0.25")

    settings = Settings.from_env()

    assert (settings.max_attempts, settings.retry_backoff_s) == (5, 0.25)
    monkeypatch.setenv("OBSERVATORY_MAX_ATTEMPTS", "many")
    with pytest.raises(
        ConfigError, match=r"^OBSERVATORY_MAX_ATTEMPTS='many' is not a valid int\.$"
    ):
        Settings.from_env()
