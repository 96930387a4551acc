"""The HTTP client: the exact requests it sends and how it reads answers and failures."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest
import respx

from launcher.tui.client import (
    ApiUnavailable,
    ObservatoryClient,
    StreamEvent,
    StreamMissing,
    SubmitRejected,
)
from launcher.tui.models import MalformedDocument

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

RM = "http://rm.test"
GW = "http://gw.test"


@pytest.fixture
async def client() -> AsyncIterator[ObservatoryClient]:
    async with ObservatoryClient(RM, gateway_url=GW) as client:
        yield client


@respx.mock
async def test_one_job_is_posted_to_jobs_with_type_and_payload(client: ObservatoryClient) -> None:
    route = respx.post(f"{GW}/jobs").mock(
        return_value=httpx.Response(202, json={"jobId": "j-1", "eventId": "e-1"})
    )
    result = await client.submit("sleep", {"seconds": 2}, 1)
    assert result.job_ids == ["j-1"]
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"type": "sleep", "payload": {"seconds": 2}}


@respx.mock
async def test_without_payload_the_body_has_only_the_type(client: ObservatoryClient) -> None:
    route = respx.post(f"{GW}/jobs").mock(
        return_value=httpx.Response(202, json={"jobId": "j-1", "eventId": "e-1"})
    )
    await client.submit("echo", None, 1)
    assert json.loads(route.calls.last.request.content) == {"type": "echo"}


@respx.mock
async def test_several_jobs_go_to_the_batch_endpoint(client: ObservatoryClient) -> None:
    route = respx.post(f"{GW}/jobs/batch").mock(
        return_value=httpx.Response(
            202,
            json={
                "accepted": 2,
                "rejected": 1,
                "results": [
                    {"jobId": "a", "eventId": "1"},
                    {"error": "bad", "details": [{"path": "/type", "message": "too long"}]},
                    {"jobId": "c", "eventId": "3"},
                ],
            },
        )
    )
    result = await client.submit("echo", {"n": 1}, 3)
    assert (
        json.loads(route.calls.last.request.content) == [{"type": "echo", "payload": {"n": 1}}] * 3
    )
    assert result.job_ids == ["a", "c"]
    assert result.rejected == ["job 1: bad /type: too long"]


@respx.mock
async def test_a_400_keeps_the_error_and_every_detail(client: ObservatoryClient) -> None:
    respx.post(f"{GW}/jobs").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "The job does not match the job-submission contract: 2 problem(s).",
                "details": [
                    {"path": "/type", "message": "'a b' does not match"},
                    {"path": "/payload", "message": "5 is not of type 'object'"},
                ],
            },
        )
    )
    with pytest.raises(SubmitRejected, match=r"^The job does not match") as caught:
        await client.submit("x", None, 1)
    assert caught.value.details == [
        ("/type", "'a b' does not match"),
        ("/payload", "5 is not of type 'object'"),
    ]


@respx.mock
async def test_the_gateway_comes_from_config_when_not_given() -> None:
    respx.get(f"{RM}/config").mock(
        return_value=httpx.Response(
            200, json={"gatewayUrl": f"{GW}/", "version": "1", "jobTypes": ["echo"]}
        )
    )
    route = respx.post(f"{GW}/jobs").mock(
        return_value=httpx.Response(202, json={"jobId": "j", "eventId": "e"})
    )
    async with ObservatoryClient(RM) as client:
        assert (await client.submit("echo", None, 1)).job_ids == ["j"]
    assert route.called


@respx.mock
async def test_connection_failures_and_5xx_are_unavailable(client: ObservatoryClient) -> None:
    respx.get(f"{RM}/stats").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(
        ApiUnavailable, match=r"^GET http://rm.test/stats failed: ConnectError: connection refused$"
    ):
        await client.stats()
    respx.get(f"{RM}/alerts").mock(return_value=httpx.Response(503))
    with pytest.raises(ApiUnavailable, match=r"^GET http://rm.test/alerts answered HTTP 503\.$"):
        await client.alerts()


@respx.mock
async def test_a_body_of_the_wrong_shape_is_malformed(client: ObservatoryClient) -> None:
    respx.get(f"{RM}/stats").mock(return_value=httpx.Response(200, json={"totalJobs": "many"}))
    with pytest.raises(MalformedDocument, match=r"^Expected stats.totalJobs to be an integer"):
        await client.stats()


@respx.mock
async def test_throughput_is_none_on_an_older_read_model(client: ObservatoryClient) -> None:
    respx.get(f"{RM}/stats/throughput").mock(return_value=httpx.Response(404))
    assert await client.throughput() is None


SSE_BODY = (
    "retry: 3000\n\n"
    ": keep-alive\n\n"
    'event: stats\ndata: {"totalJobs": 1, "completedJobs": 1, "failedJobs": 0, '
    '"inFlightJobs": 0, "lastEventTime": null, "byType": {}}\n\n'
    'event: dead-letters\ndata: {"count": 3}\n\n'
)


@respx.mock
async def test_the_stream_hands_over_each_event_with_its_json(client: ObservatoryClient) -> None:
    respx.get(f"{RM}/stream").mock(
        return_value=httpx.Response(
            200, text=SSE_BODY, headers={"content-type": "text/event-stream"}
        )
    )
    events: list[StreamEvent] = []
    opened: list[bool] = []
    await client.follow_stream(events.append, on_open=lambda: opened.append(True))
    assert opened == [True]
    assert [e.kind for e in events] == ["stats", "dead-letters"]
    assert events[1].data == {"count": 3}


@respx.mock
async def test_a_missing_stream_says_so(client: ObservatoryClient) -> None:
    respx.get(f"{RM}/stream").mock(return_value=httpx.Response(404))
    with pytest.raises(StreamMissing, match=r"has no stream"):
        await client.follow_stream(lambda _: None)


@respx.mock
async def test_a_stream_that_is_not_an_event_stream_is_unavailable(
    client: ObservatoryClient,
) -> None:
    respx.get(f"{RM}/stream").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(ApiUnavailable, match=r"text/event-stream"):
        await client.follow_stream(lambda _: None)
