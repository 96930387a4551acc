"""``observatory doctor`` against a fake runner and real local TCP ports."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from launcher.cli import build_parser, main
from launcher.cluster._run import CompletedCommand, ProcessRunner, not_installed
from launcher.doctor import check_keda, doctor_main, host_port

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

Answer = tuple[int, str, str]

ALL_PRESENT: dict[tuple[str, ...], Answer] = {
    ("docker", "version"): (0, "28.2.2\n", ""),
    ("docker", "info"): (0, "28.2.2\n", ""),
    ("kind", "version"): (0, "kind v0.29.0 go1.24.2 linux/amd64\n", ""),
    ("kubectl", "version"): (0, "Client Version: v1.33.1\nKustomize Version: v5.6.0\n", ""),
    ("kind", "get", "clusters"): (0, "other\ntask-observatory\n", ""),
    ("kubectl", "config", "get-contexts"): (0, "kind-other\nkind-task-observatory\n", ""),
    ("kubectl", "get", "crd", "scaledobjects.keda.sh"): (
        0,
        "customresourcedefinition.apiextensions.k8s.io/scaledobjects.keda.sh\n",
        "",
    ),
}


class FakeRunner:
    """Answers by the longest matching argv prefix; a tool without answers is not installed."""

    def __init__(self, answers: Mapping[tuple[str, ...], Answer]) -> None:
        self.answers = dict(answers)
        self.calls: list[list[str]] = []

    async def run(
        self, argv: list[str], *, timeout_s: float, hint: str = "", check: bool = True
    ) -> CompletedCommand:
        self.calls.append(argv)
        matches = [key for key in self.answers if tuple(argv[: len(key)]) == key]
        if not matches:
            raise not_installed(argv)
        exit_code, stdout, stderr = self.answers[max(matches, key=len)]
        return CompletedCommand(argv, exit_code, stdout, stderr)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    runner: FakeRunner,
    urls: Mapping[str, str],
    *flags: str,
    python_version: tuple[int, int, int] = (3, 11, 7),
) -> tuple[int, list[str]]:
    out = io.StringIO()
    args = build_parser().parse_args(["doctor", *flags])
    code = doctor_main(args, runner=runner, out=out, urls=urls, python_version=python_version)
    return code, out.getvalue().splitlines()


def test_everything_present_and_reachable(listening_port: int) -> None:
    urls = {
        "RABBITMQ_URL": f"amqp://guest:s3cret@127.0.0.1:{listening_port}/",
        "REDIS_URL": f"redis://127.0.0.1:{listening_port}/0",
    }
    code, lines = run(FakeRunner(ALL_PRESENT), urls)
    assert code == 0
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["OK", "python"],
        ["OK", "docker"],
        ["OK", "docker-daemon"],
        ["OK", "kind"],
        ["OK", "kubectl"],
        ["OK", "kind-cluster"],
        ["OK", "kube-context"],
        ["OK", "keda"],
        ["OK", "rabbitmq"],
        ["OK", "redis"],
    ]
    assert lines[1] == "OK    docker         client 28.2.2"
    assert lines[5] == "OK    kind-cluster   task-observatory exists"
    assert lines[6] == "OK    kube-context   kind-task-observatory present"
    assert lines[7] == (
        "OK    keda           installed on the current cluster (scaledobjects.keda.sh): "
        "manifests/overlays/kind-keda scales on queue depth"
    )
    assert lines[8] == (
        f"OK    rabbitmq       amqp://guest:***@127.0.0.1:{listening_port}/ reachable "
        f"(127.0.0.1:{listening_port})"
    )
    assert "s3cret" not in "\n".join(lines)
    assert lines[-1].startswith("doctor: 0 failed, 0 warnings: ready for `observatory up`")


def test_missing_tools_and_servers_only_warn(closed_port: int) -> None:
    urls = {"POSTGRES_URL": f"postgresql://app:pw@127.0.0.1:{closed_port}/db"}
    code, lines = run(FakeRunner({}), urls)
    assert code == 0
    by_name = {line.split()[1]: line for line in lines[:-1]}
    assert by_name["python"].startswith("OK    python")
    assert by_name["docker"] == (
        "WARN  docker         not installed (not found on PATH)  (hint: install Docker Engine: "
        "https://docs.docker.com/engine/install/debian/ "
        "(Ubuntu: https://docs.docker.com/engine/install/ubuntu/))"
    )
    assert "go install sigs.k8s.io/kind@latest" in by_name["kind"]
    assert "apt-get install -y kubectl" in by_name["kubectl"]
    assert by_name["kind-cluster"].startswith("WARN  kind-cluster   skipped: kind is not installed")
    assert by_name["kube-context"].startswith("WARN  kube-context   skipped: kubectl")
    assert by_name["postgres"].startswith(
        f"WARN  postgres       postgresql://app:***@127.0.0.1:{closed_port}/db unreachable "
        f"(127.0.0.1:{closed_port}: "
    )
    assert "pw@" not in by_name["postgres"]
    assert by_name["keda"].startswith("WARN  keda           skipped: kubectl is not installed")
    assert lines[-1].startswith("doctor: 0 failed, 8 warnings")


def test_daemon_down_cluster_and_context_missing_warn() -> None:
    answers = {
        **ALL_PRESENT,
        ("docker", "info"): (
            1,
            "",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n",
        ),
        ("kind", "get", "clusters"): (0, "No kind clusters found.\n", ""),
        ("kubectl", "config", "get-contexts"): (0, "", ""),
    }
    code, lines = run(FakeRunner(answers), {})
    assert code == 0
    by_name = {line.split()[1]: line for line in lines[:-1]}
    assert by_name["docker-daemon"].startswith(
        "WARN  docker-daemon  not reachable: Cannot connect to the Docker daemon"
    )
    assert "sudo systemctl start docker" in by_name["docker-daemon"]
    assert by_name["kind-cluster"].startswith(
        "WARN  kind-cluster   no kind cluster 'task-observatory'  (hint: create it with "
        "`observatory cluster up`)"
    )
    assert by_name["kube-context"].startswith(
        "WARN  kube-context   no kubeconfig context 'kind-task-observatory'"
    )


def test_old_python_fails_with_exit_1() -> None:
    code, lines = run(FakeRunner(ALL_PRESENT), {}, python_version=(3, 10, 12))
    assert code == 1
    assert lines[0].startswith(
        "FAIL  python         3.10.12 is too old; 3.11 or newer is required  (hint: "
    )
    assert lines[-1].startswith("doctor: 1 failed, 0 warnings: required checks failed")


def test_json_output(listening_port: int, closed_port: int) -> None:
    urls = {
        "REDIS_URL": f"redis://127.0.0.1:{listening_port}/0",
        "MONGO_URL": f"mongodb://u:p@127.0.0.1:{closed_port},127.0.0.1:1/obs",
    }
    code, lines = run(FakeRunner(ALL_PRESENT), urls, "--json")
    assert code == 0
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["ok"] is True
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["redis"] == "OK"
    assert statuses["mongo"] == "WARN"
    assert report["checks"][0] == {
        "status": "OK",
        "name": "python",
        "detail": report["checks"][0]["detail"],
        "hint": "",
        "required": True,
    }
    assert "u:p@" not in lines[0]


def test_host_port_defaults_and_multi_host() -> None:
    assert host_port("amqp://guest:guest@rabbit/") == ("rabbit", 5672)
    assert host_port("postgresql://db.local/app") == ("db.local", 5432)
    assert host_port("mongodb://a:27018,b:27019/x") == ("a", 27018)
    assert host_port("redis://[::1]:6380/0") == ("::1", 6380)
    with pytest.raises(ValueError, match="no port"):
        host_port("http2://example")


def test_help_documents_the_policy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Only Python >= 3.11 is required" in out
    assert "WARN" in out


FAKES = Path(__file__).parent / "cluster" / "fakes"


@pytest.mark.parametrize(
    ("fake_env", "status", "detail"),
    [
        (
            {"FAKE_KEDA": "1"},
            "OK",
            "installed on the current cluster (scaledobjects.keda.sh): "
            "manifests/overlays/kind-keda scales on queue depth",
        ),
        (
            {},
            "WARN",
            "not installed on the current cluster (no CRD scaledobjects.keda.sh): the processor "
            "scales on CPU (manifests/overlays/kind)",
        ),
        (
            {"FAKE_CLUSTER_DOWN": "1"},
            "WARN",
            "could not ask the cluster: The connection to the server 127.0.0.1:6443 was "
            "refused - did you specify the right host or port?",
        ),
    ],
)
def test_issue_19_doctor_asks_the_current_cluster_for_kedas_crd_with_the_real_runner(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fake_env: dict[str, str],
    status: str,
    detail: str,
) -> None:
    log = tmp_path / "tools.jsonl"
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    for name in ("FAKE_KEDA", "FAKE_CLUSTER_DOWN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in fake_env.items():
        monkeypatch.setenv(name, value)
    check = anyio.run(check_keda, ProcessRunner())
    assert (check.status, check.name, check.detail) == (status, "keda", detail)
    if status == "WARN":
        assert "keda-2.20.2.yaml" in check.hint
        assert "manifests/overlays/kind-keda" in check.hint
    calls = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    assert calls == [
        ["kubectl", "get", "crd", "scaledobjects.keda.sh", "-o", "name", "--request-timeout=5s"]
    ]
