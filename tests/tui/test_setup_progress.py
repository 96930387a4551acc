"""The launch progress state machine: each step's transitions, failure, skip, output tail."""

from __future__ import annotations

import pytest

from launcher.cluster import STEPS, StepEvent
from launcher.tui.setup_progress import (
    OUTPUT_TAIL_LINES,
    SetupProgress,
    StepState,
    StepTransitionError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def states(progress: SetupProgress) -> list[str]:
    return [step.state.value for step in progress.steps]


def test_every_step_starts_pending_in_cluster_up_order() -> None:
    progress = SetupProgress()
    assert [s.name for s in progress.steps] == list(STEPS)
    assert [s.name for s in progress.steps] == [
        "prerequisites",
        "cluster",
        "images",
        "load",
        "deploy",
        "pods",
        "port-forwards",
        "verify",
        "ready",
    ]
    assert states(progress) == ["pending"] * 9
    assert progress.running is None
    assert progress.failed is None
    assert not progress.finished


def test_a_step_runs_then_completes_with_its_elapsed_time() -> None:
    clock = Clock()
    progress = SetupProgress(clock=clock)
    step = progress.apply(StepEvent("prerequisites", "starting", "prerequisites..."))
    assert step.state is StepState.RUNNING
    assert progress.running is step
    clock.now = 102.5
    assert step.elapsed_s(clock.now) == 2.5  # still running: counts up
    clock.now = 103.0
    done = progress.apply(StepEvent("prerequisites", "complete", "docker is running"))
    assert done is step
    assert done.state is StepState.DONE
    assert step.message == "docker is running"
    clock.now = 200.0
    assert step.elapsed_s(clock.now) == 3.0  # finished: frozen
    assert progress.step("cluster").elapsed_s(clock.now) is None


def test_all_nine_steps_done_or_skipped_is_finished() -> None:
    progress = SetupProgress(clock=Clock())
    for name in STEPS:
        progress.apply(StepEvent(name, "starting", ""))
        skip = name in ("cluster", "verify")
        progress.apply(StepEvent(name, "skipped" if skip else "complete", name))
        assert not progress.finished or name == "ready"
    assert progress.finished
    assert states(progress) == [
        "done",
        "skipped",
        "done",
        "done",
        "done",
        "done",
        "done",
        "skipped",
        "done",
    ]


def test_a_skipped_step_keeps_why() -> None:
    progress = SetupProgress(clock=Clock())
    progress.apply(StepEvent("cluster", "starting", ""))
    step = progress.apply(StepEvent("cluster", "skipped", "reusing the existing kind cluster"))
    assert step.state is StepState.SKIPPED
    assert step.message == "reusing the existing kind cluster"


def test_a_warning_is_done_with_the_warning_flag() -> None:
    progress = SetupProgress(clock=Clock())
    progress.apply(StepEvent("verify", "starting", ""))
    step = progress.apply(StepEvent("verify", "warning", "not answering yet"))
    assert step.state is StepState.DONE
    assert step.warning


def test_an_error_fails_the_step_and_stops_there() -> None:
    progress = SetupProgress(clock=Clock())
    progress.apply(StepEvent("prerequisites", "starting", ""))
    progress.apply(StepEvent("prerequisites", "complete", "ok"))
    progress.apply(StepEvent("cluster", "starting", ""))
    progress.apply(StepEvent("cluster", "error", "`kind create cluster` failed"))
    assert progress.failed is progress.step("cluster")
    assert progress.running is None
    assert states(progress)[:3] == ["done", "failed", "pending"]
    assert not progress.finished


@pytest.mark.parametrize(
    ("before", "status", "state"),
    [
        ([], "complete", "pending"),
        ([], "skipped", "pending"),
        ([], "error", "pending"),
        (["starting"], "starting", "running"),
        (["starting", "complete"], "starting", "done"),
        (["starting", "complete"], "error", "done"),
        (["starting", "error"], "complete", "failed"),
        (["starting", "skipped"], "complete", "skipped"),
    ],
)
def test_events_that_do_not_follow_are_refused(before: list[str], status: str, state: str) -> None:
    progress = SetupProgress(clock=Clock())
    for earlier in before:
        progress.apply(StepEvent("load", earlier, ""))  # type: ignore[arg-type]
    with pytest.raises(
        StepTransitionError,
        match=rf"^Step 'load' is {state}; a '{status}' event cannot follow\.$",
    ):
        progress.apply(StepEvent("load", status, ""))  # type: ignore[arg-type]
    assert progress.step("load").state.value == state


def test_an_unknown_step_is_refused() -> None:
    progress = SetupProgress(clock=Clock())
    with pytest.raises(StepTransitionError, match=r"^Unknown launch step 'teleport'"):
        progress.apply(StepEvent("teleport", "starting", ""))


def test_fail_running_marks_the_running_step_failed_with_a_hint() -> None:
    progress = SetupProgress(clock=Clock())
    progress.apply(StepEvent("port-forwards", "starting", ""))
    progress.fail_running("RuntimeError: boom", "look at the logs")
    assert progress.failed is progress.step("port-forwards")
    assert progress.step("port-forwards").message == "RuntimeError: boom"
    assert progress.hint == "look at the logs"
    with pytest.raises(StepTransitionError, match=r"^No step is running"):
        progress.fail_running("again")


def test_output_tail_keeps_the_last_lines_of_the_running_step_only() -> None:
    progress = SetupProgress(clock=Clock())
    progress.apply(StepEvent("images", "starting", ""))
    for n in range(10):
        progress.add_output(f"line {n}  \n")
    assert progress.output_tail == [f"line {n}" for n in range(10 - OUTPUT_TAIL_LINES, 10)]
    progress.apply(StepEvent("images", "complete", ""))
    assert progress.output_tail  # kept until the next step starts
    progress.apply(StepEvent("load", "starting", ""))
    assert progress.output_tail == []
