"""``@handler`` and ``HandlerRegistry``: per-type options, kinds of handlers, schemas."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from actors.config.settings import Settings
from actors.domain.handlers import (
    DEFAULT_REGISTRY,
    HandlerMode,
    HandlerRegistry,
    JobContext,
    handler,
    no_handler_error,
)
from actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


async def _async(job: JobContext) -> object:
    return {"thread": threading.current_thread().name}


def _sync(job: JobContext) -> object:
    return {"thread": threading.current_thread().name}


def _context(payload: dict[str, object] | None = None) -> JobContext:
    return JobContext("job-1", "t", payload or {})


def test_every_option_is_kept_on_the_registration() -> None:
    registry = HandlerRegistry()

    @handler(
        "resize",
        registry=registry,
        timeout_s=2.5,
        max_attempts=4,
        retry_backoff_s=0.5,
        concurrency=3,
        payload_schema={"type": "object"},
    )
    def resize(job: JobContext) -> object:
        return None

    found = registry.find("resize")
    assert found is not None
    assert found.run is resize  # the decorator returns the function unchanged
    assert (found.timeout_s, found.max_attempts, found.retry_backoff_s, found.concurrency) == (
        2.5,
        4,
        0.5,
        3,
    )
    assert found.payload_schema is not None
    assert found.payload_schema.schema == {"type": "object"}
    assert found.mode is HandlerMode.THREAD
    assert registry.types() == ["resize"]
    assert "resize" not in DEFAULT_REGISTRY.types()


def test_the_kind_of_function_chooses_where_it_runs() -> None:
    registry = HandlerRegistry()
    registry.register("a", _async)
    registry.register("s", _sync)
    registry.register("p", _sync, process=True)

    modes = {t: found.mode for t in registry.types() if (found := registry.find(t))}
    assert modes == {"a": HandlerMode.LOOP, "s": HandlerMode.THREAD, "p": HandlerMode.PROCESS}


def test_process_is_refused_for_an_async_function() -> None:
    with pytest.raises(ConfigError, match=r"^The handler of job type 'a' is an async function"):
        HandlerRegistry().register("a", _async, process=True)


async def test_a_plain_function_runs_in_a_worker_thread_bounded_by_the_limiter() -> None:
    registry = HandlerRegistry()
    registry.register("s", _sync)
    registry.register("a", _async)
    threads = anyio.CapacityLimiter(1)
    main = threading.current_thread().name

    sync_found, async_found = registry.find("s"), registry.find("a")
    assert sync_found is not None
    assert async_found is not None
    in_thread = await sync_found.invoke(_context(), threads=threads)
    on_loop = await async_found.invoke(_context(), threads=threads)

    assert in_thread != {"thread": main}
    assert on_loop == {"thread": main}
    assert threads.borrowed_tokens == 0


async def test_a_cancelled_thread_handler_is_abandoned_and_frees_its_token() -> None:
    release = threading.Event()
    registry = HandlerRegistry()

    def stuck(job: JobContext) -> object:
        release.wait(10)
        return None

    registry.register("stuck", stuck)
    threads = anyio.CapacityLimiter(1)
    found = registry.find("stuck")
    assert found is not None
    try:
        with anyio.move_on_after(0.05) as scope:
            await found.invoke(_context(), threads=threads)
        assert scope.cancelled_caught
        assert threads.borrowed_tokens == 0
    finally:
        release.set()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout_s": 0}, r"^timeout_s of job type 't' must be a number greater than 0, not 0\.$"),
        (
            {"concurrency": 0},
            r"^concurrency of job type 't' must be a whole number of at least 1, not 0\.$",
        ),
        (
            {"concurrency": 1.5},
            r"^concurrency of job type 't' must be a whole number of at least 1, not 1\.5\.$",
        ),
        ({"retry_backoff_s": -1}, r"^retry_backoff_s of job type 't' must be 0 or more, not -1\.$"),
        (
            {"payload_schema": {"type": "no such type"}},
            r"^The payload schema of job type 't' is not a usable JSON Schema",
        ),
    ],
)
def test_out_of_range_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HandlerRegistry().register("t", _sync, **options)  # type: ignore[arg-type]


def test_a_type_cannot_get_a_second_handler_but_the_same_one_again_is_fine() -> None:
    registry = HandlerRegistry()
    registry.register("t", _sync)
    registry.register("t", _sync)  # a module imported twice
    with pytest.raises(ConfigError, match=r"^A handler for job type 't' is already registered\.$"):
        registry.register("t", _async)


def test_include_merges_a_users_registry_and_refuses_a_clash() -> None:
    mine, theirs, clash = HandlerRegistry(), HandlerRegistry(), HandlerRegistry()
    mine.register("a", _async)
    theirs.register("b", _sync)
    clash.register("a", _sync)

    mine.include(theirs)

    assert mine.types() == ["a", "b"]
    with pytest.raises(ConfigError, match=r"^A handler for job type 'a' is already registered\.$"):
        mine.include(clash)


def test_the_payload_schema_reports_each_problem_under_payload() -> None:
    registry = HandlerRegistry()
    registry.register(
        "t",
        _sync,
        payload_schema={
            "type": "object",
            "required": ["width"],
            "properties": {"width": {"type": "integer"}, "name": {"type": "string"}},
        },
    )
    found = registry.find("t")
    assert found is not None

    assert found.payload_issues({"width": 3}) == []
    issues = found.payload_issues({"name": 7})
    assert [issue.path for issue in issues] == ["/payload/name", "/payload/width"]
    assert issues[1].message == '"width" is a required property'


def test_a_relative_schema_path_is_read_next_to_the_declaring_module(tmp_path: Path) -> None:
    # This test module's directory holds no such file: a relative path resolves there.
    with pytest.raises(ConfigError, match=r"^Cannot load the payload schema .*/domain/nope\.json"):
        HandlerRegistry().register("t", _sync, payload_schema="nope.json")
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "required": ["x"]}))

    registry = HandlerRegistry()
    registry.register("t", _sync, payload_schema=schema)  # absolute: as given
    found = registry.find("t")
    assert found is not None
    assert [issue.path for issue in found.payload_issues({})] == ["/payload/x"]


def test_unknown_types_get_the_simulated_default_only_through_get() -> None:
    registry = HandlerRegistry(default_duration_s=0.0)

    assert registry.find("nope") is None
    assert registry.get("nope").job_type == "nope"
    assert no_handler_error("nope") == "no handler for type 'nope'"


def test_threads_and_simulation_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().threads, Settings().simulate_unknown_types) == (10, False)
    monkeypatch.setenv("OBSERVATORY_THREADS", "4")
    monkeypatch.setenv("OBSERVATORY_SIMULATE_UNKNOWN_TYPES", "yes")

    settings = Settings.from_env()

    assert (settings.threads, settings.simulate_unknown_types) == (4, True)
    monkeypatch.setenv("OBSERVATORY_SIMULATE_UNKNOWN_TYPES", "maybe")
    with pytest.raises(ConfigError, match=r"^OBSERVATORY_SIMULATE_UNKNOWN_TYPES='maybe' is not"):
        Settings.from_env()
    monkeypatch.setenv("OBSERVATORY_SIMULATE_UNKNOWN_TYPES", "0")
    monkeypatch.setenv("OBSERVATORY_THREADS", "0")
    with pytest.raises(ConfigError, match=r"^OBSERVATORY_THREADS must be at least 1, not 0\.$"):
        Settings.from_env()


def test_issue_16_the_shutdown_grace_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().shutdown_grace_s == 10.0
    monkeypatch.setenv("OBSERVATORY_SHUTDOWN_GRACE_S", "2.5")
    assert Settings.from_env().shutdown_grace_s == 2.5
    assert Settings.from_env(shutdown_grace_s=1.0).shutdown_grace_s == 1.0  # a flag wins
    monkeypatch.setenv("OBSERVATORY_SHUTDOWN_GRACE_S", "-1")
    with pytest.raises(
        ConfigError, match=r"^OBSERVATORY_SHUTDOWN_GRACE_S must be 0 or more seconds, not -1\.$"
    ):
        Settings.from_env()
    monkeypatch.setenv("OBSERVATORY_SHUTDOWN_GRACE_S", "soon")
    with pytest.raises(ConfigError, match=r"^OBSERVATORY_SHUTDOWN_GRACE_S='soon' is not"):
        Settings.from_env()
