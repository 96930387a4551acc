"""The job detail's layout shows a client's correlation id as it is (issue 16, item 3)."""

from __future__ import annotations

from rich.console import Console

from launcher.tui.screens.job_detail import job_detail_text


def test_issue_16_a_correlation_id_with_brackets_is_shown_as_it_is() -> None:
    console = Console(width=120, record=True)

    console.print(job_detail_text({"id": "j", "correlationId": "[/] [bold]order-42", "events": []}))

    assert "Correlation  [/] [bold]order-42" in console.export_text()
