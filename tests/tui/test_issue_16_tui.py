"""Issue 16 (item 12): the TUI against a real ``observatory up`` subprocess (Textual
pilot, no mocks): read-only offers no write keys and refuses them; the dead letters
screen requeues (as is and edited) and discards, then says there are none; the job
screen's duration is the read model's, every attempt counted (item 11)."""

from __future__ import annotations

import io
import json
import uuid
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from rich.console import Console
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static, TextArea

from actors.domain.dead_letters import DeadLetter
from actors.errors import ValidationIssue
from actors.stores.sqlite import open_sqlite_dead_letter_store
from launcher.observatory_process import start_observatory
from launcher.tui import ObservatoryApp, TuiOptions
from launcher.tui.locate import Location, Whereabouts
from launcher.tui.screens import (
    DashboardScreen,
    DeadLettersScreen,
    JobDetailScreen,
    LauncherScreen,
    NewTaskScreen,
)
from launcher.tui.screens.dead_letters import DeadLetterEditScreen
from launcher.tui.screens.help import help_text
from launcher.tui.screens.job_detail import format_duration_ms
from tests.tui.test_screen_messages import Host

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Until = Callable[..., Awaitable[None]]

pytestmark = pytest.mark.e2e


def text_of(app: ObservatoryApp | Host, selector: str) -> str:
    console = Console(width=220, record=True, file=io.StringIO())
    content = app.screen.query_one(selector, Static).content
    console.print(Text.from_markup(content) if isinstance(content, str) else content)
    return console.export_text()


def table_column(app: ObservatoryApp, selector: str, column: int) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_cell_at(Coordinate(row, column))) for row in range(table.row_count)]


def _envelope(job: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "contractVersion": "1.0.0",
            "eventType": "job.created",
            "eventId": str(uuid.uuid4()),
            "occurredAt": "2026-11-27T10:00:00Z",
            "producer": {"service": "gateway", "instanceId": "old", "version": "0.0.1"},
            "correlationId": str(uuid.uuid4()),
            "payload": job,
        }
    ).encode()


async def seed_dead_letters(data_dir: Path, reasons: list[str]) -> list[str]:
    """One dead letter of an echo job per reason (a ``bad type!`` where the reason says
    "bad type"), oldest first, in the embedded store; their ids."""
    records = []
    for n, reason in enumerate(reasons):
        bad = "bad type" in reason
        job: dict[str, object] = {"id": str(uuid.uuid4()), "payload": {}}
        job["type"] = "bad type!" if bad else "echo"
        records.append(
            DeadLetter(
                dead_letter_id=str(uuid.uuid4()),
                queue="jobs.created",
                reason=reason,
                errors=[ValidationIssue("/payload/type", "does not match")] if bad else [],
                body=_envelope(job),
                occurred_at=f"2026-11-27T10:00:0{n}Z",
                service="processor",
                version="0.0.1",
            )
        )
    await anyio.Path(data_dir).mkdir(parents=True, exist_ok=True)
    async with open_sqlite_dead_letter_store(data_dir / "dead-letters.sqlite3") as store:
        await store.add(records)
    return [r.dead_letter_id for r in records]


async def _wait_status(http: httpx.AsyncClient, url: str, status: str) -> dict[str, object]:
    with anyio.fail_after(30):
        while (job := (await http.get(url)).json()).get("status") != status:  # noqa: ASYNC110
            await anyio.sleep(0.1)
    return dict(job)


def _options(read_model: str, *, read_only: bool) -> TuiOptions:
    return TuiOptions(
        read_model_url=read_model, spinner_tick_s=None, poll_interval_s=2.0, read_only=read_only
    )


async def _choose(pilot: object, app: ObservatoryApp, reason: str, until: Until) -> None:
    await until(pilot, lambda: reason in table_column(app, "#letters", 3))
    rows = table_column(app, "#letters", 3)
    app.screen.query_one("#letters", DataTable).move_cursor(row=rows.index(reason))


