"""New Task: submit jobs to the gateway and see the accepted ids or its validation errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from actors.errors import ObservatoryError
from launcher.tui.client import ApiUnavailable, SubmitRejected
from launcher.tui.models import MalformedDocument
from launcher.tui.type_hints import example_payload, type_hint

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from launcher.tui.client import ObservatoryClient
    from launcher.tui.type_hints import JobTypeInfo

__all__ = ["MAX_COUNT", "NewTaskScreen", "TaskForm", "TaskFormError", "parse_task_form"]

JOB_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
"""The contract's job type: 1 to 50 letters, digits, ``_`` or ``-``."""
MAX_COUNT = 1000
"""The gateway's batch limit."""


class TaskFormError(ObservatoryError):
    """The form does not describe a submission; ``problems`` names each field's fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TaskForm:
    """A checked New Task form."""

    job_type: str
    payload: dict[str, object] | None
    count: int


def parse_task_form(job_type: str, payload_text: str, count_text: str) -> TaskForm:
    """Check the three fields as the gateway would, before sending anything.

    Raises:
        TaskFormError: with one sentence per wrong field.
    """
    problems: list[str] = []
    job_type = job_type.strip()
    if not JOB_TYPE.match(job_type):
        problems.append("Type must be 1 to 50 letters, digits, '_' or '-'.")
    payload: dict[str, object] | None = None
    if payload_text.strip():
        try:
            value = json.loads(payload_text)
        except ValueError as error:
            problems.append(f"Payload is not valid JSON: {error}.")
        else:
            if isinstance(value, dict):
                payload = value
            else:
                problems.append('Payload must be a JSON object, e.g. {"seconds": 2}.')
    try:
        count = int(count_text.strip() or "1")
    except ValueError:
        problems.append(f"Count must be a whole number from 1 to {MAX_COUNT}.")
        count = 0
    else:
        if not 1 <= count <= MAX_COUNT:
            problems.append(f"Count must be from 1 to {MAX_COUNT}, not {count}.")
    if problems:
        raise TaskFormError(problems)
    return TaskForm(job_type, payload, count)


class NewTaskScreen(ModalScreen[bool]):
    """The form; Enter or Submit sends, Esc closes (with ``True`` if anything was accepted).

    Args:
        client: the observatory's client, which submits the form to the gateway.
        job_types: the registered types, offered as completions and listed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel"),
        Binding("ctrl+t", "example", "Example payload"),
    ]

    def __init__(self, client: ObservatoryClient, job_types: list[str]) -> None:
        super().__init__()
        self.client = client
        self.job_types = job_types
        self.types: dict[str, JobTypeInfo] = {}
        """``GET /types`` by type, once loaded: the hint under the Type field."""
        self.accepted: list[str] = []

    def compose(self) -> ComposeResult:
        registered = ", ".join(self.job_types) or "none reported"
        with Vertical(id="new-task"):
            yield Static("[b]New task[/b]")
            yield Label("Type")
            yield Input(
                placeholder="e.g. echo",
                id="type",
                max_length=50,
                restrict=r"[A-Za-z0-9_-]*",
                suggester=SuggestFromList(self.job_types, case_sensitive=True),
            )
            yield Static(f"Registered: {registered}", id="types")
            yield Static(id="type-hint")
            yield Label("Payload (JSON object, optional)")
            yield Input(placeholder='{"seconds": 2}', id="payload")
            yield Label("Count")
            yield Input(value="1", id="count", restrict=r"[0-9]*", max_length=4)
            with Horizontal(id="buttons"):
                yield Button("Submit", id="submit", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Static(id="result")

    def on_mount(self) -> None:
        self.query_one("#type", Input).focus()
        self.load_types()

    @work(exclusive=True, group="types")
    async def load_types(self) -> None:
        """Fetch ``GET /types``: offer every type it names, and hint the typed one."""
        try:
            found = await self.client.job_types()
        except (ApiUnavailable, MalformedDocument):
            return  # the form still works with /config's types, without hints
        self.types = {info.type: info for info in found or []}
        self.job_types = sorted({*self.job_types, *self.types})
        self.query_one("#type", Input).suggester = SuggestFromList(
            self.job_types, case_sensitive=True
        )
        self.query_one("#types", Static).update(f"Registered: {', '.join(self.job_types)}")
        self._show_hint()

    @on(Input.Changed, "#type")
    def _show_hint(self) -> None:
        job_type = self.query_one("#type", Input).value.strip()
        self.query_one("#type-hint", Static).update(type_hint(job_type, self.types))

    def action_example(self) -> None:
        """Fill in the typed type's example payload (built from its schema)."""
        info = self.types.get(self.query_one("#type", Input).value.strip())
        if info is not None and info.payload_schema is not None:
            payload = self.query_one("#payload", Input)
            payload.value = json.dumps(example_payload(info.payload_schema))
            payload.focus()

    def action_close(self) -> None:
        self.dismiss(bool(self.accepted))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted)
    def _submit(self) -> None:
        self.submit()

    @work(exclusive=True)
    async def submit(self) -> None:
        """Check the form, send it, and show what the gateway said."""
        result = self.query_one("#result", Static)
        try:
            form = parse_task_form(
                self.query_one("#type", Input).value,
                self.query_one("#payload", Input).value,
                self.query_one("#count", Input).value,
            )
        except TaskFormError as error:
            result.update(Text("\n".join(error.problems), style="red"))
            return
        result.update("Submitting...")
        try:
            submitted = await self.client.submit(form.job_type, form.payload, form.count)
        except SubmitRejected as rejected:
            text = Text(f"Rejected: {rejected.error}", style="bold red")
            for path, message in rejected.details:
                text.append(f"\n  {path or '/'}: {message}", style="red")
            result.update(text)
            return
        except (ApiUnavailable, MalformedDocument) as error:
            result.update(Text(f"Not sent: {error}", style="red"))
            return
        self.accepted += submitted.job_ids
        if len(submitted.job_ids) == 1:
            text = Text(f"Accepted job {submitted.job_ids[0]}", style="bold green")
        else:
            text = Text(f"Accepted {len(submitted.job_ids)} jobs", style="bold green")
            text.append(f" (first {submitted.job_ids[0]}, last {submitted.job_ids[-1]})")
        for line in submitted.rejected[:5]:
            text.append(f"\nRejected {line}", style="red")
        result.update(text)
