"""The dashboard's model: polling, stream events, and the throughput estimate fallback."""

from __future__ import annotations

import httpx
import pytest
import respx

from launcher.tui.client import ObservatoryClient, StreamEvent
from launcher.tui.dashboard_model import DashboardModel
from launcher.tui.models import MalformedDocument

RM = "http://rm.test"


def stats(completed: int, failed: int) -> dict[str, object]:
    return {
        "totalJobs": completed + failed,
        "completedJobs": completed,
        "failedJobs": failed,
        "inFlightJobs": 0,
        "lastEventTime": None,
        "byType": {},
    }


@respx.mock
async def test_without_throughput_the_rate_is_estimated_from_successive_counters() -> None:
    counters = respx.get(f"{RM}/stats").mock(return_value=httpx.Response(200, json=stats(10, 0)))
    respx.get(f"{RM}/stats/throughput").mock(return_value=httpx.Response(404))
    respx.get(f"{RM}/jobs/recent").mock(return_value=httpx.Response(200, json=[]))
    respx.get(f"{RM}/dead-letters").mock(return_value=httpx.Response(200, json=[]))
    respx.get(f"{RM}/alerts").mock(
        return_value=httpx.Response(200, json={"active": [], "resolved": []})
    )
    model = DashboardModel()
    async with ObservatoryClient(RM, gateway_url="http://gw.test") as client:
        await model.load(client, now=100.0)
        assert model.per_second is None  # one sample is no rate
        counters.mock(return_value=httpx.Response(200, json=stats(18, 2)))
        await model.load(client, now=104.0)
    assert model.per_second == pytest.approx(2.5)
    assert model.error is None
    assert model.alerts is not None
    assert model.dead_letters == 0


def test_the_servers_throughput_wins_over_the_estimate() -> None:
    model = DashboardModel()
    model.apply(StreamEvent("throughput", {"perSecond": 7.5, "buckets": []}), now=1.0)
    model.apply(StreamEvent("stats", stats(0, 0)), now=1.0)
    model.apply(StreamEvent("stats", stats(1000, 0)), now=2.0)
    assert model.per_second == 7.5


def test_stream_events_replace_what_they_carry() -> None:
    model = DashboardModel(error="was down")
    assert model.apply(StreamEvent("dead-letters", {"count": 4}), now=0.0)
    assert model.dead_letters == 4
    assert model.error is None
    assert not model.apply(StreamEvent("events", []), now=0.0)  # not shown on the dashboard


def test_a_malformed_stream_event_is_refused() -> None:
    with pytest.raises(MalformedDocument, match=r"^Expected dead-letters.count to be an integer"):
        DashboardModel().apply(StreamEvent("dead-letters", {"count": "four"}), now=0.0)
