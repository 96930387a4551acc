"""``observatory doctor``: is this machine ready to run the observatory, and how?

Only Python (>= 3.11) is required: ``observatory up`` (embedded mode) needs nothing else.
Docker, kind, kubectl, the kind cluster and the four servers are needed only by
``observatory cluster`` and ``--infra local``/``serve``, so a missing one is a warning.
Every external command goes through an injectable :class:`~launcher.cluster.Runner`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, TextIO
from urllib.parse import urlsplit

import anyio

from actors.config.settings import Settings
from actors.config.urls import redact
from launcher.cluster._errors import LauncherError
from launcher.cluster._run import ProcessRunner
from launcher.cluster.kind import CLUSTER_NAME
from launcher.cluster.kubectl import CONTEXT

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from launcher.cluster._run import CompletedCommand, Runner

__all__ = [
    "DOCTOR_EPILOG",
    "DoctorCheck",
    "add_doctor_arguments",
    "check_keda",
    "doctor_main",
    "format_check",
    "run_doctor",
]

Status = Literal["OK", "WARN", "FAIL"]

DOCTOR_EPILOG = """\
policy:
  Only Python >= 3.11 is required (FAIL, exit 1): `observatory up` runs everything in one
  process with embedded stores and needs nothing else. docker, kind, kubectl, the kind
  cluster and RabbitMQ/PostgreSQL/Redis/MongoDB are needed only by `observatory cluster`,
  `up --infra local` and `serve`, so when missing they are WARN and the exit code stays 0.
  keda says whether KEDA is installed on kubectl's current cluster (its CRD
  scaledobjects.keda.sh): manifests/overlays/kind-keda needs it, overlays/kind does not.
  Servers are probed with a TCP connect to the host:port of RABBITMQ_URL, POSTGRES_URL,
  REDIS_URL and MONGO_URL (passwords are never printed).

examples:
  observatory doctor
  observatory doctor --json | jq '.checks[] | select(.status != "OK")'
"""

KEDA_CRD = "scaledobjects.keda.sh"
"""The CRD whose presence says KEDA is installed on a cluster."""
KEDA_INSTALL = (
    "kubectl apply --server-side -f "
    "https://github.com/kedacore/keda/releases/download/v2.20.2/keda-2.20.2.yaml"
)
"""The command that installs the KEDA release the manifests are validated against."""

HINTS = {
    "python": "install Python 3.11 or newer: sudo apt-get install -y python3.11 python3.11-venv "
    "(or use uv / pyenv)",
    "docker": "install Docker Engine: https://docs.docker.com/engine/install/debian/ "
    "(Ubuntu: https://docs.docker.com/engine/install/ubuntu/)",
    "docker-daemon": "start it with `sudo systemctl start docker`; to use it without sudo: "
    "`sudo usermod -aG docker $USER` and log in again",
    "kind": "`go install sigs.k8s.io/kind@latest`, or the release binary: "
    "https://kind.sigs.k8s.io/docs/user/quick-start/#installing-from-release-binaries",
    "kubectl": "sudo apt-get install -y kubectl after adding the pkgs.k8s.io apt repository: "
    "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/#install-using-native-package-management",
    "cluster": "create it with `observatory cluster up`",
    "context": "`observatory cluster up` creates it (or `kind export kubeconfig --name "
    f"{CLUSTER_NAME}`)",
    "keda": f"only to scale on queue depth: {KEDA_INSTALL}, then "
    "`kubectl apply -k manifests/overlays/kind-keda` (docs/operations.md, Autoscaling)",
}

_SERVER_HINTS = {
    "RABBITMQ_URL": "sudo apt-get install -y rabbitmq-server, or set RABBITMQ_URL",
    "POSTGRES_URL": "sudo apt-get install -y postgresql, or set POSTGRES_URL",
    "REDIS_URL": "sudo apt-get install -y redis-server, or set REDIS_URL",
    "MONGO_URL": "run MongoDB (https://www.mongodb.com/docs/manual/administration/install-on-linux/) "
    "or a compatible server, or set MONGO_URL",
}

_DEFAULT_PORTS = {
    "amqp": 5672,
    "amqps": 5671,
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
    "mongodb": 27017,
}

_COMMAND_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """The outcome of one check."""

    status: Status
    name: str
    detail: str
    hint: str = ""
    required: bool = False


def format_check(check: DoctorCheck) -> str:
    """One line: status, name, detail and (unless OK) the hint."""
    line = f"{check.status:<4}  {check.name:<14} {check.detail}"
    if check.hint and check.status != "OK":
        line += f"  (hint: {check.hint})"
    return line


def _check_python(version: tuple[int, int, int]) -> DoctorCheck:
    text = ".".join(map(str, version))
    if version >= (3, 11, 0):
        return DoctorCheck("OK", "python", f"{text} ({sys.executable})", required=True)
    return DoctorCheck(
        "FAIL", "python", f"{text} is too old; 3.11 or newer is required", HINTS["python"], True
    )


async def _run(runner: Runner, argv: list[str]) -> CompletedCommand | None:
    """``argv``'s result, or ``None`` when it could not run (not installed, timed out)."""
    try:
        return await runner.run(argv, timeout_s=_COMMAND_TIMEOUT_S, check=False)
    except LauncherError:
        return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


