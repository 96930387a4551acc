"""Log lines: each id once per line, library chatter limited (issue 16, items 5 and 6)."""

from __future__ import annotations

import logging

from actors.observability.logs import ConsoleFormatter, ContextFilter, RateLimit, bind


def _record(name: str, msg: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    ContextFilter().filter(record)
    return record


def test_issue_16_an_id_the_message_names_is_not_repeated_by_the_console_line() -> None:
    job = "0b9cf4a2-0d37-4b8e-9d8c-2f1f4c3e9a11"
    with bind(job_id=job, correlation_id="c-1"):
        named = _record("gateway", "job.accepted job_id=%s type=%s", job, "echo")
        unnamed = _record("processor", "job.completed type=%s", "echo")
    line = ConsoleFormatter().format(named)
    assert line.count(job) == 1, line
    assert line.endswith(f"job.accepted job_id={job} type=echo correlationId=c-1")
    line = ConsoleFormatter().format(unnamed)
    assert line.endswith(f"job.completed type=echo correlationId=c-1 jobId={job}")


def test_issue_16_library_records_pass_once_per_window_then_say_how_many_were_held() -> None:
    now = [0.0]
    limit = RateLimit(("aiormq",), period_s=60.0, now=lambda: now[0])
    template = "error when creating transport: %r"

    def passes(name: str = "aiormq.connection") -> bool:
        return limit.filter(_record(name, template, OSError(111), level=logging.ERROR))

    assert [passes() for _ in range(5)] == [True, False, False, False, False]
    assert passes("actors.kernel.connection")  # ours are never limited
    now[0] = 59.9
    assert not passes()
    now[0] = 60.0
    record = _record("aiormq.connection", template, OSError(111), level=logging.ERROR)
    assert limit.filter(record)
    assert record.getMessage() == (
        "error when creating transport: OSError(111) (5 more like this in the last 60 s)"
    )
    assert not passes()


def test_issue_15_bind_sets_only_the_given_fields_and_restores_them_even_on_error() -> None:
    def fields() -> tuple[str, str, str, str]:
        record = _record("processor", "x")
        return (
            getattr(record, "service"),  # noqa: B009 (set by the filter, unknown to mypy)
            getattr(record, "actor"),  # noqa: B009
            getattr(record, "correlationId"),  # noqa: B009
            getattr(record, "jobId"),  # noqa: B009
        )

    before = fields()
    with bind(service="processor", actor="executor"):
        with bind(correlation_id="c-1", job_id="j-1"):
            assert fields() == ("processor", "executor", "c-1", "j-1")
            try:
                with bind(job_id="j-2"):
                    assert fields() == ("processor", "executor", "c-1", "j-2")
                    raise RuntimeError
            except RuntimeError:
                pass
            assert fields() == ("processor", "executor", "c-1", "j-1")
        assert fields() == ("processor", "executor", before[2], before[3])
    assert fields() == before
