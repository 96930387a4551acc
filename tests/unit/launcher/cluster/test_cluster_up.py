"""``observatory cluster up|down|status`` against fake docker, kind and kubectl."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from launcher.cli import main
from launcher.cluster import STEPS, LauncherError, ProcessRunner
from launcher.cluster._state import read_state
from tests.cluster_calls import IMAGE, fresh_cluster_up

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[4]
FAKES = Path(__file__).parent / "fakes"


@dataclass
class FakeTools:
    """Where the fakes log and the launcher keeps its state, for one test."""

    log: Path
    state: Path
    env: dict[str, str]

    def calls(self) -> list[list[str]]:
        """Every argv the fakes saw, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def forward_pids(self) -> list[int]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e["pid"] for e in entries if "port-forward" in e["argv"]]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (reaping it first if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTools]:
    """PATH starts with the fakes; verify is skipped (nothing really listens)."""
    tools = FakeTools(
        log=tmp_path / "tools.jsonl", state=tmp_path / "state" / "port-forwards.json", env={}
    )
    tools.env = {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "FAKE_TOOLS_LOG": str(tools.log),
        "OBSERVATORY_CLUSTER_STATE": str(tools.state),
        "OBSERVATORY_CLUSTER_VERIFY": "skip",
    }
    for name, value in tools.env.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith("FAKE_") and name != "FAKE_TOOLS_LOG":
            monkeypatch.delenv(name)
    yield tools
    for pid in tools.forward_pids():  # never leak a fake port-forward
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


FRESH = fresh_cluster_up(30)
URLS = {
    "gateway": "http://localhost:3000",
    "read-model": "http://localhost:8080",
    "grafana": "http://localhost:3001",
    "prometheus": "http://localhost:9090",
    "rabbitmq": "http://localhost:15672",
    "jaeger": "http://localhost:16686",
}