async def _check_tools(runner: Runner) -> list[DoctorCheck]:
    checks: list[DoctorCheck] = []
    client = await _run(runner, ["docker", "version", "--format", "{{.Client.Version}}"])
    if client is None:
        checks.append(
            DoctorCheck("WARN", "docker", "not installed (not found on PATH)", HINTS["docker"])
        )
        checks.append(
            DoctorCheck(
                "WARN", "docker-daemon", "skipped: docker is not installed", HINTS["docker"]
            )
        )
    else:
        version = _first_line(client.stdout) or "installed"
        checks.append(DoctorCheck("OK", "docker", f"client {version}"))
        info = await _run(runner, ["docker", "info", "--format", "{{.ServerVersion}}"])
        if info is not None and info.exit_code == 0 and _first_line(info.stdout):
            checks.append(DoctorCheck("OK", "docker-daemon", f"server {_first_line(info.stdout)}"))
        else:
            said = _first_line(info.stderr) if info is not None else "timed out"
            checks.append(
                DoctorCheck(
                    "WARN",
                    "docker-daemon",
                    f"not reachable: {said or 'no answer'}",
                    HINTS["docker-daemon"],
                )
            )

    kind = await _run(runner, ["kind", "version"])
    kind_ok = kind is not None and kind.exit_code == 0
    if kind_ok and kind is not None:
        checks.append(DoctorCheck("OK", "kind", _first_line(kind.stdout) or "installed"))
    else:
        checks.append(
            DoctorCheck("WARN", "kind", "not installed (not found on PATH)", HINTS["kind"])
        )

    kubectl = await _run(runner, ["kubectl", "version", "--client"])
    kubectl_ok = kubectl is not None and kubectl.exit_code == 0
    if kubectl_ok and kubectl is not None:
        checks.append(DoctorCheck("OK", "kubectl", _first_line(kubectl.stdout) or "installed"))
    else:
        checks.append(
            DoctorCheck("WARN", "kubectl", "not installed (not found on PATH)", HINTS["kubectl"])
        )

    if not kind_ok:
        checks.append(
            DoctorCheck("WARN", "kind-cluster", "skipped: kind is not installed", HINTS["kind"])
        )
    else:
        clusters = await _run(runner, ["kind", "get", "clusters"])
        names = clusters.stdout.split() if clusters is not None and clusters.exit_code == 0 else []
        if CLUSTER_NAME in names:
            checks.append(DoctorCheck("OK", "kind-cluster", f"{CLUSTER_NAME} exists"))
        else:
            checks.append(
                DoctorCheck(
                    "WARN", "kind-cluster", f"no kind cluster {CLUSTER_NAME!r}", HINTS["cluster"]
                )
            )

    if not kubectl_ok:
        checks.append(
            DoctorCheck(
                "WARN", "kube-context", "skipped: kubectl is not installed", HINTS["kubectl"]
            )
        )
        checks.append(
            DoctorCheck("WARN", "keda", "skipped: kubectl is not installed", HINTS["kubectl"])
        )
    else:
        contexts = await _run(runner, ["kubectl", "config", "get-contexts", "-o", "name"])
        names = contexts.stdout.split() if contexts is not None and contexts.exit_code == 0 else []
        if CONTEXT in names:
            checks.append(DoctorCheck("OK", "kube-context", f"{CONTEXT} present"))
        else:
            checks.append(
                DoctorCheck(
                    "WARN", "kube-context", f"no kubeconfig context {CONTEXT!r}", HINTS["context"]
                )
            )
        checks.append(await check_keda(runner))
    return checks


