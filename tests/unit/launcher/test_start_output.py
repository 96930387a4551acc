"""The start banner, the demo's quiet jobs and the children's log flags (issue 16)."""

from __future__ import annotations

import logging

import pytest

from actors.observability.logs import ContextFilter, bind
from launcher.banner import banner_lines, browser_url
from launcher.demo import DemoJobIds, QuietDemoJobs
from launcher.local import local_supervisor


def test_banner_names_the_dashboard_docs_and_gateway_with_machine_readable_url_lines() -> None:
    lines = banner_lines(
        mode="embedded; data in .observatory/",
        gateway="http://127.0.0.1:3000",
        read_model="http://127.0.0.1:8080",
        details=[("Security", "tokens off")],
    )
    assert lines[0].startswith("Task Observatory ")
    assert lines[0].endswith(" is up (embedded; data in .observatory/)")
    assert lines[1].startswith("  Dashboard   http://localhost:8080/ ")
    assert lines[2].startswith("  Gateway     http://127.0.0.1:3000 ")
    assert lines[3].startswith("  Read model  http://127.0.0.1:8080 ")
    assert lines[4] == (
        "  API docs    http://127.0.0.1:3000/docs (gateway)   "
        "http://127.0.0.1:8080/docs (read model)"
    )
    assert lines[5] == "  Security    tokens off"
    assert lines[-1] == "Press Ctrl-C to stop."


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8080", "http://localhost:8080/"),
        ("http://[::1]:8080", "http://localhost:8080/"),
        ("http://10.1.2.3:8080", "http://10.1.2.3:8080/"),
    ],
)
def test_browser_url_says_localhost_for_this_machine(url: str, shown: str) -> None:
    assert browser_url(url) == shown


def _stamped(level: int, job_id: str) -> logging.LogRecord:
    with bind(job_id=job_id):
        record = logging.LogRecord("x", level, __file__, 1, "job.completed", None, None)
        ContextFilter().filter(record)
    return record


def test_issue_16_the_demos_own_job_lines_are_debug_and_others_are_left_alone() -> None:
    ids = DemoJobIds(max_ids=2)
    ids.add("demo-1")
    quiet = QuietDemoJobs(ids)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.INFO)
        demo_info = _stamped(logging.INFO, "demo-1")
        assert quiet.filter(demo_info) is False
        assert (demo_info.levelno, demo_info.levelname) == (logging.DEBUG, "DEBUG")
        assert quiet.filter(_stamped(logging.WARNING, "demo-1")) is False
        assert quiet.filter(_stamped(logging.ERROR, "demo-1")) is True  # a bug stays loud
        mine = _stamped(logging.INFO, "mine")
        assert quiet.filter(mine) is True
        assert mine.levelno == logging.INFO
        root.setLevel(logging.DEBUG)
        assert quiet.filter(_stamped(logging.INFO, "demo-1")) is True
    finally:
        root.setLevel(level)
    ids.add("demo-2")
    ids.add("demo-3")
    assert "demo-1" not in ids  # bounded: the oldest is forgotten
    assert len(ids) == 2


def test_issue_16_local_services_get_the_log_flags_before_serve() -> None:
    _, processes = local_supervisor(
        host="127.0.0.1",
        env={},
        shutdown_s=1.0,
        global_args=["--log-format", "json", "--log-level", "INFO"],
        extra_args=["--insecure"],
    )
    command = processes["gateway"].command()
    serve = command.index("serve")
    assert command[serve - 4 : serve] == ["--log-format", "json", "--log-level", "INFO"]
    assert command[serve + 1] == "gateway"
    assert command[-1] == "--insecure"