def cli(tools: FakeTools, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "--log-format", "console", "cluster", *args],
        cwd=ROOT,
        env={**os.environ, **tools.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def statuses(lines: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(e["step"], e["status"]) for e in lines if "step" in e]


def expected(skipped: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    steps = []
    for step in STEPS:
        steps.append((step, "starting"))
        done = "skipped" if step in skipped or step == "verify" else "complete"
        steps.append((step, done))
    return steps


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--log-format", "console", "cluster", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- through the real command line ------------------------------------------------------------


def test_up_then_down_through_the_real_cli(fake_tools: FakeTools) -> None:
    up = cli(fake_tools, "up", "--json", "--timeout", "30")

    assert up.returncode == 0, up.stderr
    assert fake_tools.calls() == FRESH
    lines = events(up.stdout)
    assert statuses(lines) == expected()
    assert all(set(e) == {"step", "status", "message"} for e in lines[:-1])
    assert lines[-1] == {"urls": URLS}
    recorded = read_state(fake_tools.state)
    assert sorted(recorded) == sorted(URLS)
    assert all(alive(pid) for pid in recorded.values())  # they outlive `cluster up`

    fake_tools.clear()
    down = cli(fake_tools, "down")

    assert down.returncode == 0, down.stderr
    assert fake_tools.calls() == [["kind", "delete", "cluster", "--name", "task-observatory"]]
    assert not any(alive(pid) for pid in recorded.values())
    assert "stopped port-forward gateway" in down.stdout
    assert not fake_tools.state.exists()


def test_docker_not_running_fails_prerequisites_through_the_real_cli(
    fake_tools: FakeTools,
) -> None:
    up = cli(fake_tools, "up", "--json", FAKE_DOCKER_INFO_FAIL="1")

    assert up.returncode == 1
    assert fake_tools.calls() == [["docker", "info"]]
    lines = events(up.stdout)
    assert statuses(lines) == [("prerequisites", "starting"), ("prerequisites", "error")]
    message = str(lines[-1]["message"])
    for part in ("`docker info`", "exit code 1", "Is the docker daemon running?", "Hint: Start"):
        assert part in message
        assert part in up.stderr
    assert "observatory: error:" in up.stderr


# -- in process --------------------------------------------------------------------------------


def test_second_up_reuses_the_cluster_and_replaces_the_forwards(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "up", "--json", "--timeout", "30")[0] == 0
    first = read_state(fake_tools.state)
    fake_tools.clear()

    code, out, _ = run_main(capsys, "up", "--json", "--timeout", "30")

    assert code == 0
    calls = fake_tools.calls()
    assert ["kind", "get", "clusters"] in calls
    assert not any(call[:3] == ["kind", "create", "cluster"] for call in calls)
    assert ["kubectl", "config", "use-context", "kind-task-observatory"] in calls
    lines = events(out)
    assert statuses(lines) == expected(frozenset({"cluster"}))
    assert "reusing" in str(lines[3]["message"])
    second = read_state(fake_tools.state)
    assert not any(alive(pid) for pid in first.values())  # old forwards were stopped
    assert all(alive(pid) for pid in second.values())
    assert run_main(capsys, "down")[0] == 0


def test_skip_build_does_not_build(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KIND_CLUSTERS", "task-observatory")

    code, out, _ = run_main(capsys, "up", "--json", "--skip-build", "--timeout", "30")

    assert code == 0
    assert not any(call[:2] == ["docker", "build"] for call in fake_tools.calls())
    assert ["kind", "load", "docker-image", IMAGE, "--name", "task-observatory"] in (
        fake_tools.calls()
    )
    assert statuses(events(out)) == expected(frozenset({"cluster", "images"}))
    assert run_main(capsys, "down")[0] == 0


def test_readable_progress_without_json(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "up", "--timeout", "30")

    assert code == 0
    assert "[1/9] prerequisites ... done (" in out
    assert "[3/9] images ... done (" in out
    assert "[8/9] verify ... skipped" in out
    assert "gateway     http://localhost:3000" in out
    # The cluster wants API tokens: the submitter token of the local Secret is shown.
    secrets = (ROOT / "manifests" / "base" / "secrets.env").read_text()
    submitter = next(
        line.split("=", 1)[1]
        for line in secrets.splitlines()
        if line.startswith("SUBMITTER_TOKEN=")
    )
    assert f"export OBSERVATORY_API_TOKEN={submitter}" in out
    assert f"submitter:{submitter}" in secrets
    assert run_main(capsys, "down")[0] == 0


def test_up_forwards_the_jaeger_ui_and_prints_it_with_the_trace_url(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "up", "--timeout", "30")

    assert code == 0
    forward = ["kubectl", "-n", "task-observatory", "port-forward", "svc/jaeger", "16686:16686"]
    assert forward in fake_tools.calls()
    recorded = read_state(fake_tools.state)
    assert alive(recorded["jaeger"])
    assert "  jaeger      http://localhost:16686\n" in out
    # What the read model links in the cluster, for the TUI too (in its own environment).
    assert "  export OBSERVATORY_TRACE_URL='http://localhost:16686/trace/{traceId}'\n" in out
    assert run_main(capsys, "down")[0] == 0
    assert not alive(recorded["jaeger"])


@pytest.mark.parametrize(
    ("env", "step", "parts", "last_call"),
    [
        (
            {"FAKE_KIND_CREATE_FAIL": "1"},
            "cluster",
            ["`kind create cluster --name task-observatory", "exit code 1", "failed to create"],
            "create",
        ),
        (
            {"FAKE_ROLLOUT_FAIL": "processor"},
            "pods",
            [
                "deployment/processor --timeout=30s`",
                "timed out waiting for the condition",
                "describe deployment/processor",
            ],
            "deployment/processor",
        ),
        (
            # The Ingress is not applied before the controller (its webhook) is ready.
            {"FAKE_INGRESS_WAIT_FAIL": "1"},
            "deploy",
            [
                "-n ingress-nginx wait --for=condition=ready pod",
                "timed out waiting for the condition",
                "kubectl -n ingress-nginx describe pods",
            ],
            "--selector=app.kubernetes.io/component=controller",
        ),
        (
            {"FAKE_PORT_FORWARD_FAIL": "grafana"},
            "port-forwards",
            ["port-forward svc/grafana 3001:3000`", "address already in use", "lsof -i :3001"],
            "svc/grafana",
        ),
        (
            # A local Jaeger (`docker run jaegertracing/jaeger`) holds 16686 already.
            {"FAKE_PORT_FORWARD_FAIL": "jaeger"},
            "port-forwards",
            ["port-forward svc/jaeger 16686:16686`", "address already in use", "lsof -i :16686"],
            "svc/jaeger",
        ),
    ],
)
def test_a_failing_step_reports_the_command_and_a_hint(
    fake_tools: FakeTools,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    step: str,
    parts: list[str],
    last_call: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    code, out, err = run_main(capsys, "up", "--json", "--timeout", "30")

    assert code == 1
    lines = events(out)
    assert lines[-1]["step"] == step
    assert lines[-1]["status"] == "error"
    assert "urls" not in out
    for part in [*parts, "Hint:"]:
        assert part in str(lines[-1]["message"])
        assert part in err
    assert last_call in fake_tools.calls()[-1]


def test_forwards_started_before_a_failure_are_recorded_and_stopped_by_down(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PORT_FORWARD_FAIL", "grafana")
    assert run_main(capsys, "up", "--json")[0] == 1
    recorded = read_state(fake_tools.state)
    assert sorted(recorded) == ["gateway", "read-model"]

    assert run_main(capsys, "down")[0] == 0
    assert not any(alive(pid) for pid in recorded.values())


def test_down_stops_only_the_recorded_forwards(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "up", "--json")[0] == 0
    recorded = read_state(fake_tools.state)
    stranger = subprocess.Popen(
        ["kubectl", "-n", "task-observatory", "port-forward", "svc/gateway", "3999:3000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stranger.stdout is not None
        assert "Forwarding from" in stranger.stdout.readline()
        fake_tools.clear()

        code, out, _ = run_main(capsys, "down")

        assert code == 0
        assert fake_tools.calls() == [["kind", "delete", "cluster", "--name", "task-observatory"]]
        assert not any(alive(pid) for pid in recorded.values())
        assert stranger.poll() is None  # not ours to stop
        assert out.count("stopped port-forward") == len(URLS)
    finally:
        stranger.kill()
        stranger.wait()
        if stranger.stdout is not None:
            stranger.stdout.close()


def test_down_skips_a_recorded_forward_that_is_gone(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_tools.state.parent.mkdir(parents=True)  # a PID above any pid_max: not running
    fake_tools.state.write_text(json.dumps({"forwards": {"gateway": {"pid": 2**22 + 17}}}))

    code, out, _ = run_main(capsys, "down")

    assert code == 0
    assert "port-forward gateway (PID 4194321) was not running" in out


def test_status_after_up_and_after_down(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "up", "--json")[0] == 0

    code, out, _ = run_main(capsys, "status", "--json")

    assert code == 0, out
    status = json.loads(out)
    assert status["context"] is True
    assert status["nodes"] == [{"name": "task-observatory-control-plane", "status": "Ready"}]
    assert {d["name"] for d in status["deployments"]} == {
        "gateway",
        "processor",
        "metrics-engine",
        "read-model",
    }
    assert all(f["alive"] for f in status["forwards"].values())
    assert status["healthy"] is True

    assert run_main(capsys, "down")[0] == 0
    code, out, _ = run_main(capsys, "status")

    assert code == 1
    assert "context   missing" in out
    assert "not healthy" in out


def test_a_missing_tool_says_where_to_install_it(
    fake_tools: FakeTools,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kubectl"):
        (bin_dir / tool).symlink_to(Path(__file__).parent / "fakes" / tool)
    python_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{python_dir}")

    code, out, err = run_main(capsys, "up", "--json")

    assert code == 1
    assert statuses(events(out)) == [("prerequisites", "starting"), ("prerequisites", "error")]
    assert "kind is not installed; install it from https://kind.sigs.k8s.io" in err


def test_a_failing_verify_is_a_warning(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    from launcher.cli import build_parser
    from launcher.cluster import ClusterOptions
    from launcher.cluster.command import cluster_main

    checked: list[dict[str, str]] = []

    async def verify(urls: dict[str, str]) -> None:
        checked.append(urls)
        raise RuntimeError("http://localhost:3000/healthz answered 503")

    args = build_parser().parse_args(["cluster", "up", "--json"])
    options = ClusterOptions(state_path=fake_tools.state, verify=verify)

    assert cluster_main(args, options=options) == 0
    lines = events(capsys.readouterr().out)
    assert checked == [URLS]
    assert ("verify", "warning") in statuses(lines)
    warning = next(e for e in lines if e.get("status") == "warning")
    assert "answered 503" in str(warning["message"])
    assert lines[-1] == {"urls": URLS}
    assert run_main(capsys, "down")[0] == 0


# -- the runner --------------------------------------------------------------------------------


def test_the_runner_stops_a_command_at_its_timeout() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(10)"]
    started = time.monotonic()

    with pytest.raises(LauncherError, match=r"did not finish within 0\.3 s") as caught:
        anyio.run(lambda: ProcessRunner().run(argv, timeout_s=0.3, hint="wait longer"))

    assert time.monotonic() - started < 5
    assert caught.value.hint == "wait longer"
    assert caught.value.exit_code is None


def test_the_runner_names_a_missing_executable() -> None:
    with pytest.raises(LauncherError, match="is not installed; install it from") as caught:
        anyio.run(lambda: ProcessRunner().run(["no-such-tool-xyz"], timeout_s=5))

    assert caught.value.command == ["no-such-tool-xyz"]


def test_a_launcher_error_is_one_sentence_with_every_part() -> None:
    error = LauncherError(
        ["kubectl", "apply", "-k", "x"],
        exit_code=2,
        stderr="line 1\n\nline 2\nerror: bad\n",
        hint="Fix x.",
    )

    assert str(error) == (
        "`kubectl apply -k x` failed with exit code 2; its stderr ended with: "
        "line 1 | line 2 | error: bad. Hint: Fix x."
    )
    assert error.stderr_tail == "line 1 | line 2 | error: bad"


def test_port_forward_replaces_the_recorded_forwards_of_a_running_cluster(
    fake_tools: FakeTools, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "up", "--json", "--timeout", "30")[0] == 0
    first = read_state(fake_tools.state)
    fake_tools.clear()

    code, out, _ = run_main(capsys, "port-forward")

    assert code == 0
    assert fake_tools.calls() == FRESH[-6:]  # only the six port-forwards
    second = read_state(fake_tools.state)
    assert sorted(second) == sorted(URLS)
    assert not any(alive(pid) for pid in first.values())
    assert all(alive(pid) for pid in second.values())
    assert out.startswith("forwarding 6 services (replaced 6 earlier)")
    assert "http://localhost:8080" in out
    assert run_main(capsys, "down")[0] == 0


def test_rich_progress_marks_each_finished_step_on_a_terminal() -> None:
    import io
    import re

    from rich.console import Console

    from launcher.cluster._steps import StepEvent
    from launcher.cluster.command import RichProgress

    screen = io.StringIO()
    progress = RichProgress(Console(file=screen, force_terminal=True, width=120))
    progress(StepEvent("prerequisites", "starting", "prerequisites..."))
    progress(StepEvent("prerequisites", "complete", "docker is running"))
    progress(StepEvent("cluster", "starting", "cluster..."))
    progress(StepEvent("cluster", "skipped", "reusing the existing kind cluster"))
    progress(StepEvent("images", "starting", "images..."))
    progress(StepEvent("images", "error", "`docker build` exited with code 1"))
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(("✓", "↷", "✗"))]
    assert [line.split()[:3] for line in lines] == [
        ["✓", "[1/9]", "prerequisites"],
        ["↷", "[2/9]", "cluster"],
        ["✗", "[3/9]", "images"],
    ]
    assert lines[2].endswith("`docker build` exited with code 1")
