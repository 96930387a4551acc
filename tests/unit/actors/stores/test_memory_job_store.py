"""What only the in-memory job store does (the contract suite covers the rest): it keeps
JSON values as the SQL stores would, apart from its callers' objects."""

from __future__ import annotations

import math

import pytest

from actors.domain.jobs import JobSpec, JobStatus, JobTransition
from actors.stores import MemoryJobStore


def spec(job_id: str, payload: dict[str, object]) -> JobSpec:
    return JobSpec(id=job_id, type="echo", created_at="t0", correlation_id="c", payload=payload)


async def test_values_are_copied_in_and_out() -> None:
    store = MemoryJobStore()
    payload: dict[str, object] = {"items": [1, 2]}
    result: dict[str, object] = {"tuple": (1, 2)}

    await store.apply_transitions(
        [JobTransition(spec("job", payload), JobStatus.COMPLETED, "t1", result=result)]
    )
    payload["items"] = "changed by the caller"
    record = await store.get_job("job")
    assert record is not None
    record.spec.payload["items"] = "changed by a reader"  # type: ignore[index]

    again = await store.get_job("job")
    assert again is not None
    assert again.spec.payload == {"items": [1, 2]}
    assert again.result == {"tuple": [1, 2]}  # through JSON, as a SQL store keeps it


async def test_a_value_json_cannot_hold_fails_the_call_before_anything_changes() -> None:
    store = MemoryJobStore()
    good = JobTransition(spec("good", {}), JobStatus.PENDING, "t1")
    bad = JobTransition(spec("bad", {"object": object()}), JobStatus.PENDING, "t1")

    with pytest.raises(TypeError, match=r"^Object of type object is not JSON serializable$"):
        await store.apply_transitions([good, bad])

    assert await store.recent_jobs(limit=10) == []


async def test_nan_is_kept_as_the_sqlite_store_keeps_it() -> None:
    store = MemoryJobStore()

    await store.apply_transitions(
        [JobTransition(spec("job", {}), JobStatus.COMPLETED, "t1", result=float("nan"))]
    )

    record = await store.get_job("job")
    assert record is not None
    assert isinstance(record.result, float)
    assert math.isnan(record.result)


def test_it_is_always_available_and_tells_its_size() -> None:
    store = MemoryJobStore()

    assert store.is_available()
    assert repr(store) == "<MemoryJobStore jobs=0>"
