"""Priorities in the client (issue 18, item 3): ``priority`` on ``submit`` and ``NewJob``
becomes the submission's ``priority``, checked here (0 to 9) before anything is sent; a
job and a search summary read it back (5 when the document has none). Against a real
observatory: tests/e2e/test_client.py."""

from __future__ import annotations

import pytest

from observatory import Client, Job, NewJob
from observatory._search import JobSummary, search_params
from observatory.client import _as_new_job, _submission

pytestmark = pytest.mark.timeout(30)


def test_a_priority_is_sent_only_when_given() -> None:
    assert _submission("echo", None, "id-1", None, priority=9)["priority"] == 9
    assert _submission("echo", None, "id-2", None, priority=0)["priority"] == 0
    assert "priority" not in _submission("echo", None, "id-3", None)
    assert _as_new_job(NewJob("echo", job_id="id-4", priority=7))["priority"] == 7
    assert "priority" not in _as_new_job(NewJob("echo", job_id="id-5"))
    assert _as_new_job({"type": "echo", "priority": 3})["priority"] == 3


@pytest.mark.parametrize(
    ("priority", "message"),
    [
        (10, r"^priority must be from 0 \(lowest\) to 9 \(highest\), not 10\.$"),
        (-1, r"^priority must be from 0 \(lowest\) to 9 \(highest\), not -1\.$"),
        ("9", r"^priority must be an integer from 0 to 9, not '9'\.$"),
        (True, r"^priority must be an integer from 0 to 9, not True\.$"),
        (4.5, r"^priority must be an integer from 0 to 9, not 4\.5\.$"),
    ],
)
def test_a_priority_the_gateway_would_refuse_is_refused_here(
    priority: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _submission("echo", None, None, None, priority=priority)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        _as_new_job(NewJob("echo", priority=priority))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        _as_new_job({"type": "echo", "priority": priority})


def test_submit_refuses_a_bad_priority_before_sending_anything() -> None:
    # Nothing listens on port 9 of this host: a request would raise ServerUnavailable.
    with Client("http://127.0.0.1:9", "http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match=r"^priority must be from 0"):
            client.submit("echo", priority=12)
        with pytest.raises(ValueError, match=r"^priority must be from 0"):
            client.submit_many([NewJob("echo"), NewJob("echo", priority=99)])


def test_the_job_and_its_summary_read_priority() -> None:
    doc = {"id": "j", "type": "echo", "status": "PENDING", "priority": 9}

    assert Job.from_json(doc).priority == 9
    assert JobSummary.from_json(doc).priority == 9
    assert Job.from_json({**doc, "priority": 0}).priority == 0
    # An observatory that predates priorities sends none: every job there ran at 5.
    del doc["priority"]
    assert Job.from_json(doc).priority == 5
    assert JobSummary.from_json(doc).priority == 5


def _search_params(priority: int) -> list[tuple[str, str]]:
    """The query of a search with no filter but ``priority``."""
    return list(
        search_params(
            status=None,
            type=None,
            created_after=None,
            created_before=None,
            finished_after=None,
            finished_before=None,
            correlation_id=None,
            error=None,
            q=None,
            sort="created",
            limit=50,
            cursor=None,
            priority=priority,
        )
    )


def test_the_search_sends_the_priority_filter() -> None:
    assert ("priority", "9") in _search_params(9)
    assert ("priority", "0") in _search_params(0)
