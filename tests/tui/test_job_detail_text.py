"""The job detail's layout shows a client's correlation id as it is (issue 16, item 3)."""

from __future__ import annotations

from rich.console import Console

from launcher.tui.screens.job_detail import job_detail_text


def test_issue_16_a_correlation_id_with_brackets_is_shown_as_it_is() -> None:
    console = Console(width=120, record=True)

    console.print(job_detail_text({"id": "j", "correlationId": "[/] [bold]order-42", "events": []}))

    assert "Correlation  [/] [bold]order-42" in console.export_text()


def test_issue_19_the_jobs_trace_is_shown_and_linked_to_the_trace_viewer() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    job: dict[str, object] = {"id": "j", "traceId": trace_id, "events": []}
    console = Console(width=160, record=True)

    console.print(job_detail_text(job))
    console.print(job_detail_text(job, trace_url="http://jaeger:16686/trace/{traceId}"))

    lines = [line.strip() for line in console.export_text().splitlines()]
    assert f"Trace        {trace_id}" in lines
    url = f"http://jaeger:16686/trace/{trace_id}"
    assert f"Trace        {trace_id}  {url}" in lines
    table = job_detail_text(job, trace_url="http://jaeger:16686/trace/{traceId}")
    [trace_cell] = [
        cell
        for label, cell in zip(table.columns[0].cells, table.columns[1].cells, strict=True)
        if label == "Trace"
    ]
    assert str(trace_cell.style) == f"link {url}"  # type: ignore[union-attr]


def test_issue_19_a_job_without_a_trace_has_no_trace_row() -> None:
    console = Console(width=120, record=True)
    console.print(job_detail_text({"id": "j", "events": []}, trace_url="http://x/{traceId}"))
    assert "Trace" not in console.export_text()