async def check_keda(runner: Runner) -> DoctorCheck:
    """Whether KEDA is installed on the current cluster (kubeconfig's current context):
    ``kubectl get crd scaledobjects.keda.sh``.

    Installed, ``manifests/overlays/kind-keda`` can scale the consumers on queue depth;
    otherwise the CPU HPA of ``manifests/overlays/kind`` is the one to apply. Either way
    only a WARN: nothing else needs KEDA.
    """
    found = await _run(
        runner, ["kubectl", "get", "crd", KEDA_CRD, "-o", "name", "--request-timeout=5s"]
    )
    if found is None:
        return DoctorCheck("WARN", "keda", "could not ask the cluster: no answer", HINTS["keda"])
    if found.exit_code == 0 and KEDA_CRD in found.stdout:
        return DoctorCheck(
            "OK",
            "keda",
            f"installed on the current cluster ({KEDA_CRD}): manifests/overlays/kind-keda "
            "scales on queue depth",
        )
    said = _first_line(found.stderr)
    if "NotFound" in said or "not found" in said:
        return DoctorCheck(
            "WARN",
            "keda",
            f"not installed on the current cluster (no CRD {KEDA_CRD}): the processor scales "
            "on CPU (manifests/overlays/kind)",
            HINTS["keda"],
        )
    return DoctorCheck(
        "WARN", "keda", f"could not ask the cluster: {said or 'no answer'}", HINTS["keda"]
    )


def host_port(url: str) -> tuple[str, int]:
    """The first ``host:port`` of ``url`` (scheme default port when absent)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2].split(",")[0]  # mongodb://a:1,b:2/ -> a:1
    first = urlsplit(f"{parts.scheme}://{netloc}")
    host = first.hostname or "localhost"
    port = first.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    if port is None:
        raise ValueError(f"no port in {_redacted(url)} and no default for scheme {parts.scheme!r}")
    return host, port


def _redacted(url: str) -> str:
    """:func:`redact`, also for URLs it cannot parse (``mongodb://u:pw@a:1,b:2/``)."""
    try:
        return redact(url)
    except ValueError:
        scheme, _, rest = url.partition("://")
        userinfo, at, hosts = rest.rpartition("@")
        if at and ":" in userinfo:
            return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hosts}"
        return url


async def _check_server(variable: str, url: str, timeout_s: float) -> DoctorCheck:
    name = variable.removesuffix("_URL").lower()
    shown = _redacted(url)
    try:
        host, port = host_port(url)
    except ValueError as error:
        return DoctorCheck("WARN", name, f"{variable}={shown}: {error}", _SERVER_HINTS[variable])
    try:
        with anyio.fail_after(timeout_s):
            stream = await anyio.connect_tcp(host, port)
        await stream.aclose()
    except TimeoutError:
        reason = f"no answer within {timeout_s:g} s"
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
    else:
        return DoctorCheck("OK", name, f"{shown} reachable ({host}:{port})")
    return DoctorCheck(
        "WARN", name, f"{shown} unreachable ({host}:{port}: {reason})", _SERVER_HINTS[variable]
    )


async def run_doctor(
    runner: Runner,
    urls: Mapping[str, str],
    *,
    python_version: tuple[int, int, int] | None = None,
    connect_timeout_s: float = 1.0,
) -> list[DoctorCheck]:
    """Every check, in display order; ``urls`` maps ``RABBITMQ_URL`` etc. to URLs."""
    version = python_version or (
        sys.version_info.major,
        sys.version_info.minor,
        sys.version_info.micro,
    )
    checks = [_check_python(version)]
    checks += await _check_tools(runner)
    for variable, url in urls.items():
        checks.append(await _check_server(variable, url, connect_timeout_s))
    return checks


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``observatory doctor``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="TCP connect timeout per server (default: %(default)s)",
    )


def default_urls() -> dict[str, str]:
    """The server URLs from the environment (the same defaults as ``serve``)."""
    settings = Settings.from_env()
    return {
        "RABBITMQ_URL": settings.rabbitmq_url,
        "POSTGRES_URL": settings.postgres_url,
        "REDIS_URL": settings.redis_url,
        "MONGO_URL": settings.mongo_url,
    }


def doctor_main(
    args: argparse.Namespace,
    *,
    runner: Runner | None = None,
    out: TextIO | None = None,
    urls: Mapping[str, str] | None = None,
    python_version: tuple[int, int, int] | None = None,
) -> int:
    """Run ``observatory doctor``; 1 when a required check failed, else 0."""
    out = out or sys.stdout
    checks = anyio.run(
        lambda: run_doctor(
            runner or ProcessRunner(),
            default_urls() if urls is None else urls,
            python_version=python_version,
            connect_timeout_s=args.connect_timeout,
        )
    )
    failed = [c for c in checks if c.status == "FAIL" and c.required]
    warned = [c for c in checks if c.status == "WARN"]
    if args.json:
        out.write(
            json.dumps({"ok": not failed, "checks": [asdict(check) for check in checks]}) + "\n"
        )
    else:
        out.writelines(format_check(check) + "\n" for check in checks)
        verdict = (
            "required checks failed"
            if failed
            else "ready for `observatory up` (embedded)"
            + ("" if not warned else "; warnings only matter for cluster/local/serve modes")
        )
        out.write(f"doctor: {len(failed)} failed, {len(warned)} warnings: {verdict}\n")
    out.flush()
    return 1 if failed else 0
