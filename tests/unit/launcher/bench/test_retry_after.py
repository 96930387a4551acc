"""Reading a 429's ``Retry-After`` as the bench's load generator does."""

from __future__ import annotations

import httpx
import pytest

from launcher.bench.http_phases import retry_after_s


@pytest.mark.parametrize(
    ("header", "expected"),
    [("1", 1.0), ("0", 0.0), ("2.5", 2.5), ("-1", None), ("nan", None), ("soon", None)],
)
def test_retry_after_in_seconds_or_none(header: str, expected: float | None) -> None:
    response = httpx.Response(429, headers={"Retry-After": header})
    assert retry_after_s(response) == expected


def test_no_retry_after_is_none() -> None:
    assert retry_after_s(httpx.Response(429)) is None