async def test_issue_16_read_only_offers_no_write_key_and_refuses_them(
    tmp_path: Path, until: Until
) -> None:
    data_dir = tmp_path / "observatory"
    [letter] = await seed_dead_letters(data_dir, ["Refused by an older processor."])
    async with (
        start_observatory("--retry-backoff", "1", data_dir=data_dir) as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        job = {"type": "fail", "metadata": {"maxAttempts": 2}}
        job_id = (await http.post(f"{running.gateway}/jobs", json=job)).json()["jobId"]
        failed = await _wait_status(http, f"{running.read_model}/jobs/{job_id}", "FAILED")
        app = ObservatoryApp(_options(running.read_model, read_only=True))
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await until(pilot, lambda: "read-only" in text_of(app, "#footer"))
            footer = text_of(app, "#footer")
            assert " N " not in footer
            assert "new task" not in footer
            assert " D dead letters" in footer
            await pilot.press("n")
            await pilot.pause()
            assert not isinstance(app.screen, NewTaskScreen)

            # The job screen: no T offered, T refused; the duration is the read model's.
            await until(pilot, lambda: job_id in table_column(app, "#jobs", 2), timeout_s=20)
            app.screen.query_one("#jobs", DataTable).move_cursor(
                row=table_column(app, "#jobs", 2).index(job_id)
            )
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
            await until(pilot, lambda: "Timeline" in text_of(app, "#job"))
            assert "retry" not in text_of(app, "#footer")
            duration = failed["durationMs"]
            assert isinstance(duration, int)
            assert duration >= 1000  # the 1 s backoff between the two attempts
            assert f"Duration     {format_duration_ms(duration)}" in text_of(app, "#job")
            await pilot.press("t")
            await until(pilot, lambda: "Read-only" in text_of(app, "#retry-status"))
            await pilot.press("escape")

            # The dead letters: no U, E or X offered; each only says read-only.
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
            await until(pilot, lambda: app.screen.query_one("#letters", DataTable).row_count == 1)
            footer = text_of(app, "#footer")
            assert "requeue" not in footer
            assert "discard" not in footer
            for key in ("u", "e", "x", "x"):
                await pilot.press(key)
                await until(pilot, lambda: "Read-only" in text_of(app, "#dl-status"))
                assert isinstance(app.screen, DeadLettersScreen)
            await pilot.press("question_mark")  # the help does not list them either
            await pilot.pause()
            await pilot.press("escape", "escape", "q")
            await until(pilot, lambda: not app.is_running)
        listed = (await http.get(f"{running.read_model}/dead-letters")).json()
        assert [d["deadLetterId"] for d in listed] == [letter]
        assert (await http.get(f"{running.read_model}/jobs/{job_id}")).json()["round"] == 1


def test_read_only_help_leaves_the_write_keys_out() -> None:
    full, read_only = help_text(), help_text(read_only=True)
    for line in ("N      new task", "T      retry", "U      requeue", "X      discard", "L      "):
        assert line in full
        assert line not in read_only
    assert "Read-only" in read_only


async def test_issue_16_a_read_only_launcher_offers_only_quit(until: Until) -> None:
    location = Location(Whereabouts.CLUSTER, "kind-task-observatory")
    screen = LauncherScreen(location, read_only=True)
    app = Host(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen is screen)
        keys = text_of(app, "#launcher-keys")
        assert keys.split() == ["Q", "quit"]


async def test_issue_16_dead_letters_are_requeued_as_is_and_edited_and_discarded(
    tmp_path: Path, until: Until
) -> None:
    data_dir = tmp_path / "observatory"
    fine, bad, doomed = (
        "Refused by an older processor.",
        "The job has a bad type.",
        "A message nobody wants.",
    )
    await seed_dead_letters(data_dir, [fine, bad, doomed])
    async with (
        start_observatory(data_dir=data_dir) as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        app = ObservatoryApp(_options(running.read_model, read_only=False))
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
            footer = text_of(app, "#footer")
            assert "U  requeue" in footer
            assert "E  edit & requeue" in footer
            assert "X  discard" in footer

            # As it is: the bad one is refused with the gateway's reason and stays.
            await _choose(pilot, app, bad, until)
            await pilot.press("u")
            await until(pilot, lambda: "Requeue refused" in text_of(app, "#dl-status"))
            assert "/payload/type" in text_of(app, "#dl-status")
            # The fine one goes through and leaves the list.
            await _choose(pilot, app, fine, until)
            await pilot.press("u")
            await until(pilot, lambda: "Requeued as job" in text_of(app, "#dl-status"))
            await until(pilot, lambda: fine not in table_column(app, "#letters", 3))

            # Edited: fix the bad type, then it goes through too.
            await _choose(pilot, app, bad, until)
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, DeadLetterEditScreen))
            editor = app.screen.query_one("#dl-body", TextArea)
            assert '"type": "bad type!"' in editor.text
            editor.text = editor.text.replace('"bad type!"', '"echo"')
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
            await until(pilot, lambda: "Requeued as job" in text_of(app, "#dl-status"))
            await until(pilot, lambda: table_column(app, "#letters", 3) == [doomed])

            # Discarded: X arms, X again discards; then there are none.
            await pilot.press("x")
            await until(pilot, lambda: "Press X again" in text_of(app, "#dl-status"))
            assert table_column(app, "#letters", 3) == [doomed]
            await pilot.press("x")
            await until(pilot, lambda: "Discarded dead letter" in text_of(app, "#dl-status"))
            await until(pilot, lambda: "No dead letters" in text_of(app, "#letter"))
            assert app.screen.query_one("#letters", DataTable).row_count == 0
            await pilot.press("escape", "q")
            await until(pilot, lambda: not app.is_running)
        assert (await http.get(f"{running.read_model}/dead-letters")).json() == []
        with anyio.fail_after(30):
            while (await http.get(f"{running.read_model}/stats")).json()[  # noqa: ASYNC110
                "completedJobs"
            ] != 2:
                await anyio.sleep(0.1)
